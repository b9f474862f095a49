"""``meshctl audit residency`` against a real moto server (Stubber only for DynamoDB replicas,
which moto does not model).

Proves: each rule fires on a seeded breach and names resource, region and rule; compliant and
non-personal resources produce nothing; unreadable keys make the scan incomplete (exit 2), not
clean. Does not prove: IAM permissions of the auditing role, or global tables version 2017.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from meshctl.cli import main
from meshctl.residency_audit import ResidencyAuditor, Rule, audit_residency
from regions.catalog import RegionCatalog, load_catalog
from regions.residency import DataClassification, ResidencyPolicy, classification_tags, load_policy

Clients = Callable[[str, str], Any]


@pytest.fixture(scope="module")
def catalog() -> RegionCatalog:
    return load_catalog()


@pytest.fixture(scope="module")
def policy(catalog: RegionCatalog) -> ResidencyPolicy:
    return load_policy(catalog)


@pytest.fixture
def clients(aws_endpoint: str) -> Clients:
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, region: str) -> Any:
        # Building a boto3 client costs more than a moto call: reuse them.
        if (service, region) not in cache:
            cache[service, region] = boto3.client(
                service, region_name=region, endpoint_url=aws_endpoint
            )
        return cache[service, region]

    return make


def _tags(jurisdiction: str | None, classification: str = "personal") -> dict[str, str]:
    if jurisdiction is None:
        return {"data-classification": classification}
    return classification_tags(DataClassification(classification), jurisdiction)


def _key(clients: Clients, region: str, *, multi_region: bool = False) -> str:
    return str(clients("kms", region).create_key(MultiRegion=multi_region)["KeyMetadata"]["Arn"])


def _bucket(
    clients: Clients, name: str, region: str, tags: dict[str, str], key: str | None = None
) -> None:
    s3 = clients("s3", region)
    config = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **config)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )
    default = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if key else {"SSEAlgorithm": "AES256"}
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default}]
        },
    )


def _replicate(clients: Clients, source: str, region: str, destination: str) -> None:
    clients("s3", region).put_bucket_replication(
        Bucket=source,
        ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/replication",
            "Rules": [
                {
                    "ID": f"to-{destination}",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": f"arn:aws:s3:::{destination}"},
                }
            ],
        },
    )


def _table(
    clients: Clients, name: str, region: str, tags: dict[str, str], key: str | None = None
) -> None:
    sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key} if key else {"Enabled": False}
    clients("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification=sse,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _stream(
    clients: Clients, name: str, region: str, tags: dict[str, str], key: str | None = None
) -> None:
    kinesis = clients("kinesis", region)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.add_tags_to_stream(StreamName=name, Tags=tags)
    if key:
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key)


def _queue(
    clients: Clients, name: str, region: str, tags: dict[str, str], key: str | None = None
) -> None:
    attributes = {"KmsMasterKeyId": key} if key else {"SqsManagedSseEnabled": "true"}
    clients("sqs", region).create_queue(QueueName=name, Attributes=attributes, tags=tags)


def seed_compliant(clients: Clients) -> list[str]:
    """A mesh that follows the rules, plus non-personal resources that may do anything."""
    eu_key, us_key = _key(clients, "eu-west-1"), _key(clients, "us-east-1")
    _bucket(clients, "eu-features", "eu-west-1", _tags("EU"), eu_key)
    _bucket(clients, "eu-features-dr", "eu-central-1", _tags("EU"))
    _replicate(clients, "eu-features", "eu-west-1", "eu-features-dr")  # EU allows within EU
    _table(clients, "eu-table", "eu-west-1", _tags("EU"), eu_key)
    _stream(clients, "us-events", "us-east-1", _tags("US"), us_key)
    _stream(clients, "us-events-managed", "us-east-1", _tags("US"), "alias/aws/kinesis")
    _queue(clients, "eu-dlq", "eu-west-1", _tags("EU"))
    # Model artifacts are not personal data: multi-Region keys and replication anywhere are fine.
    artifact_key = _key(clients, "us-east-1", multi_region=True)
    _bucket(clients, "models", "us-east-1", _tags("US", "internal"), artifact_key)
    _bucket(clients, "models-eu", "eu-west-1", _tags("EU", "internal"))
    _replicate(clients, "models", "us-east-1", "models-eu")
    _table(
        clients,
        "catalog",
        "us-west-2",
        {"team": "ml"},
        _key(clients, "us-west-2", multi_region=True),
    )
    return [
        "arn:aws:s3:::eu-features",
        "arn:aws:s3:::eu-features-dr",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/eu-table",
        "arn:aws:kinesis:us-east-1:123456789012:stream/us-events",
        "arn:aws:kinesis:us-east-1:123456789012:stream/us-events-managed",
        "arn:aws:sqs:eu-west-1:123456789012:eu-dlq",
    ]


def seed_violations(clients: Clients) -> set[tuple[str, str, str]]:
    """One or more breaches of every rule; returns the expected (rule, resource, region) set."""
    _bucket(clients, "eu-data-in-us", "us-east-1", _tags("EU"))
    _table(clients, "us-table-in-eu", "eu-west-1", _tags("US"))
    _bucket(clients, "eu-leaky", "eu-west-1", _tags("EU"))
    _replicate(clients, "eu-leaky", "eu-west-1", "models")
    # US keeps personal data in its region: replication to another US region is a breach too.
    _bucket(clients, "us-source", "us-east-1", _tags("US"))
    _bucket(clients, "us-west-copy", "us-west-2", _tags("US"))
    _replicate(clients, "us-source", "us-east-1", "us-west-copy")
    _stream(
        clients,
        "eu-stream-mrk",
        "eu-west-1",
        _tags("EU"),
        _key(clients, "eu-west-1", multi_region=True),
    )
    _queue(
        clients,
        "jp-dlq-mrk",
        "ap-northeast-1",
        _tags("JP"),
        _key(clients, "ap-northeast-1", multi_region=True),
    )
    _bucket(
        clients,
        "eu-bucket-mrk",
        "eu-central-1",
        _tags("EU"),
        _key(clients, "eu-central-1", multi_region=True),
    )
    _bucket(clients, "untagged-jurisdiction", "eu-west-1", _tags(None))
    return {
        (Rule.DISALLOWED_REGION, "arn:aws:s3:::eu-data-in-us", "us-east-1"),
        (
            Rule.DISALLOWED_REGION,
            "arn:aws:dynamodb:eu-west-1:123456789012:table/us-table-in-eu",
            "eu-west-1",
        ),
        (Rule.REPLICATION_OUT, "arn:aws:s3:::eu-leaky", "eu-west-1"),
        (Rule.REPLICATION_OUT, "arn:aws:s3:::us-source", "us-east-1"),
        (
            Rule.MULTI_REGION_KEY,
            "arn:aws:kinesis:eu-west-1:123456789012:stream/eu-stream-mrk",
            "eu-west-1",
        ),
        (
            Rule.MULTI_REGION_KEY,
            "arn:aws:sqs:ap-northeast-1:123456789012:jp-dlq-mrk",
            "ap-northeast-1",
        ),
        (Rule.MULTI_REGION_KEY, "arn:aws:s3:::eu-bucket-mrk", "eu-central-1"),
        (Rule.JURISDICTION_TAG, "arn:aws:s3:::untagged-jurisdiction", "eu-west-1"),
    }


def test_clean_account_reports_nothing(
    clients: Clients, catalog: RegionCatalog, policy: ResidencyPolicy
) -> None:
    personal = seed_compliant(clients)
    report = audit_residency(clients, catalog.names, catalog, policy)
    assert report.findings == []
    assert report.errors == []
    assert sorted(report.personal_resources) == sorted(personal)


def test_every_seeded_breach_is_found_and_nothing_else(
    clients: Clients, catalog: RegionCatalog, policy: ResidencyPolicy
) -> None:
    seed_compliant(clients)
    expected = seed_violations(clients)
    report = audit_residency(clients, catalog.names, catalog, policy)
    assert report.errors == []
    assert {(f.rule, f.resource, f.region) for f in report.findings} == expected
    assert len(report.findings) == len(expected)  # no duplicates either

    # Messages say what is wrong and what is allowed.
    messages = {(f.rule, f.resource): f for f in report.findings}
    leak = messages[Rule.REPLICATION_OUT, "arn:aws:s3:::eu-leaky"]
    assert leak.jurisdiction == "EU"
    assert (
        "to arn:aws:s3:::models in us-east-1; it must only target eu-central-1, eu-west-1."
        in leak.message
    )
    us = messages[Rule.REPLICATION_OUT, "arn:aws:s3:::us-source"]
    assert "in us-west-2; it must only target us-east-1." in us.message
    misplaced = messages[Rule.DISALLOWED_REGION, "arn:aws:s3:::eu-data-in-us"]
    assert (
        misplaced.message
        == "EU personal data must not be stored in us-east-1; it may only live in eu-central-1, eu-west-1."
    )


def test_replication_to_a_bucket_that_cannot_be_resolved_is_a_breach(
    clients: Clients, catalog: RegionCatalog, policy: ResidencyPolicy
) -> None:
    # e.g. a bucket in another account: unknown region means not provably inside the jurisdiction.
    _bucket(clients, "eu-features", "eu-west-1", _tags("EU"))
    _replicate(clients, "eu-features", "eu-west-1", "someone-elses-bucket")
    report = audit_residency(clients, ["eu-west-1"], catalog, policy, all_bucket_regions=False)
    assert [(f.rule, f.resource) for f in report.findings] == [
        (Rule.REPLICATION_OUT, "arn:aws:s3:::eu-features")
    ]
    assert "in a region that could not be resolved" in report.findings[0].message


def test_cli_json_and_exit_code_on_findings(
    aws_endpoint: str, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    _bucket(clients, "eu-data-in-us", "us-east-1", _tags("EU"))
    _stream(
        clients,
        "eu-stream-mrk",
        "eu-west-1",
        _tags("EU"),
        _key(clients, "eu-west-1", multi_region=True),
    )
    assert main(["audit", "residency", "--json", "--endpoint-url", aws_endpoint]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [
        (f["rule"], f["resource"], f["region"], f["jurisdiction"]) for f in document["findings"]
    ] == [
        ("RES-001", "arn:aws:s3:::eu-data-in-us", "us-east-1", "EU"),
        (
            "RES-004",
            "arn:aws:kinesis:eu-west-1:123456789012:stream/eu-stream-mrk",
            "eu-west-1",
            "EU",
        ),
    ]
    assert document["clean"] is False
    assert document["errors"] == []
    assert document["regions"] == list(load_catalog().names)


def test_cli_clean_account_exits_zero(
    aws_endpoint: str, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_compliant(clients)
    assert main(["audit", "residency", "--endpoint-url", aws_endpoint]) == 0
    out = capsys.readouterr().out
    assert "6 personal-data resource(s) in 6 region(s): clean" in out


def test_cli_table_names_resource_region_and_rule(
    aws_endpoint: str, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    _bucket(clients, "eu-data-in-us", "us-east-1", _tags("EU"))
    assert main(["audit", "residency", "--endpoint-url", aws_endpoint]) == 1
    out = capsys.readouterr().out
    for text in ("RES-001", "arn:aws:s3:::eu-data-in-us", "us-east-1", "1 finding(s)"):
        assert text in out


def test_regions_option_limits_the_scan(
    aws_endpoint: str, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_violations(clients)
    assert (
        main(
            [
                "audit",
                "residency",
                "--regions",
                "eu-west-1",
                "--json",
                "--endpoint-url",
                aws_endpoint,
            ]
        )
        == 1
    )
    found = {(f["rule"], f["resource"]) for f in json.loads(capsys.readouterr().out)["findings"]}
    # Only eu-west-1 resources; the replication target is still resolved wherever it is.
    assert found == {
        ("RES-001", "arn:aws:dynamodb:eu-west-1:123456789012:table/us-table-in-eu"),
        ("RES-002", "arn:aws:s3:::eu-leaky"),
        ("RES-004", "arn:aws:kinesis:eu-west-1:123456789012:stream/eu-stream-mrk"),
        ("RES-005", "arn:aws:s3:::untagged-jurisdiction"),
    }


def test_stray_data_in_a_region_outside_the_catalog_is_found(
    clients: Clients, catalog: RegionCatalog, policy: ResidencyPolicy
) -> None:
    _table(clients, "stray", "sa-east-1", _tags("EU"))
    report = audit_residency(clients, ["sa-east-1"], catalog, policy)
    assert [(f.rule, f.region) for f in report.findings] == [(Rule.DISALLOWED_REGION, "sa-east-1")]


def test_unreadable_key_makes_the_scan_incomplete_not_clean(
    aws_endpoint: str, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    _bucket(
        clients,
        "eu-features",
        "eu-west-1",
        _tags("EU"),
        "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    )
    assert main(["audit", "residency", "--json", "--endpoint-url", aws_endpoint]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["findings"] == []
    assert [(e["resource"], e["region"]) for e in document["errors"]] == [
        ("arn:aws:s3:::eu-features", "eu-west-1")
    ]
    assert "kms:DescribeKey failed" in document["errors"][0]["message"]


def test_bad_region_names_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "residency", "--regions", "Europe"]) == 2
    assert "expected AWS region names such as eu-west-1, got ['Europe']" in capsys.readouterr().err


TABLE_ARN = "arn:aws:dynamodb:{region}:123456789012:table/features"


@pytest.mark.parametrize(
    ("region", "jurisdiction", "replicas", "breaches"),
    [
        ("eu-west-1", "EU", ["eu-central-1", "us-east-1"], ["us-east-1"]),
        ("eu-west-1", "EU", ["eu-central-1"], []),
        ("us-east-1", "US", ["us-west-2"], ["us-west-2"]),
    ],
)
def test_table_replicas_outside_the_allowed_regions(
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
    region: str,
    jurisdiction: str,
    replicas: list[str],
    breaches: list[str],
) -> None:
    # moto has no global tables (describe_table never returns Replicas): stub the exact calls.
    ddb = boto3.client(
        "dynamodb", region_name=region, aws_access_key_id="x", aws_secret_access_key="x"
    )
    arn = TABLE_ARN.format(region=region)
    with Stubber(ddb) as stub:
        stub.add_response("list_tables", {"TableNames": ["features"]}, {})
        stub.add_response(
            "describe_table",
            {
                "Table": {
                    "TableName": "features",
                    "TableArn": arn,
                    "Replicas": [{"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in replicas],
                }
            },
            {"TableName": "features"},
        )
        stub.add_response(
            "list_tags_of_resource",
            {"Tags": [{"Key": k, "Value": v} for k, v in _tags(jurisdiction).items()]},
            {"ResourceArn": arn},
        )
        auditor = ResidencyAuditor(
            lambda service, _: {"dynamodb": ddb}[service], catalog, policy, (region,)
        )
        auditor.scan_dynamodb(region)
        stub.assert_no_pending_responses()
    assert [(f.rule, f.resource, f.region) for f in auditor.report.findings] == [
        (Rule.REPLICA_OUT, arn, region)
    ] * len(breaches)
    assert [
        b for b in breaches if any(f"replica in {b};" in f.message for f in auditor.report.findings)
    ] == breaches
    assert auditor.report.errors == []

"""The ArtifactReplication component under the mock cloud.

Proves the replication configuration on the primary bucket (one rule per other region, each
with RTC, metrics and the destination region's key, none towards the primary), the role's
least privilege and one pair of alarms per destination, all in the primary region; does not
prove that S3 copies objects or that the alarms fire.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.replication import RTC_MINUTES, ArtifactReplication, ArtifactReplicationArgs
from components.replication_plan import REPLICATED_PREFIX, ReplicationPlan, ReplicationRule
from regions.catalog import load_catalog
from tests.artifacts.helpers import (
    METRIC_ALARM,
    REPLICATION_CONFIG,
    ROLE_POLICY,
    SEVENTH_REGION,
    catalog_with_seventh_region,
    policy_document,
    replication_plan,
    rules,
    run_replication,
    store,
)
from tests.harness import Recording, provider_region, run_pulumi

PRIMARY = "us-east-1"
DESTINATIONS = ["ap-northeast-1", "ap-southeast-1", "eu-central-1", "eu-west-1", "us-west-2"]


@pytest.fixture(scope="module")
def replication() -> Recording:
    return run_replication(replication_plan())


def test_one_configuration_on_the_primary_bucket_with_the_role(replication: Recording) -> None:
    config = replication.one(REPLICATION_CONFIG)
    role = replication.one("aws:iam/role:Role")
    assert config.props["bucket"] == store(PRIMARY).bucket_name
    assert config.props["role"] == role.outputs["arn"]
    assert replication.one(ROLE_POLICY).urn in config.dependencies


def test_exactly_one_rule_per_non_primary_region_and_none_to_the_primary(
    replication: Recording,
) -> None:
    destinations = [rule["destination"]["bucket"] for rule in rules(replication)]
    assert destinations == [store(region).bucket_arn for region in DESTINATIONS]
    assert store(PRIMARY).bucket_arn not in destinations
    assert [rule["id"] for rule in rules(replication)] == [f"to-{r}" for r in DESTINATIONS]
    assert sorted(rule["priority"] for rule in rules(replication)) == [1, 2, 3, 4, 5]


def test_every_rule_has_rtc_metrics_and_the_destination_regions_key(
    replication: Recording,
) -> None:
    for region, rule in zip(DESTINATIONS, rules(replication), strict=True):
        assert rule == {
            "id": f"to-{region}",
            "priority": rule["priority"],
            "status": "Enabled",
            "filter": {"prefix": "artifacts/"},
            "deleteMarkerReplication": {"status": "Enabled"},
            "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
            "destination": {
                "bucket": store(region).bucket_arn,
                "encryptionConfiguration": {"replicaKmsKeyId": store(region).key_arn},
                "replicationTime": {"status": "Enabled", "time": {"minutes": 15}},
                "metrics": {"status": "Enabled", "eventThreshold": {"minutes": 15}},
            },
        }
        assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"].startswith(
            f"arn:aws:kms:{region}:"
        )


def test_a_seventh_region_adds_exactly_one_rule_and_two_alarms(
    replication: Recording, tmp_path: Path
) -> None:
    seven = run_replication(replication_plan(catalog_with_seventh_region(tmp_path)))
    before = {rule["id"]: rule["destination"] for rule in rules(replication)}
    after = {rule["id"]: rule["destination"] for rule in rules(seven)}
    assert len(after) == len(before) + 1
    assert set(after) - set(before) == {f"to-{SEVENTH_REGION}"}
    assert after[f"to-{SEVENTH_REGION}"]["bucket"] == store(SEVENTH_REGION).bucket_arn
    assert after[f"to-{SEVENTH_REGION}"]["encryptionConfiguration"] == {
        "replicaKmsKeyId": store(SEVENTH_REGION).key_arn
    }
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(seven.of_type(METRIC_ALARM)) == len(replication.of_type(METRIC_ALARM)) + 2
    assert len(seven.of_type(REPLICATION_CONFIG)) == 1


def test_trust_policy_lets_only_s3_assume_the_role(replication: Recording) -> None:
    trust = policy_document(replication.one("aws:iam/role:Role"), "assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def _statements(replication: Recording) -> dict[str, dict[str, Any]]:
    policy = policy_document(replication.one(ROLE_POLICY))
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    return {s["Sid"]: s for s in policy["Statement"]}


def _resources(statement: dict[str, Any]) -> set[str]:
    value = statement["Resource"]
    return set(value) if isinstance(value, list) else {value}


def test_role_policy_names_exactly_these_buckets_and_keys(replication: Recording) -> None:
    statements = _statements(replication)
    source = store(PRIMARY)
    every_resource = set().union(*(_resources(s) for s in statements.values()))
    assert every_resource == {
        source.bucket_arn,
        f"{source.bucket_arn}/artifacts/*",
        source.key_arn,
        *(f"{store(r).bucket_arn}/artifacts/*" for r in DESTINATIONS),
        *(store(r).key_arn for r in DESTINATIONS),
    }
    # pointers/ is written per region by meshctl: the role can neither read nor write it.
    assert "pointers" not in json.dumps(statements)


def test_role_policy_actions_per_resource(replication: Recording) -> None:
    statements = _statements(replication)
    source = store(PRIMARY)
    assert statements["ReadSourceReplicationConfiguration"]["Action"] == [
        "s3:GetReplicationConfiguration",
        "s3:ListBucket",
    ]
    assert _resources(statements["ReadSourceReplicationConfiguration"]) == {source.bucket_arn}
    assert statements["ReadSourceObjectVersions"]["Action"] == [
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionTagging",
    ]
    assert _resources(statements["ReadSourceObjectVersions"]) == {
        f"{source.bucket_arn}/artifacts/*"
    }
    writes = statements["WriteReplicas"]
    assert writes["Action"] == ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    assert _resources(writes) == {f"{store(r).bucket_arn}/artifacts/*" for r in DESTINATIONS}
    kms = {sid: s for sid, s in statements.items() if s["Action"][0].startswith("kms:")}
    assert len(kms) == 1 + len(DESTINATIONS)
    assert statements["DecryptSource"]["Action"] == ["kms:Decrypt"]
    for sid, statement in kms.items():
        if sid != "DecryptSource":
            assert statement["Action"] == ["kms:Encrypt", "kms:Decrypt"]


def test_every_key_is_usable_only_through_s3_in_its_region_for_its_bucket(
    replication: Recording,
) -> None:
    kms = [s for s in _statements(replication).values() if s["Action"][0].startswith("kms:")]
    used = {}
    for statement in kms:
        (key,) = _resources(statement)
        region = key.split(":")[3]
        bucket = store(region).bucket_arn
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/artifacts/*"]},
        }
        used[region] = key
    assert used == {r: store(r).key_arn for r in [PRIMARY, *DESTINATIONS]}


def test_two_alarms_per_destination_on_the_rules_metrics(replication: Recording) -> None:
    alarms = replication.of_type(METRIC_ALARM)
    assert len(alarms) == 2 * len(DESTINATIONS)
    seen = set()
    for alarm in alarms:
        props = alarm.props
        region = props["dimensions"]["RuleId"].removeprefix("to-")
        assert props["dimensions"] == {
            "SourceBucket": store(PRIMARY).bucket_name,
            "DestinationBucket": store(region).bucket_name,
            "RuleId": f"to-{region}",
        }
        assert props["namespace"] == "AWS/S3"
        assert props["comparisonOperator"] == "GreaterThanThreshold"
        assert props["treatMissingData"] == "notBreaching"
        expected = {
            "ReplicationLatency": ("Maximum", RTC_MINUTES * 60, "latency"),
            "OperationsFailedReplication": ("Sum", 0, "failed"),
        }[props["metricName"]]
        assert (props["statistic"], props["threshold"]) == expected[:2]
        assert (
            props["name"] == f"inference-mesh-prod-artifacts-to-{region}-replication-{expected[2]}"
        )
        seen.add((region, props["metricName"]))
    assert seen == {
        (r, m) for r in DESTINATIONS for m in ("ReplicationLatency", "OperationsFailedReplication")
    }


def test_everything_is_declared_in_the_primary_region(replication: Recording) -> None:
    component = replication.one("inference-mesh:artifacts:ArtifactReplication")
    custom = [r for r in replication.descendants_of(component.urn) if r.custom]
    assert len(custom) == len(replication.custom) - 1  # all but the provider itself
    for resource in custom:
        assert provider_region(replication, resource) == PRIMARY, resource.name


def test_exports_list_each_rule(replication: Recording) -> None:
    outputs = replication.outputs
    assert outputs["sourceRegion"] == PRIMARY
    assert outputs["sourceBucketArn"] == store(PRIMARY).bucket_arn
    assert outputs["replicatedPrefix"] == "artifacts/"
    assert outputs["roleArn"] == replication.one("aws:iam/role:Role").outputs["arn"]
    assert outputs["rules"] == [
        {
            "ruleId": f"to-{r}",
            "destinationRegion": r,
            "destinationBucketArn": store(r).bucket_arn,
            "replicaKmsKeyArn": store(r).key_arn,
        }
        for r in DESTINATIONS
    ]


def _refused(plan: ReplicationPlan[str]) -> str:
    """Builds the component with ``plan``; returns the error, after checking nothing exists."""
    errors: list[ValueError] = []

    def program() -> None:
        try:
            ArtifactReplication(
                "artifact-replication",
                ArtifactReplicationArgs(plan=plan, name_prefix="inference-mesh-prod-artifacts"),
            )
        except ValueError as exc:
            errors.append(exc)

    assert run_pulumi(program, stack="prod-global").resources == []
    assert len(errors) == 1
    return str(errors[0])


def test_a_plan_without_rules_is_refused() -> None:
    message = _refused(ReplicationPlan(store(PRIMARY), ()))
    assert "at least one replication rule, got none" in message


def test_a_rule_back_to_the_source_is_refused() -> None:
    loop = ReplicationRule("to-us-east-1", 1, store(PRIMARY))
    message = _refused(ReplicationPlan(store(PRIMARY), (loop,)))
    assert "must not replicate the source region us-east-1 to itself" in message


def test_duplicate_destinations_are_refused() -> None:
    twice = (
        ReplicationRule("to-eu-west-1", 1, store("eu-west-1")),
        ReplicationRule("to-eu-west-1-again", 2, store("eu-west-1")),
    )
    message = _refused(ReplicationPlan(store(PRIMARY), twice))
    assert "destination regions must be unique" in message


def test_catalog_primary_is_the_source() -> None:
    assert load_catalog().primary.region == PRIMARY


def test_replicated_prefix_is_the_publishers_artifact_prefix_and_not_the_pointers() -> None:
    # The contract with meshctl models (model_artifacts/registry/layout.py): model files
    # under artifacts/ replicate; pointers/ is written per region and must not.
    from model_artifacts.registry import layout

    assert layout.ARTIFACT_PREFIX == REPLICATED_PREFIX
    assert not layout.POINTER_PREFIX.startswith(REPLICATED_PREFIX)

"""The FeatureStore component under the mock cloud.

Proves what is declared: the exact child set, residency tags, the single-region key, the
absence of every replication path, PITR, and IAM and resource policies scoped to this region's
ARNs (parsed from the recorded JSON). Does not prove that AWS accepts the documents, that
IAM evaluates them as intended (moto has no policy simulator), or that the Lambda runs.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.feature_store import (
    FeatureStore,
    FeatureStoreArgs,
    FeatureStoreNames,
)
from meshctl.mock_cloud import RecordedResource
from regions.residency import DataClassification, classification_tags
from stacks.features import CODE_DIR, feature_store_names
from tests.harness import Recording, provider_region, run_pulumi

REGION = "eu-west-1"
ACCOUNT = "123456789012"
VPC = "vpc-0feedface"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
ENDPOINTS = {"s3": "vpce-s3gateway", "dynamodb": "vpce-ddbgateway"}
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/inference-mesh-data-protection"
NAMES: FeatureStoreNames = feature_store_names("prod", REGION)
PERSONAL = classification_tags(DataClassification.PERSONAL, "EU")
INTERNAL = classification_tags(DataClassification.INTERNAL, "EU")

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{NAMES.table}"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{NAMES.stream}"
BUCKET_ARN = f"arn:aws:s3:::{NAMES.offline_bucket}"
LOG_BUCKET_ARN = f"arn:aws:s3:::{NAMES.access_log_bucket}"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.dead_letter_queue}"
FAILED_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAMES.failed_batch_queue}"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{NAMES.function}"

# Every child, by resource name, with the classification its tags must carry (None: the type
# takes no tags). Personal: anything that stores, queues, logs or encrypts users' data.
EXPECTED_CHILDREN: dict[tuple[str, str], dict[str, str] | None] = {
    ("inference-mesh:kms:RegionalKey", "features-key"): None,
    ("aws:kms/key:Key", "features-key-key"): PERSONAL,
    ("aws:kms/alias:Alias", "features-key-alias"): None,
    ("aws:dynamodb/table:Table", "features-table"): PERSONAL,
    ("aws:dynamodb/resourcePolicy:ResourcePolicy", "features-table-policy"): None,
    ("aws:kinesis/stream:Stream", "features-stream"): PERSONAL,
    ("aws:s3/bucket:Bucket", "features-offline"): PERSONAL,
    ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "features-offline-ownership"): None,
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "features-offline-public-access",
    ): None,
    ("aws:s3/bucketVersioning:BucketVersioning", "features-offline-versioning"): None,
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "features-offline-encryption",
    ): None,
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "features-offline-lifecycle",
    ): None,
    ("aws:s3/bucketLogging:BucketLogging", "features-offline-logging"): None,
    ("aws:s3/bucketPolicy:BucketPolicy", "features-offline-policy"): None,
    ("aws:s3/bucket:Bucket", "features-access-logs"): PERSONAL,
    (
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "features-access-logs-ownership",
    ): None,
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "features-access-logs-public-access",
    ): None,
    ("aws:s3/bucketVersioning:BucketVersioning", "features-access-logs-versioning"): None,
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "features-access-logs-encryption",
    ): None,
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "features-access-logs-lifecycle",
    ): None,
    ("aws:s3/bucketPolicy:BucketPolicy", "features-access-logs-policy"): None,
    ("aws:sqs/queue:Queue", "features-dead-letters"): PERSONAL,
    ("aws:sqs/queue:Queue", "features-failed-batches"): PERSONAL,
    ("aws:cloudwatch/logGroup:LogGroup", "features-consumer-logs"): PERSONAL,
    ("aws:iam/role:Role", "features-consumer-role"): INTERNAL,
    ("aws:iam/rolePolicy:RolePolicy", "features-consumer-policy"): None,
    ("aws:ec2/securityGroup:SecurityGroup", "features-consumer-sg"): INTERNAL,
    ("aws:lambda/function:Function", "features-consumer"): PERSONAL,
    ("aws:lambda/eventSourceMapping:EventSourceMapping", "features-consumer-events"): INTERNAL,
    ("aws:iam/policy:Policy", "features-reader"): INTERNAL,
    ("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy", "features-dynamodb-endpoint-policy"): None,
}


def _args(**changes: Any) -> FeatureStoreArgs:
    args = FeatureStoreArgs(
        jurisdiction="EU",
        region=REGION,
        account_id=ACCOUNT,
        names=NAMES,
        code_path=str(CODE_DIR),
        vpc_id=VPC,
        private_subnet_ids=SUBNETS,
        gateway_endpoint_ids=ENDPOINTS,
        admin_principal_arns=(ADMIN,),
    )
    return replace(args, **changes)


def _record(args: FeatureStoreArgs) -> Recording:
    def program() -> dict[str, Any]:
        provider = aws.Provider(f"aws-{REGION}", region=REGION)
        store = FeatureStore("features", args, opts=pulumi.ResourceOptions(providers=[provider]))
        return store.exports()

    return run_pulumi(program)


@pytest.fixture(scope="module")
def rec() -> Recording:
    return _record(_args())


def _children(rec: Recording) -> list[RecordedResource]:
    return rec.descendants_of(rec.one("inference-mesh:features:FeatureStore").urn)


def _policy(resource: RecordedResource) -> dict[str, Any]:
    return json.loads(resource.props["policy"])


def _statements(resource: RecordedResource) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in _policy(resource)["Statement"]}


def _key_arn(rec: Recording) -> str:
    return str(rec.one("aws:kms/key:Key").outputs["arn"])


# -- the child set, placement, tags ---------------------------------------------------------
def test_exact_child_set(rec: Recording) -> None:
    declared = Counter((r.type, r.name) for r in _children(rec))
    assert declared == Counter(list(EXPECTED_CHILDREN))


def test_every_child_is_on_the_regional_provider(rec: Recording) -> None:
    custom = [r for r in _children(rec) if r.custom]
    assert len(custom) == len(rec.custom) - 1  # all but the provider
    for resource in custom:
        assert provider_region(rec, resource) == REGION, resource.name


def test_residency_tags_on_every_taggable_child(rec: Recording) -> None:
    for resource in _children(rec):
        expected = EXPECTED_CHILDREN[(resource.type, resource.name)]
        if expected is None:
            assert "tags" not in resource.props, resource.name
        else:
            assert resource.props["tags"] == expected, resource.name


def test_exports(rec: Recording) -> None:
    assert rec.outputs == {
        "tableName": NAMES.table,
        "tableArn": TABLE_ARN,
        "streamArn": STREAM_ARN,
        "offlineBucket": NAMES.offline_bucket,
        "readerPolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/{NAMES.reader_policy}",
        "keyArn": _key_arn(rec),
    }


# -- no replication of any kind, single-region key ------------------------------------------
def test_no_replication_of_any_kind(rec: Recording) -> None:
    types = {r.type for r in rec.resources}
    assert "aws:s3/bucketReplicationConfig:BucketReplicationConfig" not in types
    assert "aws:dynamodb/tableReplica:TableReplica" not in types
    assert "aws:dynamodb/globalTable:GlobalTable" not in types
    assert "aws:kms/replicaKey:ReplicaKey" not in types
    for bucket in rec.of_type("aws:s3/bucket:Bucket"):
        assert "replicationConfiguration" not in bucket.props, bucket.name
    table = rec.one("aws:dynamodb/table:Table")
    assert "replicas" not in table.props
    assert "globalTableWitness" not in table.props
    assert table.props["streamEnabled"] is False  # no change stream to copy items from


def test_one_single_region_rotated_key_encrypts_everything(rec: Recording) -> None:
    key = rec.one("aws:kms/key:Key")
    assert key.props["multiRegion"] is False
    assert key.props["enableKeyRotation"] is True
    assert not key.outputs["keyId"].startswith("mrk-")
    arn = _key_arn(rec)
    assert rec.one("aws:dynamodb/table:Table").props["serverSideEncryption"] == {
        "enabled": True,
        "kmsKeyArn": arn,
    }
    assert rec.one("aws:kinesis/stream:Stream").props["kmsKeyId"] == arn
    assert rec.one("aws:lambda/function:Function").props["kmsKeyArn"] == arn
    assert rec.one("aws:cloudwatch/logGroup:LogGroup").props["kmsKeyId"] == arn
    for queue in rec.of_type("aws:sqs/queue:Queue"):
        assert queue.props["kmsMasterKeyId"] == arn, queue.name
    offline_sse = rec.named("features-offline-encryption").props["rules"]
    assert offline_sse == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": arn,
            },
            "bucketKeyEnabled": True,
            "blockedEncryptionTypes": ["SSE-C"],
        }
    ]


def test_key_lets_cloudwatch_logs_of_this_region_only(rec: Recording) -> None:
    statements = _statements(rec.one("aws:kms/key:Key"))
    assert set(statements) == {"AccountAdministers", "CloudWatchLogsInRegion"}
    logs = statements["CloudWatchLogsInRegion"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:*"}
    }


def test_table_resource_policy_denies_replicas_and_exports(rec: Recording) -> None:
    policy = rec.one("aws:dynamodb/resourcePolicy:ResourcePolicy")
    assert policy.props["resourceArn"] == TABLE_ARN
    assert _policy(policy)["Statement"] == [
        {
            "Sid": "PersonalDataStaysInRegion",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["dynamodb:CreateTableReplica", "dynamodb:ExportTableToPointInTime"],
            "Resource": TABLE_ARN,
        }
    ]


# -- online store, stream, offline store ----------------------------------------------------
def test_online_table(rec: Recording) -> None:
    props = rec.one("aws:dynamodb/table:Table").props
    assert props["name"] == NAMES.table
    assert props["billingMode"] == "PAY_PER_REQUEST"
    assert props["hashKey"] == "user_id"
    assert props["attributes"] == [{"name": "user_id", "type": "S"}]
    assert props["pointInTimeRecovery"] == {"enabled": True, "recoveryPeriodInDays": 35}
    assert props["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert props["deletionProtectionEnabled"] is True


def test_event_stream(rec: Recording) -> None:
    props = rec.one("aws:kinesis/stream:Stream").props
    assert props["name"] == NAMES.stream
    assert props["streamModeDetails"] == {"streamMode": "ON_DEMAND"}
    assert props["encryptionType"] == "KMS"
    assert props["retentionPeriod"] == 24
    assert "shardCount" not in props


@pytest.mark.parametrize("prefix", ["features-offline", "features-access-logs"])
def test_buckets_are_private_versioned_and_acl_free(rec: Recording, prefix: str) -> None:
    assert rec.named(f"{prefix}-versioning").props["versioningConfiguration"] == {
        "status": "Enabled"
    }
    assert rec.named(f"{prefix}-ownership").props["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    block = rec.named(f"{prefix}-public-access").props
    for setting in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[setting] is True, setting


@pytest.mark.parametrize("prefix", ["features-offline", "features-access-logs"])
def test_policy_and_lifecycle_wait_for_the_block_and_versioning(
    rec: Recording, prefix: str
) -> None:
    # S3 rejects a policy written while the public access block is being applied, and
    # noncurrent-version rules mean nothing before versioning is on.
    assert rec.named(f"{prefix}-public-access").urn in rec.named(f"{prefix}-policy").dependencies
    versioning = rec.named(f"{prefix}-versioning").urn
    assert versioning in rec.named(f"{prefix}-lifecycle").dependencies


def test_offline_lifecycle_expires_raw_events_and_old_versions(rec: Recording) -> None:
    rules = rec.named("features-offline-lifecycle").props["rules"]
    common = {
        "status": "Enabled",
        "noncurrentVersionExpiration": {"noncurrentDays": 7},
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
    }
    assert rules == [
        {
            "id": "expire-raw-events",
            "filter": {"prefix": "raw-events/"},
            "expiration": {"days": 30},
            **common,
        },
        {"id": "purge-old-versions", "filter": {"prefix": ""}, **common},
    ]


def test_access_logs_stay_in_a_local_sse_s3_bucket(rec: Recording) -> None:
    logging = rec.one("aws:s3/bucketLogging:BucketLogging").props
    assert logging["bucket"] == NAMES.offline_bucket
    assert logging["targetBucket"] == NAMES.access_log_bucket
    assert logging["targetPrefix"] == "offline/"
    assert rec.named("features-access-logs-encryption").props["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
            "blockedEncryptionTypes": ["SSE-C"],
        }
    ]
    [rule] = rec.named("features-access-logs-lifecycle").props["rules"]
    assert rule["expiration"] == {"days": 90}
    delivery = _statements(rec.named("features-access-logs-policy"))[
        "S3LogDeliveryFromTheOfflineBucketOnly"
    ]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == f"{LOG_BUCKET_ARN}/offline/*"
    assert delivery["Condition"] == {
        "ArnEquals": {"aws:SourceArn": BUCKET_ARN},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }


def test_offline_bucket_policy_denies_plain_http_and_access_from_outside_the_vpc(
    rec: Recording,
) -> None:
    statements = _statements(rec.named("features-offline-policy"))
    assert set(statements) == {"DenyInsecureTransport", "DenyObjectAccessFromOutsideTheVpc"}
    tls = statements["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    outside = statements["DenyObjectAccessFromOutsideTheVpc"]
    assert (outside["Effect"], outside["Principal"]) == ("Deny", "*")
    assert {"s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:ListBucket*"} <= set(
        outside["Action"]
    )
    assert outside["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert outside["Condition"] == {
        "StringNotEqualsIfExists": {"aws:SourceVpce": ENDPOINTS["s3"]},
        "ArnNotLikeIfExists": {"aws:PrincipalArn": [ADMIN]},
    }


def test_without_admin_principals_nobody_is_exempt() -> None:
    rec = _record(_args(admin_principal_arns=()))
    outside = _statements(rec.named("features-offline-policy"))["DenyObjectAccessFromOutsideTheVpc"]
    assert outside["Condition"] == {"StringNotEqualsIfExists": {"aws:SourceVpce": ENDPOINTS["s3"]}}


# -- IAM and endpoint policies scoped to this region ----------------------------------------
def test_reader_policy_reads_this_table_only_and_never_writes(rec: Recording) -> None:
    reader = rec.one("aws:iam/policy:Policy")
    assert reader.props["name"] == NAMES.reader_policy
    assert _policy(reader)["Statement"] == [
        {
            "Sid": "ReadFeatureItems",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"],
            "Resource": TABLE_ARN,
        },
        {
            "Sid": "DecryptThroughDynamoDb",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": _key_arn(rec),
            "Condition": {"StringEquals": {"kms:ViaService": [f"dynamodb.{REGION}.amazonaws.com"]}},
        },
    ]
    actions = [a for s in _policy(reader)["Statement"] for a in s["Action"]]
    writes = ("Put", "Update", "Delete", "Write", "Create", "Encrypt", "GenerateDataKey")
    assert not [a for a in actions if any(w in a for w in writes)]


def test_consumer_policy_is_scoped_to_this_regions_resources(rec: Recording) -> None:
    statements = _statements(rec.one("aws:iam/rolePolicy:RolePolicy"))
    key = _key_arn(rec)
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    expected = {
        "ReadTheEventStream": (
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            STREAM_ARN,
        ),
        "ReadAndWriteFeatureItems": (["dynamodb:GetItem", "dynamodb:PutItem"], TABLE_ARN),
        "ArchiveRawEvents": (["s3:PutObject"], f"{BUCKET_ARN}/raw-events/*"),
        "SendDeadLettersAndFailedBatches": (["sqs:SendMessage"], [DLQ_ARN, FAILED_ARN]),
        "UseTheStoreKeyThroughTheStoresServices": (["kms:Decrypt", "kms:GenerateDataKey"], key),
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], f"{LOG_GROUP_ARN}:*"),
        "ManageNetworkInterfacesInThisRegion": (
            [
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ],
            [f"{ec2}:network-interface/*", f"{ec2}:subnet/*", f"{ec2}:security-group/*"],
        ),
        "DescribeNetworkInThisRegion": (
            ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            "*",
        ),
    }
    assert {sid: (s["Action"], s["Resource"]) for sid, s in statements.items()} == expected
    assert all(s["Effect"] == "Allow" for s in statements.values())
    services = ["dynamodb", "kinesis", "lambda", "s3", "sqs"]
    assert statements["UseTheStoreKeyThroughTheStoresServices"]["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"{s}.{REGION}.amazonaws.com" for s in services]}
    }
    # The one wildcard resource is a Describe call, which takes no ARN: pinned by region.
    assert statements["DescribeNetworkInThisRegion"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": REGION}
    }


def test_every_consumer_arn_names_this_region_and_account(rec: Recording) -> None:
    for statement in _policy(rec.one("aws:iam/rolePolicy:RolePolicy"))["Statement"]:
        resources = statement["Resource"]
        for arn in resources if isinstance(resources, list) else [resources]:
            if arn == "*":
                continue
            _, _, service, region, account, _ = arn.split(":", 5)
            if service == "s3":  # S3 ARNs carry neither; the bucket name is regional
                assert arn.startswith(f"{BUCKET_ARN}/"), arn
            else:
                assert (region, account) == (REGION, ACCOUNT), arn


def test_consumer_role_is_assumable_by_lambda_only(rec: Recording) -> None:
    role = rec.one("aws:iam/role:Role")
    assert role.props["name"] == NAMES.consumer_role
    assert json.loads(role.props["assumeRolePolicy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert "managedPolicyArns" not in role.props


def test_dynamodb_endpoint_reaches_only_this_accounts_tables_in_this_region(
    rec: Recording,
) -> None:
    # Exactly one: the S3 endpoint also carries image layers and model files, so it is left
    # unrestricted and the offline bucket's own policy pins its side.
    [policy] = rec.of_type("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
    assert policy.props["vpcEndpointId"] == ENDPOINTS["dynamodb"]
    assert _policy(policy)["Statement"] == [
        {
            "Sid": "OnlyThisAccountsTablesInThisRegion",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "dynamodb:*",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*",
        }
    ]


# -- the consumer ---------------------------------------------------------------------------
def test_lambda_runs_the_repo_code_in_private_subnets(rec: Recording) -> None:
    function = rec.one("aws:lambda/function:Function")
    props = function.props
    assert props["name"] == NAMES.function
    assert props["runtime"] == "python3.13"
    assert props["handler"] == "features.handler.handler"
    assert props["architectures"] == ["arm64"]
    assert props["reservedConcurrentExecutions"] == 10
    assert props["code"] == {"assets": {"features": {"path": "features"}}}
    assert props["role"] == rec.one("aws:iam/role:Role").outputs["arn"]
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup")
    assert props["vpcConfig"] == {"subnetIds": SUBNETS, "securityGroupIds": [sg.id]}
    assert props["loggingConfig"] == {
        "logFormat": "JSON",
        "logGroup": f"/aws/lambda/{NAMES.function}",
    }


def test_lambda_environment_is_what_the_handler_reads(rec: Recording) -> None:
    from features import handler

    variables = rec.one("aws:lambda/function:Function").props["environment"]["variables"]
    assert variables == {
        handler.ENV_TABLE: NAMES.table,
        handler.ENV_BUCKET: NAMES.offline_bucket,
        handler.ENV_QUEUE: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{NAMES.dead_letter_queue}",
        handler.ENV_TTL_DAYS: "30",
    }


def test_security_group_allows_https_out_and_nothing_in(rec: Recording) -> None:
    props = rec.one("aws:ec2/securityGroup:SecurityGroup").props
    assert props["vpcId"] == VPC
    assert props.get("ingress", []) == []
    assert [(e["protocol"], e["fromPort"], e["toPort"]) for e in props["egress"]] == [
        ("tcp", 443, 443)
    ]


def test_event_source_mapping_reports_partial_failures_and_gives_up_safely(
    rec: Recording,
) -> None:
    props = rec.one("aws:lambda/eventSourceMapping:EventSourceMapping").props
    assert props["eventSourceArn"] == STREAM_ARN
    assert props["functionName"] == rec.one("aws:lambda/function:Function").outputs["arn"]
    assert props["startingPosition"] == "LATEST"
    assert props["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["bisectBatchOnFunctionError"] is True
    assert props["maximumRetryAttempts"] == 5
    assert props["maximumRecordAgeInSeconds"] == 3600
    assert props["destinationConfig"] == {"onFailure": {"destinationArn": FAILED_ARN}}


def test_log_group_and_queues_keep_data_for_a_bounded_time(rec: Recording) -> None:
    group = rec.one("aws:cloudwatch/logGroup:LogGroup").props
    assert group["name"] == f"/aws/lambda/{NAMES.function}"
    assert group["retentionInDays"] == 30
    for queue in rec.of_type("aws:sqs/queue:Queue"):
        assert queue.props["messageRetentionSeconds"] == 14 * 86400, queue.name


def test_the_mapping_and_function_wait_for_the_role_policy(rec: Recording) -> None:
    policy_urn = rec.one("aws:iam/rolePolicy:RolePolicy").urn
    for token in (
        "aws:lambda/function:Function",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
    ):
        assert policy_urn in rec.one(token).dependencies, token


# -- bad arguments fail before any resource -------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jurisdiction": "XX"}, "jurisdiction must be one of"),
        (
            {"gateway_endpoint_ids": {"s3": "vpce-1"}},
            r"gateway_endpoint_ids must include \['dynamodb'\]",
        ),
        ({"private_subnet_ids": []}, "private_subnet_ids must name at least one subnet"),
        ({"admin_principal_arns": ("arn:aws:iam::1:root",)}, "admin_principal_arns must hold"),
    ],
)
def test_bad_arguments_fail_before_any_resource(changes: dict[str, Any], message: str) -> None:
    # Validation runs before the component registers, so no Pulumi runtime is needed.
    with pytest.raises(ValueError, match=message):
        FeatureStore("features", _args(**changes))


@pytest.mark.parametrize(
    ("group", "field", "value", "message"),
    [
        (
            "retention",
            "stream_hours",
            12,
            r"retention.stream_hours must be a whole number from 24 to 8760, got 12",
        ),
        ("retention", "log_days", 31, r"retention.log_days must be one of \[1, 3,"),
        (
            "consumer",
            "max_retry_attempts",
            -1,
            r"consumer.max_retry_attempts must be a whole number from 0",
        ),
        ("consumer", "parallelization_factor", True, "consumer.parallelization_factor must be"),
    ],
)
def test_out_of_range_settings_fail_with_the_field_and_the_limits(
    group: str, field: str, value: object, message: str
) -> None:
    args = _args()
    changed = replace(args, **{group: replace(getattr(args, group), **{field: value})})
    with pytest.raises(ValueError, match=message):
        FeatureStore("features", changed)

"""The ModelArtifactStore component under the mock cloud.

Proves every protection the store declares on both buckets (versioning, encryption, public
access block, ownership, bucket policy, lifecycle, access logging), the key's settings, the
provider region and the exports; does not prove that S3 enforces them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.model_store import ACCESS_LOG_PREFIX, ModelArtifactStore, ModelArtifactStoreArgs
from meshctl.mock_cloud import ACCOUNT_ID, RecordedResource
from tests.artifacts.helpers import policy_document
from tests.artifacts.policy_eval import Request, allowed_by, denied_by
from tests.harness import Recording, provider_region, run_pulumi

BUCKET = "inference-mesh-prod-eu-west-1-models"
LOGS = "inference-mesh-prod-eu-west-1-models-logs"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
LOGS_ARN = f"arn:aws:s3:::{LOGS}"
S3 = "aws:s3/"


def _store(**overrides: Any) -> Recording:
    def program() -> dict[str, Any]:
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        args = ModelArtifactStoreArgs(
            bucket_name=BUCKET, log_bucket_name=LOGS, account_id=ACCOUNT_ID, **overrides
        )
        store = ModelArtifactStore(
            "artifacts", args, opts=pulumi.ResourceOptions(providers=[provider])
        )
        return store.exports()

    return run_pulumi(program)


@pytest.fixture(scope="module")
def store() -> Recording:
    return _store(noncurrent_version_expiration_days=45, access_log_retention_days=180)


def _for_bucket(rec: Recording, token: str, bucket: str) -> RecordedResource:
    found = [r for r in rec.of_type(token) if r.props["bucket"] == bucket]
    assert len(found) == 1, f"expected one {token} on {bucket}, found {len(found)}"
    return found[0]


def _key(rec: Recording) -> RecordedResource:
    return rec.one("aws:kms/key:Key")


def test_exact_children(store: Recording) -> None:
    component = store.one("inference-mesh:artifacts:ModelArtifactStore")
    kinds = Counter(r.type for r in store.descendants_of(component.urn))
    per_bucket = {
        f"{S3}bucket:Bucket",
        f"{S3}bucketVersioning:BucketVersioning",
        f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock",
        f"{S3}bucketOwnershipControls:BucketOwnershipControls",
        f"{S3}bucketPolicy:BucketPolicy",
        f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    }
    assert kinds == Counter(
        {
            **dict.fromkeys(per_bucket, 2),
            f"{S3}bucketLogging:BucketLogging": 1,
            "inference-mesh:kms:RegionalKey": 1,
            "aws:kms/key:Key": 1,
            "aws:kms/alias:Alias": 1,
        }
    )
    buckets = {r.props["bucket"] for r in store.of_type(f"{S3}bucket:Bucket")}
    assert buckets == {BUCKET, LOGS}


def test_every_child_is_parented_and_in_the_providers_region(store: Recording) -> None:
    component = store.one("inference-mesh:artifacts:ModelArtifactStore")
    custom = [r for r in store.descendants_of(component.urn) if r.custom]
    assert len(custom) == len(store.custom) - 1  # all but the provider itself
    for resource in custom:
        assert provider_region(store, resource) == "eu-west-1", resource.name
        assert resource.region == "eu-west-1"


def test_key_is_single_region_rotated_and_aliased_by_bucket_name(store: Recording) -> None:
    key = _key(store)
    assert key.props["enableKeyRotation"] is True
    assert key.props["multiRegion"] is False
    alias = store.one("aws:kms/alias:Alias")
    assert alias.props == {"name": f"alias/{BUCKET}", "targetKeyId": key.outputs["keyId"]}


@pytest.mark.parametrize("bucket", [BUCKET, LOGS])
def test_versioning_public_access_block_and_ownership_on_both_buckets(
    store: Recording, bucket: str
) -> None:
    versioning = _for_bucket(store, f"{S3}bucketVersioning:BucketVersioning", bucket)
    assert versioning.props["versioningConfiguration"] == {"status": "Enabled"}
    block = _for_bucket(store, f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
    assert block.props == {
        "bucket": bucket,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = _for_bucket(store, f"{S3}bucketOwnershipControls:BucketOwnershipControls", bucket)
    assert ownership.props["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_artifact_bucket_encrypts_with_the_regional_key_and_a_bucket_key(
    store: Recording,
) -> None:
    token = f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    encryption = _for_bucket(store, token, BUCKET)
    assert encryption.props["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": _key(store).outputs["arn"],
            },
            "bucketKeyEnabled": True,
            "blockedEncryptionTypes": ["SSE-C"],
        }
    ]


def test_log_bucket_uses_sse_s3_because_access_logging_cannot_use_kms(store: Recording) -> None:
    token = f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    encryption = _for_bucket(store, token, LOGS)
    assert encryption.props["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"},
            "blockedEncryptionTypes": ["SSE-C"],
        }
    ]


def _policy(store: Recording, bucket: str) -> dict[str, Any]:
    return policy_document(_for_bucket(store, f"{S3}bucketPolicy:BucketPolicy", bucket))


def test_artifact_policy_statements(store: Recording) -> None:
    policy = _policy(store, BUCKET)
    key_arn = _key(store).outputs["arn"]
    assert [s["Sid"] for s in policy["Statement"]] == [
        "DenyInsecureTransport",
        "DenyUploadsNotUnderTheBucketKey",
        "DenyCustomerProvidedKeys",
    ]
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in policy["Statement"])
    tls, key_only, sse_c = policy["Statement"]
    assert tls["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert key_only["Condition"] == {
        "Null": {"s3:x-amz-server-side-encryption": "false"},
        "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn},
    }
    assert sse_c["Resource"] == f"{BUCKET_ARN}/*"


TLS = {"aws:SecureTransport": "true"}


@pytest.mark.parametrize(
    ("headers", "refused_by"),
    [
        ({}, []),  # no headers: the bucket default (the regional key) applies
        ({"s3:x-amz-server-side-encryption": "AES256"}, ["DenyUploadsNotUnderTheBucketKey"]),
        ({"s3:x-amz-server-side-encryption": "aws:kms"}, ["DenyUploadsNotUnderTheBucketKey"]),
        (
            {
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:eu-west-1:1:key/x",
            },
            ["DenyUploadsNotUnderTheBucketKey"],
        ),
        (
            {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"},
            ["DenyCustomerProvidedKeys"],
        ),
    ],
)
def test_uploads_are_refused_unless_they_end_up_under_the_regional_key(
    store: Recording, headers: dict[str, str], refused_by: list[str]
) -> None:
    request = Request(
        "s3:PutObject", f"{BUCKET_ARN}/models/resnet/1/model.onnx", {**TLS, **headers}
    )
    assert denied_by(_policy(store, BUCKET), request) == refused_by


def test_upload_naming_the_regional_key_is_accepted(store: Recording) -> None:
    headers = {
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": _key(store).outputs["arn"],
    }
    request = Request("s3:PutObject", f"{BUCKET_ARN}/m/1/model.onnx", {**TLS, **headers})
    assert denied_by(_policy(store, BUCKET), request) == []


@pytest.mark.parametrize("bucket", [BUCKET, LOGS])
@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:ListBucket"])
def test_plain_http_is_refused_on_both_buckets(store: Recording, bucket: str, action: str) -> None:
    arn = f"arn:aws:s3:::{bucket}"
    resource = arn if action == "s3:ListBucket" else f"{arn}/x"
    plain = Request(action, resource, {"aws:SecureTransport": "false"})
    assert denied_by(_policy(store, bucket), plain) == ["DenyInsecureTransport"]
    assert denied_by(_policy(store, bucket), Request(action, resource, TLS)) == []


def test_log_bucket_admits_only_this_accounts_artifact_bucket_logs(store: Recording) -> None:
    policy = _policy(store, LOGS)
    assert [s["Sid"] for s in policy["Statement"]] == [
        "DenyInsecureTransport",
        "S3ServerAccessLogsFromTheArtifactBucket",
    ]
    delivery = {"aws:SecureTransport": "true", "aws:SourceArn": BUCKET_ARN}
    log_object = f"{LOGS_ARN}/{ACCESS_LOG_PREFIX}2026/12/01/log"
    service = "logging.s3.amazonaws.com"
    ours = Request("s3:PutObject", log_object, {**delivery, "aws:SourceAccount": ACCOUNT_ID})
    assert allowed_by(policy, ours, service) == ["S3ServerAccessLogsFromTheArtifactBucket"]
    # Log delivery sends no encryption headers; nothing in the policy may refuse it.
    assert denied_by(policy, ours) == []
    for context in (
        {**delivery, "aws:SourceAccount": "999999999999"},
        {
            **delivery,
            "aws:SourceArn": "arn:aws:s3:::someone-elses-bucket",
            "aws:SourceAccount": ACCOUNT_ID,
        },
    ):
        assert allowed_by(policy, Request("s3:PutObject", log_object, context), service) == []
    outside_prefix = Request(
        "s3:PutObject", f"{LOGS_ARN}/other/x", {**delivery, "aws:SourceAccount": ACCOUNT_ID}
    )
    assert allowed_by(policy, outside_prefix, service) == []


def test_lifecycle_expires_noncurrent_versions_after_the_configured_days(
    store: Recording,
) -> None:
    token = f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    artifacts = _for_bucket(store, token, BUCKET)
    assert artifacts.props["rules"] == [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrentVersionExpiration": {"noncurrentDays": 45},
            "expiration": {"expiredObjectDeleteMarker": True},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
        }
    ]
    logs = _for_bucket(store, token, LOGS)
    assert logs.props["rules"] == [
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": {},
            "expiration": {"days": 180},
            "noncurrentVersionExpiration": {"noncurrentDays": 45},
        }
    ]
    for lifecycle, bucket in ((artifacts, BUCKET), (logs, LOGS)):
        versioning = _for_bucket(store, f"{S3}bucketVersioning:BucketVersioning", bucket)
        assert versioning.urn in lifecycle.dependencies


def test_access_logs_go_to_the_log_bucket_after_its_policy(store: Recording) -> None:
    logging = store.one(f"{S3}bucketLogging:BucketLogging")
    assert logging.props == {
        "bucket": BUCKET,
        "targetBucket": LOGS,
        "targetPrefix": ACCESS_LOG_PREFIX,
        "targetObjectKeyFormat": {"partitionedPrefix": {"partitionDateSource": "EventTime"}},
    }
    log_policy = _for_bucket(store, f"{S3}bucketPolicy:BucketPolicy", LOGS)
    assert log_policy.urn in logging.dependencies


@pytest.mark.parametrize("bucket", [BUCKET, LOGS])
def test_each_policy_waits_for_its_public_access_block(store: Recording, bucket: str) -> None:
    policy = _for_bucket(store, f"{S3}bucketPolicy:BucketPolicy", bucket)
    block = _for_bucket(store, f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
    assert block.urn in policy.dependencies


def test_exports(store: Recording) -> None:
    assert store.outputs == {
        "bucketName": BUCKET,
        "bucketArn": BUCKET_ARN,
        "keyArn": _key(store).outputs["arn"],
        "logBucketName": LOGS,
    }
    assert store.outputs["keyArn"].startswith("arn:aws:kms:eu-west-1:")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"bucket_name": "Models_Bucket"},
            r"bucket_name must be an S3 bucket name .* got 'Models_Bucket'",
        ),
        ({"log_bucket_name": BUCKET}, r"log_bucket_name must differ from bucket_name"),
        (
            {"noncurrent_version_expiration_days": 0},
            r"noncurrent_version_expiration_days must be .* got 0",
        ),
        ({"access_log_retention_days": True}, r"access_log_retention_days must be .* got True"),
    ],
)
def test_bad_arguments_fail_before_any_resource(overrides: dict[str, Any], message: str) -> None:
    errors: list[ValueError] = []

    def program() -> None:
        args = {"bucket_name": BUCKET, "log_bucket_name": LOGS, "account_id": ACCOUNT_ID}
        try:
            ModelArtifactStore("artifacts", ModelArtifactStoreArgs(**{**args, **overrides}))
        except ValueError as exc:
            errors.append(exc)

    recording = run_pulumi(program)
    assert len(errors) == 1
    assert re.search(message, str(errors[0]))
    assert recording.resources == []

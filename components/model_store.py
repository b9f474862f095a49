"""The regional model artifact store: a private, versioned, KMS-encrypted bucket with access logs.

Model files are not personal data; they replicate from the primary region's store to every
other region (``components.replication``). Each region's store encrypts with its own
single-region key, so a replica is readable only through the key of the region it sits in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import RegionalKey, RegionalKeyArgs

ACCESS_LOG_PREFIX = "access-logs/"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

# The provider's argument classes have very long names; short aliases keep the code readable.
_Encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleArgs
_DefaultEncryption = (
    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
)
_Rule = aws.s3.BucketLifecycleConfigurationRuleArgs
_AllObjects = aws.s3.BucketLifecycleConfigurationRuleFilterArgs
_Expiration = aws.s3.BucketLifecycleConfigurationRuleExpirationArgs
_NoncurrentExpiration = aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs
_AbortUploads = aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs


@dataclass(frozen=True)
class ModelArtifactStoreArgs:
    bucket_name: str
    """Physical name of the artifact bucket, deterministic (``stacks.naming.artifact_bucket``)
    so the global stack, meshctl and the gateway name it without look-ups. Also the key's
    alias (``alias/<bucket_name>``)."""
    log_bucket_name: str
    """Physical name of the bucket that receives the store's S3 server access logs; it must
    be in the same region and account (``stacks.naming.artifact_log_bucket``)."""
    account_id: pulumi.Input[str]
    """The owning account: key administration, and the only account whose bucket may log to
    the log bucket."""
    noncurrent_version_expiration_days: int = 90
    """Days a replaced or deleted model version stays restorable before S3 expires it."""
    access_log_retention_days: int = 365
    """Days access logs are kept (a year covers the usual audit window)."""
    abort_incomplete_upload_days: int = 7
    """Days after which unfinished multipart uploads (large model files) are cleaned up."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for the buckets and the key; the stack's default tags are added anyway."""


class ModelArtifactStore(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    key: RegionalKey

    def __init__(
        self, name: str, args: ModelArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None
    ):
        _validate(args)
        super().__init__("inference-mesh:artifacts:ModelArtifactStore", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self.key = RegionalKey(
            f"{name}-key",
            RegionalKeyArgs(
                description=f"Model artifacts in {args.bucket_name}",
                account_id=args.account_id,
                alias=args.bucket_name,
                tags=dict(args.tags),
            ),
            opts=self._child,
        )
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket=args.bucket_name, tags=dict(args.tags), opts=self._child
        )
        self.log_bucket, log_policy = self._create_log_bucket()
        hardened = self._harden(self.bucket, f"{name}-bucket", self._kms_encryption())
        self._create_artifact_policy(hardened)
        self._create_artifact_lifecycle(hardened.versioning)
        self._create_access_logging(log_policy)
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        """The regional stack's ``artifacts`` export; the global stack reads these keys."""
        return {
            "bucketName": self.bucket.bucket,
            "bucketArn": self.bucket.arn,
            "keyArn": self.key.arn,
            "logBucketName": self.log_bucket.bucket,
        }

    # -- protections shared by both buckets -----------------------------------------------
    def _harden(
        self,
        bucket: aws.s3.Bucket,
        stem: str,
        encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    ) -> _Hardened:
        """Versioning, default encryption, no public access, no ACLs."""
        versioning = aws.s3.BucketVersioning(
            f"{stem}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=self._child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{stem}-encryption", bucket=bucket.id, rules=[encryption], opts=self._child
        )
        public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{stem}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child,
        )
        # ACLs off: the bucket policy is the only grant, and S3 log delivery must use it.
        aws.s3.BucketOwnershipControls(
            f"{stem}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._child,
        )
        return _Hardened(bucket, versioning, public_access_block)

    def _policy(self, hardened: _Hardened, stem: str, statements: list[Any]) -> aws.s3.BucketPolicy:
        # S3 rejects a policy written while the public access block is still being applied
        # ("conflicting conditional operation"), so the policy waits for the block.
        return aws.s3.BucketPolicy(
            f"{stem}-policy",
            bucket=hardened.bucket.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[hardened.public_access_block]),
        )

    def _kms_encryption(self) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
        return _Encryption(
            apply_server_side_encryption_by_default=_DefaultEncryption(
                sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
            ),
            # One data key per bucket instead of one KMS call per object: model files are
            # read by every serving pod, and per-object KMS calls would hit KMS quotas.
            bucket_key_enabled=True,
            # Replication does not copy SSE-C objects and nobody else could read them.
            blocked_encryption_types=["SSE-C"],
        )

    # -- the artifact bucket --------------------------------------------------------------
    def _create_artifact_policy(self, hardened: _Hardened) -> None:
        bucket_arn = self.bucket.arn
        objects = pulumi.Output.concat(bucket_arn, "/*")
        self._policy(
            hardened,
            f"{self._name}-bucket",
            [
                deny_insecure_transport(bucket_arn, objects),
                {
                    # Uploads without encryption headers get the bucket default (this key);
                    # an upload that asks for any other encryption is refused, so every
                    # object is under the key that replication and the readers are granted.
                    # Requiring the headers instead would refuse UploadPart, which never
                    # carries them (boto/botocore#471).
                    "Sid": "DenyUploadsNotUnderTheBucketKey",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {
                        "Null": {"s3:x-amz-server-side-encryption": "false"},
                        "StringNotEquals": {
                            "s3:x-amz-server-side-encryption-aws-kms-key-id": self.key.arn
                        },
                    },
                },
                {
                    "Sid": "DenyCustomerProvidedKeys",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": objects,
                    "Condition": {
                        "Null": {"s3:x-amz-server-side-encryption-customer-algorithm": "false"}
                    },
                },
            ],
        )

    def _create_artifact_lifecycle(self, versioning: aws.s3.BucketVersioning) -> None:
        args = self._args
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-bucket-lifecycle",
            bucket=self.bucket.id,
            rules=[
                _Rule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=_AllObjects(),
                    noncurrent_version_expiration=_NoncurrentExpiration(
                        noncurrent_days=args.noncurrent_version_expiration_days
                    ),
                    # Delete markers left alone once their versions expired only slow listings.
                    expiration=_Expiration(expired_object_delete_marker=True),
                    abort_incomplete_multipart_upload=_AbortUploads(
                        days_after_initiation=args.abort_incomplete_upload_days
                    ),
                )
            ],
            # Noncurrent-version rules mean nothing until versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

    def _create_access_logging(self, log_policy: aws.s3.BucketPolicy) -> None:
        aws.s3.BucketLogging(
            f"{self._name}-bucket-logging",
            bucket=self.bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=ACCESS_LOG_PREFIX,
            # Date-partitioned keys, so audits query one day without listing the whole bucket.
            target_object_key_format=aws.s3.BucketLoggingTargetObjectKeyFormatArgs(
                partitioned_prefix=aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs(
                    partition_date_source="EventTime"
                )
            ),
            # Delivery is refused until the log bucket's policy lets the logging service in.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )

    # -- the log bucket -------------------------------------------------------------------
    def _create_log_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        args, stem = self._args, f"{self._name}-logs"
        bucket = aws.s3.Bucket(
            stem, bucket=args.log_bucket_name, tags=dict(args.tags), opts=self._child
        )
        # SSE-S3, not the store's key: S3 server access logging supports only SSE-S3 as the
        # target bucket's default encryption (S3 User Guide, "Enabling Amazon S3 server access
        # logging"; awsdocs/amazon-s3-userguide doc_source/enable-server-access-logging.md).
        hardened = self._harden(
            bucket,
            stem,
            _Encryption(
                apply_server_side_encryption_by_default=_DefaultEncryption(sse_algorithm="AES256"),
                blocked_encryption_types=["SSE-C"],
            ),
        )
        self._create_log_lifecycle(bucket, hardened.versioning)
        return bucket, self._create_log_policy(hardened)

    def _create_log_lifecycle(
        self, bucket: aws.s3.Bucket, versioning: aws.s3.BucketVersioning
    ) -> None:
        args = self._args
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-logs-lifecycle",
            bucket=bucket.id,
            rules=[
                _Rule(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=_AllObjects(),
                    expiration=_Expiration(days=args.access_log_retention_days),
                    # Expired logs become noncurrent versions; this removes them for good.
                    noncurrent_version_expiration=_NoncurrentExpiration(
                        noncurrent_days=args.noncurrent_version_expiration_days
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

    def _create_log_policy(self, hardened: _Hardened) -> aws.s3.BucketPolicy:
        args, bucket_arn = self._args, hardened.bucket.arn
        # No "deny unencrypted uploads" here: S3 log delivery sends no encryption headers
        # and would be refused (aws-quickstart/quickstart-compliance-common#29).
        statements = [
            deny_insecure_transport(bucket_arn, pulumi.Output.concat(bucket_arn, "/*")),
            {
                "Sid": "S3ServerAccessLogsFromTheArtifactBucket",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/", ACCESS_LOG_PREFIX, "*"),
                "Condition": {
                    # Only this account's artifact bucket may write here (confused deputy).
                    "ArnLike": {"aws:SourceArn": self.bucket.arn},
                    "StringEquals": {"aws:SourceAccount": args.account_id},
                },
            },
        ]
        return self._policy(hardened, f"{self._name}-logs", statements)


@dataclass(frozen=True)
class _Hardened:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    public_access_block: aws.s3.BucketPublicAccessBlock


def deny_insecure_transport(
    bucket_arn: pulumi.Input[str], objects: pulumi.Input[str]
) -> dict[str, Any]:
    """Refuses every request to the bucket or its objects that does not use TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, objects],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _validate(args: ModelArtifactStoreArgs) -> None:
    for field_name in ("bucket_name", "log_bucket_name"):
        value = getattr(args, field_name)
        if not _BUCKET_NAME.match(value) or ".." in value:
            raise ValueError(
                f"{field_name} must be an S3 bucket name (3-63 characters: lowercase letters, "
                f"digits, dots and hyphens, starting and ending with a letter or digit), "
                f"got {value!r}"
            )
    if args.bucket_name == args.log_bucket_name:
        raise ValueError(
            f"log_bucket_name must differ from bucket_name (logging a bucket into itself "
            f"loops), got {args.log_bucket_name!r} for both"
        )
    for field_name in (
        "noncurrent_version_expiration_days",
        "access_log_retention_days",
        "abort_incomplete_upload_days",
    ):
        value = getattr(args, field_name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{field_name} must be a whole number of days, at least 1, got {value!r}"
            )

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

from components import buckets
from components.kms import RegionalKey, RegionalKeyArgs

ACCESS_LOG_PREFIX = "access-logs/"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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
        protected = buckets.protect_bucket(
            f"{name}-bucket",
            self.bucket,
            # One data key per bucket: model files are read by every serving pod, and
            # per-object KMS calls would hit KMS quotas.
            buckets.kms_encryption(self.key.arn),
            self._child,
        )
        self._create_artifact_policy(protected)
        self._create_artifact_lifecycle(protected)
        # Delivery is refused until the log bucket's policy lets the logging service in.
        buckets.log_access(
            f"{name}-bucket-logging",
            self.bucket,
            self.log_bucket,
            ACCESS_LOG_PREFIX,
            pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        """The regional stack's ``artifacts`` export; the global stack reads these keys."""
        return {
            "bucketName": self.bucket.bucket,
            "bucketArn": self.bucket.arn,
            "keyArn": self.key.arn,
            "logBucketName": self.log_bucket.bucket,
        }

    # -- the artifact bucket --------------------------------------------------------------
    def _create_artifact_policy(self, protected: buckets.ProtectedBucket) -> None:
        bucket_arn = self.bucket.arn
        objects = buckets.objects_of(bucket_arn)
        protected.policy(
            f"{self._name}-bucket-policy",
            [
                buckets.deny_insecure_transport(bucket_arn),
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
            self._child,
        )

    def _create_artifact_lifecycle(self, protected: buckets.ProtectedBucket) -> None:
        args = self._args
        protected.lifecycle(
            f"{self._name}-bucket-lifecycle",
            [
                buckets.lifecycle_rule(
                    "expire-noncurrent-versions",
                    noncurrent_days=args.noncurrent_version_expiration_days,
                    # Delete markers left alone once their versions expired only slow listings.
                    expire_delete_markers=True,
                    abort_upload_days=args.abort_incomplete_upload_days,
                )
            ],
            self._child,
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
        protected = buckets.protect_bucket(
            stem, bucket, buckets.s3_managed_encryption(), self._child
        )
        protected.lifecycle(
            f"{stem}-lifecycle",
            [
                buckets.lifecycle_rule(
                    "expire-access-logs",
                    expire_days=args.access_log_retention_days,
                    # Expired logs become noncurrent versions; this removes them for good.
                    noncurrent_days=args.noncurrent_version_expiration_days,
                )
            ],
            self._child,
        )
        # No "deny unencrypted uploads" here: S3 log delivery sends no encryption headers.
        policy = protected.policy(
            f"{stem}-policy",
            [
                buckets.deny_insecure_transport(bucket.arn),
                # Only this account's artifact bucket may write here (confused deputy).
                buckets.s3_access_log_delivery(
                    "S3ServerAccessLogsFromTheArtifactBucket",
                    bucket.arn,
                    ACCESS_LOG_PREFIX,
                    self.bucket.arn,
                    args.account_id,
                ),
            ],
            self._child,
        )
        return bucket, policy


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

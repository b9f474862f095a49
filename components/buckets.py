"""S3 bucket protections the components share: default encryption, versioning, no public
access, no ACLs, TLS-only bucket policies, lifecycle rules and server access logging.

Plain functions, not a component: each declares its resources under the parent the caller
passes in ``opts`` (the calling component), with the logical names the components declared
before these helpers existed. A component that adopts them keeps every URN, so a real
``pulumi up`` replaces nothing. Names derive from the caller's ``stem``: ``<stem>-versioning``,
``<stem>-encryption``, ``<stem>-public-access-block`` and ``<stem>-ownership``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.iam_documents import deny_insecure_transport_to, policy_document

CUSTOMER_PROVIDED_KEYS = "SSE-C"
"""The encryption type every bucket's default encryption blocks."""

S3_LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"
"""The principal that delivers S3 server access logs into a log bucket."""

# The provider's argument classes have very long names; short aliases keep the code readable.
_Encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleArgs
_DefaultEncryption = (
    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
)
_Rule = aws.s3.BucketLifecycleConfigurationRuleArgs
_Filter = aws.s3.BucketLifecycleConfigurationRuleFilterArgs
_Expiration = aws.s3.BucketLifecycleConfigurationRuleExpirationArgs
_NoncurrentExpiration = aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs
_AbortUploads = aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs
_KeyFormat = aws.s3.BucketLoggingTargetObjectKeyFormatArgs
_PartitionedPrefix = aws.s3.BucketLoggingTargetObjectKeyFormatPartitionedPrefixArgs


# -- default encryption -------------------------------------------------------------------
def kms_encryption(
    key_arn: pulumi.Input[str],
) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-KMS under ``key_arn`` with an S3 Bucket Key: one data key per bucket instead of
    one KMS call per object, so KMS calls stay flat with volume. SSE-C uploads are refused:
    replication does not copy them, and nobody but the uploader could read or audit them."""
    return _Encryption(
        apply_server_side_encryption_by_default=_DefaultEncryption(
            sse_algorithm="aws:kms", kms_master_key_id=key_arn
        ),
        bucket_key_enabled=True,
        blocked_encryption_types=[CUSTOMER_PROVIDED_KEYS],
    )


def s3_managed_encryption() -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgs:
    """SSE-S3: the only default encryption a bucket that receives S3 server access logs may
    have (S3 User Guide, "Enabling Amazon S3 server access logging"). SSE-C refused, as in
    ``kms_encryption``."""
    return _Encryption(
        apply_server_side_encryption_by_default=_DefaultEncryption(sse_algorithm="AES256"),
        blocked_encryption_types=[CUSTOMER_PROVIDED_KEYS],
    )


# -- the protections every bucket gets ----------------------------------------------------
@dataclass(frozen=True)
class ProtectedBucket:
    """A bucket and the protections that later resources must wait for."""

    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    public_access_block: aws.s3.BucketPublicAccessBlock

    def policy(
        self, name: str, statements: Sequence[Any], opts: pulumi.ResourceOptions
    ) -> aws.s3.BucketPolicy:
        """The bucket policy, declared after the public access block: S3 rejects a policy
        written while the block is still being applied ("conflicting conditional
        operation")."""
        after = pulumi.ResourceOptions(depends_on=[self.public_access_block])
        return bucket_policy(
            name, self.bucket, statements, pulumi.ResourceOptions.merge(opts, after)
        )

    def lifecycle(
        self,
        name: str,
        rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs],
        opts: pulumi.ResourceOptions,
    ) -> aws.s3.BucketLifecycleConfiguration:
        """The lifecycle configuration, declared after versioning: noncurrent-version rules
        mean nothing until versioning is on."""
        after = pulumi.ResourceOptions(depends_on=[self.versioning])
        return bucket_lifecycle(name, self.bucket, rules, pulumi.ResourceOptions.merge(opts, after))


def protect_bucket(
    stem: str,
    bucket: aws.s3.Bucket,
    encryption: aws.s3.BucketServerSideEncryptionConfigurationRuleArgs,
    opts: pulumi.ResourceOptions,
    *,
    public_access_block_suffix: str = "public-access-block",
) -> ProtectedBucket:
    """Versioning on, ``encryption`` as the default, every public-access block on, and ACLs
    off (``BucketOwnerEnforced``): the bucket policy is the only grant, and log deliveries'
    ``bucket-owner-full-control`` ACL is still accepted. ``public_access_block_suffix``
    exists for a block already released under another name (renaming would replace it);
    ``public-access-block`` when omitted."""
    versioning = aws.s3.BucketVersioning(
        f"{stem}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"
        ),
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{stem}-encryption", bucket=bucket.id, rules=[encryption], opts=opts
    )
    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{stem}-{public_access_block_suffix}",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        f"{stem}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    return ProtectedBucket(bucket, versioning, public_access_block)


# -- bucket policies ----------------------------------------------------------------------
def bucket_policy(
    name: str, bucket: aws.s3.Bucket, statements: Sequence[Any], opts: pulumi.ResourceOptions
) -> aws.s3.BucketPolicy:
    """A bucket policy of ``statements``; prefer ``ProtectedBucket.policy``, which waits
    for the public access block."""
    return aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        policy=pulumi.Output.json_dumps(policy_document(statements)),
        opts=opts,
    )


def objects_of(bucket_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """The ARN pattern of every object in the bucket."""
    return pulumi.Output.concat(bucket_arn, "/*")


def deny_insecure_transport(
    bucket_arn: pulumi.Input[str], objects: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """Refuses every request to the bucket or its objects that does not use TLS. ``objects``
    is the object ARN pattern; every object of the bucket when omitted."""
    return deny_insecure_transport_to(
        "s3:*", [bucket_arn, objects if objects is not None else objects_of(bucket_arn)]
    )


def s3_access_log_delivery(
    sid: str,
    log_bucket_arn: pulumi.Input[str],
    prefix: str,
    source_bucket_arn: pulumi.Input[str],
    account_id: pulumi.Input[str],
    *,
    source_arn_operator: Literal["ArnLike", "ArnEquals"] = "ArnLike",
) -> dict[str, Any]:
    """Lets S3 log delivery write the access logs of ``source_bucket_arn``, and of no other
    bucket or account (confused deputy), under ``prefix`` of the log bucket. No "deny
    unencrypted uploads" may sit beside it: log delivery sends no encryption headers
    (aws-quickstart/quickstart-compliance-common#29)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": S3_LOG_DELIVERY_SERVICE},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(log_bucket_arn, "/", prefix, "*"),
        "Condition": {
            source_arn_operator: {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


# -- lifecycle and access logging ---------------------------------------------------------
def lifecycle_rule(
    rule_id: str,
    *,
    noncurrent_days: int,
    prefix: str | None = None,
    expire_days: int | None = None,
    expire_delete_markers: bool = False,
    abort_upload_days: int | None = None,
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """An enabled rule: noncurrent versions expire after ``noncurrent_days``; current objects
    after ``expire_days`` when given; ``expire_delete_markers`` removes delete markers whose
    versions are all gone (not with ``expire_days``: S3 takes one or the other); unfinished
    multipart uploads are aborted after ``abort_upload_days`` when given. ``prefix`` limits
    the rule to keys under it; every object when omitted."""
    if expire_days is not None and expire_delete_markers:
        raise ValueError(
            f"lifecycle rule {rule_id!r} must not set both expire_days and "
            f"expire_delete_markers (S3 accepts one expiration), got {expire_days!r} and True"
        )
    expiration = None
    if expire_days is not None:
        expiration = _Expiration(days=expire_days)
    elif expire_delete_markers:
        expiration = _Expiration(expired_object_delete_marker=True)
    return _Rule(
        id=rule_id,
        status="Enabled",
        filter=_Filter() if prefix is None else _Filter(prefix=prefix),
        expiration=expiration,
        noncurrent_version_expiration=_NoncurrentExpiration(noncurrent_days=noncurrent_days),
        abort_incomplete_multipart_upload=(
            None
            if abort_upload_days is None
            else _AbortUploads(days_after_initiation=abort_upload_days)
        ),
    )


def bucket_lifecycle(
    name: str,
    bucket: aws.s3.Bucket,
    rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs],
    opts: pulumi.ResourceOptions,
) -> aws.s3.BucketLifecycleConfiguration:
    """The bucket's lifecycle configuration; prefer ``ProtectedBucket.lifecycle``, which
    waits for versioning."""
    return aws.s3.BucketLifecycleConfiguration(name, bucket=bucket.id, rules=list(rules), opts=opts)


def log_access(
    name: str,
    bucket: aws.s3.Bucket,
    log_bucket: aws.s3.Bucket,
    prefix: str,
    opts: pulumi.ResourceOptions,
) -> aws.s3.BucketLogging:
    """S3 server access logs of ``bucket`` into ``log_bucket`` under ``prefix``, with
    date-partitioned keys so audits query one day without listing the whole bucket. The log
    bucket's policy must admit delivery first (``s3_access_log_delivery``)."""
    return aws.s3.BucketLogging(
        name,
        bucket=bucket.id,
        target_bucket=log_bucket.id,
        target_prefix=prefix,
        target_object_key_format=_KeyFormat(
            partitioned_prefix=_PartitionedPrefix(partition_date_source="EventTime")
        ),
        opts=opts,
    )

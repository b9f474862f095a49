"""Encryption at rest: customer-managed KMS keys everywhere data sits, rotated, and
single-Region wherever the data is personal."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from policies import joins
from policies.checks import (
    enabled_with,
    every_bucket,
    flag_forbidden,
    flag_required,
    node_settings,
)
from policies.props import (
    blocks,
    flag,
    get,
    is_list,
    is_personal,
    is_set,
    items,
    maps,
    peek,
    present,
    text,
)
from policies.rule import ResourceRule, ResourceView, Settings, StackRule, StackView, Violation
from policies.tokens import (
    DYNAMODB_TABLE,
    EBS_VOLUME,
    EC2_NODE_CLASS,
    EKS_CLUSTER,
    INSTANCE,
    KINESIS_STREAM,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    LOG_GROUP,
    S3_ENCRYPTION,
    SQS_QUEUE,
)

KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
AWS_MANAGED_KEY_PREFIX = "alias/aws/"


# -- S3 ------------------------------------------------------------------------------------
def _sse_defaults(config: ResourceView) -> list[Mapping[str, Any]]:
    # pulumi-aws 7 names the list ``rules``; older programs passed a single ``rule``.
    blocks = maps(config.props.get("rules")) or maps([config.props.get("rule")])
    return [b for b in (get(r, "applyServerSideEncryptionByDefault") for r in blocks) if b]


s3_bucket_encryption_configured = every_bucket(
    S3_ENCRYPTION,
    "Bucket {label} has no default encryption: add an "
    "aws.s3.BucketServerSideEncryptionConfiguration for it with sse_algorithm 'aws:kms' and "
    "the store's KMS key.",
    configured=lambda _, configs: any(_sse_defaults(c) for c in configs),
)


def s3_encryption_blocks_customer_keys(view: ResourceView, _: Settings) -> Iterator[str]:
    rules = maps(view.props.get("rules")) or maps([view.props.get("rule")])
    for index, rule in enumerate(rules):
        if "SSE-C" not in [text(t) for t in items(get(rule, "blockedEncryptionTypes"))]:
            yield (
                f"Default encryption {view.label} rule {index} accepts SSE-C uploads: set "
                "blocked_encryption_types=['SSE-C'] (objects under a key only the uploader "
                "holds are neither replicated nor readable by anyone who must audit or erase)."
            )


def s3_encryption_customer_key(stack: StackView, _: Settings) -> Iterator[Violation]:
    attached = joins.buckets_with(stack, S3_ENCRYPTION)
    # S3 server access logging can only deliver to a bucket encrypted with SSE-S3, so the
    # log targets are the one place AES256 is required rather than tolerated.
    log_targets = joins.access_log_targets(stack)
    for bucket, configs in attached:
        if joins.bucket_ids(bucket) & log_targets:
            continue
        for config in configs:
            for default in _sse_defaults(config):
                algorithm = text(default.get("sseAlgorithm"))
                if algorithm not in KMS_ALGORITHMS or not is_set(default.get("kmsMasterKeyId")):
                    yield Violation(
                        f"Bucket {bucket.label} is encrypted with {algorithm or 'no algorithm'} "
                        f"({config.label}): set sse_algorithm 'aws:kms' and kms_master_key_id "
                        "to a customer-managed key.",
                        config.urn,
                    )


# -- DynamoDB, Kinesis, SQS, CloudWatch Logs -----------------------------------------------
dynamodb_customer_key = enabled_with(
    "serverSideEncryption",
    "enabled",
    "kmsKeyArn",
    message="DynamoDB table {label} must be encrypted with a customer-managed key: set "
    "server_side_encryption enabled=True with kms_key_arn.",
)


def kinesis_customer_key(view: ResourceView, _: Settings) -> Iterator[str]:
    if text(view.props.get("encryptionType")) != "KMS" or not present(view.props, "kmsKeyId"):
        yield (
            f"Kinesis stream {view.label} must be encrypted: set encryption_type='KMS' and "
            "kms_key_id to a customer-managed key."
        )
        return
    key = text(peek(view.props, "kmsKeyId"))
    if key.startswith(AWS_MANAGED_KEY_PREFIX):
        yield (
            f"Kinesis stream {view.label} uses the AWS-managed key {key}: set kms_key_id to a "
            "customer-managed key."
        )


def sqs_queue_encrypted(view: ResourceView, _: Settings) -> Iterator[str]:
    if present(view.props, "kmsMasterKeyId"):
        return
    if is_personal(view.props):
        yield (
            f"Queue {view.label} holds personal data: set kms_master_key_id to the "
            "jurisdiction's single-Region customer-managed key."
        )
    elif flag(view.props.get("sqsManagedSseEnabled")) is not True:
        yield (
            f"Queue {view.label} is not encrypted: set kms_master_key_id, or "
            "sqs_managed_sse_enabled=True for data that is not personal."
        )


def log_group_customer_key(view: ResourceView, _: Settings) -> Iterator[str]:
    if not present(view.props, "kmsKeyId"):
        yield (
            f"Log group {view.label} must be encrypted with a customer-managed key: set "
            "kms_key_id (the key policy must allow logs.<region>.amazonaws.com)."
        )


# -- EKS -----------------------------------------------------------------------------------
def eks_secrets_encryption(view: ResourceView, _: Settings) -> Iterator[str]:
    if not any(
        "secrets" in items(get(b, "resources")) and present(b, "provider", "keyArn")
        for b in blocks(view.props.get("encryptionConfig"))
    ):
        yield (
            f"EKS cluster {view.label} must envelope-encrypt Secrets: set encryption_config "
            "resources=['secrets'] with provider.key_arn of a customer-managed key."
        )


# -- EBS -----------------------------------------------------------------------------------
def _unencrypted_devices(view: ResourceView) -> list[str]:
    props = view.props
    if view.type in (LAUNCH_TEMPLATE, EC2_NODE_CLASS):
        devices = maps(get(node_settings(view), "blockDeviceMappings"))
        return [text(d.get("deviceName")) for d in devices if _ebs_unencrypted(get(d, "ebs"))]
    if view.type == INSTANCE:
        root = [get(props, "rootBlockDevice")] if get(props, "rootBlockDevice") else []
        devices = [*maps(root), *maps(props.get("ebsBlockDevices"))]
        return [text(d.get("deviceName")) or "root" for d in devices if _ebs_unencrypted(d)]
    return [] if flag(props.get("encrypted")) is True else ["volume"]


def _ebs_unencrypted(ebs: Any) -> bool:
    # Karpenter and EC2 leave a mapping without ``ebs`` (instance store) out of scope.
    return isinstance(ebs, Mapping) and flag(ebs.get("encrypted")) is not True


def ebs_volumes_encrypted(view: ResourceView, _: Settings) -> Iterator[str]:
    devices = _unencrypted_devices(view)
    if devices:
        yield (
            f"{view.label} declares unencrypted EBS storage ({', '.join(devices)}): set "
            "encrypted=true (with kms_key_id/kmsKeyID of a customer-managed key) on every "
            "block device."
        )


# -- KMS -----------------------------------------------------------------------------------
def _symmetric(props: Mapping[str, Any]) -> bool:
    spec = text(props.get("customerMasterKeySpec")) or "SYMMETRIC_DEFAULT"
    return spec == "SYMMETRIC_DEFAULT"


kms_key_rotation = flag_required(
    "enableKeyRotation",
    # AWS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
    when=_symmetric,
    message="KMS key {label} must rotate: set enable_key_rotation=True.",
)

kms_personal_key_single_region = flag_forbidden(
    "multiRegion",
    when=is_personal,
    message="KMS key {label} protects personal data and must be single-Region: set "
    "multi_region=False (a multi-Region key can be replicated, with its key material, outside "
    "the jurisdiction).",
)


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError:
            return []
    return blocks(get(policy, "Statement"))


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    aws = get(principal, "AWS")
    return aws == "*" or (is_list(aws) and "*" in items(aws))


def kms_key_policy_no_wildcard(view: ResourceView, _: Settings) -> Iterator[str]:
    for statement in _statements(view.props.get("policy")):
        if (
            statement.get("Effect") == "Allow"
            and _wildcard_principal(statement.get("Principal"))
            and not statement.get("Condition")
        ):
            sid = text(statement.get("Sid")) or "without Sid"
            yield (
                f"KMS key {view.label} policy statement {sid} allows any principal: name the "
                "account or role ARNs, or add conditions that bound the caller."
            )


RULES = (
    StackRule(
        name="s3-bucket-encryption-configured",
        summary="Every S3 bucket has an explicit default-encryption configuration.",
        industry=("CKV_AWS_19", "AVD-AWS-0088"),
        check=s3_bucket_encryption_configured,
    ),
    StackRule(
        name="s3-encryption-customer-key",
        summary="S3 buckets encrypt with SSE-KMS under a customer-managed key (access-log "
        "target buckets excepted: S3 log delivery supports SSE-S3 only).",
        industry=("CKV_AWS_145", "AVD-AWS-0132"),
        check=s3_encryption_customer_key,
    ),
    ResourceRule(
        name="s3-encryption-blocks-sse-c",
        summary="S3 default-encryption configurations refuse SSE-C (customer-provided key) "
        "uploads.",
        industry=(),
        rationale="No scanner check exists yet; S3 can block SSE-C per bucket "
        "(blocked_encryption_types), replication skips SSE-C objects, and only the uploader "
        "could read, audit or erase them.",
        types=S3_ENCRYPTION,
        check=s3_encryption_blocks_customer_keys,
    ),
    ResourceRule(
        name="dynamodb-customer-key",
        summary="DynamoDB tables encrypt with a customer-managed KMS key (an unset setting "
        "fails, unlike AWSGuard's dynamodb-table-encryption-enabled).",
        industry=("CKV_AWS_119", "AVD-AWS-0025"),
        types=frozenset({DYNAMODB_TABLE}),
        check=dynamodb_customer_key,
    ),
    ResourceRule(
        name="eks-secrets-encryption",
        summary="EKS clusters envelope-encrypt Kubernetes Secrets with a customer-managed key.",
        industry=(
            "CKV_AWS_58",
            "AVD-AWS-0039",
            "CIS EKS 5.3.1",
            "CT.EKS.PR.2",
            "Config eks-secrets-encrypted",
        ),
        types=frozenset({EKS_CLUSTER}),
        check=eks_secrets_encryption,
    ),
    ResourceRule(
        name="kinesis-customer-key",
        summary="Kinesis streams encrypt with a customer-managed KMS key.",
        industry=("CKV_AWS_43", "CKV_AWS_185", "AVD-AWS-0064"),
        types=frozenset({KINESIS_STREAM}),
        check=kinesis_customer_key,
    ),
    ResourceRule(
        name="sqs-queue-encrypted",
        summary="SQS queues are encrypted; queues holding personal data use a "
        "customer-managed key.",
        industry=("CKV_AWS_27", "AVD-AWS-0096"),
        types=frozenset({SQS_QUEUE}),
        check=sqs_queue_encrypted,
    ),
    ResourceRule(
        name="ebs-volumes-encrypted",
        summary="EBS volumes of nodes (launch templates, Karpenter EC2NodeClasses, "
        "instances, volumes) are encrypted.",
        industry=(
            "CKV_AWS_3",
            "CKV_AWS_8",
            "AVD-AWS-0026",
            "AVD-AWS-0008",
            "AWSGuard encrypted-volumes",
        ),
        types=frozenset({LAUNCH_TEMPLATE, EC2_NODE_CLASS, INSTANCE, EBS_VOLUME}),
        check=ebs_volumes_encrypted,
    ),
    ResourceRule(
        name="log-group-customer-key",
        summary="CloudWatch log groups encrypt with a customer-managed KMS key.",
        industry=("CKV_AWS_158", "AVD-AWS-0017"),
        types=frozenset({LOG_GROUP}),
        check=log_group_customer_key,
    ),
    ResourceRule(
        name="kms-key-rotation",
        summary="Symmetric customer-managed KMS keys rotate automatically.",
        industry=("CKV_AWS_7", "AVD-AWS-0065", "AWSGuard cmk-backing-key-rotation-enabled"),
        types=frozenset({KMS_KEY}),
        check=kms_key_rotation,
    ),
    ResourceRule(
        name="kms-personal-key-single-region",
        summary="KMS keys tagged data-classification=personal are single-Region keys.",
        industry=(),
        rationale="No scanner check exists; follows the KMS guidance on kms:MultiRegion "
        "(multi-Region keys share key material and can be copied with ReplicateKey).",
        types=frozenset({KMS_KEY}),
        check=kms_personal_key_single_region,
    ),
    ResourceRule(
        name="kms-key-policy-no-wildcard-principal",
        summary="KMS key policies grant nothing to a wildcard principal without conditions.",
        industry=("CKV_AWS_33",),
        types=frozenset({KMS_KEY}),
        check=kms_key_policy_no_wildcard,
    ),
)

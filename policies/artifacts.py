"""Artifact buckets: versioned, and replicated from the primary region to every other region
with Replication Time Control, KMS-encrypted objects included."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies import facts, joins
from policies.checks import every_bucket, text_required
from policies.props import bucket_name, enabled, get, maps, number, present, text
from policies.rule import ResourceRule, ResourceView, Settings, StackRule, StackView, Violation
from policies.tokens import S3_REPLICATION, S3_VERSIONING

RTC_MINUTES = 15
"""The only value S3 Replication Time Control accepts."""
ARTIFACTS_EXPORT = "artifacts"
"""The regional stacks' export of their artifact store: ``bucketName``, ``bucketArn``."""


# -- versioning --------------------------------------------------------------------------------
s3_versioning_enabled = text_required(
    "versioningConfiguration",
    "status",
    expected="Enabled",
    message="Bucket versioning {label} is {value}: set versioning_configuration "
    "status='Enabled' (replication and restores need it).",
)


def _versioned(bucket: ResourceView, configs: list[ResourceView]) -> bool:
    inline = get(bucket.props, "versioning", "enabled") is True
    return inline or any(enabled(get(c.props, "versioningConfiguration")) for c in configs)


s3_bucket_has_versioning = every_bucket(
    S3_VERSIONING,
    "Bucket {label} is not versioned: add an aws.s3.BucketVersioning with status 'Enabled'.",
    configured=_versioned,
)


# -- replication rules -------------------------------------------------------------------------
def _enabled_rules(view: ResourceView) -> list[Mapping[str, Any]]:
    return [r for r in maps(view.props.get("rules")) if enabled(r)]


def _rule_name(rule: Mapping[str, Any]) -> str:
    return text(rule.get("id")) or bucket_name(get(rule, "destination", "bucket"))


def replication_time_control(view: ResourceView, _: Settings) -> Iterator[str]:
    for rule in _enabled_rules(view):
        destination = get(rule, "destination")
        rtc = get(destination, "replicationTime")
        if (
            not enabled(rtc)
            or number(get(rtc, "time", "minutes")) != RTC_MINUTES
            or not enabled(get(destination, "metrics"))
        ):
            yield (
                f"Replication rule {_rule_name(rule)} of {view.label} has no Replication Time "
                f"Control: set destination replication_time status='Enabled' with "
                f"{RTC_MINUTES} minutes, and metrics status='Enabled'."
            )


def replication_kms_objects(view: ResourceView, _: Settings) -> Iterator[str]:
    for rule in _enabled_rules(view):
        kms_objects = get(rule, "sourceSelectionCriteria", "sseKmsEncryptedObjects")
        replica_key = present(rule, "destination", "encryptionConfiguration", "replicaKmsKeyId")
        if not enabled(kms_objects) or not replica_key:
            yield (
                f"Replication rule {_rule_name(rule)} of {view.label} skips SSE-KMS objects: "
                "set source_selection_criteria sse_kms_encrypted_objects status='Enabled' and "
                "destination encryption_configuration replica_kms_key_id (the destination "
                "region's key)."
            )


# -- coverage of every region ------------------------------------------------------------------
def _artifact_stores(stack: StackView) -> dict[str, Mapping[str, Any]]:
    """Region -> that regional stack's ``artifacts`` export, for every referenced stack."""
    stores = {}
    for outputs in joins.referenced_stacks(stack):
        store = outputs.get(ARTIFACTS_EXPORT)
        region = outputs.get("region")
        if isinstance(store, Mapping) and isinstance(region, str):
            stores[region] = store
    return stores


def _replicated_to(stack: StackView, source_bucket: str) -> set[str]:
    """Destination bucket names of enabled rules with RTC, out of ``source_bucket``."""
    names = set()
    for config in stack.of_type(S3_REPLICATION):
        if bucket_name(config.props.get("bucket")) != source_bucket:
            continue
        for rule in _enabled_rules(config):
            if enabled(get(rule, "destination", "replicationTime")):
                names.add(bucket_name(get(rule, "destination", "bucket")))
    return names


def artifact_replication_everywhere(stack: StackView, _: Settings) -> Iterator[Violation]:
    stores = _artifact_stores(stack)
    if not stores:
        return  # only the stack that reads the regional stores owns their replication
    primary = facts.catalog().primary.region
    source = stores.get(primary)
    if source is None:
        yield Violation(
            f"Stack {stack.stack} replicates model artifacts but reads no artifact store "
            f"of the primary region {primary}: reference the {primary} stack and replicate "
            "from its bucket."
        )
        return
    covered = _replicated_to(stack, bucket_name(source.get("bucketName")))
    for region in facts.catalog().names:
        wanted = bucket_name(get(stores.get(region), "bucketName"))
        if region != primary and (not wanted or wanted not in covered):
            yield Violation(
                f"Model artifacts do not replicate from {primary} to {region}: add an enabled "
                f"rule with Replication Time Control to {wanted or f'the {region} store'} in "
                f"the replication configuration of {bucket_name(source.get('bucketName'))}."
            )


RULES = (
    ResourceRule(
        name="s3-versioning-enabled",
        summary="Bucket versioning configurations enable versioning (never Suspended).",
        industry=("CKV_AWS_21", "AVD-AWS-0090"),
        types=S3_VERSIONING,
        check=s3_versioning_enabled,
    ),
    StackRule(
        name="s3-bucket-has-versioning",
        summary="Every S3 bucket is versioned.",
        industry=("CKV_AWS_21", "AVD-AWS-0090"),
        check=s3_bucket_has_versioning,
    ),
    ResourceRule(
        name="replication-time-control",
        summary="Enabled S3 replication rules use Replication Time Control (15 minutes) with "
        "replication metrics.",
        industry=(),
        rationale="No scanner check exists (Checkov and Trivy ignore RTC); a region serving "
        "a model version it has not received yet is an outage, and RTC bounds the lag and "
        "alarms on it.",
        types=frozenset({S3_REPLICATION}),
        check=replication_time_control,
    ),
    ResourceRule(
        name="replication-kms-objects",
        summary="Enabled S3 replication rules replicate SSE-KMS objects and re-encrypt them "
        "under a destination key.",
        industry=(),
        rationale="No scanner check exists; S3 silently skips SSE-KMS objects unless the "
        "rule opts in, and every mesh bucket is SSE-KMS.",
        types=frozenset({S3_REPLICATION}),
        check=replication_kms_objects,
    ),
    StackRule(
        name="artifact-replication-every-region",
        summary="The primary region's artifact bucket replicates, with RTC, to the artifact "
        "bucket of every other catalog region.",
        industry=(
            "CKV_AWS_144",
            "Config s3-bucket-replication-enabled",
            "Config s3-bucket-cross-region-replication-enabled",
        ),
        check=artifact_replication_everywhere,
    ),
)

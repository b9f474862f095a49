"""Residency: personal data stays in the regions its jurisdiction allows, and nothing carries
it out: no bucket replication, table replica or multi-Region key; Global Accelerator flow
logs (client IPs) stay inside the accelerator's jurisdiction; no accelerator spans two.

Where personal data may be comes from ``regions/policy/residency.yaml`` through
``regions.residency``, the same answer the stacks and ``meshctl audit residency`` use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from policies import facts, joins
from policies.props import (
    arn_region,
    bucket_name,
    enabled,
    flag,
    get,
    is_personal,
    jurisdiction,
    maps,
    multi_region_key,
    number,
    strings,
    text,
)
from policies.rule import (
    ConfigKey,
    Props,
    ResourceRule,
    ResourceView,
    Settings,
    StackRule,
    StackView,
    Violation,
)
from policies.tokens import (
    ACCELERATOR,
    DYNAMODB_TABLE,
    DYNAMODB_TABLE_REPLICA,
    FLOW_LOG,
    GA_ENDPOINT_GROUP,
    GA_LISTENER,
    KMS_KEY,
    KMS_REPLICA_KEY,
    LOG_GROUP,
    S3_ENCRYPTION,
    S3_LIFECYCLE,
    S3_REPLICATION,
)

MAX_RETENTION = ConfigKey(
    "maxRetentionDays",
    {
        "type": "integer",
        "default": 400,
        "description": "Longest retention of logs holding personal data, in log groups and "
        "log buckets (GDPR storage limitation; 400 covers a year of incident reviews).",
    },
)


def _allowed(view: ResourceView, home_region: str | None) -> frozenset[str]:
    juris = jurisdiction(view.props)
    if not juris or not home_region:
        return frozenset()
    return facts.personal_data_regions(juris, home_region)


# -- where personal data is --------------------------------------------------------------------
def personal_data_in_jurisdiction(view: ResourceView, settings: Settings) -> Iterator[str]:
    if not is_personal(view.props) or view.region is None:
        return
    juris = jurisdiction(view.props)
    allowed = list(settings["allowedJurisdictions"])
    if juris not in allowed:
        yield (
            f"{view.label} holds personal data of jurisdiction {juris or 'unknown'}: tag it "
            f"jurisdiction=<one of {allowed}> matching its region."
        )
    elif juris and view.region not in _allowed(view, view.region):
        regions = [r.region for r in facts.catalog().in_jurisdiction(juris)]
        yield (
            f"{view.label} holds {juris} personal data in {view.region}, which is not a "
            f"{juris} region: create it with a provider of a {juris} region ({regions})."
        )


def personal_replication_in_jurisdiction(stack: StackView, _: Settings) -> Iterator[Violation]:
    for config in stack.of_type(S3_REPLICATION):
        source = joins.find_bucket(stack, config.props.get("bucket"))
        if source is None or not is_personal(source.props):
            continue
        allowed = _allowed(source, source.region)
        for rule in maps(config.props.get("rules")):
            target = get(rule, "destination", "bucket")
            region = joins.bucket_region(stack, target)
            if region not in allowed:
                yield Violation(
                    f"{config.label} replicates personal data of {source.label} "
                    f"({jurisdiction(source.props)}, {source.region}) to "
                    f"{bucket_name(target)} in {region or 'an unknown region'}: remove the "
                    f"rule or replicate only to {sorted(allowed) or 'nowhere'}.",
                    config.urn,
                )


def personal_data_no_table_replica(view: ResourceView, _: Settings) -> Iterator[str]:
    if not is_personal(view.props):
        return
    if view.type == DYNAMODB_TABLE:
        home = view.region
        regions = [text(r.get("regionName")) for r in maps(view.props.get("replicas"))]
    else:
        home = arn_region(view.props.get("globalTableArn")) or view.region
        regions = [view.region or ""]
    allowed = _allowed(view, home)
    outside = sorted(r for r in regions if r not in allowed)
    if outside:
        yield (
            f"Table {view.label} copies {jurisdiction(view.props)} personal data from {home} "
            f"to {', '.join(outside)}: remove the replica (allowed: {sorted(allowed)})."
        )


# -- keys --------------------------------------------------------------------------------------
KEY_FIELDS = ("kmsKeyId", "kmsKeyArn", "kmsMasterKeyId", "keyArn", "replicaKmsKeyId")
KEY_IDS = ("arn", "keyId", "id")


def _key_references(value: Any) -> Iterator[str]:
    """Every value under a KMS key field, however deep (``serverSideEncryption.kmsKeyArn``)."""
    return (item for key, item in strings(value) if key in KEY_FIELDS)


def _key_ids(stack: StackView, wanted: Callable[[Props], bool]) -> set[str]:
    """What resources name the ``wanted`` KMS keys of the stack by: ARNs and key ids."""
    return {
        name
        for key in stack.of_type(KMS_KEY)
        if wanted(key.props)
        for name in joins.identifiers(key, *KEY_IDS)
    }


def _personal_holders(stack: StackView) -> Iterator[tuple[ResourceView, ResourceView]]:
    """(resource that names a key, the personal resource it protects)."""
    personal_buckets = {
        n for b in joins.buckets(stack) if is_personal(b.props) for n in joins.bucket_ids(b)
    }
    for view in stack.resources:
        if is_personal(view.props):
            yield view, view
        elif (
            view.type in S3_ENCRYPTION and bucket_name(view.props.get("bucket")) in personal_buckets
        ):
            yield view, joins.find_bucket(stack, view.props.get("bucket")) or view


def personal_data_single_region_keys(stack: StackView, _: Settings) -> Iterator[Violation]:
    multi = _key_ids(stack, lambda props: flag(props.get("multiRegion")) is True)
    for holder, data in _personal_holders(stack):
        if holder.type in (KMS_KEY, KMS_REPLICA_KEY):
            continue  # keys themselves: kms-personal-key-single-region and below
        for reference in _key_references(holder.props):
            if multi_region_key(reference) or reference in multi:
                whose = "" if holder is data else f" of {data.label}"
                yield Violation(
                    f"{holder.label} encrypts personal data{whose} with the multi-Region key "
                    f"{reference}: use the jurisdiction's single-Region key.",
                    holder.urn,
                )
    personal_keys = _key_ids(stack, is_personal)
    for replica in stack.of_type(KMS_REPLICA_KEY):
        if is_personal(replica.props) or text(replica.props.get("primaryKeyArn")) in personal_keys:
            yield Violation(
                f"Replica key {replica.label} copies the key material of a personal-data key "
                f"to {replica.region}: remove it; personal data uses single-Region keys.",
                replica.urn,
            )


# -- Global Accelerator --------------------------------------------------------------------------
def _arn_or_id(view: ResourceView) -> set[str]:
    return joins.identifiers(view, "arn", "id")


def _endpoint_regions(stack: StackView, accelerator: ResourceView) -> list[str]:
    listeners = set()
    for listener in stack.of_type(GA_LISTENER):
        if text(listener.props.get("acceleratorArn")) in _arn_or_id(accelerator):
            listeners |= _arn_or_id(listener)
    return [
        text(group.props.get("endpointGroupRegion"))
        for group in stack.of_type(GA_ENDPOINT_GROUP)
        if text(group.props.get("listenerArn")) in listeners
    ]


def _accelerator_jurisdictions(stack: StackView, accelerator: ResourceView) -> set[str]:
    found = {
        facts.jurisdiction_of(r) or f"none ({r})" for r in _endpoint_regions(stack, accelerator)
    }
    tagged = jurisdiction(accelerator.props)
    return found | ({tagged} if tagged else set())


def accelerator_single_jurisdiction(stack: StackView, _: Settings) -> Iterator[Violation]:
    for accelerator in stack.of_type(ACCELERATOR):
        found = _accelerator_jurisdictions(stack, accelerator)
        if len(found) > 1:
            yield Violation(
                f"Accelerator {accelerator.label} spans jurisdictions {sorted(found)}, and "
                "Global Accelerator fails over to any endpoint group: give each jurisdiction "
                "its own accelerator, tagged jurisdiction=<J>.",
                accelerator.urn,
            )


def accelerator_flow_logs_in_jurisdiction(stack: StackView, _: Settings) -> Iterator[Violation]:
    for accelerator in stack.of_type(ACCELERATOR):
        target = joins.accelerator_log_bucket(accelerator)
        found = _accelerator_jurisdictions(stack, accelerator)
        if not target or len(found) != 1:
            continue  # no flow logs, or a spanning accelerator: the rules above report it
        juris = next(iter(found))
        region = joins.bucket_region(stack, target)
        if facts.jurisdiction_of(region) != juris:
            yield Violation(
                f"Accelerator {accelerator.label} writes {juris} client IPs to flow-log bucket "
                f"{target} in {region or 'an unknown region'}: use a bucket in a {juris} "
                "region, tagged data-classification=personal.",
                accelerator.urn,
            )


def flow_log_destinations_personal(stack: StackView, _: Settings) -> Iterator[Violation]:
    destinations: list[tuple[ResourceView, ResourceView | None]] = []
    for flow_log in stack.of_type(FLOW_LOG):
        destinations.append((flow_log, _log_destination(stack, flow_log)))
    for accelerator in stack.of_type(ACCELERATOR):
        target = joins.accelerator_log_bucket(accelerator)
        if target:
            destinations.append((accelerator, joins.find_bucket(stack, target)))
    for source, destination in destinations:
        if destination is not None and not is_personal(destination.props):
            yield Violation(
                f"{destination.label} receives flow logs of {source.label}, which hold client "
                "IP addresses: tag it data-classification=personal and jurisdiction=<J>.",
                destination.urn,
            )


def _log_destination(stack: StackView, flow_log: ResourceView) -> ResourceView | None:
    bucket = joins.flow_log_bucket(flow_log)
    if bucket is not None:
        return joins.find_bucket(stack, bucket)
    target = text(flow_log.props.get("logDestination"))
    for group in stack.of_type(LOG_GROUP):
        names = joins.identifiers(group, "arn", "name", "id")
        if target.removesuffix(":*") in names or target.rsplit(":", 1)[-1] in names:
            return group
    return None


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    rule_filter = rule.get("filter")
    return not text(get(rule_filter, "prefix")) and not any(
        get(rule_filter, key) for key in ("tag", "and", "objectSizeGreaterThan")
    )


def _retention_days(rule: Mapping[str, Any]) -> float | None:
    """Days an object can exist at all under ``rule``: current, then noncurrent (the
    buckets are versioned); ``None`` when the rule does not bound every object."""
    if not enabled(rule) or not _whole_bucket(rule):
        return None
    current = number(get(rule, "expiration", "days"))
    noncurrent = number(get(rule, "noncurrentVersionExpiration", "noncurrentDays"))
    if current is None or noncurrent is None:
        return None
    return current + noncurrent


def personal_log_buckets_expire(stack: StackView, settings: Settings) -> Iterator[Violation]:
    limit = int(settings["maxRetentionDays"])
    lifecycles = joins.attached_to_buckets(stack, S3_LIFECYCLE)
    destinations = joins.log_destinations(stack)
    for bucket in joins.buckets(stack):
        if not (joins.bucket_ids(bucket) & destinations) or not is_personal(bucket.props):
            continue
        rules = [
            r for c in joins.configs_of(bucket, lifecycles) for r in maps(c.props.get("rules"))
        ]
        days = [d for d in map(_retention_days, rules) if d is not None]
        if not days or min(days) > limit:
            yield Violation(
                f"Bucket {bucket.label} keeps logs with client IPs (personal data) without a "
                f"bounded lifetime: add a lifecycle rule for every object with expiration days "
                f"and noncurrent_version_expiration together at most {limit} days.",
                bucket.urn,
            )


def personal_log_retention(view: ResourceView, settings: Settings) -> Iterator[str]:
    if not is_personal(view.props):
        return
    days = number(view.props.get("retentionInDays"))
    limit = int(settings["maxRetentionDays"])
    if days is None or days <= 0 or days > limit:
        kept = "forever" if not days else f"{int(days)} days"
        yield (
            f"Log group {view.label} keeps personal data {kept}: set retention_in_days to "
            f"at most {limit}."
        )


RULES = (
    ResourceRule(
        name="personal-data-in-jurisdiction",
        summary="Resources tagged data-classification=personal carry an allowed "
        "jurisdiction tag and live in a catalog region of that jurisdiction.",
        industry=("Control Tower GRREGIONDENY (tag-scoped regional boundary)",),
        types=None,
        check=personal_data_in_jurisdiction,
        config=(facts.ALLOWED_JURISDICTIONS,),
        severity=Severity.CRITICAL,
    ),
    StackRule(
        name="personal-replication-in-jurisdiction",
        summary="Buckets holding personal data replicate only to regions their jurisdiction "
        "allows (regions/policy/residency.yaml); CKV_AWS_144 is waived for them.",
        industry=(
            "AWS-GR_RESTRICT_S3_CROSS_REGION_REPLICATION",
            "Config s3-bucket-replication-enabled (SAME-REGION)",
        ),
        check=personal_replication_in_jurisdiction,
        severity=Severity.CRITICAL,
    ),
    ResourceRule(
        name="personal-data-no-table-replica",
        summary="DynamoDB tables holding personal data have no global-table replica outside "
        "the regions their jurisdiction allows.",
        industry=("Config dynamodb-table-cross-region-replication-enabled (inverted)",),
        types=frozenset({DYNAMODB_TABLE, DYNAMODB_TABLE_REPLICA}),
        check=personal_data_no_table_replica,
        severity=Severity.CRITICAL,
    ),
    StackRule(
        name="personal-data-single-region-keys",
        summary="Personal data is encrypted only under single-Region KMS keys, and no replica "
        "key copies a personal-data key.",
        industry=(),
        rationale="No scanner check exists; multi-Region keys share key material and "
        "ReplicateKey copies it to any region (KMS developer guide, multi-region-keys-auth).",
        check=personal_data_single_region_keys,
        severity=Severity.CRITICAL,
    ),
    StackRule(
        name="accelerator-single-jurisdiction",
        summary="Each accelerator's endpoint groups lie in one jurisdiction (and match its "
        "jurisdiction tag).",
        industry=(),
        rationale="No scanner check exists (trivy-checks has no Global Accelerator checks); "
        "GA fails over to the nearest groups even at traffic dial 0, so only topology keeps "
        "requests inside a jurisdiction.",
        check=accelerator_single_jurisdiction,
        severity=Severity.CRITICAL,
    ),
    StackRule(
        name="accelerator-flow-logs-in-jurisdiction",
        summary="Accelerator flow logs (client IPs) go to a bucket in the accelerator's "
        "jurisdiction.",
        industry=("CKV_AWS_75 (GDPR counterpart)",),
        check=accelerator_flow_logs_in_jurisdiction,
        severity=Severity.HIGH,
    ),
    StackRule(
        name="flow-log-destinations-personal",
        summary="Log groups and buckets that receive VPC or accelerator flow logs are tagged "
        "as personal data.",
        industry=(),
        rationale="No scanner check exists; flow logs hold client IP addresses, personal "
        "data under GDPR, so their stores need the residency tags the other rules act on.",
        check=flow_log_destinations_personal,
        severity=Severity.HIGH,
    ),
    StackRule(
        name="personal-log-buckets-expire",
        summary="Buckets that receive logs holding personal data (flow logs, load balancer "
        "and S3 access logs) expire every object, noncurrent versions included (stricter "
        "than any lifecycle configuration: GDPR storage limitation).",
        industry=("CKV2_AWS_61",),
        check=personal_log_buckets_expire,
        config=(MAX_RETENTION,),
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="personal-log-retention-limited",
        summary="Log groups holding personal data keep it for a bounded time.",
        industry=(),
        rationale="No scanner check exists; GDPR storage limitation (Art. 5(1)(e)).",
        types=frozenset({LOG_GROUP}),
        check=personal_log_retention,
        config=(MAX_RETENTION,),
        severity=Severity.MEDIUM,
    ),
)

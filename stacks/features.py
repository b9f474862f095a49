"""The regional feature store: reads ``inference-mesh:features`` and builds ``FeatureStore``.

Config (every field optional; omitted ones take the component's documented defaults)::

    inference-mesh:features:
      streamRetentionHours: 24        # Kinesis retention
      rawEventRetentionDays: 30       # raw events in the offline bucket
      noncurrentVersionRetentionDays: 7
      accessLogRetentionDays: 90
      ttlDays: 30                     # online items expire after this much inactivity
      logRetentionDays: 30            # the consumer's log group
      deadLetterRetentionDays: 14
      pointInTimeRecoveryDays: 35
      lambdaReservedConcurrency: 10
      lambdaMemoryMb: 512
      lambdaTimeoutSeconds: 60
      batchSize: 100
      maxBatchingWindowSeconds: 1
      parallelizationFactor: 1
      maxRetryAttempts: 5
      maxRecordAgeSeconds: 3600
      adminPrincipalArns: [arn:aws:iam::<account>:role/<gdpr-operators>]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from components.feature_store import (
    ConsumerSizing,
    FeatureRetention,
    FeatureStore,
    FeatureStoreArgs,
    FeatureStoreNames,
    principal_arn_error,
    setting_error,
)
from stacks import naming
from stacks.context import RegionalContext
from stacks.settings import (
    NAMESPACE,
    RegionalSettings,
    StackConfigError,
    config_object,
    reject_unknown_keys,
)

CONFIG_KEY = "features"
CODE_DIR = Path(__file__).resolve().parent.parent / "features"
"""The feature computation package, shipped as the Lambda's code."""

_RETENTION_KEYS = {
    "streamRetentionHours": "stream_hours",
    "rawEventRetentionDays": "raw_event_days",
    "noncurrentVersionRetentionDays": "noncurrent_version_days",
    "accessLogRetentionDays": "access_log_days",
    "ttlDays": "ttl_days",
    "logRetentionDays": "log_days",
    "deadLetterRetentionDays": "dead_letter_days",
    "pointInTimeRecoveryDays": "point_in_time_recovery_days",
}
_CONSUMER_KEYS = {
    "lambdaReservedConcurrency": "reserved_concurrency",
    "lambdaMemoryMb": "memory_mb",
    "lambdaTimeoutSeconds": "timeout_seconds",
    "batchSize": "batch_size",
    "maxBatchingWindowSeconds": "max_batching_window_seconds",
    "parallelizationFactor": "parallelization_factor",
    "maxRetryAttempts": "max_retry_attempts",
    "maxRecordAgeSeconds": "max_record_age_seconds",
}
_ADMINS = "adminPrincipalArns"
ALLOWED_KEYS = frozenset({*_RETENTION_KEYS, *_CONSUMER_KEYS, _ADMINS})


@dataclass(frozen=True)
class FeatureSettings:
    retention: FeatureRetention = field(default_factory=FeatureRetention)
    consumer: ConsumerSizing = field(default_factory=ConsumerSizing)
    admin_principal_arns: tuple[str, ...] = ()


def parse_feature_settings(settings: RegionalSettings) -> FeatureSettings:
    """The stack's ``inference-mesh:features`` value, checked field by field."""
    data = config_object(settings, CONFIG_KEY)
    reject_unknown_keys(settings.stack, f"{NAMESPACE}:{CONFIG_KEY}", data, ALLOWED_KEYS)
    return FeatureSettings(
        retention=replace(FeatureRetention(), **_numbers(settings, data, _RETENTION_KEYS)),
        consumer=replace(ConsumerSizing(), **_numbers(settings, data, _CONSUMER_KEYS)),
        admin_principal_arns=_admins(settings, data.get(_ADMINS, [])),
    )


def _numbers(
    settings: RegionalSettings, data: dict[str, Any], keys: dict[str, str]
) -> dict[str, int]:
    values: dict[str, int] = {}
    for config_name, field_name in keys.items():
        if config_name not in data:
            continue
        value = data[config_name]
        expected = setting_error(field_name, value)
        if expected:
            raise StackConfigError(
                settings.stack, f"{NAMESPACE}:{CONFIG_KEY}.{config_name}", expected, value
            )
        values[field_name] = value
    return values


def _admins(settings: RegionalSettings, value: Any) -> tuple[str, ...]:
    where = f"{NAMESPACE}:{CONFIG_KEY}.{_ADMINS}"
    if not isinstance(value, list):
        raise StackConfigError(settings.stack, where, "a list of IAM principal ARNs", value)
    for arn in value:
        expected = principal_arn_error(arn)
        if expected:
            raise StackConfigError(settings.stack, where, f"a list of {expected}", arn)
    return tuple(value)


def feature_store_names(environment: str, region: str) -> FeatureStoreNames:
    stem = naming.prefix(environment, region)
    return FeatureStoreNames(
        table=naming.feature_table(environment, region),
        offline_bucket=naming.offline_feature_bucket(environment, region),
        access_log_bucket=f"{naming.offline_feature_bucket(environment, region)}-logs",
        stream=naming.event_stream(environment, region),
        function=f"{stem}-feature-consumer",
        dead_letter_queue=f"{stem}-feature-dead-letters",
        failed_batch_queue=f"{stem}-feature-failed-batches",
        consumer_role=f"{stem}-feature-consumer",
        reader_policy=f"{stem}-feature-reader",
        key_alias=f"{stem}-features",
    )


def build(ctx: RegionalContext) -> dict[str, Any]:
    """Declares the region's feature store; returns its exports."""
    settings = ctx.settings
    parsed = parse_feature_settings(settings)
    if not (CODE_DIR / "handler.py").is_file():
        raise FileNotFoundError(f"{CODE_DIR / 'handler.py'}: the feature Lambda's code is missing")
    network = ctx.network
    store = FeatureStore(
        "features",
        FeatureStoreArgs(
            jurisdiction=settings.region.jurisdiction,
            region=settings.region.region,
            account_id=ctx.account_id,
            names=feature_store_names(settings.environment, settings.region.region),
            code_path=str(CODE_DIR),
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            gateway_endpoint_ids=network.gateway_endpoint_ids,
            admin_principal_arns=parsed.admin_principal_arns,
            retention=parsed.retention,
            consumer=parsed.consumer,
        ),
        opts=ctx.opts,
    )
    ctx.built["features"] = store
    return store.exports()

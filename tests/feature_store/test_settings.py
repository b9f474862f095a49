"""``inference-mesh:features`` parsing: shipped stacks, defaults, and errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from components.feature_store import ConsumerSizing, FeatureRetention
from meshctl.plan_engine import discover_stacks, is_global, load_stack_config
from stacks.features import FeatureSettings, parse_feature_settings
from stacks.settings import RegionalSettings, StackConfigError, parse_settings

BASE = {
    "aws:region": "eu-west-1",
    "inference-mesh:owner": "platform",
    "inference-mesh:costCenter": "ml",
    "inference-mesh:network": {"natGateways": "single", "interfaceEndpoints": False},
}
ADMIN = "arn:aws:iam::123456789012:role/inference-mesh-data-protection"
REGIONAL_STACKS = [s for s in discover_stacks() if not is_global(s)]


def _parse(features: Any, stack: str = "prod-eu-west-1") -> FeatureSettings:
    raw = {**BASE} if features is None else {**BASE, "inference-mesh:features": features}
    settings = parse_settings(stack, raw)
    assert isinstance(settings, RegionalSettings)
    return parse_feature_settings(settings)


def _shipped(stack: str) -> FeatureSettings:
    settings = parse_settings(stack, load_stack_config(stack))
    assert isinstance(settings, RegionalSettings)
    return parse_feature_settings(settings)


def test_every_regional_stack_configures_its_feature_store() -> None:
    assert len(REGIONAL_STACKS) == 12
    for stack in REGIONAL_STACKS:
        assert _shipped(stack).admin_principal_arns == (ADMIN,), stack


@pytest.mark.parametrize("stack", [s for s in REGIONAL_STACKS if s.startswith("prod-")])
def test_dev_and_prod_share_retention_and_access_settings(stack: str) -> None:
    prod = _shipped(stack)
    dev = _shipped(stack.replace("prod-", "dev-", 1))
    assert dev.retention == prod.retention
    assert dev.admin_principal_arns == prod.admin_principal_arns
    assert (dev.consumer.max_retry_attempts, dev.consumer.max_record_age_seconds) == (
        prod.consumer.max_retry_attempts,
        prod.consumer.max_record_age_seconds,
    )


def test_shipped_retention_values() -> None:
    assert _shipped("prod-eu-west-1").retention == FeatureRetention(
        stream_hours=24,
        raw_event_days=90,
        noncurrent_version_days=7,
        access_log_days=90,
        ttl_days=30,
        log_days=30,
        dead_letter_days=14,
        point_in_time_recovery_days=14,
    )


def test_omitted_fields_take_the_component_defaults() -> None:
    assert _parse({}) == FeatureSettings(FeatureRetention(), ConsumerSizing(), ())


def test_values_map_to_typed_fields() -> None:
    parsed = _parse(
        {"streamRetentionHours": 48, "lambdaMemoryMb": 1024, "adminPrincipalArns": [ADMIN]}
    )
    assert parsed.retention.stream_hours == 48
    assert parsed.consumer.memory_mb == 1024
    assert parsed.admin_principal_arns == (ADMIN,)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (None, r"field 'inference-mesh:features': expected a mapping, got 'nothing'"),
        ({"replicas": 1}, r"field 'inference-mesh:features.replicas': expected one of \["),
        (
            {"streamRetentionHours": 12},
            r"field 'inference-mesh:features.streamRetentionHours': expected a whole number "
            r"from 24 to 8760, got 12",
        ),
        (
            {"lambdaReservedConcurrency": True},
            r"features.lambdaReservedConcurrency': expected a whole",
        ),
        ({"logRetentionDays": 31}, r"features.logRetentionDays': expected one of \[1, 3, 5"),
        # Python counts true as 1, which CloudWatch would accept as one day.
        ({"logRetentionDays": True}, r"features.logRetentionDays': expected one of \[1, 3, 5"),
        ({"maxRetryAttempts": -1}, r"features.maxRetryAttempts': expected a whole number from 0"),
        ({"adminPrincipalArns": ADMIN}, r"features.adminPrincipalArns': expected a list of IAM"),
        (
            {"adminPrincipalArns": ["arn:aws:iam::123456789012:root"]},
            r"features.adminPrincipalArns': expected a list of an IAM role or user ARN",
        ),
    ],
)
def test_bad_config_names_the_stack_file_and_field(features: Any, message: str) -> None:
    with pytest.raises(StackConfigError, match=r"^stacks/Pulumi\.prod-eu-west-1\.yaml: ") as error:
        _parse(features)
    assert error.match(message)

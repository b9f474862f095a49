"""Stack config parsing: typed settings, and errors naming the stack file and key."""

from __future__ import annotations

import re

import pytest

from stacks.settings import (
    GlobalSettings,
    NatGateways,
    RegionalSettings,
    StackConfigError,
    parse_settings,
)

GOOD = {
    "aws:region": "eu-west-1",
    "inference-mesh:owner": "platform",
    "inference-mesh:costCenter": "ml",
    "inference-mesh:network": {"natGateways": "per-az", "interfaceEndpoints": True},
}


def test_regional_settings_are_typed() -> None:
    settings = parse_settings("prod-eu-west-1", GOOD)
    assert isinstance(settings, RegionalSettings)
    assert settings.environment == "prod"
    assert settings.region.jurisdiction == "EU"
    assert settings.network.nat_gateways is NatGateways.PER_AZ
    assert settings.network.flow_log_retention_days == 365
    assert settings.name_prefix == "inference-mesh-prod-eu-west-1"


def test_global_settings_reference_regional_stacks_by_name() -> None:
    settings = parse_settings("dev-global", {**GOOD, "aws:region": "us-west-2"})
    assert isinstance(settings, GlobalSettings)
    assert settings.regional_stack("eu-west-1") == "organization/inference-mesh/dev-eu-west-1"


def test_network_accepts_json_string_as_the_engine_passes_it() -> None:
    raw = {
        **GOOD,
        "inference-mesh:network": '{"natGateways": "single", "interfaceEndpoints": false}',
    }
    settings = parse_settings("dev-eu-west-1", raw)
    assert isinstance(settings, RegionalSettings)
    assert settings.network.nat_gateways is NatGateways.SINGLE


BAD = [
    ("staging-eu-west-1", {}, "stacks/Pulumi.staging-eu-west-1.yaml: field '(stack name)'"),
    (
        "prod-eu-west-1",
        {"aws:region": "eu-west-2"},
        "stacks/Pulumi.prod-eu-west-1.yaml: field 'aws:region': expected 'eu-west-1' (the stack's region), got 'eu-west-2'",
    ),
    (
        "prod-sa-east-1",
        {"aws:region": "sa-east-1"},
        "stacks/Pulumi.prod-sa-east-1.yaml: field 'aws:region': expected region 'sa-east-1' is not in the catalog",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:owner": ""},
        "field 'inference-mesh:owner': expected a non-empty string, got ''",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:costCenter": None},
        "field 'inference-mesh:costCenter': expected a non-empty string",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:network": None},
        "field 'inference-mesh:network': expected a mapping, got 'nothing'",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:network": {"natGateways": "two", "interfaceEndpoints": True}},
        "field 'inference-mesh:network.natGateways': expected one of ['single', 'per-az'], got 'two'",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:network": {"natGateways": "single", "interfaceEndpoints": "yes"}},
        "field 'inference-mesh:network.interfaceEndpoints': expected true or false, got 'yes'",
    ),
    (
        "prod-eu-west-1",
        {
            "inference-mesh:network": {
                "natGateways": "single",
                "interfaceEndpoints": True,
                "flowLogRetentionDays": 2,
            }
        },
        "field 'inference-mesh:network.flowLogRetentionDays': expected one of [1, 3, 5",
    ),
    (
        "prod-eu-west-1",
        {"inference-mesh:network": {"natGateways": "single", "interfaceEndpoints": True, "nat": 1}},
        "field 'inference-mesh:network.nat': expected one of ['flowLogRetentionDays'",
    ),
]


@pytest.mark.parametrize(("stack", "changes", "message"), BAD)
def test_bad_config_names_file_key_and_expectation(stack: str, changes: dict, message: str) -> None:
    with pytest.raises(StackConfigError, match=re.escape(message)):
        parse_settings(stack, {**GOOD, **changes})

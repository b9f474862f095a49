"""The ``inference-mesh:artifacts`` stack config key: typed settings and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.artifacts import ArtifactSettings, artifact_settings
from stacks.settings import CONFIG_KEYS, StackConfigError, parse_settings

BASE = {
    "aws:region": "eu-west-1",
    "inference-mesh:owner": "platform",
    "inference-mesh:costCenter": "ml",
    "inference-mesh:network": {"natGateways": "per-az", "interfaceEndpoints": True},
}


def _parse(value: Any) -> ArtifactSettings:
    raw = dict(BASE) if value is None else {**BASE, "inference-mesh:artifacts": value}
    return artifact_settings(parse_settings("prod-eu-west-1", raw))


def test_the_key_is_allowed_in_stack_files() -> None:
    assert "artifacts" in CONFIG_KEYS


def test_values_are_read() -> None:
    settings = _parse({"noncurrentVersionExpirationDays": 30, "accessLogRetentionDays": 90})
    assert settings == ArtifactSettings(30, 90)


def test_json_string_as_the_engine_passes_it() -> None:
    assert _parse('{"noncurrentVersionExpirationDays": 14}') == ArtifactSettings(14, 365)


def test_unset_key_takes_the_documented_defaults() -> None:
    assert _parse(None) == ArtifactSettings(90, 365)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"noncurrentVersionExpirationDays": 0},
            "stacks/Pulumi.prod-eu-west-1.yaml: field "
            "'inference-mesh:artifacts.noncurrentVersionExpirationDays': "
            "expected a whole number of days, at least 1, got 0",
        ),
        (
            {"accessLogRetentionDays": "365"},
            "field 'inference-mesh:artifacts.accessLogRetentionDays': "
            "expected a whole number of days, at least 1, got '365'",
        ),
        (
            {"noncurrentVersionExpirationDays": True},
            "noncurrentVersionExpirationDays': expected a whole number of days, at least 1, "
            "got True",
        ),
        (
            {"retentionDays": 3},
            "field 'inference-mesh:artifacts.retentionDays': expected one of "
            "['accessLogRetentionDays', 'noncurrentVersionExpirationDays']",
        ),
        ("[1, 2]", "field 'inference-mesh:artifacts': expected a mapping"),
    ],
)
def test_bad_values_name_the_file_and_field(value: Any, message: str) -> None:
    with pytest.raises(StackConfigError) as error:
        _parse(value)
    assert message in str(error.value)

"""``inference-mesh:alarms`` of the global stack: what it accepts and how it says no."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.alarms import AlarmSettings, alarm_settings
from stacks.settings import GlobalSettings, StackConfigError, parse_settings

RAW = {
    "aws:region": "us-west-2",
    "inference-mesh:owner": "platform-inference",
    "inference-mesh:costCenter": "ml-serving",
}
TOPIC = "arn:aws:sns:us-east-1:123456789012:inference-mesh-prod-oncall"


def _parse(alarms: Any) -> AlarmSettings:
    settings = parse_settings("prod-global", {**RAW, "inference-mesh:alarms": alarms})
    assert isinstance(settings, GlobalSettings)
    return alarm_settings(settings)


def test_topics_in_the_primary_artifact_region_are_accepted() -> None:
    assert _parse({"topicArns": [TOPIC]}) == AlarmSettings((TOPIC,))


def test_no_key_means_no_topics() -> None:
    settings = parse_settings("prod-global", RAW)
    assert isinstance(settings, GlobalSettings)
    assert alarm_settings(settings) == AlarmSettings()


@pytest.mark.parametrize(
    ("alarms", "field", "expected"),
    [
        (
            {"topicArns": [TOPIC.replace("us-east-1", "eu-west-1")]},
            "inference-mesh:alarms.topicArns[0]",
            "an SNS topic ARN in us-east-1, the primary artifact region",
        ),
        (
            {"topicArns": ["oncall"]},
            "inference-mesh:alarms.topicArns[0]",
            "arn:aws:sns:<region>:<account>:<name>",
        ),
        ({"topicArns": []}, "inference-mesh:alarms.topicArns", "a list of 1 to 5 SNS topic ARNs"),
        ({"topicArns": [TOPIC] * 6}, "inference-mesh:alarms.topicArns", "a list of 1 to 5"),
        ({"topicArn": TOPIC}, "inference-mesh:alarms.topicArn", "one of ['topicArns']"),
        ("oncall", "inference-mesh:alarms", "a mapping"),
    ],
)
def test_bad_alarm_config_names_the_file_field_and_expected_value(
    alarms: Any, field: str, expected: str
) -> None:
    with pytest.raises(StackConfigError) as raised:
        _parse(alarms)
    message = str(raised.value)
    assert message.startswith("stacks/Pulumi.prod-global.yaml: field ")
    assert f"'{field}'" in message
    assert expected in message

"""``inference-mesh:alarms`` (global stack): who the cross-region alarms notify.

    inference-mesh:alarms:
      topicArns: [arn:aws:sns:us-east-1:123456789012:inference-mesh-prod-oncall]

The artifact replication alarms live in the primary artifact region (where the replication
configuration is), and CloudWatch only notifies topics of its own region, so every topic
must be in that region. Without the key the alarms still exist (dashboards, FIS stop
conditions) but notify nobody, and the plan says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks.settings import (
    NAMESPACE,
    GlobalSettings,
    StackConfigError,
    config_object,
    reject_unknown_keys,
)

CONFIG_KEY = "alarms"
KEY = f"{NAMESPACE}:{CONFIG_KEY}"
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")
MAX_ACTIONS = 5
"""CloudWatch accepts at most five actions per alarm state."""


@dataclass(frozen=True)
class AlarmSettings:
    topic_arns: tuple[str, ...] = ()


def alarm_settings(settings: GlobalSettings) -> AlarmSettings:
    """Parses the key; every topic must be in the primary artifact region."""
    data = config_object(settings, CONFIG_KEY, required=False)
    reject_unknown_keys(settings.stack, KEY, data, {"topicArns"})
    if "topicArns" not in data:
        return AlarmSettings()
    topics, where = data["topicArns"], f"{KEY}.topicArns"
    if not isinstance(topics, list) or not 1 <= len(topics) <= MAX_ACTIONS:
        raise StackConfigError(
            settings.stack, where, f"a list of 1 to {MAX_ACTIONS} SNS topic ARNs", topics
        )
    region = settings.catalog.primary.region
    for index, arn in enumerate(topics):
        match = TOPIC_ARN.match(arn) if isinstance(arn, str) else None
        if match is None or match["region"] != region:
            raise StackConfigError(
                settings.stack,
                f"{where}[{index}]",
                f"an SNS topic ARN in {region}, the primary artifact region where the "
                "replication alarms live (arn:aws:sns:<region>:<account>:<name>)",
                arn,
            )
    return AlarmSettings(tuple(topics))

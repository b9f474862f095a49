"""The CloudWatch Logs retention check (components/log_retention.py), without Pulumi."""

from __future__ import annotations

import pytest

from components.log_retention import LOG_RETENTION_DAYS, log_retention_error


@pytest.mark.parametrize("days", LOG_RETENTION_DAYS)
def test_every_value_cloudwatch_accepts_passes(days: int) -> None:
    assert log_retention_error(days) is None


@pytest.mark.parametrize("value", [0, 2, 31, 366, 3650, True, False, "30", None, [30]])
def test_anything_else_is_refused_with_the_allowed_values(value: object) -> None:
    assert log_retention_error(value) == f"one of {list(LOG_RETENTION_DAYS)}"

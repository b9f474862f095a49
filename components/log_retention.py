"""The retention periods CloudWatch Logs accepts, for every log group the mesh declares and
every config key that sets one. Pure: importable without the Pulumi SDK."""

from __future__ import annotations

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
"""The values CloudWatch Logs accepts for ``retention_in_days`` (API ``PutRetentionPolicy``)."""


def log_retention_error(value: object) -> str | None:
    """What a log retention must be, or None if ``value`` is one CloudWatch Logs accepts.
    ``true`` is refused although Python counts it as 1."""
    if isinstance(value, bool) or value not in LOG_RETENTION_DAYS:
        return f"one of {list(LOG_RETENTION_DAYS)}"
    return None

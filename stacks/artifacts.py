"""The regional model artifact store: config key ``inference-mesh:artifacts`` and the builder.

Exports (key ``artifacts``) the bucket and key the global stack replicates between; the global
stack reads them by StackReference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.model_store import ModelArtifactStore, ModelArtifactStoreArgs
from stacks import naming
from stacks.context import RegionalContext
from stacks.settings import (
    NAMESPACE,
    CommonSettings,
    StackConfigError,
    config_object,
    reject_unknown_keys,
)

CONFIG_KEY = "artifacts"


@dataclass(frozen=True)
class ArtifactSettings:
    noncurrent_version_expiration_days: int = 90
    """How long a replaced model version stays restorable (``noncurrentVersionExpirationDays``)."""
    access_log_retention_days: int = 365
    """How long S3 access logs are kept (``accessLogRetentionDays``)."""


_FIELDS: dict[str, str] = {
    "noncurrentVersionExpirationDays": "noncurrent_version_expiration_days",
    "accessLogRetentionDays": "access_log_retention_days",
}


def artifact_settings(settings: CommonSettings) -> ArtifactSettings:
    """Parses ``inference-mesh:artifacts``; unset keys take the defaults above."""
    data = config_object(settings, CONFIG_KEY, required=False)
    key = f"{NAMESPACE}:{CONFIG_KEY}"
    reject_unknown_keys(settings.stack, key, data, _FIELDS)
    values: dict[str, int] = {}
    for name, attribute in _FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StackConfigError(
                settings.stack, f"{key}.{name}", "a whole number of days, at least 1", value
            )
        values[attribute] = value
    return ArtifactSettings(**values)


def build(ctx: RegionalContext) -> dict[str, Any]:
    config = artifact_settings(ctx.settings)
    environment, region = ctx.settings.environment, ctx.settings.region.region
    store = ModelArtifactStore(
        "artifacts",
        ModelArtifactStoreArgs(
            bucket_name=naming.artifact_bucket(environment, region),
            log_bucket_name=naming.artifact_log_bucket(environment, region),
            account_id=ctx.account_id,
            noncurrent_version_expiration_days=config.noncurrent_version_expiration_days,
            access_log_retention_days=config.access_log_retention_days,
        ),
        opts=ctx.opts,
    )
    ctx.built["artifacts"] = store
    return store.exports()

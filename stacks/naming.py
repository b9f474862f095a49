"""Deterministic physical names, so stacks and tools can name things without look-ups.

Every name derives from the project, the environment and the region. meshctl, the global
stack and the gateway's deployment config call these functions instead of reading state.
"""

from __future__ import annotations

import re

PROJECT = "inference-mesh"
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")
GLOBAL = "global"

_STACK = re.compile(r"^(?P<env>[a-z]+)-(?P<scope>[a-z0-9-]+)$")


def prefix(environment: str, region: str) -> str:
    """``inference-mesh-prod-eu-west-1``: the stem of every regional physical name."""
    return f"{PROJECT}-{environment}-{region}"


def stack_name(environment: str, scope: str) -> str:
    """``prod-eu-west-1`` for a region, ``prod-global`` for the global layer."""
    return f"{environment}-{scope}"


def parse_stack_name(stack: str) -> tuple[str, str]:
    """Split ``prod-eu-west-1`` into ``("prod", "eu-west-1")`` and ``prod-global`` likewise."""
    match = _STACK.match(stack)
    if not match or match["env"] not in ENVIRONMENTS:
        raise ValueError(
            f"stack name {stack!r}: expected <environment>-<region> or <environment>-global "
            f"with environment one of {list(ENVIRONMENTS)}"
        )
    return match["env"], match["scope"]


def cluster_name(environment: str, region: str) -> str:
    return prefix(environment, region)


def artifact_bucket(environment: str, region: str) -> str:
    return f"{prefix(environment, region)}-models"


def artifact_log_bucket(environment: str, region: str) -> str:
    return f"{prefix(environment, region)}-models-logs"


def feature_table(environment: str, region: str) -> str:
    return f"{prefix(environment, region)}-features"


def offline_feature_bucket(environment: str, region: str) -> str:
    return f"{prefix(environment, region)}-features-offline"


def event_stream(environment: str, region: str) -> str:
    return f"{prefix(environment, region)}-user-events"


def image_repository_prefix(environment: str) -> str:
    """ECR replication filters on this prefix, so dev and prod images never mix."""
    return f"{PROJECT}/{environment}/"


def gateway_repository(environment: str) -> str:
    """The gateway image repository; the same name in every region, as ECR replication needs."""
    return f"{image_repository_prefix(environment)}gateway"

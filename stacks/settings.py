"""Stack configuration: read once, at the edge, and turned into typed settings.

``parse_settings`` is pure (a stack name, the raw config mapping, the catalog) so it can be
tested without Pulumi; ``settings_from_pulumi`` feeds it from ``pulumi.Config``. Bad config
fails here, naming the stack file, the key and the expected value, before any resource.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from components.log_retention import log_retention_error
from regions.catalog import RegionCatalog, RegionSpec, load_catalog
from stacks import naming

NAMESPACE = naming.PROJECT
STACKS_DIR = Path(__file__).resolve().parent


class NatGateways(StrEnum):
    SINGLE = "single"
    """One NAT gateway for the VPC: cheaper, a zone outage cuts egress (dev)."""
    PER_AZ = "per-az"
    """One per availability zone: egress survives a zone outage (prod)."""


class StackConfigError(ValueError):
    def __init__(self, stack: str, key: str, expected: str, got: object = None):
        self.stack, self.key = stack, key
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{stack_file(stack)}: field '{key}': expected {expected}{got_text}")


def stack_file(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def reject_unknown_keys(
    stack: str, path: str, data: Mapping[str, Any], allowed: Iterable[str]
) -> None:
    """Fails on the first key of ``data`` (in sorted order) that ``allowed`` does not list,
    naming ``<path>.<key>`` and the keys allowed."""
    known = set(allowed)
    unknown = sorted(set(data) - known)
    if unknown:
        raise StackConfigError(stack, f"{path}.{unknown[0]}", f"one of {sorted(known)}")


class ConfigSection:
    """One mapping of a stack's config (``inference-mesh:cluster.systemNodes``, say): checks
    that it is a mapping of known keys, and names ``<path>.<key>`` in errors. Concerns add
    their own typed readers in a subclass."""

    def __init__(self, stack: str, data: Any, path: str, allowed: set[str]):
        if not isinstance(data, dict):
            raise StackConfigError(stack, path, "a mapping", data)
        reject_unknown_keys(stack, path, data, allowed)
        self.stack, self.data, self.path = stack, data, path

    def fail(self, key: str, expected: str) -> StackConfigError:
        """The error for ``key``, quoting its value."""
        return StackConfigError(self.stack, f"{self.path}.{key}", expected, self.data.get(key))


@dataclass(frozen=True)
class NetworkSettings:
    nat_gateways: NatGateways
    interface_endpoints: bool
    flow_log_retention_days: int


@dataclass(frozen=True)
class CommonSettings:
    stack: str
    environment: str
    owner: str
    cost_center: str
    catalog: RegionCatalog
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The stack's config mapping; each concern parses its own key (``config_object``)."""

    @property
    def base_tags(self) -> dict[str, str]:
        return {
            "project": naming.PROJECT,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
        }


@dataclass(frozen=True)
class RegionalSettings(CommonSettings):
    region: RegionSpec = field(kw_only=True)
    network: NetworkSettings = field(kw_only=True)

    @property
    def name_prefix(self) -> str:
        return naming.prefix(self.environment, self.region.region)


@dataclass(frozen=True)
class GlobalSettings(CommonSettings):
    home_region: str = field(kw_only=True)
    stack_org: str = field(kw_only=True)
    """Organisation part of ``StackReference`` names (``organization`` on a DIY backend)."""

    def regional_stack(self, region: str) -> str:
        return f"{self.stack_org}/{naming.PROJECT}/{naming.stack_name(self.environment, region)}"


def parse_settings(
    stack: str, raw: dict[str, Any], catalog: RegionCatalog | None = None
) -> RegionalSettings | GlobalSettings:
    """``raw`` maps config keys (``aws:region``, ``inference-mesh:owner``) to values."""
    try:
        environment, scope = naming.parse_stack_name(stack)
    except ValueError as exc:
        raise StackConfigError(stack, "(stack name)", str(exc)) from None
    catalog = catalog or load_catalog()
    aws_region = _required_str(stack, raw, "aws:region")
    common: dict[str, Any] = {
        "stack": stack,
        "environment": environment,
        "owner": _required_str(stack, raw, f"{NAMESPACE}:owner"),
        "cost_center": _required_str(stack, raw, f"{NAMESPACE}:costCenter"),
        "catalog": catalog,
        "raw": dict(raw),
    }
    if scope == naming.GLOBAL:
        return GlobalSettings(
            **common,
            home_region=aws_region,
            stack_org=str(raw.get(f"{NAMESPACE}:stackOrg", "organization")),
        )
    if aws_region != scope:
        raise StackConfigError(stack, "aws:region", f"{scope!r} (the stack's region)", aws_region)
    try:
        region = catalog.get(scope)
    except KeyError as exc:
        raise StackConfigError(stack, "aws:region", str(exc.args[0]), scope) from None
    return RegionalSettings(
        **common, region=region, network=_network(stack, raw.get(f"{NAMESPACE}:network"))
    )


def _required_str(stack: str, raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise StackConfigError(stack, key, "a non-empty string", value)
    return value


def config_object(settings: CommonSettings, name: str, *, required: bool = True) -> dict[str, Any]:
    """The stack's ``inference-mesh:<name>`` mapping; ``{}`` when optional and unset."""
    key = f"{NAMESPACE}:{name}"
    value = settings.raw.get(key)
    if value is None and not required:
        return {}
    return _object(settings.stack, key, value)


def _object(stack: str, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise StackConfigError(stack, key, "a mapping", value) from None
    if not isinstance(value, dict):
        raise StackConfigError(stack, key, "a mapping", "nothing" if value is None else value)
    return value


def _network(stack: str, value: Any) -> NetworkSettings:
    key = f"{NAMESPACE}:network"
    data = _object(stack, key, value)
    reject_unknown_keys(
        stack, key, data, {"natGateways", "interfaceEndpoints", "flowLogRetentionDays"}
    )
    nat = data.get("natGateways")
    if nat not in {n.value for n in NatGateways}:
        raise StackConfigError(
            stack, f"{key}.natGateways", f"one of {[n.value for n in NatGateways]}", nat
        )
    endpoints = data.get("interfaceEndpoints")
    if not isinstance(endpoints, bool):
        raise StackConfigError(stack, f"{key}.interfaceEndpoints", "true or false", endpoints)
    # A year of flow logs by default, for incident reviews (CIS AWS 3.x asks for logs to be
    # kept; 365 days is the common audit window).
    retention = data.get("flowLogRetentionDays", 365)
    expected = log_retention_error(retention)
    if expected:
        raise StackConfigError(stack, f"{key}.flowLogRetentionDays", expected, retention)
    return NetworkSettings(NatGateways(nat), endpoints, int(retention))


def settings_from_pulumi() -> RegionalSettings | GlobalSettings:
    """Reads the selected stack's config through ``pulumi.Config``."""
    import pulumi  # noqa: PLC0415 (keeps parse_settings importable without the SDK)

    stack = pulumi.get_stack()
    raw: dict[str, Any] = {"aws:region": pulumi.Config("aws").get("region")}
    config = pulumi.Config(NAMESPACE)
    for key in CONFIG_KEYS:
        value = config.get(key)
        if value is not None:
            raw[f"{NAMESPACE}:{key}"] = value
    return parse_settings(stack, raw)


CONFIG_KEYS: tuple[str, ...] = (
    "owner",
    "costCenter",
    "stackOrg",
    "network",
    "artifacts",
    "features",
    "cluster",
    "routing",
    "alarms",
    "serving",
    "gatewayImageDigest",
    "ingress",
)
"""Every ``inference-mesh:`` key a stack file may set; meshctl plan rejects any other."""

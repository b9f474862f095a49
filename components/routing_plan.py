"""Which accelerators exist and what each routes to: a pure function of the catalog and config.

Global Accelerator fails over to the three nearest endpoint groups even when their traffic dial
is 0, and fails open to an endpoint of the closest group when none is healthy (figures.md 4.2). A
dial therefore cannot keep a request inside a jurisdiction; only the accelerator topology can.
So there is exactly one accelerator per jurisdiction of the catalog, its endpoint groups are
that jurisdiction's regions and nothing else, and its flow logs (client IPs: personal data) go
to a bucket in one of those regions.

Nothing here declares resources, so the topology is tested without Pulumi. The values taken
from the regional ``ingress`` exports (NLB ARN, health-check path) pass through untouched:
plain strings in tests, ``pulumi.Output`` values in the global stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from regions.catalog import RegionCatalog
from regions.residency import ResidencyPolicy

V = TypeVar("V")

CONFIG_KEY = "inference-mesh:routing"
LISTENER_PORT = 443
"""The one port clients use; the regional NLB listens on the same port (no port override)."""
DEFAULT_TRAFFIC_DIAL = 100.0
"""Global Accelerator's own default (API ``TrafficDialPercentage``)."""
ENDPOINT_WEIGHT = 128
"""Global Accelerator's default weight; one NLB per group, so the value only has to be > 0."""
HEALTH_CHECK_INTERVALS = (10, 30)
"""The only intervals the API accepts (``HealthCheckIntervalSeconds``)."""
THRESHOLD_RANGE = (1, 10)
MAX_FLOW_LOG_RETENTION_DAYS = 400
"""The policy pack's ``maxRetentionDays`` for personal logs (policies/residency.py)."""

EXPORT_KEY = "ingress"
EXPORT_FIELDS: tuple[str, ...] = ("nlbArn", "healthCheckPath")
"""The keys of a regional stack's ``ingress`` export that routing needs (stacks/ingress.py
also exports nlbDnsName, targetGroupArn and listenerArn)."""


class HealthCheckProtocol(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class RoutingPlanError(ValueError):
    """Routing config or a regional export is invalid; names the file, the field, the fix."""

    def __init__(self, source: str, field: str, expected: str, got: object = None):
        self.source, self.field = source, field
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{source}: field '{field}': expected {expected}{got_text}")


# -- config ------------------------------------------------------------------------------
@dataclass(frozen=True)
class HealthCheckConfig:
    """Global Accelerator's own health check. For NLB endpoints GA uses the NLB target
    groups' health checks instead (GA developer guide, "Health check options"); these
    settings take effect if an endpoint is ever an EC2 instance or Elastic IP."""

    interval_seconds: int = 30
    threshold_count: int = 3
    protocol: HealthCheckProtocol = HealthCheckProtocol.HTTPS
    port: int = LISTENER_PORT


@dataclass(frozen=True)
class RoutingConfig:
    """The ``inference-mesh:routing`` key of a global stack, parsed."""

    traffic_dials: Mapping[str, float]
    """Per region; a catalog region not listed gets ``DEFAULT_TRAFFIC_DIAL``."""
    health_check: HealthCheckConfig = HealthCheckConfig()
    flow_log_retention_days: int = 90
    flow_log_regions: Mapping[str, str] | None = None
    """Per jurisdiction; default: the jurisdiction's first allowed region in catalog order."""

    def dial(self, region: str) -> float:
        return self.traffic_dials.get(region, DEFAULT_TRAFFIC_DIAL)


_TOP_FIELDS = ("trafficDials", "healthCheck", "flowLogRetentionDays", "flowLogRegions")
_HEALTH_FIELDS = ("intervalSeconds", "thresholdCount", "protocol", "port")


def parse_routing_config(raw: Any, source: str) -> RoutingConfig:
    """Parses the mapping under ``inference-mesh:routing``; ``source`` names the stack file."""
    if not isinstance(raw, Mapping):
        raise RoutingPlanError(source, CONFIG_KEY, f"a mapping with {list(_TOP_FIELDS)}", raw)
    _reject_unknown(raw, _TOP_FIELDS, CONFIG_KEY, source)
    return RoutingConfig(
        traffic_dials=_dials(raw.get("trafficDials", {}), source),
        health_check=_health_check(raw.get("healthCheck", {}), source),
        flow_log_retention_days=_retention(raw.get("flowLogRetentionDays", 90), source),
        flow_log_regions=_string_map(raw.get("flowLogRegions"), "flowLogRegions", source),
    )


def _dials(raw: Any, source: str) -> dict[str, float]:
    field = f"{CONFIG_KEY}.trafficDials"
    if not isinstance(raw, Mapping):
        raise RoutingPlanError(source, field, "a mapping of region to percentage", raw)
    return {str(region): _dial(value, f"{field}.{region}", source) for region, value in raw.items()}


def _dial(value: Any, field: str, source: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 100
    ):
        raise RoutingPlanError(source, field, "a percentage from 0 to 100", value)
    return float(value)


def _health_check(raw: Any, source: str) -> HealthCheckConfig:
    key = f"{CONFIG_KEY}.healthCheck"
    if not isinstance(raw, Mapping):
        raise RoutingPlanError(source, key, f"a mapping with {list(_HEALTH_FIELDS)}", raw)
    _reject_unknown(raw, _HEALTH_FIELDS, key, source)
    defaults = HealthCheckConfig()
    interval = raw.get("intervalSeconds", defaults.interval_seconds)
    if _not_int(interval) or interval not in HEALTH_CHECK_INTERVALS:
        raise RoutingPlanError(
            source, f"{key}.intervalSeconds", f"one of {list(HEALTH_CHECK_INTERVALS)}", interval
        )
    threshold = raw.get("thresholdCount", defaults.threshold_count)
    low, high = THRESHOLD_RANGE
    if _not_int(threshold) or not low <= threshold <= high:
        raise RoutingPlanError(
            source, f"{key}.thresholdCount", f"a whole number from {low} to {high}", threshold
        )
    protocol = raw.get("protocol", defaults.protocol.value)
    if protocol not in {p.value for p in HealthCheckProtocol}:
        allowed = [p.value for p in HealthCheckProtocol]
        raise RoutingPlanError(source, f"{key}.protocol", f"one of {allowed}", protocol)
    port = raw.get("port", defaults.port)
    if _not_int(port) or not 1 <= port <= 65535:
        raise RoutingPlanError(source, f"{key}.port", "a TCP port from 1 to 65535", port)
    return HealthCheckConfig(interval, threshold, HealthCheckProtocol(protocol), port)


def _retention(raw: Any, source: str) -> int:
    if _not_int(raw) or not 1 <= raw <= MAX_FLOW_LOG_RETENTION_DAYS:
        raise RoutingPlanError(
            source,
            f"{CONFIG_KEY}.flowLogRetentionDays",
            f"a whole number of days from 1 to {MAX_FLOW_LOG_RETENTION_DAYS} (flow logs hold "
            "client IPs: personal data with a storage limit)",
            raw,
        )
    return int(raw)


def _string_map(raw: Any, name: str, source: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise RoutingPlanError(
            source, f"{CONFIG_KEY}.{name}", "a mapping of jurisdiction to region", raw
        )
    return {str(k): v for k, v in raw.items()}


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _reject_unknown(
    raw: Mapping[str, Any], allowed: tuple[str, ...], key: str, source: str
) -> None:
    for unknown in sorted(str(k) for k in set(raw) - set(allowed)):
        raise RoutingPlanError(source, f"{key}.{unknown}", f"one of {list(allowed)}")


# -- regional exports --------------------------------------------------------------------
@dataclass(frozen=True)
class IngressRef(Generic[V]):
    """One region's entry point, as its stack exported it (key ``ingress``)."""

    region: str
    nlb_arn: V
    health_check_path: V


def ingress_from_export(region: str, stack: str, export: Mapping[str, V]) -> IngressRef[V]:
    """Reads a regional ``ingress`` export; fails naming the stack and the missing key."""
    missing = [key for key in EXPORT_FIELDS if key not in export]
    if missing:
        raise RoutingPlanError(
            f"stack {stack} (region {region})",
            f"{EXPORT_KEY}.{missing[0]}",
            f"an export with keys {list(EXPORT_FIELDS)} (stacks/ingress.py); missing {missing}",
        )
    return IngressRef(region, export["nlbArn"], export["healthCheckPath"])


# -- the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointGroupPlan(Generic[V]):
    region: str
    nlb_arn: V
    traffic_dial: float
    health_check: HealthCheckConfig
    health_check_path: V
    weight: int = ENDPOINT_WEIGHT


@dataclass(frozen=True)
class AcceleratorPlan(Generic[V]):
    jurisdiction: str
    name: str
    """``<env>-<jurisdiction>`` (``prod-eu``); meshctl traffic finds accelerators by it."""
    endpoint_groups: tuple[EndpointGroupPlan[V], ...]
    flow_log_region: str
    flow_log_bucket: str
    flow_log_prefix: str
    flow_log_retention_days: int

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(group.region for group in self.endpoint_groups)


@dataclass(frozen=True)
class RoutingPlan(Generic[V]):
    environment: str
    accelerators: tuple[AcceleratorPlan[V], ...]

    def accelerator_of(self, region: str) -> AcceleratorPlan[V]:
        return next(a for a in self.accelerators if region in a.regions)


def accelerator_name(environment: str, jurisdiction: str) -> str:
    return f"{environment}-{jurisdiction.lower()}"


def flow_log_bucket_name(environment: str, region: str) -> str:
    # Same stem as every regional name (stacks/naming.py), so the region reads off the name.
    return f"inference-mesh-{environment}-{region}-ga-flow-logs"


def plan_routing(
    environment: str,
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
    config: RoutingConfig,
    ingress: Mapping[str, IngressRef[V]],
    source: str,
) -> RoutingPlan[V]:
    """One accelerator per catalog jurisdiction, each with exactly that jurisdiction's regions.

    ``source`` names the stack file in errors about ``config``."""
    _check_ingress(catalog, ingress)
    _check_config_regions(catalog, config, source)
    accelerators = tuple(
        _accelerator(environment, jurisdiction, catalog, policy, config, ingress, source)
        for jurisdiction in catalog.jurisdictions
    )
    plan = RoutingPlan(environment, accelerators)
    check_plan(plan, catalog)
    return plan


def _accelerator(
    environment: str,
    jurisdiction: str,
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
    config: RoutingConfig,
    ingress: Mapping[str, IngressRef[V]],
    source: str,
) -> AcceleratorPlan[V]:
    regions = [spec.region for spec in catalog.in_jurisdiction(jurisdiction)]
    groups = tuple(
        EndpointGroupPlan(
            region=region,
            nlb_arn=ingress[region].nlb_arn,
            traffic_dial=config.dial(region),
            health_check=config.health_check,
            health_check_path=ingress[region].health_check_path,
        )
        for region in regions
    )
    if not any(group.traffic_dial > 0 for group in groups):
        # With every dial at 0 GA still fails over among the groups, but no region is meant
        # to take traffic: that is a misconfiguration, not a drain.
        raise RoutingPlanError(
            source,
            f"{CONFIG_KEY}.trafficDials",
            f"a dial above 0 for at least one {jurisdiction} region of {regions}",
            {r: config.dial(r) for r in regions},
        )
    log_region = _flow_log_region(jurisdiction, catalog, policy, config, source)
    name = accelerator_name(environment, jurisdiction)
    return AcceleratorPlan(
        jurisdiction=jurisdiction,
        name=name,
        endpoint_groups=groups,
        flow_log_region=log_region,
        flow_log_bucket=flow_log_bucket_name(environment, log_region),
        flow_log_prefix=name,
        flow_log_retention_days=config.flow_log_retention_days,
    )


def flow_log_candidates(
    jurisdiction: str, catalog: RegionCatalog, policy: ResidencyPolicy
) -> tuple[str, ...]:
    """Regions that may hold the jurisdiction's flow logs, in catalog order.

    Flow logs are recorded at GA's edge, not in one of our regions, so no region "collected"
    them: any region of the jurisdiction qualifies, unless the residency policy narrows where
    the jurisdiction's personal data may move (``regions:`` in regions/policy/residency.yaml).
    """
    own = tuple(spec.region for spec in catalog.in_jurisdiction(jurisdiction))
    rule = policy.rule_for(jurisdiction)
    if rule.allow_within_jurisdiction and rule.regions:
        return tuple(r for r in own if r in rule.regions)
    return own


def _flow_log_region(
    jurisdiction: str,
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
    config: RoutingConfig,
    source: str,
) -> str:
    candidates = flow_log_candidates(jurisdiction, catalog, policy)
    chosen = (config.flow_log_regions or {}).get(jurisdiction, candidates[0])
    if chosen not in candidates:
        raise RoutingPlanError(
            source,
            f"{CONFIG_KEY}.flowLogRegions.{jurisdiction}",
            f"a region of {jurisdiction} where its personal data may be: one of "
            f"{list(candidates)} (flow logs hold client IPs)",
            chosen,
        )
    return chosen


def _check_ingress(catalog: RegionCatalog, ingress: Mapping[str, IngressRef[V]]) -> None:
    missing = [region for region in catalog.names if region not in ingress]
    unknown = sorted(set(ingress) - set(catalog.names))
    if missing or unknown:
        raise RoutingPlanError(
            "regional stacks",
            EXPORT_KEY,
            f"one ingress export per catalog region {list(catalog.names)}; missing {missing}, "
            f"not in the catalog {unknown}",
        )
    for region, ref in ingress.items():
        if ref.region != region:
            raise RoutingPlanError(
                "regional stacks", f"{EXPORT_KEY}.{region}", f"the ingress of {region}", ref.region
            )


def _check_config_regions(catalog: RegionCatalog, config: RoutingConfig, source: str) -> None:
    for region in sorted(set(config.traffic_dials) - set(catalog.names)):
        raise RoutingPlanError(
            source,
            f"{CONFIG_KEY}.trafficDials.{region}",
            f"a catalog region, one of {list(catalog.names)}",
        )
    for jurisdiction in sorted(set(config.flow_log_regions or {}) - set(catalog.jurisdictions)):
        raise RoutingPlanError(
            source,
            f"{CONFIG_KEY}.flowLogRegions.{jurisdiction}",
            f"a jurisdiction of the catalog, one of {list(catalog.jurisdictions)}",
        )


def check_plan(plan: RoutingPlan[Any], catalog: RegionCatalog) -> None:
    """The invariants, checked on the finished plan so no future edit can skip them."""
    _check_each_region_once(plan, catalog)
    for accelerator in plan.accelerators:
        _check_one_jurisdiction(accelerator, catalog)


def _check_each_region_once(plan: RoutingPlan[Any], catalog: RegionCatalog) -> None:
    owners: dict[str, list[str]] = {region: [] for region in catalog.names}
    for accelerator in plan.accelerators:
        for region in accelerator.regions:
            owners.setdefault(region, []).append(accelerator.name)
    for region, names in owners.items():
        if len(names) != 1:
            raise RoutingPlanError(
                "routing plan", region, "a catalog region in exactly one accelerator", names
            )


def _check_one_jurisdiction(accelerator: AcceleratorPlan[Any], catalog: RegionCatalog) -> None:
    where, name, own = "routing plan", accelerator.name, accelerator.jurisdiction
    found = sorted({catalog.get(r).jurisdiction for r in accelerator.regions})
    if found != [own]:
        raise RoutingPlanError(where, name, f"endpoint groups only in {own} regions", found)
    if catalog.get(accelerator.flow_log_region).jurisdiction != own:
        raise RoutingPlanError(
            where, f"{name}.flowLogRegion", f"a {own} region", accelerator.flow_log_region
        )
    for group in accelerator.endpoint_groups:
        if not 0 <= group.traffic_dial <= 100:
            raise RoutingPlanError(
                where, f"{name}.{group.region}", "a dial from 0 to 100", group.traffic_dial
            )

"""Scenario files (``scenarios/*.yaml``) for ``meshctl simulate``, validated on load.

A scenario says what happens (demand, its shape over time, region failures, traffic
dials) and which fleet answers it (the planner's plan for an environment, with optional
overrides of the KEDA floor). ``build_simulation`` turns it, with the plan, the model
profiles and the latency table, into a ``SimulationSpec``.

Errors name the file, the dotted field and the expected value, like the region catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from capacity.errors import (
    CapacityDataError,
    check_fields,
    mapping,
    number,
    positive,
    read_yaml,
    text,
)
from capacity.latency import LatencyTable
from capacity.planner import FleetPlan, RegionPlan
from capacity.profiles import ModelProfiles
from capacity.simulator import (
    Autoscaling,
    Event,
    RegionFleet,
    ServiceModel,
    SimulationSpec,
)
from regions.instance_types import INSTANCE_TYPES

ReplicaChoice = Literal["plan", "steady", "max", "min"]
_TOP = {
    "name": "a scenario name",
    "description": "what the scenario checks",
    "duration_s": "the simulated time in seconds, > 0",
    "seed": "an integer random seed",
    "interval_s": "the reporting interval in seconds, > 0",
    "demand": "a mapping {global_rps, profile}",
    "fleet": "a mapping {environment, min_replicas, initial_replicas}",
    "service": "a mapping {kind: profile | exponential | deterministic, mean_ms}",
    "autoscaling": "a mapping {enabled, interval_s, provisioning_delay_s, "
    "target_per_replica, scale_down_window_s}",
    "timeout_ms": "the queue timeout in ms: requests waiting longer are timed out",
    "failover_detection_s": "seconds before routing notices a failed or recovered region",
    "events": "a list of {at_s, fail | recover | dial, percent}",
}
_OPTIONAL_TOP = frozenset(_TOP) - {"name", "duration_s", "fleet"}
_DEMAND = {
    "global_rps": "the global request rate at multiplier 1 (default: the environment's peak)",
    "profile": "a list of [time_s, multiplier] points, times increasing, multipliers >= 0",
}
_FLEET = {
    "environment": "the environment whose plan serves the scenario (capacity/demand.yaml)",
    "min_replicas": "plan, steady or a positive integer (the KEDA floor)",
    "initial_replicas": "min, steady or max (replicas running at t = 0)",
}
_SERVICE = {
    "kind": "profile, exponential or deterministic",
    "mean_ms": "mean service time in ms (exponential and deterministic only)",
}
_AUTOSCALING = {
    "enabled": "true or false",
    "interval_s": "seconds between autoscaler evaluations, > 0",
    "provisioning_delay_s": "seconds before a new replica serves, >= 0",
    "target_per_replica": "requests waiting or in a batch per replica, > 0 "
    "(default: the plan's queue_target_per_replica)",
    "scale_down_window_s": "seconds a lower replica count must persist before scaling down",
}
_EVENT_KINDS = ("fail", "recover", "dial")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    seed: int
    interval_s: float
    environment: str
    global_rps: float | None
    profile: tuple[tuple[float, float], ...]
    min_replicas: ReplicaChoice | int
    initial_replicas: ReplicaChoice
    service_kind: Literal["profile", "exponential", "deterministic"]
    service_mean_ms: float
    autoscaling: Autoscaling
    timeout_ms: float
    failover_detection_s: float
    events: tuple[Event, ...]
    path: str = ""

    def time_scaled(self, factor: float) -> Scenario:
        """The same story told ``factor`` times faster or slower (``factor`` < 1: shorter).

        Every clock of the scenario is scaled (events, ramps, detection, autoscaler); the
        service times are not, so queueing at a given load is unchanged.
        """
        scaling = self.autoscaling
        return replace(
            self,
            duration_s=self.duration_s * factor,
            interval_s=self.interval_s * factor,
            profile=tuple((t * factor, m) for t, m in self.profile),
            failover_detection_s=self.failover_detection_s * factor,
            events=tuple(replace(e, at_s=e.at_s * factor) for e in self.events),
            autoscaling=replace(
                scaling,
                interval_s=scaling.interval_s * factor,
                provisioning_delay_s=scaling.provisioning_delay_s * factor,
                scale_down_window_s=scaling.scale_down_window_s * factor,
            ),
        )


def load_scenario(path: str | Path) -> Scenario:
    file = Path(path)
    return parse_scenario(read_yaml(file), file)


def parse_scenario(document: Any, path: str | Path) -> Scenario:
    top = mapping(document, "(document)", "a mapping of scenario fields", path)
    check_fields(top, _TOP, _OPTIONAL_TOP, "", path)
    demand = mapping(top.get("demand", {}), "demand", _TOP["demand"], path)
    check_fields(demand, _DEMAND, frozenset(_DEMAND), "demand", path)
    fleet = mapping(top["fleet"], "fleet", _TOP["fleet"], path)
    check_fields(fleet, _FLEET, frozenset({"min_replicas", "initial_replicas"}), "fleet", path)
    service = mapping(top.get("service", {"kind": "profile"}), "service", _TOP["service"], path)
    check_fields(service, _SERVICE, frozenset({"mean_ms"}), "service", path)
    duration = positive(top["duration_s"], "duration_s", path)
    return Scenario(
        name=text(top["name"], "name", path),
        description=str(top.get("description", "")),
        duration_s=duration,
        seed=_integer(top.get("seed", 0), "seed", path),
        interval_s=positive(top.get("interval_s", 10.0), "interval_s", path),
        environment=text(fleet["environment"], "fleet.environment", path),
        global_rps=(
            positive(demand["global_rps"], "demand.global_rps", path)
            if "global_rps" in demand
            else None
        ),
        profile=_profile(demand.get("profile", [[0, 1.0]]), path),
        min_replicas=_min_replicas(fleet.get("min_replicas", "plan"), path),
        initial_replicas=_choice(
            fleet.get("initial_replicas", "max"),
            ("min", "steady", "max"),
            "fleet.initial_replicas",
            path,
        ),  # type: ignore[arg-type]
        service_kind=_choice(
            service["kind"], ("profile", "exponential", "deterministic"), "service.kind", path
        ),  # type: ignore[arg-type]
        service_mean_ms=_service_mean(service, path),
        autoscaling=_autoscaling(top.get("autoscaling", {}), path),
        timeout_ms=positive(top.get("timeout_ms", 1000.0), "timeout_ms", path),
        failover_detection_s=number(
            top.get("failover_detection_s", 0.0), "failover_detection_s", path
        ),
        events=_events(top.get("events", []), duration, path),
        path=str(path),
    )


def _integer(value: Any, field: str, path: str | Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CapacityDataError(path, field, "an integer", value)
    return value


def _choice(value: Any, allowed: tuple[str, ...], field: str, path: str | Path) -> str:
    if value not in allowed:
        raise CapacityDataError(path, field, f"one of {list(allowed)}", value)
    return str(value)


def _min_replicas(value: Any, path: str | Path) -> ReplicaChoice | int:
    if value in ("plan", "steady"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise CapacityDataError(path, "fleet.min_replicas", _FLEET["min_replicas"], value)


def _service_mean(service: dict[str, Any], path: str | Path) -> float:
    if service["kind"] == "profile":
        if "mean_ms" in service:
            raise CapacityDataError(path, "service.mean_ms", "no mean_ms for kind: profile")
        return 0.0
    if "mean_ms" not in service:
        raise CapacityDataError(path, "service.mean_ms", f"{_SERVICE['mean_ms']}; it is missing")
    return positive(service["mean_ms"], "service.mean_ms", path)


def _profile(value: Any, path: str | Path) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not value:
        raise CapacityDataError(path, "demand.profile", _DEMAND["profile"], value)
    points = []
    for i, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise CapacityDataError(
                path, f"demand.profile[{i}]", "a [time_s, multiplier] pair", point
            )
        points.append(
            (
                number(point[0], f"demand.profile[{i}][0]", path),
                number(point[1], f"demand.profile[{i}][1]", path),
            )
        )
    times = [t for t, _ in points]
    if times != sorted(set(times)):
        raise CapacityDataError(path, "demand.profile", "strictly increasing times", times)
    return tuple(points)


def _autoscaling(value: Any, path: str | Path) -> Autoscaling:
    body = mapping(value, "autoscaling", _TOP["autoscaling"], path)
    check_fields(body, _AUTOSCALING, frozenset(_AUTOSCALING), "autoscaling", path)
    default = Autoscaling()
    enabled = body.get("enabled", False)
    if not isinstance(enabled, bool):
        raise CapacityDataError(path, "autoscaling.enabled", "true or false", enabled)
    return Autoscaling(
        enabled=enabled,
        interval_s=positive(
            body.get("interval_s", default.interval_s), "autoscaling.interval_s", path
        ),
        provisioning_delay_s=number(
            body.get("provisioning_delay_s", default.provisioning_delay_s),
            "autoscaling.provisioning_delay_s",
            path,
        ),
        target_per_replica=(
            positive(body["target_per_replica"], "autoscaling.target_per_replica", path)
            if "target_per_replica" in body
            else None
        ),
        scale_down_window_s=number(
            body.get("scale_down_window_s", default.scale_down_window_s),
            "autoscaling.scale_down_window_s",
            path,
        ),
    )


def _events(value: Any, duration: float, path: str | Path) -> tuple[Event, ...]:
    if not isinstance(value, list):
        raise CapacityDataError(path, "events", _TOP["events"], value)
    return tuple(_event(i, body, duration, path) for i, body in enumerate(value))


def _event(index: int, body: Any, duration: float, path: str | Path) -> Event:
    where = f"events[{index}]"
    body = mapping(body, where, "a mapping {at_s, fail | recover | dial, percent}", path)
    kinds = [k for k in _EVENT_KINDS if k in body]
    allowed = {"at_s", *_EVENT_KINDS, "percent"}
    unknown = sorted(set(body) - allowed)
    if unknown or len(kinds) != 1:
        raise CapacityDataError(
            path,
            where,
            "at_s and exactly one of fail, recover, dial (plus percent for dial)",
            sorted(body),
        )
    at = number(body.get("at_s"), f"{where}.at_s", path)
    if at >= duration:
        raise CapacityDataError(path, f"{where}.at_s", f"a time before duration_s {duration:g}", at)
    kind = kinds[0]
    region = text(body[kind], f"{where}.{kind}", path)
    percent = 100.0
    if kind == "dial":
        percent = number(body.get("percent"), f"{where}.percent", path)
        if percent > 100:
            raise CapacityDataError(path, f"{where}.percent", "a percentage from 0 to 100", percent)
    elif "percent" in body:
        raise CapacityDataError(path, f"{where}.percent", "percent only on dial events")
    return Event(at, kind, region, percent)  # type: ignore[arg-type]


# -- scenario + plan -> simulation -----------------------------------------------------------


def build_simulation(
    scenario: Scenario,
    plan: FleetPlan,
    profiles: ModelProfiles,
    latency: LatencyTable,
) -> SimulationSpec:
    regions = {r.region for r in plan.regions.values()}
    for i, event in enumerate(scenario.events):
        if event.region not in regions:
            raise CapacityDataError(
                scenario.path,
                f"events[{i}].{event.kind}",
                f"a region of the plan {sorted(regions)}",
                event.region,
            )
    return SimulationSpec(
        name=scenario.name,
        duration_s=scenario.duration_s,
        global_rps=scenario.global_rps or plan.global_peak_rps,
        areas=latency.areas,
        regions=tuple(_fleet(scenario, r, profiles) for r in plan.regions.values()),
        demand_profile=scenario.profile,
        events=scenario.events,
        autoscaling=scenario.autoscaling,
        timeout_ms=scenario.timeout_ms,
        failover_detection_s=scenario.failover_detection_s,
        interval_s=scenario.interval_s,
        seed=scenario.seed,
    )


def _fleet(scenario: Scenario, region: RegionPlan, profiles: ModelProfiles) -> RegionFleet:
    low = _floor(scenario.min_replicas, region)
    start = {"min": low, "steady": max(low, region.steady_gpus), "max": region.max_replicas}
    per_gpu = region.price_per_hour / max(1, INSTANCE_TYPES[region.instance_type].accelerators)
    return RegionFleet(
        region=region.region,
        jurisdiction=region.jurisdiction,
        service=_service(scenario, region, profiles),
        initial_replicas=start[scenario.initial_replicas],
        min_replicas=low,
        max_replicas=region.max_replicas,
        gpu_price_per_hour=per_gpu,
        instance_type=region.instance_type,
        queue_target=region.queue_target_per_replica,
    )


def _floor(choice: ReplicaChoice | int, region: RegionPlan) -> int:
    if choice == "plan":
        return region.min_replicas
    if choice == "steady":
        return min(region.steady_gpus, region.max_replicas)
    return min(int(choice), region.max_replicas)


def _service(scenario: Scenario, region: RegionPlan, profiles: ModelProfiles) -> ServiceModel:
    if scenario.service_kind != "profile":
        return ServiceModel(scenario.service_kind, 1, mean_ms=scenario.service_mean_ms)
    model = profiles.model
    profile = model.profiles[region.gpu_class]
    return ServiceModel(
        "profile",
        model.max_batch_size,
        max_queue_delay_ms=model.max_queue_delay_ms,
        batch_target=model.batch_target,
        batch_ms=profile.table_ms(model.max_batch_size),
    )

"""The capacity planner: how many GPUs of which type each region runs, and what it costs.

Pure functions over typed inputs: the caller loads the region catalog, the model profiles,
the price table and (optionally) the latency table, and ``plan_fleet`` does no I/O. The
resulting ``FleetPlan`` is the single source of the node-pool GPU limits and KEDA replica
bounds in the stacks; ``load_shipped_plan`` is the one call that loads the shipped inputs.

Per region:
- load = its ``demand_share`` of the global peak; budget for queue + compute = the SLO
  minus the worst round trip of the users routed there;
- instance type = among the region's ``gpu_candidates`` with a price and a profile, the
  lowest cost per request/s at full batches that fits every budget the region must meet
  (tie: catalog preference order). It does not depend on demand, so GPU counts can only
  grow when demand does;
- steady GPUs = fewest that meet the budget at the region's own peak;
- failover reserve = extra GPUs so that if any other region of the same jurisdiction
  fails, the users re-routed here (to their nearest healthy in-jurisdiction region) are
  still served within the SLO. Nothing is ever re-routed across a jurisdiction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from capacity.latency import LatencyTable, nearest_region
from capacity.prices import NO_FIGURE, InstancePrice, PriceTable
from capacity.profiles import BatchProfile, ModelProfiles, ServingModel
from capacity.queueing import DEFAULT_MAX_UTILIZATION, BatchingCapacity
from regions.catalog import RegionCatalog, RegionSpec
from regions.instance_types import INSTANCE_TYPES

DEFAULT_SLO_P99_MS = 150.0
WARM_RESERVE_ENVIRONMENTS = frozenset({"prod"})
"""Environments whose failover reserve runs hot (KEDA min = max = the GPU limit): a cold
GPU node takes ~84 s to serve (figures.md 7), longer than Global Accelerator's ~60 s
failover (figures.md 4.2), so a cold reserve would be a user-visible outage."""
COMPARISON_TYPES: tuple[tuple[Literal["inferentia2", "cpu"], str], ...] = (
    ("inferentia2", "inf2.xlarge"),
    ("cpu", "c7i.2xlarge"),
    ("cpu", "c7g.xlarge"),
)
SECONDS_PER_HOUR = 3600.0
QUEUE_TARGET_FILL = 0.75
"""Scale out when replicas average 3/4 of a full batch outstanding: the queue-depth
analogue of figures.md 6's advice to plan utilisation around 0.6-0.75, not 0.9."""


class PlanError(ValueError):
    """The inputs admit no plan (no candidate fits the SLO, prices or profiles missing)."""


@dataclass(frozen=True)
class CandidateCost:
    """How one of a region's ``gpu_candidates`` fares; ``reason`` says why it was skipped."""

    instance_type: str
    gpu_class: str
    price_per_hour: float | None
    dollars_per_krps: float | None
    """Hourly cost of 1,000 requests/s at full batches: the ranking key."""
    steady_gpus: int | None = None
    gpu_limit: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class RegionPlan:
    region: str
    jurisdiction: str
    instance_type: str
    gpu_class: str
    demand_rps: float
    budget_ms: float
    """SLO minus the worst round trip of the region's own users."""
    steady_gpus: int
    failover_reserve_gpus: int
    gpu_limit: int
    """steady + reserve: the Karpenter NodePool GPU limit."""
    instances: int
    min_replicas: int
    max_replicas: int
    queue_target_per_replica: int
    """KEDA threshold: requests waiting or in a batch per replica (``QUEUE_TARGET_FILL`` of
    a full batch), the autoscaler signal the simulator uses too."""
    price_per_hour: float
    hourly_cost: float
    """Cost of ``gpu_limit`` GPUs running (prod keeps them all warm)."""
    steady_hourly_cost: float
    cost_per_million: float
    """Steady cost per million inferences at the regional peak."""
    failover_demand_rps: float
    failover_budget_ms: float
    failover_from: str | None
    """The in-jurisdiction region whose failure sets the reserve (None: no reserve needed)."""
    steady_p99_ms: float
    """The capacity model's p99 estimate of queue + compute at the steady peak."""
    candidates: tuple[CandidateCost, ...] = ()


@dataclass(frozen=True)
class ServingOption:
    """One way to serve a region's steady peak, for the GPU / inf2 / CPU comparison."""

    kind: Literal["gpu", "inferentia2", "cpu"]
    instance_type: str
    model: str
    price_per_hour: float | None
    """On-demand $/instance-hour; costs below use it."""
    spot_price_per_hour: tuple[float, float] | None = None
    """(min, max) spot $/instance-hour over the region's zones, for reference."""
    instances: int | None = None
    hourly_cost: float | None = None
    cost_per_million: float | None = None
    note: str = ""


@dataclass(frozen=True)
class FleetPlan:
    environment: str
    model: str
    global_peak_rps: float
    slo_p99_ms: float
    regions: Mapping[str, RegionPlan]
    comparisons: Mapping[str, tuple[ServingOption, ...]]
    network_model: str
    """'latency table' or 'none' (no network budget, worst-case failover split)."""

    @property
    def hourly_cost(self) -> float:
        return sum(r.hourly_cost for r in self.regions.values())

    @property
    def steady_hourly_cost(self) -> float:
        return sum(r.steady_hourly_cost for r in self.regions.values())

    @property
    def total_gpus(self) -> int:
        return sum(r.gpu_limit for r in self.regions.values())


@dataclass(frozen=True)
class _Load:
    """A region's demand and budget in one routing state."""

    rps: float
    budget_ms: float
    failed: str | None = None


def plan_fleet(
    catalog: RegionCatalog,
    profiles: ModelProfiles,
    prices: PriceTable,
    *,
    global_peak_rps: float,
    slo_p99_ms: float = DEFAULT_SLO_P99_MS,
    environment: str = "prod",
    latency: LatencyTable | None = None,
    max_utilization: float = DEFAULT_MAX_UTILIZATION,
) -> FleetPlan:
    """Size every region of ``catalog``; see the module docstring for the rules.

    ``latency`` is optional so the call stays cheap for callers without it; without it
    the network budget is 0 and a failed region's whole load is assumed to land on each
    surviving region of its jurisdiction (the worst case). ``load_shipped_plan`` passes it.
    """
    if global_peak_rps <= 0 or not math.isfinite(global_peak_rps):
        raise PlanError(f"global_peak_rps must be a positive number, got {global_peak_rps!r}")
    if slo_p99_ms <= 0:
        raise PlanError(f"slo_p99_ms must be > 0, got {slo_p99_ms!r}")
    states = {
        spec.region: _routing_states(catalog, spec, global_peak_rps, slo_p99_ms, latency)
        for spec in catalog
    }
    regions = {
        spec.region: _plan_region(
            spec, states[spec.region], profiles.model, prices, environment, max_utilization
        )
        for spec in catalog
    }
    comparisons = {
        name: _compare(plan, profiles, prices, max_utilization) for name, plan in regions.items()
    }
    return FleetPlan(
        environment=environment,
        model=profiles.model.name,
        global_peak_rps=global_peak_rps,
        slo_p99_ms=slo_p99_ms,
        regions=regions,
        comparisons=comparisons,
        network_model="latency table" if latency is not None else "none",
    )


def load_shipped_plan(environment: str = "prod") -> FleetPlan:
    """The plan the stacks deploy: shipped regions, model catalog, prices, latency, demand."""
    from capacity.demand import global_peak_rps  # noqa: PLC0415 - keep plan_fleet import-light
    from capacity.latency import check_latency_covers, load_latency  # noqa: PLC0415
    from capacity.prices import load_prices  # noqa: PLC0415
    from capacity.profiles import load_shipped_profiles  # noqa: PLC0415
    from regions.catalog import load_catalog  # noqa: PLC0415

    catalog = load_catalog()
    latency = load_latency()
    check_latency_covers(latency, catalog)
    return plan_fleet(
        catalog,
        load_shipped_profiles(),
        load_prices(),
        global_peak_rps=global_peak_rps(environment),
        environment=environment,
        latency=latency,
    )


# -- routing states ------------------------------------------------------------------------


def _routing_states(
    catalog: RegionCatalog,
    spec: RegionSpec,
    peak: float,
    slo: float,
    latency: LatencyTable | None,
) -> tuple[_Load, ...]:
    """The region's load and budget when all is healthy, then per in-jurisdiction failure."""
    peers = [r for r in catalog.in_jurisdiction(spec.jurisdiction) if r.region != spec.region]
    steady = _Load(spec.demand_share * peak, slo - _worst_rtt(catalog, spec.region, None, latency))
    failures = [
        _Load(
            spec.demand_share * peak + _rerouted_rps(catalog, spec.region, peer, peak, latency),
            slo - _worst_rtt(catalog, spec.region, peer.region, latency),
            peer.region,
        )
        for peer in peers
    ]
    return (steady, *failures)


def _home(
    catalog: RegionCatalog, latency: LatencyTable, failed: str | None
) -> dict[str, str | None]:
    """Area -> serving region when ``failed`` (or nothing) is down."""
    healthy = [r for r in catalog.names if r != failed]
    jurisdiction_of = {r.region: r.jurisdiction for r in catalog}
    return {a.name: nearest_region(a, healthy, jurisdiction_of) for a in latency.areas}


def _worst_rtt(
    catalog: RegionCatalog, region: str, failed: str | None, latency: LatencyTable | None
) -> float:
    if latency is None:
        return 0.0
    home = _home(catalog, latency, failed)
    trips = [a.round_trip_ms(region) for a in latency.areas if home[a.name] == region]
    return max(trips, default=0.0)


def _rerouted_rps(
    catalog: RegionCatalog,
    region: str,
    failed: RegionSpec,
    peak: float,
    latency: LatencyTable | None,
) -> float:
    """Demand of ``failed``'s users that lands on ``region`` once ``failed`` is down."""
    failed_load = failed.demand_share * peak
    if latency is None:
        return failed_load
    before = _home(catalog, latency, None)
    after = _home(catalog, latency, failed.region)
    homed = [a for a in latency.areas if before[a.name] == failed.region]
    total = sum(a.demand_share for a in homed)
    if total == 0:
        return failed_load
    moved = sum(a.demand_share for a in homed if after[a.name] == region)
    return failed_load * moved / total


# -- one region ----------------------------------------------------------------------------


def _plan_region(
    spec: RegionSpec,
    states: tuple[_Load, ...],
    model: ServingModel,
    prices: PriceTable,
    environment: str,
    max_utilization: float,
) -> RegionPlan:
    candidates = tuple(
        _evaluate(spec, name, states, model, prices, max_utilization)
        for name in spec.gpu_candidates
    )
    feasible = [
        (c.dollars_per_krps, rank, c)
        for rank, c in enumerate(candidates)
        if c.dollars_per_krps is not None and not c.reason
    ]
    if not feasible:
        reasons = "; ".join(f"{c.instance_type}: {c.reason}" for c in candidates)
        raise PlanError(
            f"{spec.source_file or spec.region}: field 'gpu_candidates': expected at least one "
            f"instance type with a price, a throughput profile and room in the "
            f"{states[0].budget_ms:.1f} ms budget, got {reasons}"
        )
    best = min(feasible, key=lambda item: (item[0], item[1]))[2]
    return _region_plan(spec, best, candidates, states, model, prices, environment, max_utilization)


def _evaluate(
    spec: RegionSpec,
    instance_type: str,
    states: tuple[_Load, ...],
    model: ServingModel,
    prices: PriceTable,
    max_utilization: float,
) -> CandidateCost:
    kind = INSTANCE_TYPES[instance_type]
    price = prices.get(spec.region, instance_type)
    profile = model.profiles.get(kind.accelerator_class)
    if price is None or not prices.is_offered(spec.region, instance_type):
        return CandidateCost(
            instance_type,
            kind.accelerator_class,
            None,
            None,
            reason=f"no price in {spec.region} ({NO_FIGURE})",
        )
    if profile is None:
        return CandidateCost(
            instance_type,
            kind.accelerator_class,
            price.on_demand,
            None,
            reason=f"no {model.name} throughput profile for {kind.accelerator_class} ({NO_FIGURE})",
        )
    capacity = BatchingCapacity(model, profile)
    per_gpu_hour = price.on_demand / kind.accelerators
    dollars = 1000.0 * per_gpu_hour / capacity.peak_rps
    counts = [capacity.replicas_for(s.rps, s.budget_ms, max_utilization) for s in states]
    if any(n is None for n in counts):
        return CandidateCost(
            instance_type,
            kind.accelerator_class,
            price.on_demand,
            dollars,
            reason="a full batch does not fit the latency budget",
        )
    steady = counts[0] or 0
    return CandidateCost(
        instance_type,
        kind.accelerator_class,
        price.on_demand,
        dollars,
        steady,
        max(n or 0 for n in counts),
    )


def _region_plan(
    spec: RegionSpec,
    best: CandidateCost,
    candidates: tuple[CandidateCost, ...],
    states: tuple[_Load, ...],
    model: ServingModel,
    prices: PriceTable,
    environment: str,
    max_utilization: float,
) -> RegionPlan:
    kind = INSTANCE_TYPES[best.instance_type]
    capacity = BatchingCapacity(model, model.profiles[kind.accelerator_class])
    steady = best.steady_gpus or 0
    limit = max(steady, best.gpu_limit or 0)
    worst = max(
        states[1:],
        key=lambda s: capacity.replicas_for(s.rps, s.budget_ms, max_utilization) or 0,
        default=None,
    )
    price = prices.on_demand(spec.region, best.instance_type)
    steady_cost = math.ceil(steady / kind.accelerators) * price
    instances = math.ceil(limit / kind.accelerators)
    demand = states[0].rps
    return RegionPlan(
        region=spec.region,
        jurisdiction=spec.jurisdiction,
        instance_type=best.instance_type,
        gpu_class=kind.accelerator_class,
        demand_rps=demand,
        budget_ms=states[0].budget_ms,
        steady_gpus=steady,
        failover_reserve_gpus=limit - steady,
        gpu_limit=limit,
        instances=instances,
        min_replicas=limit if environment in WARM_RESERVE_ENVIRONMENTS else 1,
        max_replicas=limit,
        queue_target_per_replica=max(1, round(QUEUE_TARGET_FILL * model.max_batch_size)),
        price_per_hour=price,
        hourly_cost=instances * price,
        steady_hourly_cost=steady_cost,
        cost_per_million=_per_million(steady_cost, demand),
        failover_demand_rps=worst.rps if worst and limit > steady else demand,
        failover_budget_ms=worst.budget_ms if worst and limit > steady else states[0].budget_ms,
        failover_from=worst.failed if worst and limit > steady else None,
        steady_p99_ms=capacity.p99_ms(steady, demand),
        candidates=candidates,
    )


def _per_million(hourly_cost: float, rps: float) -> float:
    return hourly_cost / (rps * SECONDS_PER_HOUR / 1e6) if rps > 0 else math.inf


# -- GPU / inf2 / CPU comparison -------------------------------------------------------------


def _compare(
    plan: RegionPlan, profiles: ModelProfiles, prices: PriceTable, max_utilization: float
) -> tuple[ServingOption, ...]:
    price = prices.get(plan.region, plan.instance_type)
    gpu = ServingOption(
        kind="gpu",
        instance_type=plan.instance_type,
        model=profiles.model.name,
        price_per_hour=plan.price_per_hour,
        spot_price_per_hour=_spot(price),
        instances=math.ceil(plan.steady_gpus / INSTANCE_TYPES[plan.instance_type].accelerators),
        hourly_cost=plan.steady_hourly_cost,
        cost_per_million=plan.cost_per_million,
    )
    others = [
        _option(
            kind,
            instance_type,
            # inf2 would run the same model; CPUs run the lighter fallback.
            profiles.model if kind == "inferentia2" else profiles.fallback or profiles.model,
            plan,
            prices,
            max_utilization,
        )
        for kind, instance_type in COMPARISON_TYPES
    ]
    return (gpu, *others)


def _spot(price: InstancePrice | None) -> tuple[float, float] | None:
    if price is None or price.spot_min is None or price.spot_max is None:
        return None
    return (price.spot_min, price.spot_max)


def _option(
    kind: Literal["gpu", "inferentia2", "cpu"],
    instance_type: str,
    model: ServingModel,
    plan: RegionPlan,
    prices: PriceTable,
    max_utilization: float,
) -> ServingOption:
    price = prices.get(plan.region, instance_type)
    profile = _comparison_profile(model, instance_type)
    unknown = ServingOption(
        kind=kind,
        instance_type=instance_type,
        model=model.name,
        price_per_hour=price.on_demand if price is not None else None,
        spot_price_per_hour=_spot(price),
    )
    if price is None or profile is None:
        missing = "price" if price is None else "throughput"
        return replace(unknown, note=f"{missing}: {NO_FIGURE}")
    replicas = BatchingCapacity(model, profile).replicas_for(
        plan.demand_rps, plan.budget_ms, max_utilization
    )
    if replicas is None:
        return replace(unknown, note="a full batch does not fit the latency budget")
    instances = math.ceil(replicas / max(1, INSTANCE_TYPES[instance_type].accelerators))
    cost = instances * price.on_demand
    return replace(
        unknown,
        instances=instances,
        hourly_cost=cost,
        cost_per_million=_per_million(cost, plan.demand_rps),
        note="lighter fallback model" if model.serving == "cpu" else "",
    )


def _comparison_profile(model: ServingModel, instance_type: str) -> BatchProfile | None:
    """A profile keyed by the instance type (CPU sizes differ) or else by its class."""
    return model.profiles.get(instance_type) or model.profiles.get(
        INSTANCE_TYPES[instance_type].accelerator_class
    )


# -- bounds for the benchmark ----------------------------------------------------------------


def fluid_hourly_cost(
    catalog: RegionCatalog,
    profiles: ModelProfiles,
    prices: PriceTable,
    *,
    global_peak_rps: float,
    extra_rps: Mapping[str, float] | None = None,
    down: frozenset[str] = frozenset(),
) -> float:
    """Lower bound: each region's demand divided by the best full-batch throughput per GPU,
    at the cheapest $/GPU-hour among its candidates; fractional GPUs, no headroom.
    ``extra_rps`` adds re-routed demand; regions in ``down`` carry none."""
    total = 0.0
    for spec in catalog:
        if spec.region in down:
            continue
        rps = spec.demand_share * global_peak_rps + (extra_rps or {}).get(spec.region, 0.0)
        rates = []
        for name in spec.gpu_candidates:
            kind = INSTANCE_TYPES[name]
            price = prices.get(spec.region, name)
            profile = profiles.model.profiles.get(kind.accelerator_class)
            if price is None or profile is None or not prices.is_offered(spec.region, name):
                continue
            peak = BatchingCapacity(profiles.model, profile).peak_rps
            rates.append(price.on_demand / kind.accelerators / peak)
        if rates:
            total += rps * min(rates)
    return total


def plan_as_dict(plan: FleetPlan) -> dict[str, object]:
    """A JSON-ready view of ``plan`` (``meshctl capacity --json``)."""
    return {
        "environment": plan.environment,
        "model": plan.model,
        "global_peak_rps": plan.global_peak_rps,
        "slo_p99_ms": plan.slo_p99_ms,
        "network_model": plan.network_model,
        "hourly_cost": round(plan.hourly_cost, 4),
        "steady_hourly_cost": round(plan.steady_hourly_cost, 4),
        "total_gpus": plan.total_gpus,
        "regions": {name: _region_dict(r) for name, r in plan.regions.items()},
        "comparisons": {
            name: [vars(option) for option in options] for name, options in plan.comparisons.items()
        },
    }


def _region_dict(region: RegionPlan) -> dict[str, object]:
    body = {k: v for k, v in vars(region).items() if k != "candidates"}
    body["candidates"] = [vars(c) for c in region.candidates]
    return body

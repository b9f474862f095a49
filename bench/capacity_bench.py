"""Fleet cost against the fluid lower bound, for the planner and for naive provisioning.

Fluid bound: each region's demand / the best SLO-meeting (full-batch) throughput per GPU,
at the cheapest $/GPU-hour among its candidates, fractional GPUs. Naive: each region's
first-listed candidate at rho = 0.7 of that throughput (figures.md 6: "plan rho 0.6-0.75"),
and for failures its own peak plus the largest in-jurisdiction peer's. Prints; asserts
nothing. Target (issue 7): planner <= 1.15 x the bound before the failover reserve.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.latency import load_latency  # noqa: E402
from capacity.planner import FleetPlan, fluid_hourly_cost, plan_fleet  # noqa: E402
from capacity.prices import PriceTable, load_prices  # noqa: E402
from capacity.profiles import ModelProfiles, load_shipped_profiles  # noqa: E402
from capacity.queueing import BatchingCapacity  # noqa: E402
from regions.catalog import RegionCatalog, RegionSpec, load_catalog  # noqa: E402
from regions.instance_types import INSTANCE_TYPES  # noqa: E402

NAIVE_RHO = 0.7
TARGET = 1.15
PEAKS = (100_000.0, 1_000_000.0, 10_000_000.0)
FAILED = "us-east-1"


def naive_cost(
    catalog: RegionCatalog,
    profiles: ModelProfiles,
    prices: PriceTable,
    peak: float,
    with_failover: bool,
) -> float:
    total = 0.0
    for spec in catalog:
        name = spec.gpu_candidates[0]
        kind = INSTANCE_TYPES[name]
        rate = BatchingCapacity(profiles.model, profiles.model.profiles[kind.accelerator_class])
        peers = [
            r.demand_share
            for r in catalog.in_jurisdiction(spec.jurisdiction)
            if r.region != spec.region
        ]
        demand = (spec.demand_share + (max(peers) if with_failover and peers else 0.0)) * peak
        gpus = math.ceil(demand / (NAIVE_RHO * rate.peak_rps))
        total += math.ceil(gpus / kind.accelerators) * prices.on_demand(spec.region, name)
    return total


def instance_options(
    spec: RegionSpec, profiles: ModelProfiles, prices: PriceTable
) -> list[tuple[float, float]]:
    """(ceiling req/s, on-demand $/h) per instance of each GPU candidate with a profile."""
    options = []
    for name in spec.gpu_candidates:
        kind = INSTANCE_TYPES[name]
        profile = profiles.model.profiles.get(kind.accelerator_class)
        if profile is not None:
            rate = BatchingCapacity(profiles.model, profile).peak_rps * kind.accelerators
            options.append((rate, prices.on_demand(spec.region, name)))
    return options


def integral_bound(
    catalog: RegionCatalog, profiles: ModelProfiles, prices: PriceTable, peak: float
) -> float:
    """The cheapest whole-GPU fleet of one type per region at 100% of the ceiling throughput
    (no SLO headroom at all): no per-region plan can cost less, so its ratio to the fluid
    bound is the floor any planner's ratio sits on at this demand."""
    return sum(
        min(
            math.ceil(spec.demand_share * peak / rate) * price
            for rate, price in instance_options(spec, profiles, prices)
        )
        for spec in catalog
    )


def mixed_integral_bound(
    catalog: RegionCatalog, profiles: ModelProfiles, prices: PriceTable, peak: float
) -> float:
    """As ``integral_bound`` but with any mix of the region's GPU candidates (whole
    instances, 100% of the ceiling throughput): the floor for any plan of whole instances.
    Exhaustive per region, so meant for the 100k peak the target is set at."""
    total = 0.0
    for spec in catalog:
        demand = spec.demand_share * peak
        *others, (last_rate, last_price) = instance_options(spec, profiles, prices)
        best = math.inf
        for counts in itertools.product(*(range(math.ceil(demand / r) + 1) for r, _ in others)):
            covered = sum(n * r for n, (r, _) in zip(counts, others, strict=True))
            rest = math.ceil(max(0.0, demand - covered) / last_rate)
            cost = sum(n * p for n, (_, p) in zip(counts, others, strict=True))
            best = min(best, cost + rest * last_price)
        total += best
    return total


def failure_bound(
    catalog: RegionCatalog,
    profiles: ModelProfiles,
    prices: PriceTable,
    plan: FleetPlan,
    peak: float,
) -> float:
    """Fluid cost once FAILED is down and its users moved (as the planner routes them)."""
    survivor = plan.regions[
        next(r.region for r in plan.regions.values() if r.failover_from == FAILED)
    ]
    moved = survivor.failover_demand_rps - survivor.demand_rps
    return fluid_hourly_cost(
        catalog,
        profiles,
        prices,
        global_peak_rps=peak,
        extra_rps={survivor.region: moved},
        down=frozenset({FAILED}),
    )


def main() -> None:
    catalog, profiles, prices, latency = (
        load_catalog(),
        load_shipped_profiles(),
        load_prices(),
        load_latency(),
    )
    print(
        f"{'peak req/s':>12} {'fluid $/h':>10} {'whole GPUs':>11} {'plan steady':>12} "
        f"{'plan+reserve':>13} {'naive':>8} {'fail fluid':>11} {'naive+fail':>11}"
    )
    for peak in PEAKS:
        plan = plan_fleet(catalog, profiles, prices, global_peak_rps=peak, latency=latency)
        fluid = fluid_hourly_cost(catalog, profiles, prices, global_peak_rps=peak)
        fail_fluid = failure_bound(catalog, profiles, prices, plan, peak)
        naive = naive_cost(catalog, profiles, prices, peak, with_failover=False)
        naive_fail = naive_cost(catalog, profiles, prices, peak, with_failover=True)
        whole = integral_bound(catalog, profiles, prices, peak)
        print(
            f"{peak:>12,.0f} {fluid:>10.2f} {whole / fluid:>11.3f} "
            f"{plan.steady_hourly_cost / fluid:>12.3f} "
            f"{plan.hourly_cost / fail_fluid:>13.3f} {naive / fluid:>8.3f} "
            f"{fail_fluid:>11.2f} {naive_fail / fail_fluid:>11.3f}"
        )
    print(
        "ratios are fleet $/h divided by the fluid bound ($/h); 'plan+reserve' and "
        "'naive+fail' are divided by the bound for the us-east-1 failure; 'whole GPUs' is "
        "the floor for any plan with whole GPUs of one type per region at 100% utilisation"
    )
    mixed = mixed_integral_bound(catalog, profiles, prices, PEAKS[0])
    fluid = fluid_hourly_cost(catalog, profiles, prices, global_peak_rps=PEAKS[0])
    print(
        f"at {PEAKS[0]:,.0f} req/s, whole instances in any mix of each region's GPU candidates "
        f"at 100% utilisation: ${mixed:.2f}/h = {mixed / fluid:.3f} x the fluid bound (the "
        f"floor for any plan of whole instances; the target is {TARGET:g})"
    )
    plan = plan_fleet(catalog, profiles, prices, global_peak_rps=PEAKS[0], latency=latency)
    print(
        f"at 100k req/s: plan {plan.total_gpus} GPUs, steady ${plan.steady_hourly_cost:.2f}/h,"
        f" with reserve ${plan.hourly_cost:.2f}/h"
    )


if __name__ == "__main__":
    main()

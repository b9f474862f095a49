"""The planner: pure sizing rules, residency of the failover reserve, monotonicity."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.latency import LatencyTable
from capacity.planner import PlanError, fluid_hourly_cost, plan_fleet
from capacity.prices import PriceTable
from capacity.profiles import ModelProfiles
from capacity.queueing import BatchingCapacity
from regions.catalog import RegionCatalog
from tests.capacity.fixtures import region, small_profiles


def test_shipped_prod_plan_is_consistent(prod_plan, catalog: RegionCatalog) -> None:
    assert set(prod_plan.regions) == set(catalog.names)
    for spec in catalog:
        plan = prod_plan.regions[spec.region]
        assert plan.instance_type in spec.gpu_candidates
        assert plan.gpu_limit == plan.steady_gpus + plan.failover_reserve_gpus
        assert plan.min_replicas == plan.max_replicas == plan.gpu_limit  # warm reserve in prod
        assert plan.steady_p99_ms < plan.budget_ms
        assert plan.demand_rps == pytest.approx(spec.demand_share * 100_000)


def test_single_region_jurisdictions_get_no_reserve(prod_plan) -> None:
    for name in ("ap-northeast-1", "ap-southeast-1"):
        assert prod_plan.regions[name].failover_reserve_gpus == 0
        assert prod_plan.regions[name].failover_from is None


def test_reserve_only_covers_failures_inside_the_jurisdiction(prod_plan) -> None:
    for plan in prod_plan.regions.values():
        if plan.failover_from is not None:
            assert prod_plan.regions[plan.failover_from].jurisdiction == plan.jurisdiction


def test_us_failover_budget_pays_for_the_cross_country_round_trip(prod_plan) -> None:
    west = prod_plan.regions["us-west-2"]
    assert west.failover_from == "us-east-1"
    assert west.failover_demand_rps == pytest.approx(45_000)
    assert west.failover_budget_ms == pytest.approx(150 - 2 * (10 + 86.98 / 2))


def _sized(
    catalog: RegionCatalog,
    profiles: ModelProfiles,
    prices: PriceTable,
    latency: LatencyTable,
    peak: float,
):
    return plan_fleet(catalog, profiles, prices, global_peak_rps=peak, latency=latency)


def test_a_lone_jurisdiction_draws_no_reserve_from_outside(
    catalog: RegionCatalog,
    shipped_profiles: ModelProfiles,
    prices: PriceTable,
    latency: LatencyTable,
) -> None:
    """Removing JP's only region changes no other region's plan: nothing outside JP was
    ever reserved for it (and JP reserved nothing for anyone)."""
    with_jp = _sized(catalog, shipped_profiles, prices, latency, 100_000)
    others = tuple(r for r in catalog if r.jurisdiction != "JP")
    without_jp = plan_fleet(
        dataclasses.replace(catalog, regions=others),
        shipped_profiles,
        prices,
        global_peak_rps=100_000,
        latency=latency,
    )
    for name, plan in without_jp.regions.items():
        assert plan.gpu_limit == with_jp.regions[name].gpu_limit
    assert with_jp.regions["ap-northeast-1"].failover_reserve_gpus == 0


@settings(max_examples=40, deadline=None)
@given(low=st.floats(50, 2_000_000), factor=st.floats(1.0, 3.0))
def test_more_demand_never_lowers_a_regions_gpu_count(
    catalog: RegionCatalog,
    shipped_profiles: ModelProfiles,
    prices: PriceTable,
    latency: LatencyTable,
    low: float,
    factor: float,
) -> None:
    small = _sized(catalog, shipped_profiles, prices, latency, low)
    large = _sized(catalog, shipped_profiles, prices, latency, low * factor)
    for name in catalog.names:
        assert large.regions[name].instance_type == small.regions[name].instance_type
        assert large.regions[name].steady_gpus >= small.regions[name].steady_gpus
        assert large.regions[name].gpu_limit >= small.regions[name].gpu_limit


@settings(max_examples=40, deadline=None)
@given(rps=st.floats(1, 500_000), budget=st.floats(20, 150))
def test_replicas_for_meets_its_budget_with_the_fewest_gpus(rps: float, budget: float) -> None:
    capacity = BatchingCapacity(small_profiles().model, small_profiles().model.profiles["l4"])
    replicas = capacity.replicas_for(rps, budget)
    assert replicas is not None
    assert capacity.p99_ms(replicas, rps) <= budget
    assert replicas * capacity.peak_rps * 0.95 >= rps
    if replicas > 1:
        fewer = capacity.p99_ms(replicas - 1, rps)
        assert fewer > budget or (replicas - 1) * capacity.peak_rps * 0.95 < rps


def test_candidates_come_only_from_the_region_list(
    shipped_profiles: ModelProfiles, prices: PriceTable
) -> None:
    """t4 is the only listed class: the plan uses it even where l4 would be cheaper."""
    us = region("us-east-1", "US", 1.0, ("g4dn.xlarge",), "10.10.0.0/16")
    plan = plan_fleet(RegionCatalog((us,)), shipped_profiles, prices, global_peak_rps=30_000)
    assert plan.regions["us-east-1"].instance_type == "g4dn.xlarge"
    assert [c.instance_type for c in plan.regions["us-east-1"].candidates] == ["g4dn.xlarge"]


def test_cheapest_per_throughput_wins(shipped_profiles: ModelProfiles, prices: PriceTable) -> None:
    us = region("us-east-1", "US", 1.0, ("g4dn.xlarge", "g5.xlarge", "g6.xlarge"), "10.10.0.0/16")
    plan = plan_fleet(RegionCatalog((us,)), shipped_profiles, prices, global_peak_rps=30_000)
    chosen = plan.regions["us-east-1"]
    ranked = sorted(c.dollars_per_krps for c in chosen.candidates if c.dollars_per_krps)
    assert chosen.instance_type == "g6.xlarge"
    assert (
        next(c for c in chosen.candidates if c.instance_type == "g6.xlarge").dollars_per_krps
        == ranked[0]
    )


def test_no_feasible_candidate_names_the_region_file(prices: PriceTable) -> None:
    """l40s has no ResNet-50 profile (figures.md: no published figure found)."""
    spec = dataclasses.replace(
        region("us-east-1", "US", 1.0, ("g6e.xlarge",), "10.10.0.0/16"),
        source_file="regions/us-east-1.yaml",
    )
    with pytest.raises(
        PlanError,
        match=r"regions/us-east-1.yaml: field 'gpu_candidates'.*"
        r"no published figure found",
    ):
        plan_fleet(RegionCatalog((spec,)), small_profiles(), prices, global_peak_rps=1000)


def test_a_budget_below_one_full_batch_is_infeasible(prices: PriceTable) -> None:
    us = region("us-east-1", "US", 1.0, ("g6.xlarge",), "10.10.0.0/16")
    with pytest.raises(PlanError, match="budget"):
        plan_fleet(
            RegionCatalog((us,)), small_profiles(), prices, global_peak_rps=1000, slo_p99_ms=5.0
        )


def test_without_latency_the_failed_load_lands_whole(
    catalog: RegionCatalog,
    shipped_profiles: ModelProfiles,
    prices: PriceTable,
    latency: LatencyTable,
) -> None:
    bare = plan_fleet(catalog, shipped_profiles, prices, global_peak_rps=100_000)
    assert bare.network_model == "none"
    assert bare.regions["us-west-2"].failover_demand_rps == pytest.approx(45_000)
    assert bare.regions["us-west-2"].budget_ms == 150.0


def test_dev_plan_scales_from_one(
    catalog: RegionCatalog,
    shipped_profiles: ModelProfiles,
    prices: PriceTable,
    latency: LatencyTable,
) -> None:
    dev = plan_fleet(
        catalog, shipped_profiles, prices, global_peak_rps=200, environment="dev", latency=latency
    )
    for plan in dev.regions.values():
        assert plan.min_replicas == 1
        assert plan.max_replicas == plan.gpu_limit >= 1


def test_plan_costs_at_least_the_fluid_bound(
    catalog: RegionCatalog,
    shipped_profiles: ModelProfiles,
    prices: PriceTable,
    prod_plan,
) -> None:
    bound = fluid_hourly_cost(catalog, shipped_profiles, prices, global_peak_rps=100_000)
    assert bound <= prod_plan.steady_hourly_cost <= prod_plan.hourly_cost


def test_gpu_inf2_cpu_comparison_says_what_is_unknown(prod_plan) -> None:
    options = {o.instance_type: o for o in prod_plan.comparisons["us-east-1"]}
    assert options["g6.xlarge"].cost_per_million == prod_plan.regions["us-east-1"].cost_per_million
    for name in ("inf2.xlarge", "c7i.2xlarge", "c7g.xlarge"):
        assert options[name].price_per_hour is not None
        assert options[name].cost_per_million is None
        assert "no published figure found" in options[name].note

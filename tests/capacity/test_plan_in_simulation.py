"""The prod plan, run through the shipped scenarios in the simulator, meets the SLO.

Scenario clocks are compressed (``time_scaled``) to keep the run short; service times
are not, so queueing at each load is the same. Proves the plan holds under this model of
batching and Poisson traffic; does not prove real Triton servers reach the MLPerf rates.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from capacity.latency import LatencyTable
from capacity.planner import FleetPlan
from capacity.profiles import ModelProfiles
from capacity.scenario import Scenario, build_simulation, load_scenario
from capacity.simulator import Event, SimulationResult, simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SLO_MS = 150.0


def _run(
    scenario: Scenario, plan: FleetPlan, profiles: ModelProfiles, latency: LatencyTable
) -> SimulationResult:
    return simulate(build_simulation(scenario, plan, profiles, latency))


def test_steady_peak_meets_the_slo(prod_plan, shipped_profiles, latency) -> None:
    scenario = replace(load_scenario(SCENARIOS / "steady.yaml"), duration_s=15.0)
    result = _run(scenario, prod_plan, shipped_profiles, latency)
    assert result.total.arrived == pytest.approx(1_500_000, rel=0.01)
    assert result.total.latency_ms["e2e"].p99 < SLO_MS
    assert result.total.rejected == result.total.timed_out == 0
    for report in result.regions.values():
        assert report.latency_ms["e2e"].p99 < SLO_MS


def test_largest_region_failure_keeps_the_slo_for_everyone_served(
    prod_plan, shipped_profiles, latency
) -> None:
    scenario = load_scenario(SCENARIOS / "region-failure.yaml").time_scaled(0.05)
    result = _run(scenario, prod_plan, shipped_profiles, latency)
    total = result.total
    assert total.latency_ms["e2e"].p99 < SLO_MS
    assert total.rejected == 0  # the US has a second region: nobody is turned away
    # Only the failed region loses requests: those in flight and those sent before
    # Global Accelerator noticed (60 s, here 3 s of compressed time, at 30k req/s).
    assert result.regions["us-east-1"].timed_out == pytest.approx(30_000 * 3.0, rel=0.05)
    assert total.timed_out == result.regions["us-east-1"].timed_out
    west = result.regions["us-west-2"]
    assert west.latency_ms["network"].p99 == pytest.approx(2 * (10 + 86.98 / 2), rel=0.01)
    assert west.latency_ms["e2e"].p99 < SLO_MS
    # The failed region's GPUs stop costing while it is down.
    assert result.regions["us-east-1"].gpu_hours < result.regions["us-west-2"].gpu_hours


def test_failure_without_the_reserve_misses_the_slo(prod_plan, shipped_profiles, latency) -> None:
    """The check can fail: us-west-2 at its steady size cannot absorb us-east-1."""
    scenario = replace(
        load_scenario(SCENARIOS / "region-failure.yaml").time_scaled(0.05),
        min_replicas="steady",
        initial_replicas="steady",
    )
    result = _run(scenario, prod_plan, shipped_profiles, latency)
    west = result.regions["us-west-2"]
    assert west.timed_out > 0 or west.latency_ms["e2e"].p99 > SLO_MS


def test_diurnal_day_with_autoscaling_meets_the_slo(prod_plan, shipped_profiles, latency) -> None:
    scenario = load_scenario(SCENARIOS / "diurnal.yaml").time_scaled(0.0015)
    result = _run(scenario, prod_plan, shipped_profiles, latency)
    assert result.total.latency_ms["e2e"].p99 < SLO_MS
    assert result.total.timed_out == 0
    replicas = result.timeline.replicas["us-east-1"]
    assert min(replicas) < max(replicas) <= prod_plan.regions["us-east-1"].max_replicas
    warm_cost = sum(r.hourly_cost for r in prod_plan.regions.values()) * (
        scenario.duration_s / 3600
    )
    assert result.total.cost < warm_cost  # scaling in the troughs saves money


def test_a_lone_regions_users_are_refused_not_sent_abroad(
    prod_plan, shipped_profiles, latency
) -> None:
    """Residency: when ap-northeast-1 (JP's only region) fails, Japanese users are
    rejected; no other region's load changes."""
    base = replace(load_scenario(SCENARIOS / "steady.yaml"), duration_s=6.0)
    failing = replace(
        base, failover_detection_s=0.5, events=(Event(1.0, "fail", "ap-northeast-1"),)
    )
    calm = _run(base, prod_plan, shipped_profiles, latency)
    failed = _run(failing, prod_plan, shipped_profiles, latency)
    japan = failed.regions["ap-northeast-1"]
    assert japan.rejected == pytest.approx(12_000 * 4.5, rel=0.05)
    for name, report in failed.regions.items():
        if name != "ap-northeast-1":
            assert report.rejected == 0
            # Same demand: only Poisson noise apart (segments split differently).
            assert report.arrived == pytest.approx(calm.regions[name].arrived, rel=0.02)

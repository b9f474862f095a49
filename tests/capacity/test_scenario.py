"""Scenario files: the shipped ones load; bad ones name file, field and expected value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.errors import CapacityDataError
from capacity.scenario import build_simulation, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
BASE: dict[str, Any] = {"name": "t", "duration_s": 60, "fleet": {"environment": "prod"}}


@pytest.mark.parametrize("name", ["steady", "region-failure", "diurnal"])
def test_shipped_scenarios_load(name: str, prod_plan, shipped_profiles, latency) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    spec = build_simulation(scenario, prod_plan, shipped_profiles, latency)
    assert spec.global_rps == 100_000
    assert len(spec.regions) == 6


def test_region_failure_fails_the_largest_region(prod_plan) -> None:
    scenario = load_scenario(SCENARIOS / "region-failure.yaml")
    largest = max(prod_plan.regions.values(), key=lambda r: r.demand_rps).region
    fail, recover = scenario.events
    assert (fail.kind, fail.region, recover.kind, recover.region) == (
        "fail",
        largest,
        "recover",
        largest,
    )
    assert recover.at_s - fail.at_s == 600


def test_time_scaling_scales_every_clock() -> None:
    scenario = load_scenario(SCENARIOS / "diurnal.yaml").time_scaled(0.01)
    assert scenario.duration_s == pytest.approx(864)
    assert scenario.profile[-1][0] == pytest.approx(864)
    assert scenario.autoscaling.provisioning_delay_s == pytest.approx(0.84)


@pytest.mark.parametrize(
    ("patch", "field", "expected"),
    [
        ({"duration_s": 0}, "duration_s", "greater than 0"),
        ({"fleet": {}}, "fleet.environment", "missing"),
        ({"colour": "red"}, "colour", "no such field"),
        (
            {"events": [{"at_s": 5, "fail": "us-east-1", "recover": "us-east-1"}]},
            "events[0]",
            "exactly one of",
        ),
        ({"events": [{"at_s": 99, "fail": "us-east-1"}]}, "events[0].at_s", "before duration_s"),
        (
            {"events": [{"at_s": 5, "dial": "us-east-1", "percent": 150}]},
            "events[0].percent",
            "0 to 100",
        ),
        ({"demand": {"profile": [[10, 1.0], [5, 2.0]]}}, "demand.profile", "increasing"),
        ({"service": {"kind": "exponential"}}, "service.mean_ms", "missing"),
        ({"service": {"kind": "gamma"}}, "service.kind", "one of"),
        (
            {"fleet": {"environment": "prod", "min_replicas": 0}},
            "fleet.min_replicas",
            "positive integer",
        ),
        ({"autoscaling": {"enabled": "yes"}}, "autoscaling.enabled", "true or false"),
    ],
)
def test_bad_scenarios_name_the_field(patch: dict[str, Any], field: str, expected: str) -> None:
    with pytest.raises(CapacityDataError) as error:
        parse_scenario({**BASE, **patch}, "scenario-under-test.yaml")
    assert error.value.file == "scenario-under-test.yaml"
    assert error.value.field == field
    assert expected in str(error.value)


def test_events_must_name_a_planned_region(
    tmp_path: Path, prod_plan, shipped_profiles, latency
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump({**BASE, "events": [{"at_s": 1, "fail": "mars-1"}]}), encoding="utf-8"
    )
    with pytest.raises(CapacityDataError, match=r"s.yaml: field 'events\[0\].fail'.*mars-1"):
        build_simulation(load_scenario(path), prod_plan, shipped_profiles, latency)


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CapacityDataError, match=r"broken.yaml: field '\(document\)'"):
        load_scenario(path)

"""``meshctl capacity`` and ``meshctl simulate`` end to end, through the argument parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from meshctl.commands import capacity, simulate


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    capacity.register(commands)
    simulate.register(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_capacity_json_is_the_shipped_plan(capsys: pytest.CaptureFixture[str], prod_plan) -> None:
    assert _run(["capacity", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total_gpus"] == prod_plan.total_gpus
    east = document["regions"]["us-east-1"]
    assert east["gpu_limit"] == east["steady_gpus"] + east["failover_reserve_gpus"]
    assert {o["kind"] for o in document["comparisons"]["us-east-1"]} == {
        "gpu",
        "inferentia2",
        "cpu",
    }


def test_capacity_table_for_dev(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["capacity", "--env", "dev"]) == 0
    assert "global peak 200 req/s" in capsys.readouterr().out


def test_capacity_unknown_environment_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["capacity", "--env", "staging"]) == 2
    assert "global_peak_rps.staging" in capsys.readouterr().err


def test_simulate_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "short",
                "duration_s": 4,
                "interval_s": 1,
                "fleet": {"environment": "prod"},
                "failover_detection_s": 1,
                "events": [{"at_s": 1, "fail": "eu-west-1"}],
            }
        ),
        encoding="utf-8",
    )
    code = _run(["simulate", str(scenario), "--json", "--plot", str(tmp_path / "png"), "--check"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["slo_met"] is True
    assert document["regions"]["eu-west-1"]["timed_out"] > 0
    assert document["global"]["latency_ms"]["e2e"]["p99"] < 150
    for plot in document["plots"]:
        assert Path(plot).read_bytes()[:4] == b"\x89PNG"


def test_simulate_check_fails_when_the_slo_is_missed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "tight.yaml"
    scenario.write_text(
        yaml.safe_dump({"name": "tight", "duration_s": 2, "fleet": {"environment": "prod"}}),
        encoding="utf-8",
    )
    assert _run(["simulate", str(scenario), "--slo-ms", "10", "--check"]) == 1
    assert "MISSES" in capsys.readouterr().out


def test_simulate_bad_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: bad\nduration_s: -1\nfleet: {environment: prod}\n", encoding="utf-8")
    assert _run(["simulate", str(scenario)]) == 2
    assert "bad.yaml: field 'duration_s'" in capsys.readouterr().err

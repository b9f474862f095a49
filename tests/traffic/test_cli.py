"""``meshctl traffic`` end to end through the CLI, with the GA client stubbed.

Proves the command builds its client for us-west-2, makes exactly the stubbed calls, prints
before/after tables or JSON and returns the documented exit codes; does not prove anything
about a live accelerator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from meshctl import aws as meshctl_aws
from meshctl.cli import main
from meshctl.commands import traffic as traffic_command
from tests.traffic.helpers import Group, client, prod_world, stub_discovery, stub_update_and_wait


@pytest.fixture
def ga(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stubbed client every meshctl traffic command gets, and the regions asked for."""
    stubbed = client()
    stubbed.requested = []

    def fake_client(self: Any, service: str, region: str) -> Any:
        stubbed.requested.append((service, region))
        return stubbed

    monkeypatch.setattr(meshctl_aws.AwsClients, "client", fake_client)
    return stubbed


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(traffic_command, "SLEEP", slept.append)
    return slept


def test_status_prints_every_region_with_dial_and_health(
    ga: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world = prod_world()
    world[0].groups[1].health = ("UNHEALTHY",)
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        assert main(["traffic", "status"]) == 0
        stubber.assert_no_pending_responses()
    assert ga.requested == [("globalaccelerator", "us-west-2")]
    out = capsys.readouterr().out
    for region in ("eu-central-1", "eu-west-1", "ap-northeast-1", "us-west-2"):
        assert region in out
    eu_west = next(line for line in out.splitlines() if "eu-west-1" in line)
    assert "prod-eu" in eu_west
    assert "UNHEALTHY" in eu_west
    assert "no" in eu_west.split("│")[-2]  # not serving


def test_status_json(ga: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with Stubber(ga) as stubber:
        stub_discovery(stubber, prod_world(), environment="dev")
        assert main(["traffic", "status", "--env", "dev", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["environment"] == "dev"
    # The world holds prod accelerators only: dev finds none and says so.
    assert document["regions"] == []
    assert "accelerator dev-eu not found" in document["warnings"]


def test_drain_prints_before_and_after_and_waits(
    ga: Any, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    world = prod_world()
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        stub_update_and_wait(
            stubber, world[3], "us-east-1", 0.0, ("IN_PROGRESS", "IN_PROGRESS", "DEPLOYED")
        )
        assert main(["traffic", "drain", "us-east-1"]) == 0
        stubber.assert_no_pending_responses()
    assert sleeps == [5.0, 5.0]
    out = capsys.readouterr().out
    before, after = out.split("After: drain us-east-1")
    assert "Before: drain us-east-1" in before
    assert _dial_cell(before, "us-east-1") == "100"
    assert _dial_cell(after, "us-east-1") == "0"
    assert _dial_cell(after, "us-west-2") == "100"
    assert "us-east-1: dial 0% deployed (waited 10 s)" in out


def _dial_cell(text: str, region: str) -> str:
    row = next(line for line in text.splitlines() if line.startswith(f"│ {region} "))
    return row.split("│")[4].strip()


def test_drain_json_has_before_and_after(ga: Any, sleeps: list[float], capsys: Any) -> None:
    world = prod_world()
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        stub_update_and_wait(stubber, world[0], "eu-central-1", 0.0, ("DEPLOYED",))
        assert main(["traffic", "drain", "eu-central-1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["action"] == "drain"
    assert document["changed"] is True
    assert {r["region"]: r["trafficDial"] for r in document["before"]} == {
        "eu-central-1": 100.0,
        "eu-west-1": 100.0,
    }
    assert {r["region"]: r["trafficDial"] for r in document["after"]} == {
        "eu-central-1": 0.0,
        "eu-west-1": 100.0,
    }


def test_refusal_exits_1_names_jurisdiction_and_region_and_makes_no_update(
    ga: Any, sleeps: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    world = prod_world()
    world[3].groups[1] = Group("us-west-2", dial=0.0)
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)  # and nothing else: an update would be unstubbed
        assert main(["traffic", "drain", "us-east-1"]) == 1
        stubber.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert "meshctl traffic drain: refused: us-east-1 is the last region of jurisdiction US" in err
    assert sleeps == []


def test_shift_to_zero_is_refused_like_a_drain(ga: Any, capsys: Any) -> None:
    with Stubber(ga) as stubber:
        stub_discovery(stubber, prod_world())
        assert main(["traffic", "shift", "ap-southeast-1", "0"]) == 1
        stubber.assert_no_pending_responses()
    assert "jurisdiction SG" in capsys.readouterr().err


def test_shift_sets_the_percentage(ga: Any, sleeps: list[float], capsys: Any) -> None:
    world = prod_world()
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        stub_update_and_wait(stubber, world[0], "eu-west-1", 30.0, ("DEPLOYED",))
        assert main(["traffic", "shift", "eu-west-1", "30", "--json"]) == 0
        stubber.assert_no_pending_responses()
    assert json.loads(capsys.readouterr().out)["trafficDial"] == 30.0


@pytest.mark.parametrize("percent", ["101", "-5", "half"])
def test_shift_rejects_percentages_outside_0_to_100(
    ga: Any, percent: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["traffic", "shift", "eu-west-1", percent])
    assert info.value.code == 2
    assert "expected a number from 0 to 100" in capsys.readouterr().err
    assert ga.requested == []


def test_restore_returns_to_the_configured_dial(
    ga: Any, sleeps: list[float], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = prod_world()
    world[0].groups[1].dial = 0.0
    expected = traffic_command.configured_dials("prod").dial("eu-west-1")
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        stub_update_and_wait(stubber, world[0], "eu-west-1", expected, ("DEPLOYED",))
        assert main(["traffic", "restore", "eu-west-1", "--json"]) == 0
        stubber.assert_no_pending_responses()
    assert json.loads(capsys.readouterr().out)["trafficDial"] == expected


def test_a_region_outside_the_catalog_exits_2_before_any_call(ga: Any, capsys: Any) -> None:
    with Stubber(ga) as stubber:
        assert main(["traffic", "drain", "sa-east-1"]) == 2
        stubber.assert_no_pending_responses()
    assert "REGION must be a catalog region" in capsys.readouterr().err


def test_a_deploy_timeout_exits_3(ga: Any, sleeps: list[float], capsys: Any) -> None:
    world = prod_world()
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        stub_update_and_wait(stubber, world[0], "eu-west-1", 50.0, ("IN_PROGRESS",) * 3)
        assert main(["traffic", "shift", "eu-west-1", "50", "--timeout", "10"]) == 3
        stubber.assert_no_pending_responses()
    assert "still IN_PROGRESS after 10 s" in capsys.readouterr().err


def test_an_aws_error_exits_2(ga: Any, capsys: Any) -> None:
    with Stubber(ga) as stubber:
        stubber.add_client_error("list_accelerators", "AccessDeniedException", "not allowed")
        assert main(["traffic", "status"]) == 2
    assert "reading the prod accelerators failed" in capsys.readouterr().err

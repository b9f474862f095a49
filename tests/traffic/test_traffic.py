"""``meshctl.traffic`` against a stubbed Global Accelerator client (moto has no GA).

Each test queues the responses with the exact parameters expected, in order, and also records
the operation names the client was asked for; a refusal must make no write call at all.
Proves which API calls meshctl makes and what it concludes from the answers; does not prove
how Global Accelerator then routes traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from meshctl.traffic import (
    DeployTimeoutError,
    DrainRefusedError,
    TrafficError,
    check_drain,
    configured_dials,
    discover,
    set_dial,
    wait_deployed,
)
from regions.catalog import load_catalog
from tests.traffic.helpers import (
    Accel,
    Group,
    accelerator_arn,
    client,
    group_arn,
    ours,
    prod_world,
    stub_discovery,
    stub_update_and_wait,
)


def recorded(ga: Any) -> list[str]:
    """Operation names the client is asked for, in order."""
    calls: list[str] = []
    service = ga.meta.service_model.service_id.hyphenize()
    ga.meta.events.register(
        f"before-parameter-build.{service}", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_discovery_reads_accelerators_tags_listeners_and_groups_in_order() -> None:
    ga = client()
    calls = recorded(ga)
    with Stubber(ga) as stubber:
        stub_discovery(stubber, [ours("prod-eu", [Group("eu-central-1"), Group("eu-west-1")])])
        mesh = discover(ga, "prod", load_catalog())
        stubber.assert_no_pending_responses()
    assert calls == [
        "ListAccelerators",
        "ListTagsForResource",
        "ListListeners",
        "ListEndpointGroups",
    ]
    assert [(s.region, s.accelerator, s.traffic_dial, s.serving) for s in mesh.regions] == [
        ("eu-central-1", "prod-eu", 100.0, True),
        ("eu-west-1", "prod-eu", 100.0, True),
    ]
    assert mesh.warnings == (
        "accelerator prod-jp not found",
        "accelerator prod-sg not found",
        "accelerator prod-us not found",
    )


def test_foreign_names_and_untagged_lookalikes_are_left_alone() -> None:
    ga = client()
    lookalike = Accel("prod-eu", [Group("eu-west-1")], {"project": "someone-else"})
    world = [*prod_world(), Accel("checkout-eu", [Group("eu-west-1")]), lookalike]
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        mesh = discover(ga, "prod", load_catalog())
        stubber.assert_no_pending_responses()
    assert len(mesh.regions) == len(load_catalog())
    assert {s.accelerator_arn for s in mesh.regions} == {a.arn for a in prod_world()}
    assert any("not tagged project=inference-mesh" in w for w in mesh.warnings)


def test_an_accelerator_routing_outside_its_jurisdiction_is_reported() -> None:
    ga = client()
    world = prod_world()
    world[0].groups.append(Group("us-east-1"))  # someone added us-east-1 to prod-eu by hand
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        mesh = discover(ga, "prod", load_catalog())
    assert any(
        "prod-eu (EU) routes to us-east-1, which is US" in warning for warning in mesh.warnings
    )


def _mesh(world: list[Accel]) -> Any:
    ga = client()
    with Stubber(ga) as stubber:
        stub_discovery(stubber, world)
        return discover(ga, "prod", load_catalog())


def test_drain_sets_the_dial_to_zero_waits_for_deployed_and_reports_before_and_after() -> None:
    world = prod_world()
    mesh = _mesh(world)
    ga = client()
    calls = recorded(ga)
    sleeps: list[float] = []
    with Stubber(ga) as stubber:
        stub_update_and_wait(stubber, world[0], "eu-west-1", 0.0)
        change = set_dial(ga, mesh, "eu-west-1", 0, action="drain", sleep=sleeps.append)
        stubber.assert_no_pending_responses()
    assert calls == [
        "UpdateEndpointGroup",
        "DescribeAccelerator",
        "DescribeAccelerator",
        "DescribeEndpointGroup",
    ]
    assert sleeps == [5.0]
    assert change.changed
    assert change.waited_s == 5.0
    assert {s.region: s.traffic_dial for s in change.before} == {
        "eu-central-1": 100.0,
        "eu-west-1": 100.0,
    }
    assert {s.region: s.traffic_dial for s in change.after} == {
        "eu-central-1": 100.0,
        "eu-west-1": 0.0,
    }


def test_draining_the_last_serving_region_of_a_jurisdiction_is_refused_without_a_write() -> None:
    world = prod_world()
    world[0].groups[0].health = ("UNHEALTHY",)  # eu-central-1 is down
    mesh = _mesh(world)
    ga = client()
    calls = recorded(ga)
    with Stubber(ga) as stubber, pytest.raises(DrainRefusedError) as info:
        set_dial(ga, mesh, "eu-west-1", 0, action="drain", sleep=lambda _s: None)
    assert calls == []
    message = str(info.value)
    assert "eu-west-1 is the last region of jurisdiction EU" in message
    assert "prod-eu" in message
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("mutate", "region"),
    [
        (lambda w: setattr(w[0].groups[0], "dial", 0.0), "eu-west-1"),  # peer already drained
        (lambda w: None, "ap-northeast-1"),  # the only region of JP
    ],
)
def test_other_ways_of_being_the_last_serving_region(mutate: Any, region: str) -> None:
    world = prod_world()
    mutate(world)
    with pytest.raises(DrainRefusedError, match=f"{region} is the last region"):
        check_drain(_mesh(world), region)


def test_a_shift_to_zero_counts_as_a_drain() -> None:
    mesh = _mesh(prod_world())
    ga = client()
    with Stubber(ga), pytest.raises(DrainRefusedError):
        set_dial(ga, mesh, "ap-southeast-1", 0, action="shift", sleep=lambda _s: None)


def test_a_region_that_is_not_serving_can_be_drained_even_when_alone() -> None:
    world = prod_world()
    world[1].groups[0].health = ("UNHEALTHY",)
    check_drain(_mesh(world), "ap-northeast-1")  # draining it takes nothing away


def test_shift_sends_the_exact_percentage() -> None:
    world = prod_world()
    mesh = _mesh(world)
    ga = client()
    with Stubber(ga) as stubber:
        stub_update_and_wait(stubber, world[3], "us-west-2", 25.0, statuses=("DEPLOYED",))
        change = set_dial(ga, mesh, "us-west-2", 25, action="shift", sleep=lambda _s: None)
        stubber.assert_no_pending_responses()
    assert change.waited_s == 0.0
    assert next(s for s in change.after if s.region == "us-west-2").traffic_dial == 25.0


def test_a_dial_already_at_the_target_makes_no_call() -> None:
    world = prod_world()
    world[3].groups[1].dial = 40.0
    mesh = _mesh(world)
    ga = client()
    calls = recorded(ga)
    with Stubber(ga):
        change = set_dial(ga, mesh, "us-west-2", 40, action="shift", sleep=lambda _s: None)
    assert calls == []
    assert not change.changed
    assert change.before == change.after


@pytest.mark.parametrize("percent", [-1, 100.5, 1000])
def test_percentages_outside_0_to_100_are_refused_before_any_call(percent: float) -> None:
    mesh = _mesh(prod_world())
    ga = client()
    calls = recorded(ga)
    with Stubber(ga), pytest.raises(TrafficError, match="from 0 to 100"):
        set_dial(ga, mesh, "us-west-2", percent, action="shift", sleep=lambda _s: None)
    assert calls == []


def test_an_unknown_region_is_refused_naming_the_known_ones() -> None:
    mesh = _mesh(prod_world()[:1])
    with pytest.raises(TrafficError, match=r"us-east-1 has no endpoint group .*eu-central-1"):
        mesh.get("us-east-1")


def test_the_wait_is_bounded_by_the_timeout() -> None:
    ga = client()
    arn = accelerator_arn("prod-eu")
    sleeps: list[float] = []
    with Stubber(ga) as stubber:
        for _ in range(3):
            stubber.add_response(
                "describe_accelerator",
                {"Accelerator": {"AcceleratorArn": arn, "Status": "IN_PROGRESS"}},
                {"AcceleratorArn": arn},
            )
        with pytest.raises(DeployTimeoutError, match="still IN_PROGRESS after 10 s"):
            wait_deployed(ga, arn, sleeps.append, timeout_s=10, poll_s=5)
        stubber.assert_no_pending_responses()
    assert sleeps == [5, 5]


def test_restore_reads_the_configured_dial_from_the_global_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod-global.yaml").write_text(
        "config:\n"
        "  aws:region: us-west-2\n"
        "  inference-mesh:routing:\n"
        "    trafficDials: {eu-west-1: 60}\n"
    )
    (tmp_path / "Pulumi.dev-global.yaml").write_text("config:\n  aws:region: us-west-2\n")
    dials = configured_dials("prod", tmp_path)
    assert dials.dial("eu-west-1") == 60.0
    assert dials.dial("eu-central-1") == 100.0  # unlisted: GA's default
    assert configured_dials("dev", tmp_path).dial("eu-west-1") == 100.0  # no routing key


def test_a_bad_configured_dial_is_reported_naming_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod-global.yaml").write_text(
        "config:\n  inference-mesh:routing:\n    trafficDials: {eu-west-1: 160}\n"
    )
    with pytest.raises(TrafficError, match=r"Pulumi.prod-global.yaml: field .*trafficDials"):
        configured_dials("prod", tmp_path)


def test_group_arns_identify_the_update_target() -> None:
    # The ARN the update names is the group of that region in that accelerator, not a guess.
    world = prod_world()
    mesh = _mesh(world)
    assert mesh.get("eu-west-1").endpoint_group_arn == group_arn("prod-eu", "eu-west-1")

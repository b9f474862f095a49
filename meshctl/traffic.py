"""Global Accelerator traffic control for one environment: status, drain, restore, shift.

The accelerators are found by name (``<env>-<jurisdiction>``, components/routing_plan.py) and
confirmed by their ``project`` and ``environment`` tags, so an accelerator of another system
with a similar name is never touched. Every change goes through one endpoint group's traffic
dial and then waits until the accelerator reports ``DEPLOYED``.

A dial never keeps traffic inside a jurisdiction (GA fails over across groups whatever their
dials, figures.md 4.2); the accelerator topology does that. What this module guards is
availability: it refuses to take away the last region of a jurisdiction that is serving
(healthy endpoints and a dial above 0), since that jurisdiction's users would then depend on
GA's fail-open behaviour.

The client must be a ``globalaccelerator`` client for us-west-2, where the API lives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.routing_plan import (
    CONFIG_KEY,
    DEFAULT_TRAFFIC_DIAL,
    accelerator_name,
    parse_routing_config,
)
from regions.catalog import RegionCatalog
from stacks import naming
from stacks.settings import STACKS_DIR, stack_file

HEALTHY = "HEALTHY"
DEPLOYED = "DEPLOYED"
DEFAULT_TIMEOUT_S = 600.0
"""Changes usually deploy within a minute or two; ten minutes means something is wrong."""
DEFAULT_POLL_S = 5.0

Sleep = Callable[[float], None]


class TrafficError(Exception):
    """The environment's accelerators could not be read or the request makes no sense."""


class DrainRefusedError(TrafficError):
    """Draining would leave a jurisdiction with no region serving it."""


class DeployTimeoutError(TrafficError):
    """The change was accepted but the accelerator did not reach DEPLOYED in time."""


@dataclass(frozen=True)
class RegionState:
    """One region's endpoint group, as Global Accelerator reports it."""

    region: str
    jurisdiction: str
    accelerator: str
    accelerator_arn: str
    endpoint_group_arn: str
    traffic_dial: float
    health: tuple[str, ...]
    """``HealthState`` of each endpoint (INITIAL, HEALTHY, UNHEALTHY)."""

    @property
    def healthy(self) -> bool:
        return HEALTHY in self.health

    @property
    def serving(self) -> bool:
        """Takes new connections: a dial above 0 and at least one healthy endpoint."""
        return self.traffic_dial > 0 and self.healthy

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "jurisdiction": self.jurisdiction,
            "accelerator": self.accelerator,
            "acceleratorArn": self.accelerator_arn,
            "endpointGroupArn": self.endpoint_group_arn,
            "trafficDial": self.traffic_dial,
            "health": list(self.health),
            "serving": self.serving,
        }


@dataclass(frozen=True)
class Mesh:
    """The environment's accelerators and their regions, in catalog jurisdiction order."""

    environment: str
    regions: tuple[RegionState, ...]
    warnings: tuple[str, ...] = ()

    def get(self, region: str) -> RegionState:
        for state in self.regions:
            if state.region == region:
                return state
        known = [s.region for s in self.regions]
        raise TrafficError(
            f"region {region} has no endpoint group in the {self.environment} accelerators; "
            f"regions with one: {known}"
        )

    def of_accelerator(self, accelerator: str) -> tuple[RegionState, ...]:
        return tuple(s for s in self.regions if s.accelerator == accelerator)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "regions": [s.to_dict() for s in self.regions],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Change:
    action: str
    region: str
    target: float
    before: tuple[RegionState, ...]
    """Every region of the changed region's accelerator, before the change."""
    after: tuple[RegionState, ...]
    changed: bool
    waited_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "region": self.region,
            "trafficDial": self.target,
            "changed": self.changed,
            "waitedSeconds": self.waited_s,
            "before": [s.to_dict() for s in self.before],
            "after": [s.to_dict() for s in self.after],
        }


# -- discovery -----------------------------------------------------------------------------
def discover(client: Any, environment: str, catalog: RegionCatalog) -> Mesh:
    """Reads the environment's accelerators, listeners and endpoint groups."""
    expected = {accelerator_name(environment, j): j for j in catalog.jurisdictions}
    states: list[RegionState] = []
    warnings: list[str] = []
    found: set[str] = set()
    for accelerator in _pages(client, "list_accelerators", "Accelerators"):
        name, arn = accelerator["Name"], accelerator["AcceleratorArn"]
        if name not in expected or not _ours(client, arn, environment, name, warnings):
            continue
        found.add(name)
        for listener in _pages(client, "list_listeners", "Listeners", AcceleratorArn=arn):
            for group in _pages(
                client,
                "list_endpoint_groups",
                "EndpointGroups",
                ListenerArn=listener["ListenerArn"],
            ):
                states.append(_state(group, expected[name], name, arn))
    warnings += [f"accelerator {n} not found" for n in sorted(set(expected) - found)]
    warnings += _residency_warnings(states, catalog)
    order = {j: i for i, j in enumerate(catalog.jurisdictions)}
    states.sort(key=lambda s: (order[s.jurisdiction], s.region))
    return Mesh(environment, tuple(states), tuple(warnings))


def _pages(client: Any, operation: str, key: str, **params: str) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


def _ours(client: Any, arn: str, environment: str, name: str, warnings: list[str]) -> bool:
    tags = {
        t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
    }
    if tags.get("project") == naming.PROJECT and tags.get("environment") == environment:
        return True
    warnings.append(
        f"accelerator {name} ({arn}) is not tagged project={naming.PROJECT}, "
        f"environment={environment}: left alone"
    )
    return False


def _state(group: Mapping[str, Any], jurisdiction: str, name: str, arn: str) -> RegionState:
    return RegionState(
        region=group["EndpointGroupRegion"],
        jurisdiction=jurisdiction,
        accelerator=name,
        accelerator_arn=arn,
        endpoint_group_arn=group["EndpointGroupArn"],
        traffic_dial=float(group.get("TrafficDialPercentage", DEFAULT_TRAFFIC_DIAL)),
        health=tuple(
            e.get("HealthState", "UNKNOWN") for e in group.get("EndpointDescriptions", [])
        ),
    )


def _residency_warnings(states: list[RegionState], catalog: RegionCatalog) -> list[str]:
    """An endpoint group outside its accelerator's jurisdiction breaks residency: say so."""
    jurisdictions = {spec.region: spec.jurisdiction for spec in catalog}
    return [
        f"accelerator {s.accelerator} ({s.jurisdiction}) routes to {s.region}, which is "
        f"{jurisdictions.get(s.region, 'not in the catalog')}: personal data may cross the "
        "jurisdiction; fix the global stack"
        for s in states
        if jurisdictions.get(s.region) != s.jurisdiction
    ]


# -- changes -------------------------------------------------------------------------------
def check_percent(percent: float) -> float:
    if isinstance(percent, bool) or not 0 <= percent <= 100:
        raise TrafficError(f"PERCENT must be a number from 0 to 100, got {percent!r}")
    return float(percent)


def check_drain(mesh: Mesh, region: str) -> None:
    """Refuses to take the last serving region of a jurisdiction out of service."""
    state = mesh.get(region)
    others = [s for s in mesh.of_accelerator(state.accelerator) if s.region != region]
    if state.serving and not any(s.serving for s in others):
        raise DrainRefusedError(
            f"{region} is the last region of jurisdiction {state.jurisdiction} that is "
            f"serving (healthy endpoints and a dial above 0) on accelerator "
            f"{state.accelerator}; heal or restore one of {[s.region for s in others]} first"
        )


def set_dial(
    client: Any,
    mesh: Mesh,
    region: str,
    percent: float,
    *,
    action: str,
    sleep: Sleep,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = DEFAULT_POLL_S,
) -> Change:
    """Sets one region's traffic dial and waits until the accelerator has deployed it.

    A dial of 0 is a drain wherever it comes from (drain, shift 0, or a restore to a
    configured 0), so it passes ``check_drain`` first; a refusal makes no update call."""
    target = check_percent(percent)
    state = mesh.get(region)
    before = mesh.of_accelerator(state.accelerator)
    if target == 0:
        check_drain(mesh, region)
    if state.traffic_dial == target:
        return Change(action, region, target, before, before, changed=False)
    # Only the dial: omitted members (endpoints, health checks) keep their values.
    client.update_endpoint_group(
        EndpointGroupArn=state.endpoint_group_arn, TrafficDialPercentage=target
    )
    waited = wait_deployed(client, state.accelerator_arn, sleep, timeout_s, poll_s)
    fresh = client.describe_endpoint_group(EndpointGroupArn=state.endpoint_group_arn)
    updated = _state(
        fresh["EndpointGroup"], state.jurisdiction, state.accelerator, state.accelerator_arn
    )
    after = tuple(updated if s.region == region else s for s in before)
    return Change(action, region, target, before, after, changed=True, waited_s=waited)


def wait_deployed(
    client: Any, accelerator_arn: str, sleep: Sleep, timeout_s: float, poll_s: float
) -> float:
    """Polls ``describe_accelerator`` until DEPLOYED; returns the seconds slept."""
    waited = 0.0
    while True:
        status = client.describe_accelerator(AcceleratorArn=accelerator_arn)["Accelerator"][
            "Status"
        ]
        if status == DEPLOYED:
            return waited
        if waited + poll_s > timeout_s:
            raise DeployTimeoutError(
                f"accelerator {accelerator_arn} still {status} after {waited:g} s; the change "
                "was submitted: run `meshctl traffic status` to follow it"
            )
        sleep(poll_s)
        waited += poll_s


# -- configured dials ----------------------------------------------------------------------
@dataclass(frozen=True)
class ConfiguredDials:
    """The dials the global stack file asks for: what ``restore`` returns a region to."""

    dials: Mapping[str, float] = field(default_factory=dict)

    def dial(self, region: str) -> float:
        return self.dials.get(region, DEFAULT_TRAFFIC_DIAL)


def configured_dials(environment: str, stacks_dir: Path = STACKS_DIR) -> ConfiguredDials:
    """Reads ``inference-mesh:routing.trafficDials`` from ``Pulumi.<env>-global.yaml``."""
    from meshctl.plan_engine import PlanError, load_stack_config  # noqa: PLC0415 (CLI-only)

    stack = naming.stack_name(environment, naming.GLOBAL)
    try:
        raw = load_stack_config(stack, stacks_dir).get(CONFIG_KEY)
    except PlanError as exc:
        raise TrafficError(str(exc)) from None
    if raw is None:
        return ConfiguredDials()
    try:
        config = parse_routing_config(
            json.loads(raw) if isinstance(raw, str) else raw, stack_file(stack)
        )
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        raise TrafficError(str(exc)) from None
    return ConfiguredDials(dict(config.traffic_dials))

"""Run Pulumi code under the project's mock cloud and look at what it declared.

Uses the same mocks as ``meshctl plan`` (realistic ARNs and ids), records every resource
with its parent, provider region, inputs and outputs, and runs each program in a fresh
root stack so tests do not leak transformations into each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from meshctl.mock_cloud import CloudMocks, RecordedResource, RecordingMonitor
from meshctl.plan_engine import load_stack_config
from regions.catalog import load_catalog
from stacks import naming
from stacks.regional import regional_program
from stacks.settings import RegionalSettings, parse_settings


@dataclass
class Recording:
    resources: list[RecordedResource]
    outputs: dict[str, Any]

    def of_type(self, token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str) -> RecordedResource:
        found = self.of_type(token)
        assert len(found) == 1, f"expected exactly one {token}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def children_of(self, urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]

    def descendants_of(self, urn: str) -> list[RecordedResource]:
        out: list[RecordedResource] = []
        frontier = [urn]
        while frontier:
            parent = frontier.pop()
            kids = self.children_of(parent)
            out.extend(kids)
            frontier.extend(k.urn for k in kids)
        return out

    @property
    def custom(self) -> list[RecordedResource]:
        return [r for r in self.resources if r.custom and r.type != "pulumi:pulumi:Stack"]


def run_pulumi(
    program: Callable[[], Any],
    stack: str = "prod-eu-west-1",
    config: dict[str, str] | None = None,
    stack_outputs: dict[str, dict[str, Any]] | None = None,
) -> Recording:
    """Runs ``program`` (declaring resources, returning exports or None) in the mock cloud."""
    catalog = load_catalog()
    _, scope = naming.parse_stack_name(stack)
    default_region = scope if scope != naming.GLOBAL else "us-west-2"
    zones = {spec.region: list(spec.availability_zones) for spec in catalog}
    mocks = CloudMocks(stack, default_region, zones, stack_outputs)
    monitor = RecordingMonitor(mocks)
    _fresh_event_loop()
    runtime_settings.ROOT.set(None)
    pulumi.runtime.set_all_config(config or {})
    pulumi.runtime.set_mocks(
        mocks, project=naming.PROJECT, stack=stack, preview=False, monitor=monitor
    )
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    outputs: dict[str, Any] = {}

    def body() -> None:
        result = program()
        if result is not None:
            resolved: Any = _sync_await(pulumi.Output.from_input(result).future())
            outputs.update(resolved if isinstance(resolved, dict) else {"value": resolved})

    _sync_await(run_pulumi_func(body))
    return Recording([r for r in monitor.recorded if r.type != "pulumi:pulumi:Stack"], outputs)


_LOOPS: list[asyncio.AbstractEventLoop] = []


def _fresh_event_loop() -> None:
    """A current event loop for the program, left current afterwards: an earlier test's
    ``asyncio.run()`` leaves none (Python 3.11), and the SDK's synchronous helpers use it."""
    while _LOOPS:
        _LOOPS.pop().close()
    loop = asyncio.new_event_loop()
    _LOOPS.append(loop)
    asyncio.set_event_loop(loop)


def provider_region(recording: Recording, resource: RecordedResource) -> str | None:
    """The region of the explicit provider a resource was declared with (None if ambient)."""
    if resource.provider is None:
        return None
    provider_urn = resource.provider.rsplit("::", 1)[0]
    for r in recording.resources:
        if r.urn == provider_urn:
            return str(r.props.get("region"))
    return None


def record_regional_stack(stack: str, raw: dict[str, Any] | None = None) -> Recording:
    """The regional program of ``stack`` under the mock cloud, with its stack file's config
    or ``raw`` (a changed copy of it)."""
    config = load_stack_config(stack) if raw is None else raw

    def program() -> dict[str, Any]:
        settings = parse_settings(stack, config)
        assert isinstance(settings, RegionalSettings)
        return regional_program(settings)

    return run_pulumi(program, stack=stack)

"""Bad stack config stops the program before any resource is declared, whichever concern's
key is wrong: every concern's config is parsed up front (stacks/regional.py CONFIG_CHECKS,
stacks/global_program.py), so a `pulumi up` never leaves a half-built region behind.

Proves it in Pulumi's mock engine: the error names the stack file and the key, and the
recording holds no resource at all.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.routing_plan import RoutingPlanError
from meshctl.plan_engine import load_stack_config
from regions.catalog import load_catalog
from stacks.global_program import global_program
from stacks.regional import regional_program
from stacks.settings import GlobalSettings, StackConfigError, parse_settings
from tests.harness import run_pulumi
from tests.routing.helpers import outputs_with_ingress

REGIONAL = "prod-eu-west-1"
GLOBAL = "prod-global"


def _broken(stack: str, key: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(load_stack_config(stack))
    node = raw[f"inference-mesh:{key}"]
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return raw


def _run(stack: str, raw: dict[str, Any]) -> tuple[str, int]:
    caught: list[str] = []

    def program() -> None:
        settings = parse_settings(stack, raw)
        run = global_program if isinstance(settings, GlobalSettings) else regional_program
        with pytest.raises((StackConfigError, RoutingPlanError)) as raised:
            run(settings)  # type: ignore[arg-type]
        caught.append(str(raised.value))

    # The global stack reads the regional stacks' outputs: give it the shipped shapes.
    outputs = outputs_with_ingress(load_catalog(), "prod") if stack == GLOBAL else None
    recording = run_pulumi(program, stack=stack, stack_outputs=outputs)
    return caught[0], len(recording.resources)


@pytest.mark.parametrize(
    ("key", "path", "value", "named"),
    [
        ("cluster", ("systemNodes", "desired"), 0, "inference-mesh:cluster.systemNodes"),
        ("artifacts", ("accessLogRetentionDays",), 0, "inference-mesh:artifacts"),
        ("features", ("rawEventRetentionDays",), "a month", "inference-mesh:features"),
        ("serving", ("gateway", "replicas"), -1, "inference-mesh:serving"),
        ("ingress", ("healthCheck", "intervalSeconds"), "ten", "inference-mesh:ingress"),
    ],
)
def test_a_bad_regional_key_declares_nothing(
    key: str, path: tuple[str, ...], value: Any, named: str
) -> None:
    message, declared = _run(REGIONAL, _broken(REGIONAL, key, path, value))
    assert f"Pulumi.{REGIONAL}.yaml" in message
    assert named in message
    assert declared == 0


def test_a_bad_routing_key_declares_nothing_in_the_global_stack() -> None:
    raw = _broken(GLOBAL, "routing", ("flowLogRetentionDays",), 0)
    message, declared = _run(GLOBAL, raw)
    assert f"Pulumi.{GLOBAL}.yaml" in message
    assert "inference-mesh:routing" in message
    assert declared == 0

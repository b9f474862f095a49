"""Shared inputs of the serving tests: a shipped stack's settings, plan and catalog, and the
golden-file check."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.planner import RegionPlan
from meshctl.plan_engine import load_stack_config
from model_artifacts.catalog import ModelSpec
from stacks.serving import ServingSettings, planned_region, served_models, serving_settings
from stacks.settings import RegionalSettings, parse_settings

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_ENV = "UPDATE_GOLDEN"
"""``UPDATE_GOLDEN=1 pytest tests/serving`` rewrites the golden files; review the diff."""


@dataclass(frozen=True)
class StackInputs:
    settings: RegionalSettings
    serving: ServingSettings
    region_plan: RegionPlan
    model: ModelSpec
    fallback: ModelSpec


def stack_inputs(stack: str) -> StackInputs:
    settings = parse_settings(stack, load_stack_config(stack))
    assert isinstance(settings, RegionalSettings)
    model_name, region_plan = planned_region(settings)
    model, fallback = served_models(model_name)
    return StackInputs(
        settings, serving_settings(settings, region_plan.budget_ms), region_plan, model, fallback
    )


def check_golden(name: str, content: str | dict[str, Any] | list[Any]) -> None:
    """Compares ``content`` with ``golden/<name>``; any change shows up as a failing diff."""
    text = content if isinstance(content, str) else json.dumps(content, indent=2) + "\n"
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with {UPDATE_ENV}=1 and review it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, rerun with "
        f"{UPDATE_ENV}=1 and commit the diff"
    )

"""Picks the regional or the global program for the selected stack."""

from __future__ import annotations

from typing import Any

from stacks.global_program import global_program
from stacks.regional import regional_program
from stacks.settings import GlobalSettings, RegionalSettings


def run(settings: RegionalSettings | GlobalSettings) -> dict[str, Any]:
    if isinstance(settings, GlobalSettings):
        return global_program(settings)
    return regional_program(settings)

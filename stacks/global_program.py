"""The global stack program: what spans regions, reading regional outputs by reference."""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.references import regional_reference
from stacks.settings import GlobalSettings
from stacks.tagging import register_default_tags


def global_tags(settings: GlobalSettings) -> dict[str, str]:
    return {**settings.base_tags, "region": "global", "data-classification": "internal"}


def global_program(settings: GlobalSettings) -> dict[str, Any]:
    register_default_tags(global_tags(settings))
    references = {
        spec.region: regional_reference(settings, spec.region) for spec in settings.catalog
    }
    regions = {
        region: {
            "jurisdiction": ref.require_output("jurisdiction"),
            "vpcId": ref.require_output("network").apply(lambda n: n["vpcId"]),
        }
        for region, ref in references.items()
    }
    return {"environment": settings.environment, "regions": pulumi.Output.from_input(regions)}

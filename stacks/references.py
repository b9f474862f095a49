"""The one way the global stack reads regional stacks' outputs."""

from __future__ import annotations

import pulumi

from stacks.settings import GlobalSettings


def regional_reference(settings: GlobalSettings, region: str) -> pulumi.StackReference:
    name = settings.regional_stack(region)
    return pulumi.StackReference(name, stack_name=name)

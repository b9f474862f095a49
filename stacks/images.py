"""Regional builder: the gateway's image repository (replicated from the primary region)."""

from __future__ import annotations

from typing import Any

from components.image_registry import ImageRepository, ImageRepositoryArgs
from stacks import naming
from stacks.context import RegionalContext


def build(ctx: RegionalContext) -> dict[str, Any]:
    settings = ctx.settings
    repository = ImageRepository(
        "gateway-image",
        ImageRepositoryArgs(
            repository_name=naming.gateway_repository(settings.environment),
            account_id=ctx.account_id,
            key_alias=f"{settings.name_prefix}-images",
        ),
        opts=ctx.opts,
    )
    ctx.built["images"] = repository
    return {"gatewayRepositoryUrl": repository.url, "gatewayRepositoryArn": repository.arn}

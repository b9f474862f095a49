"""Tags in every taggable AWS resource's own inputs.

Provider default tags are applied by the provider at deploy time and never appear in a
resource's inputs, so a policy pack (which judges inputs) cannot see them. A stack
transformation writes them into each resource instead; tags a component sets itself (for
example ``data-classification=personal``) win over the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi


def merged_tags(defaults: Mapping[str, str], own: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**defaults, **(own or {})}


def tag_transformation(
    defaults: Mapping[str, str],
) -> pulumi.ResourceTransformation:
    def transform(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("aws:") or args.type_.startswith("pulumi:providers:"):
            return None
        props = args.props
        # Generated resource classes set every declared input, even unset ones, so the key's
        # presence says whether the resource type takes tags.
        fields = props if isinstance(props, dict) else getattr(props, "__dict__", {})
        if "tags" not in fields:
            return None
        own = fields.get("tags")
        if own is not None and not isinstance(own, Mapping):
            return None  # resources whose tags are a list (autoscaling groups) set their own
        fields["tags"] = merged_tags(defaults, own)
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def register_default_tags(defaults: Mapping[str, str]) -> None:
    pulumi.runtime.register_stack_transformation(tag_transformation(dict(defaults)))

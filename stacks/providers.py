"""Explicit, region-pinned AWS providers: nothing relies on an ambient region."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def aws_provider(region: str, tags: Mapping[str, str]) -> aws.Provider:
    # Default tags still matter for resources AWS creates on our behalf (ENIs, volumes);
    # the stack transformation puts the same tags in every declared resource's inputs.
    return aws.Provider(
        f"aws-{region}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=dict(tags)),
    )


def in_region(provider: aws.Provider) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers=[provider])

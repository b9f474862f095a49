"""The regional stack program: composes one region's components."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from components.network import Network, NetworkArgs
from regions.residency import DataClassification, classification_tags
from stacks import artifacts, cluster, features, images, ingress, serving
from stacks.context import RegionalContext
from stacks.providers import aws_provider, in_region
from stacks.settings import NatGateways, RegionalSettings
from stacks.tagging import register_default_tags


def regional_tags(settings: RegionalSettings) -> dict[str, str]:
    return {
        **settings.base_tags,
        "region": settings.region.region,
        # Components that hold personal data override the classification with "personal".
        **classification_tags(DataClassification.INTERNAL, settings.region.jurisdiction),
    }


def personal_data_tags(settings: RegionalSettings) -> dict[str, str]:
    return classification_tags(DataClassification.PERSONAL, settings.region.jurisdiction)


def regional_program(settings: RegionalSettings) -> dict[str, Any]:
    # Every concern's config is parsed before anything is declared: a bad key must not leave
    # a `pulumi up` with a network and a cluster but no serving. Placeholders plan offline
    # and preview, but a real deployment stops here too.
    for check in (*CONFIG_CHECKS, *DEPLOY_CHECKS):
        check(settings)
    tags = regional_tags(settings)
    register_default_tags(tags)
    spec = settings.region
    provider = aws_provider(spec.region, tags)
    opts = in_region(provider)
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    network = Network(
        "network",
        NetworkArgs(
            region=spec.region,
            vpc_cidr=spec.vpc_cidr,
            availability_zones=spec.availability_zones,
            cluster_name=settings.name_prefix,
            account_id=account_id.account_id,
            nat_gateways=(
                len(spec.availability_zones)
                if settings.network.nat_gateways is NatGateways.PER_AZ
                else 1
            ),
            interface_endpoints=settings.network.interface_endpoints,
            flow_log_retention_days=settings.network.flow_log_retention_days,
            flow_log_tags=personal_data_tags(settings),
        ),
        opts=opts,
    )
    ctx = RegionalContext(settings, provider, account_id.account_id, network)
    exports: dict[str, Any] = {
        "region": spec.region,
        "environment": settings.environment,
        "jurisdiction": spec.jurisdiction,
        "network": network.exports(),
    }
    # One builder per concern, in dependency order; each returns its exports.
    for concern, build in REGIONAL_BUILDERS:
        exports[concern] = build(ctx)
    return exports


RegionalBuilder = Callable[[RegionalContext], dict[str, Any]]

CONFIG_CHECKS: list[Callable[[RegionalSettings], object]] = [
    cluster.check_settings,
    artifacts.artifact_settings,
    features.parse_feature_settings,
    serving.check_settings,
    ingress.ingress_settings,
]
"""Run first in every regional program: each parses its concern's stack config and raises
``StackConfigError`` naming the file and the key (the builders parse it again, cheaply)."""

DEPLOY_CHECKS: list[Callable[[RegionalSettings], None]] = [
    serving.refuse_placeholders,
    ingress.refuse_placeholders,
]
"""Run first in every regional program: each raises in a real deployment (not a preview,
not the mock engine) when its concern's stack config still holds a shipped placeholder."""

# Each concern's module exposes build(ctx) -> exports, reading its own config key.
REGIONAL_BUILDERS: list[tuple[str, RegionalBuilder]] = [
    ("cluster", cluster.build),
    ("artifacts", artifacts.build),
    ("images", images.build),
    ("features", features.build),
    ("serving", serving.build),
    ("ingress", ingress.build),
]

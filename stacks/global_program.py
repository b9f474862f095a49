"""The global stack program: what spans regions, reading regional outputs by reference.

Regional stacks never read this stack, so whatever depends on several regions (replication
rules, global routing) lives here without creating a cycle. Each concern is one small function
of the ``GlobalContext``; its result is one key of the stack's exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.global_routing import (
    GLOBAL_ACCELERATOR_HOME_REGION,
    JurisdictionAccelerator,
    JurisdictionAcceleratorArgs,
)
from components.image_registry import ImageReplication, ImageReplicationArgs
from components.replication import ArtifactReplication, ArtifactReplicationArgs
from components.replication_plan import ArtifactStoreRef, plan_replication, store_from_export
from components.routing_plan import (
    IngressRef,
    RoutingConfig,
    ingress_from_export,
    parse_routing_config,
    plan_routing,
)
from regions.residency import load_policy
from stacks import naming
from stacks.alarms import KEY as ALARMS_KEY
from stacks.alarms import AlarmSettings, alarm_settings
from stacks.providers import aws_provider, in_region
from stacks.references import regional_reference
from stacks.settings import NAMESPACE, GlobalSettings, config_object, stack_file
from stacks.tagging import register_default_tags


def global_tags(settings: GlobalSettings) -> dict[str, str]:
    return {**settings.base_tags, "region": "global", "data-classification": "internal"}


@dataclass
class GlobalContext:
    settings: GlobalSettings
    references: dict[str, pulumi.StackReference]
    """One StackReference per catalog region, to this environment's regional stacks only."""
    _providers: dict[str, aws.Provider] = field(default_factory=dict)

    def provider(self, region: str) -> aws.Provider:
        """The explicit provider for ``region``, created once however many concerns use it."""
        if region not in self._providers:
            self._providers[region] = aws_provider(region, global_tags(self.settings))
        return self._providers[region]


def global_program(settings: GlobalSettings) -> dict[str, Any]:
    # Config is parsed before anything is declared (see stacks/regional.py CONFIG_CHECKS).
    routing, alarms = routing_config(settings), alarm_settings(settings)
    register_default_tags(global_tags(settings))
    ctx = GlobalContext(settings, regional_references(settings))
    return {
        "environment": settings.environment,
        "regions": region_summaries(ctx),
        "artifactReplication": artifact_replication(ctx, alarms),
        "imageReplication": image_replication(ctx),
        "accelerators": accelerators(ctx, routing),
    }


def regional_references(settings: GlobalSettings) -> dict[str, pulumi.StackReference]:
    return {spec.region: regional_reference(settings, spec.region) for spec in settings.catalog}


def region_summaries(ctx: GlobalContext) -> pulumi.Output[Any]:
    regions = {
        region: {
            "jurisdiction": ref.require_output("jurisdiction"),
            "vpcId": ref.require_output("network").apply(lambda n: n["vpcId"]),
        }
        for region, ref in ctx.references.items()
    }
    return pulumi.Output.from_input(regions)


def artifact_replication(ctx: GlobalContext, alarms: AlarmSettings) -> dict[str, Any]:
    """Replication from the primary artifact store to every other region of the catalog;
    its alarms notify ``alarms.topic_arns``."""
    stores = {region: artifact_store(region, ref) for region, ref in ctx.references.items()}
    plan = plan_replication(ctx.settings.catalog, stores)
    if not plan.rules:
        return {}  # a one-region catalog has nothing to replicate to
    if not alarms.topic_arns:
        pulumi.log.warn(
            f"{stack_file(ctx.settings.stack)} has no {ALARMS_KEY}.topicArns: the artifact "
            "replication alarms notify nobody"
        )
    replication = ArtifactReplication(
        "artifact-replication",
        ArtifactReplicationArgs(
            plan=plan,
            name_prefix=f"{naming.PROJECT}-{ctx.settings.environment}-artifacts",
            alarm_actions=alarms.topic_arns,
        ),
        opts=in_region(ctx.provider(plan.source.region)),
    )
    return replication.exports()


def artifact_store(region: str, ref: pulumi.StackReference) -> ArtifactStoreRef[Any]:
    """The region's store as its stack exported it (key ``artifacts``), value by value."""
    store = ref.require_output("artifacts").apply(lambda a: store_from_export(region, a))
    return ArtifactStoreRef(
        region,
        store.apply(lambda s: s.bucket_name),
        store.apply(lambda s: s.bucket_arn),
        store.apply(lambda s: s.key_arn),
    )


def image_replication(ctx: GlobalContext) -> dict[str, Any]:
    """ECR replication of this environment's images from the primary region to every other.

    A registry has one replication configuration, so each environment needs its own AWS
    account (as it should anyway): two environments in one account would overwrite it.
    """
    primary = ctx.settings.catalog.primary.region
    destinations = [spec.region for spec in ctx.settings.catalog if spec.region != primary]
    if not destinations:
        return {}
    provider = ctx.provider(primary)
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=provider)
    ).account_id
    prefix = naming.image_repository_prefix(ctx.settings.environment)
    ImageReplication(
        "image-replication",
        ImageReplicationArgs(account_id, destinations, prefix),
        opts=in_region(provider),
    )
    return {"sourceRegion": primary, "destinationRegions": destinations, "repositoryPrefix": prefix}


ROUTING_KEY = "routing"


def accelerators(ctx: GlobalContext, config: RoutingConfig | None) -> dict[str, Any]:
    """One Global Accelerator per jurisdiction, each routing only to its own regions' NLBs
    (``components.routing_plan``); keyed by jurisdiction. None: no ``routing`` key."""
    if config is None:
        return {}
    settings = ctx.settings
    plan = plan_routing(
        settings.environment,
        settings.catalog,
        load_policy(settings.catalog),
        config,
        {region: ingress(settings, region, ref) for region, ref in ctx.references.items()},
        stack_file(settings.stack),
    )
    ga_provider = ctx.provider(GLOBAL_ACCELERATOR_HOME_REGION)
    account_id = aws.get_caller_identity_output(
        opts=pulumi.InvokeOutputOptions(provider=ga_provider)
    ).account_id
    return {
        group.jurisdiction: JurisdictionAccelerator(
            f"accelerator-{group.jurisdiction.lower()}",
            JurisdictionAcceleratorArgs(
                plan=group,
                account_id=account_id,
                flow_log_provider=ctx.provider(group.flow_log_region),
            ),
            opts=in_region(ga_provider),
        ).exports()
        for group in plan.accelerators
    }


def routing_config(settings: GlobalSettings) -> RoutingConfig | None:
    """``inference-mesh:routing``; None when the stack file has no such key, so an
    environment can be brought up region by region before it gets a global entry point."""
    if f"{NAMESPACE}:{ROUTING_KEY}" not in settings.raw:
        pulumi.log.warn(
            f"{stack_file(settings.stack)} has no {NAMESPACE}:{ROUTING_KEY}: "
            "no Global Accelerator is declared for this environment"
        )
        return None
    return parse_routing_config(config_object(settings, ROUTING_KEY), stack_file(settings.stack))


def ingress(settings: GlobalSettings, region: str, ref: pulumi.StackReference) -> IngressRef[Any]:
    """The region's NLB as its stack exported it (key ``ingress``, stacks/ingress.py)."""
    stack = naming.stack_name(settings.environment, region)
    export = ref.require_output("ingress").apply(lambda e: ingress_from_export(region, stack, e))
    return IngressRef(
        region,
        export.apply(lambda i: i.nlb_arn),
        export.apply(lambda i: i.health_check_path),
    )

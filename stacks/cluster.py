"""The ``cluster`` concern of a regional stack: reads ``inference-mesh:cluster`` and builds the
GPU cluster.

Config (stack file, under ``config:``)::

    inference-mesh:cluster:
      kubernetesVersion: "1.35"          # a minor with add-ons pinned in cluster/versions.py
      endpointPublicAccessCidrs: []      # dev only: networks allowed on the public endpoint
      logRetentionDays: 365
      deletionProtection: true
      adminRoleArns: []                  # IAM roles given cluster-admin access entries
      systemNodes: {instanceType: m7i.xlarge, min: 3, desired: 3, max: 6, diskGiB: 50}
      gpuPools:
        classes: [l4, a10g, t4]          # requested GPU classes; the region's catalog decides
        spot: true                       # Spot on the burst pools (the base pool: on-demand)
        diskGiB: 200
        burstGpuLimit: 4                 # GPU limit of each class the plan does not use
        disruptionFraction: 0.1          # most of a pool's nodes drained at once
        consolidateAfter: 10m
        expireAfter: 720h
        terminationGracePeriod: 1h

The base pool's class and GPU limit are not config: they come from the capacity planner
(``capacity.planner.load_shipped_plan(environment).regions[region]``), the single source of
those numbers (``_planned``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capacity.planner import FleetPlan, RegionPlan, load_shipped_plan
from components.cluster import versions
from components.cluster.access import check_public_access_cidr
from components.cluster.pools import GpuPool, GpuPoolError, SystemNodes, plan_gpu_pools
from components.log_retention import log_retention_error
from regions.instance_types import GPU_CLASSES, INSTANCE_TYPES
from stacks import naming
from stacks.settings import (
    NAMESPACE,
    ConfigSection,
    RegionalSettings,
    StackConfigError,
    config_object,
)

if TYPE_CHECKING:  # the SDK-heavy modules load only when a stack is built
    from components.cluster.gpu_cluster import GpuClusterArgs
    from stacks.context import RegionalContext

KEY = f"{NAMESPACE}:cluster"
PROD = "prod"
_DURATION = re.compile(r"^([0-9]+(s|m|h))+$")
_ARM_FAMILY = re.compile(r"^[a-z]+[0-9]+[a-z]*g[a-z]*$")
_TOP_LEVEL = {
    "kubernetesVersion",
    "endpointPublicAccessCidrs",
    "logRetentionDays",
    "deletionProtection",
    "adminRoleArns",
    "systemNodes",
    "gpuPools",
}
_SYSTEM_NODES = {"instanceType", "min", "desired", "max", "diskGiB"}
_GPU_POOLS = {
    "classes",
    "spot",
    "diskGiB",
    "burstGpuLimit",
    "disruptionFraction",
    "consolidateAfter",
    "expireAfter",
    "terminationGracePeriod",
    "amiRelease",
}


@dataclass(frozen=True)
class GpuPoolSettings:
    classes: tuple[str, ...]
    spot: bool
    disk_gib: int
    burst_gpu_limit: int
    disruption_fraction: float
    consolidate_after: str
    expire_after: str
    termination_grace_period: str
    ami_release: str


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str
    endpoint_public_access_cidrs: tuple[str, ...]
    log_retention_days: int
    deletion_protection: bool
    admin_role_arns: tuple[str, ...]
    system_nodes: SystemNodes
    gpu_pools: GpuPoolSettings


# -- parsing (pure) ---------------------------------------------------------------------
class _Reader(ConfigSection):
    """Reads one mapping of ``inference-mesh:cluster``."""

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"an integer from {low} to {high}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def duration(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not _DURATION.match(value):
            raise self.fail(key, "a duration such as 10m, 1h or 720h")
        return value

    def strings(self, key: str, expected: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, expected)
        return tuple(value)


def parse_cluster_settings(stack: str, environment: str, data: Any) -> ClusterSettings:
    """``data`` is the ``inference-mesh:cluster`` mapping of the stack file."""
    top = _Reader(stack, data, KEY, _TOP_LEVEL)
    version = data.get("kubernetesVersion")
    if version not in versions.SUPPORTED_KUBERNETES_VERSIONS:
        raise top.fail(
            "kubernetesVersion",
            f"a quoted Kubernetes minor with pinned add-ons, one of "
            f"{list(versions.SUPPORTED_KUBERNETES_VERSIONS)}",
        )
    retention = data.get("logRetentionDays", 365)
    expected = log_retention_error(retention)
    if expected:
        raise top.fail("logRetentionDays", expected)
    return ClusterSettings(
        kubernetes_version=version,
        endpoint_public_access_cidrs=_public_cidrs(top, environment),
        log_retention_days=int(retention),
        deletion_protection=top.boolean("deletionProtection", True),
        admin_role_arns=_admin_roles(top),
        system_nodes=_system_nodes(stack, data.get("systemNodes")),
        gpu_pools=_gpu_pool_settings(stack, data.get("gpuPools")),
    )


def _public_cidrs(top: _Reader, environment: str) -> tuple[str, ...]:
    key = "endpointPublicAccessCidrs"
    cidrs = top.strings(key, "a list of IPv4 CIDRs")
    if cidrs and environment == PROD:
        raise top.fail(key, "no entries in prod: the public endpoint stays off")
    for cidr in cidrs:
        try:
            check_public_access_cidr(cidr)
        except ValueError as exc:
            raise top.fail(key, str(exc)) from None
    return cidrs


def _admin_roles(top: _Reader) -> tuple[str, ...]:
    roles = top.strings("adminRoleArns", "a list of IAM role ARNs")
    for arn in roles:
        if not re.match(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn):
            raise top.fail("adminRoleArns", f"IAM role ARNs, not {arn!r}")
    return roles


def _system_nodes(stack: str, data: Any) -> SystemNodes:
    nodes = _Reader(stack, data, f"{KEY}.systemNodes", _SYSTEM_NODES)
    instance_type = data.get("instanceType")
    cpu_types = sorted(
        n
        for n, t in INSTANCE_TYPES.items()
        if not t.accelerators and not _ARM_FAMILY.match(t.family)
    )
    if instance_type not in cpu_types:
        raise nodes.fail("instanceType", f"an x86 CPU instance type from {cpu_types}")
    low = nodes.integer("min", 1, 100)
    desired = nodes.integer("desired", low, 100)
    return SystemNodes(
        instance_type=instance_type,
        min_size=low,
        desired_size=desired,
        max_size=nodes.integer("max", desired, 100),
        disk_gib=nodes.integer("diskGiB", 20, 1000, 50),
    )


def _gpu_pool_settings(stack: str, data: Any) -> GpuPoolSettings:
    pools = _Reader(stack, data, f"{KEY}.gpuPools", _GPU_POOLS)
    classes = pools.strings("classes", f"a list of GPU classes from {sorted(GPU_CLASSES)}")
    for gpu_class in classes:
        if gpu_class not in GPU_CLASSES:
            raise pools.fail("classes", f"GPU classes from {sorted(GPU_CLASSES)}")
    fraction = data.get("disruptionFraction", 0.1)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not (0.05 <= fraction <= 0.5)
    ):
        raise pools.fail("disruptionFraction", "a number from 0.05 to 0.5")
    ami = data.get("amiRelease", versions.AL2023_AMI_RELEASE)
    if not isinstance(ami, str) or not re.match(r"^v[0-9]{8}$", ami):
        raise pools.fail("amiRelease", "an amazon-eks-ami release such as v20260714")
    return GpuPoolSettings(
        classes=classes,
        spot=pools.boolean("spot"),
        # Root volume holds the AMI plus 15-18 GB Triton images (figures.md section 7).
        disk_gib=pools.integer("diskGiB", 100, 2000),
        burst_gpu_limit=pools.integer("burstGpuLimit", 1, 1000),
        disruption_fraction=float(fraction),
        consolidate_after=pools.duration("consolidateAfter", "10m"),
        expire_after=pools.duration("expireAfter", "720h"),
        termination_grace_period=pools.duration("terminationGracePeriod", "1h"),
        ami_release=ami,
    )


def cluster_settings(settings: RegionalSettings) -> ClusterSettings:
    return parse_cluster_settings(
        settings.stack, settings.environment, config_object(settings, "cluster")
    )


def check_settings(settings: RegionalSettings) -> None:
    """Parses ``inference-mesh:cluster`` and derives the GPU pools from the capacity plan;
    raises ``StackConfigError`` on bad input (stacks/regional.py runs it before any resource)."""
    gpu_pools(settings, cluster_settings(settings))


@functools.cache
def _shipped_plan(environment: str) -> FleetPlan:
    return load_shipped_plan(environment)


def _planned(settings: RegionalSettings) -> RegionPlan:
    """The capacity plan's choice for this region: its GPU class and the base pool's limit."""
    plan = _shipped_plan(settings.environment).regions.get(settings.region.region)
    if plan is None:
        raise StackConfigError(
            settings.stack, "aws:region", "a region the capacity plan (capacity/planner.py) covers"
        )
    return plan


def gpu_pools(settings: RegionalSettings, config: ClusterSettings) -> tuple[GpuPool, ...]:
    """The region's GPU pools: the planned class as the base pool at the plan's limit, the
    other requested classes as burst pools. A catalog that offers none of the requested
    classes fails here, naming the region and the types it offers."""
    spec, pools = settings.region, config.gpu_pools
    planned = _planned(settings)
    limits = dict.fromkeys(GPU_CLASSES, pools.burst_gpu_limit) | {
        planned.gpu_class: planned.gpu_limit
    }
    try:
        return plan_gpu_pools(
            region=spec.region,
            zones=spec.availability_zones,
            candidates=spec.gpu_candidates,
            requested=pools.classes,
            gpu_limits=limits,
            spot=pools.spot,
            disruption_fraction=pools.disruption_fraction,
            base_class=planned.gpu_class,
        )
    except GpuPoolError as exc:
        raise StackConfigError(settings.stack, f"{KEY}.gpuPools.classes", str(exc)) from None


# -- the builder ---------------------------------------------------------------------------
def build(ctx: RegionalContext) -> dict[str, Any]:
    """Declares the GPU cluster; ``ctx.built["cluster"]`` is the component, with
    ``k8s_provider`` for the concerns that deploy into it."""
    from components.cluster.gpu_cluster import GpuCluster  # noqa: PLC0415 (SDK-heavy)

    cluster = GpuCluster("cluster", cluster_args(ctx), opts=ctx.opts)
    ctx.built["cluster"] = cluster
    return cluster.exports()


def cluster_args(ctx: RegionalContext) -> GpuClusterArgs:
    from components.cluster.gpu_cluster import GpuClusterArgs  # noqa: PLC0415
    from components.cluster.manifests import NodeTiming  # noqa: PLC0415
    from stacks.regional import regional_tags  # noqa: PLC0415 (stacks.regional imports us)

    settings = ctx.settings
    config = cluster_settings(settings)
    pools = config.gpu_pools
    return GpuClusterArgs(
        cluster_name=naming.cluster_name(settings.environment, settings.region.region),
        region=settings.region.region,
        account_id=ctx.account_id,
        vpc_id=ctx.network.vpc_id,
        private_subnet_ids=ctx.network.private_subnet_ids,
        availability_zones=settings.region.availability_zones,
        kubernetes_version=config.kubernetes_version,
        gpu_pools=gpu_pools(settings, config),
        system_nodes=config.system_nodes,
        gpu_disk_gib=pools.disk_gib,
        timing=NodeTiming(
            pools.consolidate_after, pools.expire_after, pools.termination_grace_period
        ),
        endpoint_public_access_cidrs=config.endpoint_public_access_cidrs,
        log_retention_days=config.log_retention_days,
        admin_role_arns=config.admin_role_arns,
        ami_release=pools.ami_release,
        deletion_protection=config.deletion_protection,
        node_tags=regional_tags(settings),
    )

"""``meshctl preflight``: can this AWS account run the GPU cluster a stack declares?

For each region, read-only:

1. every GPU candidate of ``regions/<region>.yaml`` is offered in at least two of the catalog's
   availability zones (``ec2:DescribeInstanceTypeOfferings``), so a pool survives a zone loss;
2. the on-demand and spot vCPU quotas of the G/VT and P families (Service Quotas) cover the
   GPU pools' limits, counted at the worst vCPU-per-GPU type of each pool;
3. the configured Kubernetes version is offered by EKS in standard support
   (``eks:DescribeClusterVersions``) and every pinned add-on build is offered for it
   (``eks:DescribeAddonVersions``).

Prints a table and exits 1 with what to change when anything fails.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from components.cluster import versions
from components.cluster.pools import ON_DEMAND, SPOT, GpuPool, vcpus_at_limit
from meshctl.aws import AwsClients, add_aws_arguments
from meshctl.output import add_json_argument, print_json, print_table
from meshctl.plan_engine import PlanError, load_stack_config
from regions.catalog import CatalogError, RegionCatalog, RegionSpec, load_catalog
from regions.instance_types import INSTANCE_TYPES
from stacks import naming
from stacks.cluster import ClusterSettings, cluster_settings, gpu_pools
from stacks.settings import STACKS_DIR, RegionalSettings, StackConfigError, parse_settings

MIN_OFFERED_ZONES = 2
"""A pool offered in one zone only loses all its capacity with that zone."""

QUOTAS: dict[tuple[str, str], tuple[str, str]] = {
    ("G", ON_DEMAND): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("G", SPOT): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", ON_DEMAND): ("L-417A185B", "Running On-Demand P instances"),
    ("P", SPOT): ("L-7212CCBC", "All P Spot Instance Requests"),
}
"""EC2 vCPU quota codes by instance-family group and capacity type (service code ``ec2``)."""
STANDARD_SUPPORT = "STANDARD_SUPPORT"


class ClientFactory(Protocol):
    def client(self, service: str, region: str) -> Any: ...


@dataclass(frozen=True)
class Check:
    region: str
    check: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class RegionTarget:
    spec: RegionSpec
    stack: str
    config: ClusterSettings
    pools: tuple[GpuPool, ...]


# -- CLI ---------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preflight",
        help="check GPU offerings, vCPU quotas and the EKS version before a deploy",
        description="Read-only checks, per region, that the GPU pools of a stack can launch: "
        "instance offerings per zone, EC2 vCPU quotas, EKS version and add-on builds.",
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--region", action="append", metavar="R", help="check R (repeatable)")
    scope.add_argument("--all", action="store_true", help="check every catalog region")
    parser.add_argument(
        "--env",
        choices=naming.ENVIRONMENTS,
        default="prod",
        help="whose stack config to check: stacks/Pulumi.<env>-<region>.yaml (prod)",
    )
    parser.add_argument("--catalog", type=Path, default=None, help="region catalog directory")
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help=argparse.SUPPRESS)
    add_aws_arguments(parser)
    add_json_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.catalog)
        names = list(catalog.names) if args.all else list(dict.fromkeys(args.region))
        targets = [load_target(args.env, r, catalog, args.stacks_dir) for r in names]
    except (CatalogError, StackConfigError, PlanError, KeyError) as exc:
        print(f"meshctl preflight: {exc}", file=sys.stderr)
        return 2
    checks = run_preflight(targets, AwsClients.from_args(args))
    report(checks, as_json=args.json)
    return 0 if all(c.ok for c in checks) else 1


def report(checks: Sequence[Check], as_json: bool) -> None:
    if as_json:
        print_json({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
    else:
        rows = [(c.region, c.check, "ok" if c.ok else "FAIL", c.detail) for c in checks]
        print_table("GPU preflight", ("region", "check", "result", "detail"), rows)
    for check in checks:
        if not check.ok:
            print(f"{check.region}: {check.check}: {check.fix}", file=sys.stderr)


# -- what to check -------------------------------------------------------------------------
def load_target(
    environment: str, region: str, catalog: RegionCatalog, stacks_dir: Path = STACKS_DIR
) -> RegionTarget:
    """The region's spec, its stack's cluster config and GPU pools, as the stack builds them."""
    stack = naming.stack_name(environment, region)
    settings = parse_settings(stack, load_stack_config(stack, stacks_dir), catalog)
    if not isinstance(settings, RegionalSettings):
        raise StackConfigError(stack, "(stack name)", "a regional stack")
    config = cluster_settings(settings)
    return RegionTarget(settings.region, stack, config, gpu_pools(settings, config))


def run_preflight(targets: Iterable[RegionTarget], clients: ClientFactory) -> list[Check]:
    checks: list[Check] = []
    for target in targets:
        region = target.spec.region
        checks += check_offerings(clients.client("ec2", region), target.spec)
        checks += check_quotas(clients.client("service-quotas", region), target)
        eks = clients.client("eks", region)
        checks.append(check_kubernetes_version(eks, target))
        checks += check_addons(eks, target)
    return checks


def check_offerings(ec2: Any, spec: RegionSpec) -> list[Check]:
    offered: dict[str, set[str]] = defaultdict(set)
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone",
        Filters=[
            {"Name": "instance-type", "Values": list(spec.gpu_candidates)},
            {"Name": "location", "Values": list(spec.availability_zones)},
        ],
    )
    for page in pages:
        for offering in page["InstanceTypeOfferings"]:
            if offering["Location"] in spec.availability_zones:
                offered[offering["InstanceType"]].add(offering["Location"])
    checks = []
    for name in spec.gpu_candidates:
        zones = sorted(offered.get(name, ()))
        ok = len(zones) >= MIN_OFFERED_ZONES
        checks.append(
            Check(
                spec.region,
                f"offering {name}",
                ok,
                f"offered in {len(zones)} of {len(spec.availability_zones)} catalog zones"
                + (f" ({', '.join(zones)})" if zones else ""),
                ""
                if ok
                else f"remove {name} from gpu_candidates in regions/{spec.region}.yaml, or list "
                f"zones that offer it: it needs at least {MIN_OFFERED_ZONES} of "
                f"{list(spec.availability_zones)}",
            )
        )
    return checks


def required_vcpus(pools: Iterable[GpuPool]) -> dict[tuple[str, str], int]:
    """vCPUs per (family group, capacity type) that the pools may run at their limits. A burst
    pool that allows Spot may run its whole limit on either capacity type (Karpenter falls back
    to on-demand when Spot is short), so it counts in full against both quotas."""
    need: dict[tuple[str, str], int] = defaultdict(int)
    for pool in pools:
        for group, types in _by_group(pool.instance_types).items():
            vcpus = vcpus_at_limit(types, pool.gpu_limit)
            for capacity in pool.capacity_types:
                need[(group, capacity)] += vcpus
    return dict(need)


def _by_group(instance_types: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for name in instance_types:
        family = INSTANCE_TYPES[name].family
        if family.startswith(("g", "vt")):
            groups["G"].append(name)
        elif family.startswith("p"):
            groups["P"].append(name)
        else:
            raise ValueError(f"no vCPU quota known for instance family {family}")
    return groups


def check_quotas(quotas: Any, target: RegionTarget) -> list[Check]:
    region, checks = target.spec.region, []
    for (group, capacity), needed in sorted(required_vcpus(target.pools).items()):
        code, name = QUOTAS[(group, capacity)]
        try:
            value = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except ClientError as exc:
            checks.append(
                Check(
                    region,
                    f"quota {code}",
                    False,
                    f"{name}: {exc}",
                    "check access to Service Quotas",
                )
            )
            continue
        ok = value >= needed
        checks.append(
            Check(
                region,
                f"quota {code}",
                ok,
                f"{name}: {value:g} vCPUs, pools need {needed}",
                ""
                if ok
                else f"request {code} ({name}) of at least {needed} vCPUs in {region}, or lower "
                f"gpuPools.burstGpuLimit in stacks/Pulumi.{target.stack}.yaml (the base pool's "
                "limit is the capacity plan's)",
            )
        )
    return checks


def check_kubernetes_version(eks: Any, target: RegionTarget) -> Check:
    region, version = target.spec.region, target.config.kubernetes_version
    found = eks.describe_cluster_versions(clusterVersions=[version]).get("clusterVersions", [])
    status = next((v.get("versionStatus") for v in found if v["clusterVersion"] == version), None)
    ok = status == STANDARD_SUPPORT
    return Check(
        region,
        f"kubernetes {version}",
        ok,
        f"EKS reports {status or 'not offered'}",
        ""
        if ok
        else f"set kubernetesVersion in stacks/Pulumi.{target.stack}.yaml to a version in "
        f"EKS standard support (and pin its add-ons in components/cluster/versions.py)",
    )


def check_addons(eks: Any, target: RegionTarget) -> list[Check]:
    region, version = target.spec.region, target.config.kubernetes_version
    checks = []
    for addon, pinned in versions.EKS_ADDONS.get(version, {}).items():
        response = eks.describe_addon_versions(kubernetesVersion=version, addonName=addon)
        offered = {
            v["addonVersion"]
            for a in response.get("addons", [])
            for v in a.get("addonVersions", [])
        }
        ok = pinned in offered
        checks.append(
            Check(
                region,
                f"add-on {addon}",
                ok,
                f"{pinned} {'offered' if ok else 'not offered'} for {version}",
                ""
                if ok
                else f"pin one of {sorted(offered) or 'the offered builds'} for {addon} in "
                f"components/cluster/versions.py EKS_ADDONS[{version!r}]",
            )
        )
    return checks

"""Pure decisions behind the GPU node pools: which pools, which instance families, limits and
disruption budgets. No Pulumi here, so every rule is testable on its own.

One Karpenter NodePool per GPU class offered by the region. A NodePool's instance families
belong to it alone (an instance family carries exactly one accelerator class), so a pending pod
that selects a class can only land in that class's pool and two pools never race for the same
capacity.

Base and burst: the class the capacity plan serves the region with is the *base* pool, sized
to the plan's GPU limit and on-demand only, because failover capacity must not depend on Spot
(Well-Architected REL11-BP05, static stability). The region's other classes are *burst* pools
with a small limit, on-demand plus Spot where the stack allows it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from regions.instance_types import INSTANCE_TYPES

ON_DEMAND = "on-demand"
SPOT = "spot"

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
GPU_CLASS_LABEL = "inference-mesh/gpu-class"
"""Node label with the pool's GPU class; serving selects a class with it."""
NODE_ROLE_LABEL = "inference-mesh/node-role"

MIN_DISRUPTION_FRACTION = 0.05
MAX_DISRUPTION_FRACTION = 0.5
TOP_WEIGHT, WEIGHT_STEP = 100, 10


class GpuPoolError(ValueError):
    """The region's catalog and the requested pools do not fit together."""


@dataclass(frozen=True)
class SystemNodes:
    """The on-demand CPU node group that runs Karpenter, CoreDNS and the other controllers;
    the stack parses it from ``inference-mesh:cluster.systemNodes``."""

    instance_type: str
    """An x86 instance type (the AMI type is AL2023 x86_64)."""
    min_size: int
    desired_size: int
    max_size: int
    disk_gib: int
    """Encrypted gp3 root volume size."""


@dataclass(frozen=True)
class GpuPool:
    gpu_class: str
    name: str
    """NodePool name, ``gpu-<class>``."""
    instance_types: tuple[str, ...]
    families: tuple[str, ...]
    capacity_types: tuple[str, ...]
    gpu_limit: int
    zones: tuple[str, ...]
    weight: int
    """Karpenter tries heavier pools first: the catalog's preference order, cheapest first."""
    disruption_percent: int
    base: bool = False
    """The capacity plan's class: on-demand only, sized by the plan."""

    @property
    def max_nodes(self) -> int:
        return max_nodes_at_limit(self.instance_types, self.gpu_limit)

    @property
    def budget_nodes(self) -> str:
        return f"{self.disruption_percent}%"


def offered_classes(candidates: Sequence[str]) -> tuple[str, ...]:
    """GPU classes of the region's candidates, in the catalog's order of preference."""
    return tuple(dict.fromkeys(INSTANCE_TYPES[t].accelerator_class for t in candidates))


def select_gpu_classes(
    region: str, candidates: Sequence[str], requested: Sequence[str]
) -> tuple[str, ...]:
    """The requested classes the region offers (all offered ones if none are requested)."""
    offered = offered_classes(candidates)
    if not requested:
        return offered
    chosen = tuple(c for c in offered if c in set(requested))
    if not chosen:
        types = ", ".join(f"{t} ({INSTANCE_TYPES[t].accelerator_class})" for t in candidates)
        raise GpuPoolError(
            f"region {region} offers none of the requested GPU classes {list(requested)}: "
            f"its catalog (regions/{region}.yaml gpu_candidates) offers {types}; request one "
            f"of {list(offered)} or add instance types of the requested classes to the catalog"
        )
    return chosen


def family_owners(candidates: Sequence[str]) -> dict[str, str]:
    """Instance family -> GPU class; a family with two classes would put two pools on it."""
    owners: dict[str, str] = {}
    for name in candidates:
        spec = INSTANCE_TYPES[name]
        owner = owners.setdefault(spec.family, spec.accelerator_class)
        if owner != spec.accelerator_class:
            raise GpuPoolError(
                f"instance family {spec.family} carries both {owner} and "
                f"{spec.accelerator_class}: a family must belong to exactly one GPU pool"
            )
    return owners


def max_nodes_at_limit(instance_types: Iterable[str], gpu_limit: int) -> int:
    """Most nodes the pool can hold: its limit filled with the smallest-GPU-count type."""
    fewest = min(INSTANCE_TYPES[t].accelerators for t in instance_types)
    return math.ceil(gpu_limit / fewest)


def vcpus_at_limit(instance_types: Iterable[str], gpu_limit: int) -> int:
    """vCPUs the pool may run at its GPU limit, for the worst vCPU-per-GPU type.

    Karpenter checks a limit before a launch, so the last node may overshoot it; counting
    whole nodes of the type (``ceil``) covers that overshoot."""
    return max(
        math.ceil(gpu_limit / INSTANCE_TYPES[t].accelerators) * INSTANCE_TYPES[t].vcpus
        for t in instance_types
    )


def karpenter_allowed_disruptions(nodes: int, percent: int) -> int:
    """Nodes Karpenter may disrupt at once under a ``<percent>%`` budget. It rounds up
    (kubernetes-sigs/karpenter pkg/apis/v1/nodepool.go ``GetAllowedDisruptions``: "a
    disruption can sometimes exceed the disruption budget")."""
    return math.ceil(nodes * percent / 100)


def disruption_percent(fraction: float, max_nodes: int) -> int:
    """The largest ``nodes: N%`` budget that never lets Karpenter drain more than ``fraction``
    of a pool of up to ``max_nodes`` nodes at once, beyond the one node it needs to act at all.

    Because Karpenter rounds the percentage up, ``floor(100 * fraction)`` alone can overshoot
    (10% of 15 nodes allows 2); the percentage is lowered until no pool size overshoots."""
    if not MIN_DISRUPTION_FRACTION <= fraction <= MAX_DISRUPTION_FRACTION:
        raise GpuPoolError(
            f"disruption fraction must be between {MIN_DISRUPTION_FRACTION} and "
            f"{MAX_DISRUPTION_FRACTION}, got {fraction}"
        )
    for percent in range(math.floor(fraction * 100 + 1e-9), 0, -1):
        if all(
            karpenter_allowed_disruptions(n, percent) <= max(1, math.floor(fraction * n + 1e-9))
            for n in range(1, max_nodes + 1)
        ):
            return percent
    raise GpuPoolError(  # unreachable for fractions >= 0.05: 1% never overshoots them
        f"no disruption budget keeps {fraction} of {max_nodes} nodes; raise the fraction"
    )


def plan_gpu_pools(
    region: str,
    zones: Sequence[str],
    candidates: Sequence[str],
    requested: Sequence[str],
    gpu_limits: Mapping[str, int],
    spot: bool,
    disruption_fraction: float,
    base_class: str | None = None,
) -> tuple[GpuPool, ...]:
    """One pool per selected GPU class, in the catalog's order of preference. ``spot`` adds
    Spot to the burst pools; the ``base_class`` pool stays on-demand."""
    classes = select_gpu_classes(region, candidates, requested)
    if base_class is not None and base_class not in classes:
        raise GpuPoolError(
            f"the capacity plan serves region {region} with GPU class {base_class}, which is "
            f"not among its pools {list(classes)}: request {base_class} in gpuPools.classes"
        )
    owners = family_owners(candidates)
    burst_capacity = (ON_DEMAND, SPOT) if spot else (ON_DEMAND,)
    pools = []
    for rank, gpu_class in enumerate(classes):
        limit = gpu_limits.get(gpu_class)
        if limit is None or limit < 1:
            raise GpuPoolError(
                f"GPU class {gpu_class} of region {region} needs a GPU limit of at least 1, "
                f"got {limit}"
            )
        types = tuple(t for t in candidates if INSTANCE_TYPES[t].accelerator_class == gpu_class)
        pools.append(
            GpuPool(
                gpu_class=gpu_class,
                name=f"gpu-{gpu_class}",
                instance_types=types,
                families=tuple(sorted(f for f, c in owners.items() if c == gpu_class)),
                capacity_types=(ON_DEMAND,) if gpu_class == base_class else burst_capacity,
                gpu_limit=limit,
                zones=tuple(zones),
                weight=max(1, TOP_WEIGHT - WEIGHT_STEP * rank),
                disruption_percent=disruption_percent(
                    disruption_fraction, max_nodes_at_limit(types, limit)
                ),
                base=gpu_class == base_class,
            )
        )
    check_disjoint(pools)
    return tuple(pools)


def check_disjoint(pools: Sequence[GpuPool]) -> None:
    """Raises if an instance family or type appears in two pools."""
    seen: dict[str, str] = {}
    for pool in pools:
        for item in (*pool.families, *pool.instance_types):
            other = seen.setdefault(item, pool.name)
            if other != pool.name:
                raise GpuPoolError(f"{item} is in both {other} and {pool.name}")

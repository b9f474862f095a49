"""The repository's pure data the rules judge against: regions, jurisdictions, GPU families.

Read once per process from ``regions/`` (the same files the stacks read), so adding a region
there changes what the pack allows without touching a rule.
"""

from __future__ import annotations

from functools import cache

from policies.rule import ConfigKey
from regions.catalog import RegionCatalog, load_catalog
from regions.instance_types import INSTANCE_TYPES
from regions.residency import ResidencyPolicy, allowed_regions, load_policy

# AWS names accelerated-computing categories by letter: G and P carry NVIDIA GPUs. Families
# not in regions/instance_types.py (a new g7, say) are still recognised as GPU families.
GPU_CATEGORIES = ("g", "p")


@cache
def catalog() -> RegionCatalog:
    return load_catalog()


@cache
def residency() -> ResidencyPolicy:
    return load_policy(catalog())


def jurisdiction_of(region: str | None) -> str | None:
    """The catalog jurisdiction of ``region``; ``None`` outside the catalog."""
    return next((r.jurisdiction for r in catalog() if r.region == region), None)


def catalog_jurisdictions() -> list[str]:
    return list(catalog().jurisdictions)


def personal_data_regions(jurisdiction: str, home_region: str) -> frozenset[str]:
    """Where personal data of ``jurisdiction`` collected in ``home_region`` may be."""
    try:
        return allowed_regions(jurisdiction, home_region, catalog(), residency())
    except ValueError:  # not a jurisdiction at all: nowhere is allowed
        return frozenset()


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


KNOWN_FAMILIES: dict[str, bool] = {t.family: t.is_gpu for t in INSTANCE_TYPES.values()}
"""Family -> whether it carries GPUs, for the families regions/instance_types.py knows."""


def is_gpu_family(name: str) -> bool:
    if name in KNOWN_FAMILIES:
        return KNOWN_FAMILIES[name]
    return name[:1] in GPU_CATEGORIES


def allowed_gpu_families(region: str | None) -> frozenset[str]:
    """The families of the region's ``gpu_candidates``: what its GPU pools may launch."""
    spec = next((r for r in catalog() if r.region == region), None)
    if spec is None:
        return frozenset()
    return frozenset(family(t) for t in spec.gpu_candidates)


ALLOWED_JURISDICTIONS = ConfigKey.array(
    "allowedJurisdictions",
    of="string",
    default=catalog_jurisdictions(),
    description="Jurisdictions the mesh serves: the values the jurisdiction tag may take, and "
    "whose personal data it may hold (default: the region catalog's).",
)

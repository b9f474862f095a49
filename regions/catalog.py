"""The region catalog: one YAML file per AWS region under ``regions/``.

Loading validates every file and the catalog as a whole, and fails with a message that
names the file, the field and what was expected, before any resource is declared.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from regions.instance_types import INSTANCE_TYPES

CATALOG_DIR = Path(__file__).resolve().parent
CATALOG_DIR_ENV = "INFERENCE_MESH_CATALOG_DIR"
"""Environment variable that points the stacks and meshctl at another catalog (tests, bench)."""

JURISDICTIONS: frozenset[str] = frozenset(
    {"US", "EU", "UK", "CH", "CA", "BR", "JP", "KR", "SG", "AU", "IN"}
)
"""Legal areas a region can belong to. Personal data stays inside its jurisdiction."""

AZ_COUNT = 3
MIN_VPC_PREFIX, MAX_VPC_PREFIX = 16, 20
SHARE_TOLERANCE = 1e-6

_REGION_NAME = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
_FIELDS: dict[str, str] = {
    "region": "an AWS region name such as eu-west-1",
    "jurisdiction": f"one of {sorted(JURISDICTIONS)}",
    "availability_zones": f"a list of {AZ_COUNT} availability zones of the region",
    "vpc_cidr": f"a private IPv4 CIDR between /{MIN_VPC_PREFIX} and /{MAX_VPC_PREFIX}",
    "gpu_candidates": "a non-empty list of GPU instance types, in order of preference",
    "demand_share": "a number greater than 0 and at most 1",
    "artifact_primary": "true or false",
}


class CatalogError(ValueError):
    """A region file, or the catalog as a whole, is invalid."""

    def __init__(self, file: str | Path, field: str, expected: str, got: object = None):
        self.file = str(file)
        self.field = field
        self.expected = expected
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{self.file}: field '{field}': expected {expected}{got_text}")


@dataclass(frozen=True)
class RegionSpec:
    region: str
    jurisdiction: str
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    gpu_candidates: tuple[str, ...]
    demand_share: float
    artifact_primary: bool
    source_file: str = ""


@dataclass(frozen=True)
class RegionCatalog:
    regions: tuple[RegionSpec, ...]
    directory: str = ""

    def __iter__(self) -> Iterator[RegionSpec]:
        return iter(self.regions)

    def __len__(self) -> int:
        return len(self.regions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.region for r in self.regions)

    @property
    def primary(self) -> RegionSpec:
        return next(r for r in self.regions if r.artifact_primary)

    def get(self, region: str) -> RegionSpec:
        for spec in self.regions:
            if spec.region == region:
                return spec
        raise KeyError(
            f"region {region!r} is not in the catalog {self.directory or CATALOG_DIR}: "
            f"expected one of {list(self.names)}; add regions/{region}.yaml to deploy there"
        )

    def in_jurisdiction(self, jurisdiction: str) -> tuple[RegionSpec, ...]:
        return tuple(r for r in self.regions if r.jurisdiction == jurisdiction)

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        return tuple(sorted({r.jurisdiction for r in self.regions}))


def is_region_name(value: object) -> bool:
    """Shaped like an AWS region name (``eu-west-1``, ``us-gov-west-1``)."""
    return isinstance(value, str) and bool(_REGION_NAME.match(value))


def default_catalog_dir() -> Path:
    return Path(os.environ.get(CATALOG_DIR_ENV) or CATALOG_DIR)


def load_catalog(directory: str | Path | None = None) -> RegionCatalog:
    """Load and validate every ``*.yaml`` file in ``directory`` (default: ``regions/``)."""
    root = Path(directory) if directory is not None else default_catalog_dir()
    files = sorted(root.glob("*.yaml"))
    if not files:
        raise CatalogError(root, "*.yaml", "at least one region file in the catalog directory")
    return validate_catalog([load_region_file(f) for f in files], root)


def load_region_file(path: str | Path) -> RegionSpec:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(path, "(document)", "valid YAML", str(exc).splitlines()[0]) from exc
    return parse_region(document, path)


def parse_region(document: Any, path: str | Path) -> RegionSpec:
    """Validate one region document; ``path`` names it in errors and must match its region."""
    if not isinstance(document, dict):
        raise CatalogError(
            path, "(document)", "a mapping of region fields", type(document).__name__
        )
    unknown = sorted(set(document) - set(_FIELDS))
    if unknown:
        raise CatalogError(path, unknown[0], f"no such field; allowed fields are {sorted(_FIELDS)}")
    missing = [f for f in _FIELDS if f not in document]
    if missing:
        raise CatalogError(
            path, missing[0], f"a value ({_FIELDS[missing[0]]}); the field is missing"
        )
    region = _region_name(document["region"], path)
    return RegionSpec(
        region=region,
        jurisdiction=_jurisdiction(document["jurisdiction"], path),
        availability_zones=_availability_zones(document["availability_zones"], region, path),
        vpc_cidr=_vpc_cidr(document["vpc_cidr"], path),
        gpu_candidates=_gpu_candidates(document["gpu_candidates"], path),
        demand_share=_demand_share(document["demand_share"], path),
        artifact_primary=_boolean(document["artifact_primary"], "artifact_primary", path),
        source_file=str(path),
    )


def validate_catalog(specs: list[RegionSpec], directory: str | Path = "") -> RegionCatalog:
    """Checks that need every region at once: CIDR overlap, demand shares, the primary."""
    where = str(directory) or str(CATALOG_DIR)
    seen: dict[str, RegionSpec] = {}
    for spec in specs:
        if spec.region in seen:
            raise CatalogError(spec.source_file, "region", "a region listed once", spec.region)
        seen[spec.region] = spec
    _check_no_overlap(specs)
    total = sum(s.demand_share for s in specs)
    if not math.isclose(total, 1.0, abs_tol=SHARE_TOLERANCE):
        raise CatalogError(
            where, "demand_share", "shares across all region files summing to 1", round(total, 6)
        )
    primaries = [s.region for s in specs if s.artifact_primary]
    if len(primaries) != 1:
        raise CatalogError(
            where, "artifact_primary", "exactly one region with artifact_primary: true", primaries
        )
    return RegionCatalog(tuple(sorted(specs, key=lambda s: s.region)), where)


def _check_no_overlap(specs: list[RegionSpec]) -> None:
    for i, a in enumerate(specs):
        for b in specs[i + 1 :]:
            if ipaddress.ip_network(a.vpc_cidr).overlaps(ipaddress.ip_network(b.vpc_cidr)):
                raise CatalogError(
                    b.source_file,
                    "vpc_cidr",
                    f"a CIDR that does not overlap {a.region}'s {a.vpc_cidr}",
                    b.vpc_cidr,
                )


def _region_name(value: Any, path: str | Path) -> str:
    if not is_region_name(value):
        raise CatalogError(path, "region", _FIELDS["region"], value)
    if Path(path).stem != value:
        raise CatalogError(path, "region", f"the file to be named {value}.yaml", Path(path).name)
    return value


def _jurisdiction(value: Any, path: str | Path) -> str:
    if value not in JURISDICTIONS:
        raise CatalogError(path, "jurisdiction", _FIELDS["jurisdiction"], value)
    return str(value)


def _availability_zones(value: Any, region: str, path: str | Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(z, str) for z in value):
        raise CatalogError(path, "availability_zones", _FIELDS["availability_zones"], value)
    for zone in value:
        if not re.fullmatch(re.escape(region) + r"[a-z]", zone):
            raise CatalogError(
                path, "availability_zones", f"zones of {region} ({region}a, {region}b, ...)", zone
            )
    if len(set(value)) != AZ_COUNT or len(value) != AZ_COUNT:
        raise CatalogError(
            path, "availability_zones", f"{AZ_COUNT} distinct availability zones", value
        )
    return tuple(value)


def _vpc_cidr(value: Any, path: str | Path) -> str:
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise CatalogError(path, "vpc_cidr", _FIELDS["vpc_cidr"], value) from None
    if (
        not isinstance(value, str)
        or network.version != 4
        or not network.is_private
        or not MIN_VPC_PREFIX <= network.prefixlen <= MAX_VPC_PREFIX
    ):
        raise CatalogError(path, "vpc_cidr", _FIELDS["vpc_cidr"], value)
    return value


def _gpu_candidates(value: Any, path: str | Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise CatalogError(path, "gpu_candidates", _FIELDS["gpu_candidates"], value)
    for name in value:
        known = INSTANCE_TYPES.get(name) if isinstance(name, str) else None
        if known is None or not known.is_gpu:
            gpu_types = sorted(n for n, t in INSTANCE_TYPES.items() if t.is_gpu)
            raise CatalogError(path, "gpu_candidates", f"GPU instance types from {gpu_types}", name)
    if len(set(value)) != len(value):
        raise CatalogError(path, "gpu_candidates", "each instance type listed once", value)
    return tuple(value)


def _demand_share(value: Any, path: str | Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise CatalogError(path, "demand_share", _FIELDS["demand_share"], value)
    return float(value)


def _boolean(value: Any, field: str, path: str | Path) -> bool:
    if not isinstance(value, bool):
        raise CatalogError(path, field, _FIELDS[field], value)
    return value

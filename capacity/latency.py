"""User areas and their network latency to each region (``capacity/latency.yaml``).

Routing is the residency rule of DESIGN.md: a user is served by the nearest healthy region
of the user's own jurisdiction, or not at all.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.errors import (
    CapacityDataError,
    check_fields,
    data_file,
    mapping,
    number,
    positive,
    read_yaml,
    text,
)
from regions.catalog import JURISDICTIONS, RegionCatalog

LATENCY_FILE = Path(__file__).resolve().parent / "latency.yaml"
SHARE_TOLERANCE = 1e-6
_TOP_FIELDS = {
    "access_one_way_ms": "the last-mile one-way latency in ms (a planning assumption)",
    "sources": "a mapping of field -> citation",
    "areas": "a mapping of user area -> {jurisdiction, anchor_region, demand_share, rtt_ms}",
}
_AREA_FIELDS = {
    "jurisdiction": f"one of {sorted(JURISDICTIONS)}",
    "anchor_region": "the region nearest to the area (a key of rtt_ms)",
    "demand_share": "the area's share of the global request rate, > 0 and <= 1",
    "rtt_ms": "a mapping of region -> round-trip time in ms from the anchor region",
}


@dataclass(frozen=True)
class UserArea:
    name: str
    jurisdiction: str
    anchor_region: str
    demand_share: float
    one_way_ms: Mapping[str, float]
    """region -> one-way network latency in ms (last mile + half the anchor's RTT)."""

    def round_trip_ms(self, region: str) -> float:
        return 2.0 * self.one_way_ms[region]


@dataclass(frozen=True)
class LatencyTable:
    areas: tuple[UserArea, ...]
    access_one_way_ms: float
    path: str = ""

    def area(self, name: str) -> UserArea:
        for area in self.areas:
            if area.name == name:
                return area
        raise KeyError(f"no user area {name!r}: expected one of {[a.name for a in self.areas]}")


def nearest_region(
    area: UserArea, healthy: Collection[str], jurisdiction_of: Mapping[str, str]
) -> str | None:
    """The nearest healthy region of the area's jurisdiction; ``None`` when there is none."""
    allowed = [
        r for r in healthy if jurisdiction_of.get(r) == area.jurisdiction and r in area.one_way_ms
    ]
    if not allowed:
        return None
    return min(allowed, key=lambda r: (area.one_way_ms[r], r))


def load_latency(path: str | Path | None = None) -> LatencyTable:
    """Load and validate ``path`` (default: ``capacity/latency.yaml``)."""
    file = Path(path) if path is not None else data_file(LATENCY_FILE.name)
    return parse_latency(read_yaml(file), file)


def parse_latency(document: Any, path: str | Path) -> LatencyTable:
    top = mapping(document, "(document)", "a mapping of latency fields", path)
    check_fields(top, _TOP_FIELDS, frozenset({"sources"}), "", path)
    access = number(top["access_one_way_ms"], "access_one_way_ms", path)
    areas = mapping(top["areas"], "areas", _TOP_FIELDS["areas"], path)
    if not areas:
        raise CapacityDataError(path, "areas", "at least one user area", areas)
    parsed = tuple(_area(name, body, access, path) for name, body in areas.items())
    total = sum(a.demand_share for a in parsed)
    if not math.isclose(total, 1.0, abs_tol=SHARE_TOLERANCE):
        raise CapacityDataError(path, "areas.*.demand_share", "shares summing to 1", total)
    return LatencyTable(parsed, access, str(path))


def _area(name: str, body: Any, access: float, path: str | Path) -> UserArea:
    where = f"areas.{name}"
    body = mapping(body, where, "a mapping of area fields", path)
    check_fields(body, _AREA_FIELDS, frozenset(), where, path)
    if body["jurisdiction"] not in JURISDICTIONS:
        raise CapacityDataError(
            path, f"{where}.jurisdiction", _AREA_FIELDS["jurisdiction"], body["jurisdiction"]
        )
    rtt = mapping(body["rtt_ms"], f"{where}.rtt_ms", _AREA_FIELDS["rtt_ms"], path)
    one_way = {
        str(region): access + number(ms, f"{where}.rtt_ms.{region}", path) / 2.0
        for region, ms in rtt.items()
    }
    anchor = text(body["anchor_region"], f"{where}.anchor_region", path)
    if anchor not in one_way:
        raise CapacityDataError(path, f"{where}.anchor_region", "a region listed in rtt_ms", anchor)
    share = positive(body["demand_share"], f"{where}.demand_share", path)
    if share > 1:
        raise CapacityDataError(path, f"{where}.demand_share", _AREA_FIELDS["demand_share"], share)
    return UserArea(name, body["jurisdiction"], anchor, share, one_way)


def check_latency_covers(table: LatencyTable, catalog: RegionCatalog) -> None:
    """Every area reaches every catalog region, and each jurisdiction's shares agree.

    The planner loads regions by their ``demand_share`` and the simulator by the areas',
    so a drift between the two files would make them size different fleets.
    """
    where = table.path or LATENCY_FILE
    for area in table.areas:
        missing = sorted(set(catalog.names) - set(area.one_way_ms))
        if missing:
            raise CapacityDataError(
                where, f"areas.{area.name}.rtt_ms", f"an entry for every catalog region {missing}"
            )
    for jurisdiction in catalog.jurisdictions:
        regions = sum(r.demand_share for r in catalog.in_jurisdiction(jurisdiction))
        areas = sum(a.demand_share for a in table.areas if a.jurisdiction == jurisdiction)
        if not math.isclose(regions, areas, abs_tol=SHARE_TOLERANCE):
            raise CapacityDataError(
                where,
                "areas.*.demand_share",
                f"areas of {jurisdiction} summing to its regions' share {regions:g}",
                areas,
            )

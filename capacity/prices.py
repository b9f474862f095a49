"""The price table (``capacity/prices.yaml``): on-demand and spot $/instance-hour per region.

Every figure names its source, and every source carries its date; spot figures that the
source lacks are ``None`` ("no published figure found" in the file), never estimated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.errors import (
    CapacityDataError,
    check_fields,
    data_file,
    mapping,
    positive,
    read_yaml,
    text,
)
from regions.instance_types import INSTANCE_TYPES

PRICES_FILE = Path(__file__).resolve().parent / "prices.yaml"
NO_FIGURE = "no published figure found"
_ENTRY_FIELDS = {
    "on_demand": "the on-demand price in USD per instance-hour",
    "spot": f"[min, max] spot price in USD per instance-hour, or {NO_FIGURE!r}",
    "source": "a key of the top-level 'sources' mapping",
}
_SOURCE_FIELDS = {"citation": "where the figures come from", "date": "when they were true"}


@dataclass(frozen=True)
class PriceSource:
    key: str
    citation: str
    date: str


@dataclass(frozen=True)
class InstancePrice:
    region: str
    instance_type: str
    on_demand: float
    spot_min: float | None
    spot_max: float | None
    source: PriceSource


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, Mapping[str, InstancePrice]]
    """region -> instance type -> price."""
    not_offered: Mapping[str, tuple[str, ...]]
    sources: Mapping[str, PriceSource]
    path: str = ""

    def get(self, region: str, instance_type: str) -> InstancePrice | None:
        """The price, or ``None`` when the table has no figure for that pair."""
        return self.prices.get(region, {}).get(instance_type)

    def on_demand(self, region: str, instance_type: str) -> float:
        price = self.get(region, instance_type)
        if price is None:
            raise KeyError(
                f"no price for {instance_type} in {region} in {self.path or PRICES_FILE}: "
                f"expected one of {sorted(self.prices.get(region, {}))}"
            )
        return price.on_demand

    def is_offered(self, region: str, instance_type: str) -> bool:
        return instance_type not in self.not_offered.get(region, ())


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Load and validate ``path`` (default: ``capacity/prices.yaml``)."""
    file = Path(path) if path is not None else data_file(PRICES_FILE.name)
    return parse_prices(read_yaml(file), file)


def parse_prices(document: Any, path: str | Path) -> PriceTable:
    top = mapping(document, "(document)", "a mapping with 'sources' and 'regions'", path)
    check_fields(top, {"sources": "a mapping", "regions": "a mapping"}, frozenset(), "", path)
    sources = _sources(top["sources"], path)
    regions = mapping(top["regions"], "regions", "a mapping of region -> prices", path)
    prices: dict[str, dict[str, InstancePrice]] = {}
    not_offered: dict[str, tuple[str, ...]] = {}
    for region, value in regions.items():
        where = f"regions.{region}"
        body = mapping(value, where, "a mapping of instance type -> price", path)
        not_offered[region] = _not_offered(body.get("not_offered", []), where, path)
        prices[region] = {
            name: _entry(region, name, entry, sources, path)
            for name, entry in body.items()
            if name != "not_offered"
        }
    return PriceTable(prices, not_offered, sources, str(path))


def _sources(value: Any, path: str | Path) -> dict[str, PriceSource]:
    sources = mapping(value, "sources", "a mapping of key -> {citation, date}", path)
    result = {}
    for key, entry in sources.items():
        body = mapping(entry, f"sources.{key}", "a mapping {citation, date}", path)
        check_fields(body, _SOURCE_FIELDS, frozenset(), f"sources.{key}", path)
        result[key] = PriceSource(
            key,
            text(body["citation"], f"sources.{key}.citation", path),
            text(body["date"], f"sources.{key}.date", path),
        )
    return result


def _not_offered(value: Any, where: str, path: str | Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(v in INSTANCE_TYPES for v in value):
        raise CapacityDataError(
            path,
            f"{where}.not_offered",
            "a list of instance types from regions/instance_types.py",
            value,
        )
    return tuple(value)


def _entry(
    region: str, name: str, entry: Any, sources: dict[str, PriceSource], path: str | Path
) -> InstancePrice:
    where = f"regions.{region}.{name}"
    if name not in INSTANCE_TYPES:
        raise CapacityDataError(
            path, where, f"an instance type from regions/instance_types.py {sorted(INSTANCE_TYPES)}"
        )
    body = mapping(entry, where, "a mapping {on_demand, spot, source}", path)
    check_fields(body, _ENTRY_FIELDS, frozenset(), where, path)
    if body["source"] not in sources:
        raise CapacityDataError(
            path, f"{where}.source", f"one of {sorted(sources)}", body["source"]
        )
    spot_min, spot_max = _spot(body["spot"], f"{where}.spot", path)
    return InstancePrice(
        region,
        name,
        positive(body["on_demand"], f"{where}.on_demand", path),
        spot_min,
        spot_max,
        sources[body["source"]],
    )


def _spot(value: Any, field: str, path: str | Path) -> tuple[float | None, float | None]:
    if value == NO_FIGURE:
        return None, None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not 0 < value[0] <= value[1]
        or not all(math.isfinite(v) for v in value)
    ):
        raise CapacityDataError(path, field, _ENTRY_FIELDS["spot"], value)
    return float(value[0]), float(value[1])

"""The cited data files: they load, cover the catalog, and bad values name file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.demand import global_peak_rps, load_global_peaks
from capacity.errors import CapacityDataError
from capacity.latency import LATENCY_FILE, check_latency_covers, parse_latency
from capacity.prices import PRICES_FILE, PriceTable, parse_prices
from regions.catalog import RegionCatalog


def _document(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_price_has_a_cited_dated_source(prices: PriceTable) -> None:
    count = 0
    for region_prices in prices.prices.values():
        for price in region_prices.values():
            count += 1
            assert "00148f2af3672e2229b4f7bf8157d5a3f36e3c35" in price.source.citation
            assert price.source.date.startswith("2026")
    assert count == 36


def test_prices_cover_each_region_candidate_inf2_and_cpu(
    prices: PriceTable, catalog: RegionCatalog
) -> None:
    for spec in catalog:
        for name in (*spec.gpu_candidates, "inf2.xlarge", "c7i.2xlarge", "c7g.xlarge"):
            assert prices.get(spec.region, name) is not None, (spec.region, name)


def test_us_west_2_figures_are_the_catalog_rows(prices: PriceTable) -> None:
    g6 = prices.get("us-west-2", "g6.xlarge")
    assert g6 is not None
    assert (g6.on_demand, g6.spot_min, g6.spot_max) == (0.8048, 0.39, 0.4541)
    assert g6.source.key == "skypilot-v8-rows"


def test_not_offered_types_are_not_candidates(prices: PriceTable, catalog: RegionCatalog) -> None:
    for spec in catalog:
        assert not set(spec.gpu_candidates) & set(prices.not_offered.get(spec.region, ()))


@pytest.mark.parametrize(
    ("mutate", "field", "expected"),
    [
        (
            lambda d: d["regions"]["us-east-1"]["g6.xlarge"].update(on_demand=-1),
            "regions.us-east-1.g6.xlarge.on_demand",
            "greater than 0",
        ),
        (
            lambda d: d["regions"]["us-east-1"]["g6.xlarge"].update(spot=[0.5, 0.1]),
            "regions.us-east-1.g6.xlarge.spot",
            "[min, max]",
        ),
        (
            lambda d: d["regions"]["us-east-1"]["g6.xlarge"].update(source="blog"),
            "regions.us-east-1.g6.xlarge.source",
            "one of",
        ),
        (
            lambda d: d["regions"]["us-east-1"]["g6.xlarge"].pop("source"),
            "regions.us-east-1.g6.xlarge.source",
            "missing",
        ),
        (
            lambda d: d["regions"]["us-east-1"].update({"g9.xlarge": {}}),
            "regions.us-east-1.g9.xlarge",
            "instance type",
        ),
        (
            lambda d: d["sources"]["skypilot-v8-rows"].pop("date"),
            "sources.skypilot-v8-rows.date",
            "missing",
        ),
    ],
)
def test_bad_prices_name_file_field_and_expectation(mutate: Any, field: str, expected: str) -> None:
    document = copy.deepcopy(_document(PRICES_FILE))
    mutate(document)
    with pytest.raises(CapacityDataError) as error:
        parse_prices(document, "prices-under-test.yaml")
    assert error.value.file == "prices-under-test.yaml"
    assert error.value.field == field
    assert expected in str(error.value)


def test_spot_may_be_marked_unpublished() -> None:
    document = copy.deepcopy(_document(PRICES_FILE))
    document["regions"]["us-east-1"]["g6.xlarge"]["spot"] = "no published figure found"
    price = parse_prices(document, "p.yaml").get("us-east-1", "g6.xlarge")
    assert price is not None
    assert price.spot_min is None
    assert price.on_demand == 0.8048


def test_latency_is_last_mile_plus_half_the_anchor_rtt(latency: Any) -> None:
    us_east = latency.area("us-east")
    assert us_east.one_way_ms["us-east-1"] == latency.access_one_way_ms
    assert us_east.one_way_ms["us-west-2"] == pytest.approx(latency.access_one_way_ms + 43.49)
    assert us_east.round_trip_ms("us-west-2") == pytest.approx(2 * (10.0 + 43.49))


def test_latency_areas_agree_with_the_catalog_shares(latency: Any, catalog: RegionCatalog) -> None:
    check_latency_covers(latency, catalog)
    names = {a.name for a in latency.areas}
    assert {
        "us-east",
        "us-west",
        "europe-west",
        "europe-central",
        "japan",
        "southeast-asia",
    } <= names


def test_latency_share_drift_is_caught(latency: Any, catalog: RegionCatalog) -> None:
    document = copy.deepcopy(_document(LATENCY_FILE))
    document["areas"]["japan"]["demand_share"] = 0.10
    document["areas"]["southeast-asia"]["demand_share"] = 0.10
    drifted = parse_latency(document, "lat.yaml")
    with pytest.raises(CapacityDataError, match="areas of JP summing to its regions' share"):
        check_latency_covers(drifted, catalog)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["areas"]["japan"].update(jurisdiction="XX"), "areas.japan.jurisdiction"),
        (lambda d: d["areas"]["japan"].update(anchor_region="mars-1"), "areas.japan.anchor_region"),
        (
            lambda d: d["areas"]["japan"]["rtt_ms"].update({"us-east-1": -3}),
            "areas.japan.rtt_ms.us-east-1",
        ),
        (lambda d: d["areas"]["japan"].update(demand_share=0.5), "areas.*.demand_share"),
    ],
)
def test_bad_latency_names_the_field(mutate: Any, field: str) -> None:
    document = copy.deepcopy(_document(LATENCY_FILE))
    mutate(document)
    with pytest.raises(CapacityDataError) as error:
        parse_latency(document, "lat.yaml")
    assert error.value.field == field


def test_demand_per_environment(tmp_path: Path) -> None:
    assert load_global_peaks() == {"prod": 100000.0, "dev": 200.0}
    bad = tmp_path / "demand.yaml"
    bad.write_text("global_peak_rps: {prod: 0}\n", encoding="utf-8")
    with pytest.raises(CapacityDataError, match=r"global_peak_rps.prod.*greater than 0"):
        load_global_peaks(bad)
    with pytest.raises(CapacityDataError, match="one of the environments"):
        global_peak_rps("staging")

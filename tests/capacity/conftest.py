"""Shared inputs for the capacity tests: the shipped data, loaded once per session."""

from __future__ import annotations

import pytest

from capacity.latency import LatencyTable, load_latency
from capacity.planner import FleetPlan, load_shipped_plan
from capacity.prices import PriceTable, load_prices
from capacity.profiles import ModelProfiles, load_shipped_profiles
from regions.catalog import RegionCatalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> RegionCatalog:
    return load_catalog()


@pytest.fixture(scope="session")
def prices() -> PriceTable:
    return load_prices()


@pytest.fixture(scope="session")
def latency() -> LatencyTable:
    return load_latency()


@pytest.fixture(scope="session")
def shipped_profiles() -> ModelProfiles:
    return load_shipped_profiles()


@pytest.fixture(scope="session")
def prod_plan() -> FleetPlan:
    return load_shipped_plan("prod")

"""GPU pool decisions (components/cluster/pools.py), without Pulumi."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.cluster.pools import (
    ON_DEMAND,
    SPOT,
    GpuPoolError,
    check_disjoint,
    disruption_percent,
    family_owners,
    karpenter_allowed_disruptions,
    max_nodes_at_limit,
    plan_gpu_pools,
    select_gpu_classes,
    vcpus_at_limit,
)
from regions.catalog import load_catalog
from regions.instance_types import GPU_CLASSES, INSTANCE_TYPES, InstanceType

GPU_TYPES = sorted(n for n, t in INSTANCE_TYPES.items() if t.is_gpu)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
ALL_LIMITS = dict.fromkeys(GPU_CLASSES, 8)


def _plan(candidates, requested=(), spot=True, limits=None, fraction=0.1, base=None):
    return plan_gpu_pools(
        "us-east-1", ZONES, candidates, requested, limits or ALL_LIMITS, spot, fraction, base
    )


# -- which classes --------------------------------------------------------------------------
def test_requested_classes_follow_the_catalog_order_of_preference() -> None:
    eu_west = load_catalog().get("eu-west-1").gpu_candidates  # g5.xlarge, g4dn.xlarge
    assert select_gpu_classes("eu-west-1", eu_west, ["t4", "l4", "a10g"]) == ("a10g", "t4")


def test_no_request_means_every_class_the_region_offers() -> None:
    us_east = load_catalog().get("us-east-1").gpu_candidates
    assert select_gpu_classes("us-east-1", us_east, []) == ("l4", "a10g", "t4", "l40s")


def test_a_region_offering_none_of_the_requested_classes_names_region_and_types() -> None:
    singapore = load_catalog().get("ap-southeast-1").gpu_candidates  # g4dn.xlarge only
    with pytest.raises(GpuPoolError) as caught:
        select_gpu_classes("ap-southeast-1", singapore, ["l4", "h100"])
    message = str(caught.value)
    assert "region ap-southeast-1 offers none of the requested GPU classes ['l4', 'h100']" in (
        message
    )
    assert "g4dn.xlarge (t4)" in message
    assert "regions/ap-southeast-1.yaml" in message


# -- one pool per class, families never shared ------------------------------------------------
def test_us_east_1_gets_one_pool_per_class_with_its_own_family() -> None:
    pools = _plan(load_catalog().get("us-east-1").gpu_candidates, ["l4", "a10g", "t4"])
    assert [(p.name, p.families, p.instance_types) for p in pools] == [
        ("gpu-l4", ("g6",), ("g6.xlarge",)),
        ("gpu-a10g", ("g5",), ("g5.xlarge",)),
        ("gpu-t4", ("g4dn",), ("g4dn.xlarge",)),
    ]
    assert [p.weight for p in pools] == [100, 90, 80]
    assert all(p.zones == ZONES for p in pools)


def test_types_of_one_class_share_its_pool() -> None:
    pools = _plan(["g5.xlarge", "g5.12xlarge", "g4dn.xlarge"])
    assert pools[0].instance_types == ("g5.xlarge", "g5.12xlarge")
    assert pools[0].families == ("g5",)


def test_a_family_carrying_two_classes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(INSTANCE_TYPES, "g5.fake", InstanceType("g5.fake", "t4", 1, 4, 16))
    with pytest.raises(GpuPoolError, match="instance family g5 carries both a10g and t4"):
        family_owners(["g5.xlarge", "g5.fake"])


def test_check_disjoint_rejects_a_shared_family() -> None:
    pools = _plan(["g5.xlarge", "g4dn.xlarge"])
    clash = pools[1].__class__(**{**pools[1].__dict__, "families": ("g5",)})
    with pytest.raises(GpuPoolError, match="g5 is in both gpu-a10g and gpu-t4"):
        check_disjoint([pools[0], clash])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(GPU_TYPES), min_size=1, unique=True))
def test_pools_partition_the_candidates(candidates: list[str]) -> None:
    pools = _plan(candidates)
    families = [f for p in pools for f in p.families]
    types = [t for p in pools for t in p.instance_types]
    assert len(families) == len(set(families))
    assert sorted(types) == sorted(candidates)
    for pool in pools:
        assert {INSTANCE_TYPES[t].accelerator_class for t in pool.instance_types} == {
            pool.gpu_class
        }
        assert {INSTANCE_TYPES[t].family for t in pool.instance_types} == set(pool.families)


# -- capacity types and limits -------------------------------------------------------------
@pytest.mark.parametrize(("spot", "expected"), [(True, (ON_DEMAND, SPOT)), (False, (ON_DEMAND,))])
def test_on_demand_always_spot_only_where_configured(spot: bool, expected: tuple) -> None:
    assert {p.capacity_types for p in _plan(["g6.xlarge", "g5.xlarge"], spot=spot)} == {expected}


def test_the_planned_class_is_an_on_demand_base_and_the_others_burst_on_spot() -> None:
    pools = _plan(["g6.xlarge", "g5.xlarge", "g4dn.xlarge"], spot=True, base="a10g")
    assert [(p.gpu_class, p.base, p.capacity_types) for p in pools] == [
        ("l4", False, (ON_DEMAND, SPOT)),
        ("a10g", True, (ON_DEMAND,)),
        ("t4", False, (ON_DEMAND, SPOT)),
    ]


def test_a_planned_class_without_a_pool_is_refused() -> None:
    with pytest.raises(GpuPoolError, match="serves region us-east-1 with GPU class t4"):
        _plan(["g6.xlarge", "g5.xlarge", "g4dn.xlarge"], requested=["l4", "a10g"], base="t4")


def test_each_pool_takes_its_class_limit() -> None:
    pools = _plan(["g6.xlarge", "g5.xlarge"], limits={"l4": 24, "a10g": 4})
    assert [(p.gpu_class, p.gpu_limit) for p in pools] == [("l4", 24), ("a10g", 4)]


def test_a_pool_without_a_limit_is_refused() -> None:
    with pytest.raises(GpuPoolError, match="GPU class a10g of region us-east-1 needs a GPU limit"):
        _plan(["g6.xlarge", "g5.xlarge"], limits={"l4": 24})


def test_vcpus_at_limit_counts_whole_nodes_of_the_worst_type() -> None:
    # 6 GPUs of g5.12xlarge (4 GPUs, 48 vCPUs) need 2 nodes: 96 vCPUs; g5.8xlarge (1 GPU, 32
    # vCPUs) would need 6 nodes: 192 vCPUs, the worst case.
    assert vcpus_at_limit(["g5.12xlarge"], 6) == 96
    assert vcpus_at_limit(["g5.12xlarge", "g5.8xlarge"], 6) == 192
    assert max_nodes_at_limit(["g5.12xlarge", "g5.8xlarge"], 6) == 6


# -- disruption budgets --------------------------------------------------------------------
def test_karpenter_rounds_percent_budgets_up() -> None:
    assert karpenter_allowed_disruptions(15, 10) == 2  # 13% of the pool, above 10%
    assert karpenter_allowed_disruptions(3, 10) == 1


def test_the_budget_is_lowered_where_rounding_up_would_overshoot() -> None:
    assert disruption_percent(0.1, 9) == 10  # never more than 1 of up to 9 nodes
    assert disruption_percent(0.1, 15) == 6  # 10% would allow 2 of 15
    assert _plan(["g5.xlarge"], limits={"a10g": 15}, fraction=0.1)[0].budget_nodes == "6%"


@pytest.mark.parametrize("fraction", [0.0, 0.04, 0.51, 1.0])
def test_fractions_outside_the_safe_range_are_refused(fraction: float) -> None:
    with pytest.raises(GpuPoolError, match=r"disruption fraction must be between 0\.05 and 0\.5"):
        disruption_percent(fraction, 10)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=0.05, max_value=0.5, allow_nan=False),
    st.integers(min_value=1, max_value=400),
)
def test_budget_never_drains_more_than_the_fraction(fraction: float, max_nodes: int) -> None:
    percent = disruption_percent(fraction, max_nodes)
    assert 1 <= percent <= math.floor(fraction * 100 + 1e-9)
    for nodes in range(1, max_nodes + 1):
        allowed = karpenter_allowed_disruptions(nodes, percent)
        # One node is the least Karpenter can act on; beyond it, never above the fraction.
        assert allowed <= max(1, math.floor(fraction * nodes + 1e-9))
    # And it is the largest such budget: one point more overshoots somewhere, or the fraction.
    bigger = percent + 1
    assert bigger > math.floor(fraction * 100 + 1e-9) or any(
        karpenter_allowed_disruptions(n, bigger) > max(1, math.floor(fraction * n + 1e-9))
        for n in range(1, max_nodes + 1)
    )

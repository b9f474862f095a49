"""The accelerator topology, without Pulumi: one accelerator per jurisdiction, each region in
exactly one, no accelerator spanning jurisdictions, dials and health checks from config, and
flow logs to a bucket inside the jurisdiction.

Proves the topology the global stack declares from the catalog and config; does not prove
how Global Accelerator routes (failover to the three nearest groups is why the topology
matters: see figures.md 4.2).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.routing_plan import (
    DEFAULT_TRAFFIC_DIAL,
    HealthCheckConfig,
    HealthCheckProtocol,
    RoutingConfig,
    RoutingPlan,
    RoutingPlanError,
    accelerator_name,
    flow_log_candidates,
    ingress_from_export,
    parse_routing_config,
    plan_routing,
)
from regions.catalog import CATALOG_DIR, RegionCatalog, load_catalog
from regions.residency import JurisdictionRule, ResidencyPolicy, load_policy
from tests.routing.helpers import ROUTING, ingress_export, ingress_refs

SOURCE = "stacks/Pulumi.prod-global.yaml"


def _plan(
    config: RoutingConfig | None = None, catalog: RegionCatalog | None = None
) -> RoutingPlan[str]:
    catalog = catalog or load_catalog()
    return plan_routing(
        "prod",
        catalog,
        load_policy(catalog),
        config or parse_routing_config(ROUTING, SOURCE),
        ingress_refs(catalog),
        SOURCE,
    )


def test_one_accelerator_per_jurisdiction_named_env_dash_jurisdiction() -> None:
    plan = _plan()
    catalog = load_catalog()
    assert [a.jurisdiction for a in plan.accelerators] == list(catalog.jurisdictions)
    assert [a.name for a in plan.accelerators] == [
        f"prod-{j.lower()}" for j in catalog.jurisdictions
    ]
    assert {a.jurisdiction: a.regions for a in plan.accelerators} == {
        "EU": ("eu-central-1", "eu-west-1"),
        "JP": ("ap-northeast-1",),
        "SG": ("ap-southeast-1",),
        "US": ("us-east-1", "us-west-2"),
    }


def test_every_region_is_an_endpoint_of_exactly_one_accelerator_of_its_jurisdiction() -> None:
    plan = _plan()
    catalog = load_catalog()
    routed = [group.region for a in plan.accelerators for group in a.endpoint_groups]
    assert sorted(routed) == sorted(catalog.names)  # each exactly once
    for accelerator in plan.accelerators:
        assert {catalog.get(r).jurisdiction for r in accelerator.regions} == {
            accelerator.jurisdiction
        }
        for group in accelerator.endpoint_groups:
            assert group.nlb_arn == ingress_export("prod", group.region)["nlbArn"]
            assert (
                group.health_check_path == ingress_export("prod", group.region)["healthCheckPath"]
            )


def test_dials_and_health_checks_come_from_config_and_unlisted_regions_get_ga_default() -> None:
    plan = _plan()
    dials = {g.region: g.traffic_dial for a in plan.accelerators for g in a.endpoint_groups}
    assert dials == {
        "us-east-1": 100.0,
        "us-west-2": 40.0,
        "eu-west-1": 100.0,
        "eu-central-1": 0.0,
        "ap-northeast-1": DEFAULT_TRAFFIC_DIAL,
        "ap-southeast-1": DEFAULT_TRAFFIC_DIAL,
    }
    checks = {g.health_check for a in plan.accelerators for g in a.endpoint_groups}
    assert checks == {HealthCheckConfig(10, 2, HealthCheckProtocol.HTTPS, 443)}


def test_flow_logs_go_to_the_jurisdictions_first_region_by_default_and_a_configured_one() -> None:
    plan = _plan()
    assert {a.jurisdiction: a.flow_log_region for a in plan.accelerators} == {
        "EU": "eu-central-1",
        "JP": "ap-northeast-1",
        "SG": "ap-southeast-1",
        "US": "us-east-1",
    }
    eu = next(a for a in plan.accelerators if a.jurisdiction == "EU")
    assert eu.flow_log_bucket == "inference-mesh-prod-eu-central-1-ga-flow-logs"
    assert eu.flow_log_prefix == "prod-eu"
    assert eu.flow_log_retention_days == 30
    moved = _plan(parse_routing_config({**ROUTING, "flowLogRegions": {"EU": "eu-west-1"}}, SOURCE))
    assert next(a for a in moved.accelerators if a.jurisdiction == "EU").flow_log_region == (
        "eu-west-1"
    )


def test_a_flow_log_region_outside_the_jurisdiction_is_refused_naming_file_and_field() -> None:
    config = parse_routing_config({**ROUTING, "flowLogRegions": {"EU": "us-east-1"}}, SOURCE)
    with pytest.raises(RoutingPlanError) as info:
        _plan(config)
    message = str(info.value)
    assert message.startswith(f"{SOURCE}: field 'inference-mesh:routing.flowLogRegions.EU'")
    assert "['eu-central-1', 'eu-west-1']" in message
    assert "got 'us-east-1'" in message


def test_the_residency_policy_narrows_where_flow_logs_may_go() -> None:
    catalog = load_catalog()
    narrowed = ResidencyPolicy(
        rules={"EU": JurisdictionRule(allow_within_jurisdiction=True, regions=("eu-west-1",))}
    )
    assert flow_log_candidates("EU", catalog, narrowed) == ("eu-west-1",)
    assert flow_log_candidates("EU", catalog, load_policy(catalog)) == ("eu-central-1", "eu-west-1")
    # Without allow_within_jurisdiction nothing names a collecting region: any own region.
    assert flow_log_candidates("US", catalog, ResidencyPolicy()) == ("us-east-1", "us-west-2")
    plan = plan_routing(
        "prod",
        catalog,
        narrowed,
        parse_routing_config(ROUTING, SOURCE),
        ingress_refs(catalog),
        SOURCE,
    )
    assert next(a for a in plan.accelerators if a.jurisdiction == "EU").flow_log_region == (
        "eu-west-1"
    )


@pytest.mark.parametrize(
    ("routing", "field", "expected"),
    [
        ({"trafficDials": {"eu-west-1": 101}}, "trafficDials.eu-west-1", "from 0 to 100"),
        ({"trafficDials": {"eu-west-1": -1}}, "trafficDials.eu-west-1", "from 0 to 100"),
        ({"trafficDials": {"eu-west-1": True}}, "trafficDials.eu-west-1", "from 0 to 100"),
        ({"trafficDials": {"eu-west-1": "50"}}, "trafficDials.eu-west-1", "from 0 to 100"),
        ({"trafficDials": [100]}, "trafficDials", "a mapping of region"),
        ({"healthCheck": {"intervalSeconds": 20}}, "healthCheck.intervalSeconds", "[10, 30]"),
        ({"healthCheck": {"thresholdCount": 11}}, "healthCheck.thresholdCount", "from 1 to 10"),
        ({"healthCheck": {"protocol": "UDP"}}, "healthCheck.protocol", "['TCP', 'HTTP', 'HTTPS']"),
        ({"healthCheck": {"port": 0}}, "healthCheck.port", "from 1 to 65535"),
        ({"healthCheck": {"path": "/x"}}, "healthCheck.path", "one of"),
        ({"flowLogRetentionDays": 0}, "flowLogRetentionDays", "from 1 to 400"),
        ({"flowLogRetentionDays": 3650}, "flowLogRetentionDays", "from 1 to 400"),
        ({"flowLogRegions": ["EU"]}, "flowLogRegions", "jurisdiction to region"),
        ({"dials": {}}, "dials", "one of"),
    ],
)
def test_bad_config_fails_naming_the_stack_file_and_the_field(
    routing: dict, field: str, expected: str
) -> None:
    with pytest.raises(RoutingPlanError) as info:
        parse_routing_config(routing, SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: field 'inference-mesh:routing.{field}'")
    assert expected in str(info.value)


def test_config_naming_a_region_or_jurisdiction_outside_the_catalog_fails() -> None:
    with pytest.raises(RoutingPlanError, match=r"trafficDials.sa-east-1'.*a catalog region"):
        _plan(parse_routing_config({"trafficDials": {"sa-east-1": 50}}, SOURCE))
    with pytest.raises(RoutingPlanError, match=r"flowLogRegions.BR'.*a jurisdiction of the"):
        _plan(parse_routing_config({"flowLogRegions": {"BR": "sa-east-1"}}, SOURCE))


def test_a_jurisdiction_with_every_dial_at_zero_is_refused() -> None:
    config = parse_routing_config({"trafficDials": {"us-east-1": 0, "us-west-2": 0}}, SOURCE)
    with pytest.raises(RoutingPlanError, match=r"a dial above 0 for at least one US region"):
        _plan(config)


def test_a_missing_or_incomplete_ingress_export_fails_naming_the_stack() -> None:
    catalog = load_catalog()
    refs = ingress_refs(catalog)
    del refs["eu-west-1"]
    with pytest.raises(RoutingPlanError, match=r"missing \['eu-west-1'\]"):
        plan_routing("prod", catalog, load_policy(catalog), RoutingConfig({}), refs, SOURCE)
    export = ingress_export("prod", "eu-west-1")
    del export["nlbArn"]
    with pytest.raises(RoutingPlanError) as info:
        ingress_from_export("eu-west-1", "prod-eu-west-1", export)
    assert str(info.value).startswith(
        "stack prod-eu-west-1 (region eu-west-1): field 'ingress.nlbArn'"
    )


def test_a_new_region_joins_only_its_jurisdictions_accelerator(tmp_path: Path) -> None:
    directory = tmp_path / "regions"
    shutil.copytree(CATALOG_DIR, directory, ignore=shutil.ignore_patterns("*.py", "policy"))
    frankfurt = yaml.safe_load((directory / "eu-central-1.yaml").read_text())
    eu_north = {
        **frankfurt,
        "region": "eu-north-1",
        "availability_zones": ["eu-north-1a", "eu-north-1b", "eu-north-1c"],
        "vpc_cidr": "10.22.0.0/16",
        "demand_share": 0.05,
    }
    frankfurt["demand_share"] -= 0.05
    (directory / "eu-central-1.yaml").write_text(yaml.safe_dump(frankfurt))
    (directory / "eu-north-1.yaml").write_text(yaml.safe_dump(eu_north))
    bigger = load_catalog(directory)
    before, after = _plan(), _plan(catalog=bigger)
    changed = {
        a.jurisdiction
        for a, b in zip(before.accelerators, after.accelerators, strict=True)
        if a.regions != b.regions
    }
    assert changed == {"EU"}
    assert after.accelerator_of("eu-north-1").regions == ("eu-central-1", "eu-north-1", "eu-west-1")


def test_accelerator_names() -> None:
    assert accelerator_name("dev", "EU") == "dev-eu"


# -- properties -----------------------------------------------------------------------------
_dial = st.one_of(st.integers(0, 100), st.floats(0, 100, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(
    dials=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(load_catalog().names, _dial),
    ),
    interval=st.sampled_from([10, 30]),
    threshold=st.integers(1, 10),
)
def test_any_valid_config_keeps_the_invariants(
    dials: dict[str, float], interval: int, threshold: int
) -> None:
    catalog = load_catalog()
    raw = {
        "trafficDials": dials,
        "healthCheck": {"intervalSeconds": interval, "thresholdCount": threshold},
    }
    config = parse_routing_config(raw, SOURCE)
    dark = [
        j
        for j in catalog.jurisdictions
        if all(config.dial(s.region) == 0 for s in catalog.in_jurisdiction(j))
    ]
    if dark:
        # The only refusal for in-range dials: a jurisdiction left with no dial above 0.
        with pytest.raises(RoutingPlanError, match=f"at least one {dark[0]} region"):
            _plan(config)
        return
    plan = _plan(config)
    routed = [r for a in plan.accelerators for r in a.regions]
    assert sorted(routed) == sorted(catalog.names)
    for accelerator in plan.accelerators:
        assert {catalog.get(r).jurisdiction for r in accelerator.regions} == {
            accelerator.jurisdiction
        }
        assert catalog.get(accelerator.flow_log_region).jurisdiction == accelerator.jurisdiction
        for group in accelerator.endpoint_groups:
            assert group.traffic_dial == float(dials.get(group.region, 100))
            assert group.health_check.interval_seconds == interval
            assert group.health_check.threshold_count == threshold


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True), st.integers(-1000, 1000), st.booleans()))
def test_a_dial_is_accepted_exactly_when_it_is_a_number_from_0_to_100(value: float) -> None:
    raw = {"trafficDials": {"eu-west-1": value}}
    valid = not isinstance(value, bool) and value == value and 0 <= value <= 100  # noqa: PLR0124
    if valid:
        assert parse_routing_config(raw, SOURCE).dial("eu-west-1") == float(value)
    else:
        with pytest.raises(RoutingPlanError):
            parse_routing_config(raw, SOURCE)

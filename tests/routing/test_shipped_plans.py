"""The shipped stacks, planned offline: the global plans' accelerators route to exactly the
regional plans' NLBs, one jurisdiction per accelerator, with the stack files' dials.

Joins on real values across plans (an endpoint's id is the NLB ARN the regional plan
exported; a group names its listener, a listener its accelerator, by ARN); does not prove
anything about AWS.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.routing_plan import parse_routing_config
from policies.offline import check_plan
from regions.catalog import load_catalog
from stacks.settings import STACKS_DIR

ENVIRONMENTS = ("dev", "prod")
ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
LISTENER = "aws:globalaccelerator/listener:Listener"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"


def _of(plan: dict[str, Any], token: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == token]


def _routes(plan: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(accelerator name, endpoint id, endpoint group) for every endpoint of the plan."""
    accelerators = {a["outputs"]["arn"]: a for a in _of(plan, ACCELERATOR)}
    listeners = {
        listener["outputs"]["arn"]: accelerators[listener["props"]["acceleratorArn"]]
        for listener in _of(plan, LISTENER)
    }
    return [
        (listeners[group["props"]["listenerArn"]]["props"]["name"], endpoint["endpointId"], group)
        for group in _of(plan, ENDPOINT_GROUP)
        for endpoint in group["props"]["endpointConfigurations"]
    ]


def _config(environment: str) -> Any:
    path = STACKS_DIR / f"Pulumi.{environment}-global.yaml"
    raw = yaml.safe_load(path.read_text())["config"]["inference-mesh:routing"]
    return parse_routing_config(raw, str(path))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_regional_nlb_is_an_endpoint_of_exactly_one_accelerator_of_its_jurisdiction(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    catalog = load_catalog()
    routes = _routes(shipped_plans[f"{environment}-global"])
    endpoints = [endpoint for _, endpoint, _ in routes]
    for spec in catalog:
        regional = shipped_plans[f"{environment}-{spec.region}"]["outputs"]
        nlb = regional["ingress"]["nlbArn"]
        owners = [name for name, endpoint, _ in routes if endpoint == nlb]
        assert owners == [f"{environment}-{regional['jurisdiction'].lower()}"], spec.region
    assert len(endpoints) == len(set(endpoints)) == len(catalog)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_regions_of_each_accelerator_share_one_jurisdiction(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    jurisdictions: dict[str, set[str]] = {}
    for name, _, group in _routes(shipped_plans[f"{environment}-global"]):
        region = group["props"]["endpointGroupRegion"]
        regional = shipped_plans[f"{environment}-{region}"]["outputs"]
        jurisdictions.setdefault(name, set()).add(regional["jurisdiction"])
    assert all(len(found) == 1 for found in jurisdictions.values()), jurisdictions
    assert len(jurisdictions) == len(load_catalog().jurisdictions)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dials_and_health_checks_are_the_stack_files(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    config = _config(environment)
    for _, _, group in _routes(shipped_plans[f"{environment}-global"]):
        props = group["props"]
        region = props["endpointGroupRegion"]
        assert props["trafficDialPercentage"] == config.dial(region)
        assert props["healthCheckIntervalSeconds"] == config.health_check.interval_seconds
        assert props["thresholdCount"] == config.health_check.threshold_count
        ingress = shipped_plans[f"{environment}-{region}"]["outputs"]["ingress"]
        assert props["healthCheckPath"] == ingress["healthCheckPath"]
        assert props["endpointConfigurations"][0]["clientIpPreservationEnabled"] is False


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_flow_logs_stay_in_the_jurisdiction_and_expire(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    catalog = load_catalog()
    plan = shipped_plans[f"{environment}-global"]
    buckets = {b["props"]["bucket"]: b for b in _of(plan, "aws:s3/bucket:Bucket")}
    for accelerator in _of(plan, ACCELERATOR):
        jurisdiction = accelerator["props"]["tags"]["jurisdiction"]
        attributes = accelerator["props"]["attributes"]
        assert attributes["flowLogsEnabled"] is True
        bucket = buckets[attributes["flowLogsS3Bucket"]]
        assert catalog.get(bucket["region"]).jurisdiction == jurisdiction
        assert bucket["props"]["tags"]["data-classification"] == "personal"
    lifecycles = _of(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    days = {rule["expiration"]["days"] for lc in lifecycles for rule in lc["props"]["rules"]}
    assert days == {_config(environment).flow_log_retention_days}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_global_plans_pass_the_policy_pack(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    # Among others: accelerator-single-jurisdiction, accelerator-flow-logs(-in-jurisdiction),
    # flow-log-destinations-personal, personal-data-in-jurisdiction, s3-encryption-customer-key.
    findings = check_plan(shipped_plans[f"{environment}-global"])
    assert [(f.rule, f.message) for f in findings] == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_accelerators_are_exported_per_jurisdiction(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    plan = shipped_plans[f"{environment}-global"]
    exported = plan["outputs"]["accelerators"]
    by_jurisdiction = {a["props"]["tags"]["jurisdiction"]: a for a in _of(plan, ACCELERATOR)}
    assert set(exported) == set(load_catalog().jurisdictions)
    for jurisdiction, entry in exported.items():
        outputs = by_jurisdiction[jurisdiction]["outputs"]
        assert entry["arn"] == outputs["arn"]
        assert entry["dnsName"] == outputs["dnsName"]
        assert entry["staticIps"] == outputs["ipSets"][0]["ipAddresses"]
        assert entry["regions"] == [s.region for s in load_catalog().in_jurisdiction(jurisdiction)]

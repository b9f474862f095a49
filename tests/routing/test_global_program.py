"""The global stack program's routing, under the mock cloud, from regional ``ingress`` exports.

Proves, on the declared resources joined by their real values (endpoint group -> listener ->
accelerator by ARN), that every region's NLB is an endpoint of exactly one accelerator, that
each accelerator's regions share one jurisdiction, that dials and health checks are the
config's and that flow logs go to a bucket declared in the jurisdiction; does not prove how
Global Accelerator routes live traffic.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from regions.catalog import load_catalog
from stacks.global_program import global_program
from stacks.settings import GlobalSettings, parse_settings
from tests.harness import Recording, provider_region, run_pulumi
from tests.routing.helpers import RAW, ROUTING, ingress_export, outputs_with_ingress

ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
LISTENER = "aws:globalaccelerator/listener:Listener"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"


def _global(
    environment: str = "prod",
    routing: dict[str, Any] | None = ROUTING,
    outputs: dict[str, dict[str, Any]] | None = None,
) -> Recording:
    catalog = load_catalog()
    raw = dict(RAW) if routing is None else {**RAW, "inference-mesh:routing": routing}
    settings = parse_settings(f"{environment}-global", raw, catalog)
    assert isinstance(settings, GlobalSettings)
    return run_pulumi(
        lambda: global_program(settings),
        stack=f"{environment}-global",
        stack_outputs=outputs or outputs_with_ingress(catalog, environment),
    )


@pytest.fixture(scope="module")
def prod() -> Recording:
    return _global()


def endpoints_by_accelerator(rec: Recording) -> dict[str, list[tuple[str, str]]]:
    """Accelerator name -> [(endpoint group region, endpoint id)], joined on ARNs."""
    accelerators = {a.outputs["arn"]: a.props["name"] for a in rec.of_type(ACCELERATOR)}
    listeners = {
        listener.outputs["arn"]: accelerators[listener.props["acceleratorArn"]]
        for listener in rec.of_type(LISTENER)
    }
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for group in rec.of_type(ENDPOINT_GROUP):
        for endpoint in group.props["endpointConfigurations"]:
            found[listeners[group.props["listenerArn"]]].append(
                (group.props["endpointGroupRegion"], endpoint["endpointId"])
            )
    return dict(found)


def test_every_regions_nlb_is_an_endpoint_of_exactly_one_accelerator(prod: Recording) -> None:
    catalog = load_catalog()
    endpoints = [e for pairs in endpoints_by_accelerator(prod).values() for _, e in pairs]
    for spec in catalog:
        assert endpoints.count(ingress_export("prod", spec.region)["nlbArn"]) == 1
    assert len(endpoints) == len(catalog)


def test_the_regions_of_each_accelerator_share_one_jurisdiction(prod: Recording) -> None:
    catalog = load_catalog()
    by_accelerator = endpoints_by_accelerator(prod)
    assert set(by_accelerator) == {f"prod-{j.lower()}" for j in catalog.jurisdictions}
    for name, pairs in by_accelerator.items():
        jurisdictions = {catalog.get(region).jurisdiction for region, _ in pairs}
        assert jurisdictions == {name.removeprefix("prod-").upper()}
        for region, endpoint in pairs:
            # The NLB of the group's own region, not a neighbour's.
            assert endpoint == ingress_export("prod", region)["nlbArn"]


def test_dials_and_health_checks_equal_the_config(prod: Recording) -> None:
    dials = ROUTING["trafficDials"]
    for group in prod.of_type(ENDPOINT_GROUP):
        props = group.props
        assert props["trafficDialPercentage"] == dials.get(props["endpointGroupRegion"], 100)
        assert props["healthCheckIntervalSeconds"] == ROUTING["healthCheck"]["intervalSeconds"]
        assert props["thresholdCount"] == ROUTING["healthCheck"]["thresholdCount"]
        assert (
            props["healthCheckPath"]
            == ingress_export("prod", props["endpointGroupRegion"])["healthCheckPath"]
        )


def test_listeners_and_client_ip_preservation(prod: Recording) -> None:
    for listener in prod.of_type(LISTENER):
        assert (listener.props["protocol"], listener.props["clientAffinity"]) == (
            "TCP",
            "SOURCE_IP",
        )
        assert listener.props["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    for group in prod.of_type(ENDPOINT_GROUP):
        # The NLB terminates TLS; GA cannot preserve client IPs through a TLS listener.
        assert not any(
            e["clientIpPreservationEnabled"] for e in group.props["endpointConfigurations"]
        )


def test_flow_logs_go_to_a_personal_bucket_declared_in_the_accelerators_jurisdiction(
    prod: Recording,
) -> None:
    catalog = load_catalog()
    buckets = {b.props["bucket"]: b for b in prod.of_type("aws:s3/bucket:Bucket")}
    for accelerator in prod.of_type(ACCELERATOR):
        jurisdiction = accelerator.props["tags"]["jurisdiction"]
        attributes = accelerator.props["attributes"]
        assert attributes["flowLogsEnabled"] is True
        bucket = buckets[attributes["flowLogsS3Bucket"]]
        region = provider_region(prod, bucket)
        assert region is not None
        assert catalog.get(region).jurisdiction == jurisdiction
        assert bucket.props["tags"]["data-classification"] == "personal"
        assert bucket.props["tags"]["jurisdiction"] == jurisdiction
        assert provider_region(prod, accelerator) == "us-west-2"


def test_accelerators_export_per_jurisdiction(prod: Recording) -> None:
    exported = prod.outputs["accelerators"]
    resources = {a.props["tags"]["jurisdiction"]: a for a in prod.of_type(ACCELERATOR)}
    assert set(exported) == {"EU", "JP", "SG", "US"}
    for jurisdiction, entry in exported.items():
        accelerator = resources[jurisdiction]
        assert entry["arn"] == accelerator.outputs["arn"]
        assert entry["dnsName"] == accelerator.outputs["dnsName"]
        assert entry["staticIps"] == accelerator.outputs["ipSets"][0]["ipAddresses"]
        assert entry["regions"] == [s.region for s in load_catalog().in_jurisdiction(jurisdiction)]
    # The exports that were there before routing are kept.
    assert "artifactReplication" in prod.outputs
    assert prod.outputs["regions"]["eu-west-1"]["jurisdiction"] == "EU"


def test_dev_routes_only_to_dev_nlbs() -> None:
    dev = _global("dev")
    endpoints = {e for pairs in endpoints_by_accelerator(dev).values() for _, e in pairs}
    assert endpoints == {ingress_export("dev", s.region)["nlbArn"] for s in load_catalog()}
    assert {a.props["name"] for a in dev.of_type(ACCELERATOR)} == {
        "dev-eu",
        "dev-jp",
        "dev-sg",
        "dev-us",
    }


def test_without_a_routing_key_no_accelerator_is_declared() -> None:
    rec = _global(routing=None)
    assert rec.outputs["accelerators"] == {}
    assert not [r for r in rec.resources if "globalaccelerator" in r.type]


def test_bad_routing_config_fails_naming_the_stack_file() -> None:
    with pytest.raises(
        Exception,
        match=r"stacks/Pulumi.prod-global.yaml: field 'inference-mesh:routing.trafficDials.eu-west-1'",
    ):
        _global(routing={"trafficDials": {"eu-west-1": 150}})


def test_a_regional_stack_without_the_nlb_arn_fails_naming_that_stack() -> None:
    outputs = outputs_with_ingress(load_catalog(), "prod")
    del outputs["prod-eu-west-1"]["ingress"]["nlbArn"]
    with pytest.raises(
        Exception, match=r"stack prod-eu-west-1 \(region eu-west-1\): field 'ingress.nlbArn'"
    ):
        _global(outputs=outputs)

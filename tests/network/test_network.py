"""The Network component under the mock cloud.

Proves what is declared (zones, tags, NAT placement, endpoints, flow logs, provider region);
does not prove that AWS accepts it or routes packets.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.network import (
    GATEWAY_ENDPOINT_SERVICES,
    INTERFACE_ENDPOINT_SERVICES,
    Network,
    NetworkArgs,
)
from components.network_plan import plan_subnets
from regions.catalog import load_catalog
from tests.harness import Recording, provider_region, run_pulumi

SUBNET = "aws:ec2/subnet:Subnet"
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def _network(nat_gateways: int = 3, interface_endpoints: bool = True) -> Recording:
    def program() -> dict[str, Any]:
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        network = Network(
            "network",
            NetworkArgs(
                region="eu-west-1",
                vpc_cidr="10.20.0.0/16",
                availability_zones=ZONES,
                cluster_name="inference-mesh-prod-eu-west-1",
                account_id="123456789012",
                nat_gateways=nat_gateways,
                interface_endpoints=interface_endpoints,
                flow_log_tags={"data-classification": "personal", "jurisdiction": "EU"},
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        return network.exports()

    return run_pulumi(program)


@pytest.fixture(scope="module")
def prod() -> Recording:
    return _network()


def _subnets(rec: Recording, tier: str) -> list[Any]:
    return [s for s in rec.of_type(SUBNET) if s.props["tags"]["subnet-tier"] == tier]


def test_one_public_and_one_private_subnet_in_each_of_the_three_zones(prod: Recording) -> None:
    for tier in ("public", "private"):
        zones = sorted(s.props["availabilityZone"] for s in _subnets(prod, tier))
        assert zones == list(ZONES)


def test_subnet_tags_for_load_balancers_and_karpenter(prod: Recording) -> None:
    cluster_tag = "kubernetes.io/cluster/inference-mesh-prod-eu-west-1"
    for subnet in _subnets(prod, "public"):
        assert subnet.props["tags"]["kubernetes.io/role/elb"] == "1"
        assert subnet.props["tags"][cluster_tag] == "shared"
        assert "karpenter.sh/discovery" not in subnet.props["tags"]
    for subnet in _subnets(prod, "private"):
        tags = subnet.props["tags"]
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags["karpenter.sh/discovery"] == "inference-mesh-prod-eu-west-1"
        assert subnet.props["mapPublicIpOnLaunch"] is False


@pytest.mark.parametrize(("nat", "expected"), [(1, 1), (3, 3)])
def test_nat_gateway_count_and_private_routes(nat: int, expected: int) -> None:
    rec = _network(nat_gateways=nat)
    nats = rec.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == expected
    public_ids = {s.id for s in _subnets(rec, "public")}
    assert {n.props["subnetId"] for n in nats} <= public_ids
    nat_ids = {n.id for n in nats}
    private_routes = [r for r in rec.of_type("aws:ec2/route:Route") if r.props.get("natGatewayId")]
    assert len(private_routes) == 3
    assert {r.props["natGatewayId"] for r in private_routes} == nat_ids


def test_bad_nat_count_fails_before_any_resource() -> None:
    with pytest.raises(ValueError, match=r"nat_gateways must be 1 or one per zone \(3\), got 2"):
        _network(nat_gateways=2)


def test_gateway_endpoints_on_private_route_tables(prod: Recording) -> None:
    endpoints = [
        e
        for e in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.props["vpcEndpointType"] == "Gateway"
    ]
    assert sorted(e.props["serviceName"] for e in endpoints) == sorted(
        f"com.amazonaws.eu-west-1.{s}" for s in GATEWAY_ENDPOINT_SERVICES
    )
    private_tables = {
        t.id for t in prod.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name
    }
    for endpoint in endpoints:
        assert set(endpoint.props["routeTableIds"]) == private_tables


@pytest.mark.parametrize("enabled", [True, False])
def test_interface_endpoints_only_when_enabled(enabled: bool) -> None:
    rec = _network(interface_endpoints=enabled)
    interface = [
        e
        for e in rec.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.props["vpcEndpointType"] == "Interface"
    ]
    expected = {f"com.amazonaws.eu-west-1.{s}" for s in INTERFACE_ENDPOINT_SERVICES}
    assert {e.props["serviceName"] for e in interface} == (expected if enabled else set())
    for endpoint in interface:
        assert endpoint.props["privateDnsEnabled"] is True
        assert len(endpoint.props["subnetIds"]) == 3


def test_flow_logs_all_traffic_to_an_encrypted_log_group_in_region(prod: Recording) -> None:
    flow_log = prod.one("aws:ec2/flowLog:FlowLog")
    group = prod.one("aws:cloudwatch/logGroup:LogGroup")
    key = prod.one("aws:kms/key:Key")
    assert flow_log.props["trafficType"] == "ALL"
    assert flow_log.props["logDestination"] == group.outputs["arn"]
    assert flow_log.props["vpcId"] == prod.one("aws:ec2/vpc:Vpc").id
    assert group.props["kmsKeyId"] == key.outputs["arn"]
    assert group.props["retentionInDays"] == 365
    assert key.props["enableKeyRotation"] is True
    assert key.props["multiRegion"] is False
    policy = json.loads(key.props["policy"])
    services = [s["Principal"].get("Service") for s in policy["Statement"]]
    assert "logs.eu-west-1.amazonaws.com" in services
    # Flow logs hold client IPs: personal data, tagged with its jurisdiction.
    for resource in (flow_log, group, key):
        assert resource.props["tags"]["data-classification"] == "personal"
        assert resource.props["tags"]["jurisdiction"] == "EU"


def test_default_security_group_allows_nothing(prod: Recording) -> None:
    sg = prod.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert sg.props.get("ingress", []) == []
    assert sg.props.get("egress", []) == []


def test_every_child_is_parented_and_on_the_explicit_regional_provider(prod: Recording) -> None:
    component = prod.one("inference-mesh:network:Network")
    descendants = prod.descendants_of(component.urn)
    custom = [r for r in descendants if r.custom]
    assert len(custom) == len(prod.custom) - 1  # everything except the provider itself
    for resource in custom:
        assert provider_region(prod, resource) == "eu-west-1", resource.name


def test_subnet_plan_never_overlaps_for_any_catalog_region() -> None:
    import ipaddress

    for spec in load_catalog():
        zones = plan_subnets(spec.vpc_cidr, spec.availability_zones)
        nets = [ipaddress.ip_network(c) for z in zones for c in (z.private_cidr, z.public_cidr)]
        assert all(n.subnet_of(ipaddress.ip_network(spec.vpc_cidr)) for n in nets)  # type: ignore[arg-type]
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                assert not a.overlaps(b)

"""Each documented exception of a rule, pinned: where the pack deliberately says yes to what
a scanner would flag, and the neighbouring case it still refuses."""

from __future__ import annotations

from typing import Any

from policies.rule import ResourceRule, ResourceView
from tests.policies.harness import RULES_BY_NAME

LISTENER = "aws:lb/listener:Listener"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
CLUSTER = "aws:eks/cluster:Cluster"
SG = "aws:ec2/securityGroup:SecurityGroup"
GPU_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def violations(
    rule_name: str,
    type_: str,
    props: dict[str, Any],
    stack: str = "prod-eu-west-1",
    region: str = "eu-west-1",
) -> list[str]:
    rule = RULES_BY_NAME[rule_name]
    assert isinstance(rule, ResourceRule)
    view = ResourceView(type_, "r", f"urn:pulumi:{stack}::p::{type_}::r", props, region, stack)
    return rule.evaluate(view)


def test_tcp_on_443_passes_tls_through_to_the_gateway() -> None:
    # Global Accelerator preserves client IPs only through NLB listeners that are not TLS.
    assert violations("lb-listener-tls", LISTENER, {"protocol": "TCP", "port": 443}) == []
    assert violations("lb-listener-tls", LISTENER, {"protocol": "TCP", "port": 8080})
    assert violations("lb-listener-tls", LISTENER, {"protocol": "UDP", "port": 443})


def test_http_listener_only_as_a_redirect_to_https() -> None:
    redirect = {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}
    http = {"protocol": "HTTP", "port": 80, "defaultActions": [redirect]}
    assert violations("lb-listener-tls", LISTENER, http) == []
    http["defaultActions"] = [{"type": "forward", "targetGroupArn": "arn:tg"}]
    assert violations("lb-listener-tls", LISTENER, http)


def test_world_ingress_only_on_443() -> None:
    def group(port: int) -> dict[str, Any]:
        rule = {"protocol": "tcp", "fromPort": port, "toPort": port, "cidrBlocks": ["0.0.0.0/0"]}
        return {"ingress": [rule]}

    assert violations("security-group-no-world-ingress", SG, group(443)) == []
    assert violations("security-group-no-world-ingress", SG, group(22))


def test_karpenter_defaults_are_secure_launch_template_defaults_are_not() -> None:
    # Karpenter defaults an EC2NodeClass to IMDSv2 with one hop; EC2 defaults to the AMI's.
    for rule in ("nodes-imdsv2-required", "nodes-imds-hop-limit"):
        assert violations(rule, NODE_CLASS, {"spec": {}}) == []
        assert violations(rule, LAUNCH_TEMPLATE, {})


def test_public_endpoint_only_in_dev_and_only_for_named_networks() -> None:
    dev_public = {
        "vpcConfig": {
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        }
    }
    assert violations("eks-endpoint-private", CLUSTER, dev_public, stack="dev-eu-west-1") == []
    assert violations("eks-endpoint-private", CLUSTER, dev_public, stack="prod-eu-west-1")
    assert violations("eks-public-endpoint-restricted", CLUSTER, dev_public) == []
    # An unset endpointPublicAccess is public, the EKS default, and open to the world.
    assert violations("eks-public-endpoint-restricted", CLUSTER, {"vpcConfig": {}})


def node_pool(families: list[str], taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A Karpenter NodePool pinned to instance ``families``, with ``taints`` if given."""
    template: dict[str, Any] = {
        "requirements": [
            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": families}
        ]
    }
    if taints is not None:
        template["taints"] = taints
    return {"spec": {"template": {"spec": template}}}


def test_gpu_pools_are_judged_against_their_own_region() -> None:
    pool = node_pool(["g6"], taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    # regions/us-east-1.yaml offers g6; regions/eu-west-1.yaml does not.
    assert violations("gpu-families-allowed", GPU_POOL, pool, region="us-east-1") == []
    assert violations("gpu-families-allowed", GPU_POOL, pool, region="eu-west-1")


def test_a_cpu_pool_needs_no_gpu_taint() -> None:
    cpu = node_pool(["c7i", "m7i"])
    assert violations("gpu-nodes-tainted", GPU_POOL, cpu) == []
    assert violations("gpu-families-allowed", GPU_POOL, cpu) == []

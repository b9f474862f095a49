"""``RegionalIngress`` in a shipped regional stack (prod-eu-west-1) under the mock cloud.

Proves the NLB, listener, target group, security groups, access-log bucket, the controller's
permissions and the binding as declared, and that their ids join by value (the listener's
load balancer is this NLB, the binding's target group is this target group). Does not prove
that the controller registers pods or that ELB delivers logs (no AWS here).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from components.ingress import LB_CONTROLLER, TLS_POLICY
from components.serving_plan import GATEWAY_METRICS_PORT, GATEWAY_PORT, READY_PATH
from meshctl.mock_cloud import RecordedResource
from meshctl.plan_engine import load_stack_config
from tests.harness import Recording, provider_region, record_regional_stack

STACK = "prod-eu-west-1"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
BINDING = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"


def _record(stack: str, ingress_changes: dict[str, Any] | None = None) -> Recording:
    raw = load_stack_config(stack)
    raw["inference-mesh:ingress"] = {**raw["inference-mesh:ingress"], **(ingress_changes or {})}
    return record_regional_stack(stack, raw)


@pytest.fixture(scope="module")
def rec() -> Recording:
    return _record(STACK)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return dict(load_stack_config(STACK)["inference-mesh:ingress"])


def _subnets(rec: Recording, tier: str) -> list[str]:
    return sorted(
        s.outputs["id"]
        for s in rec.of_type("aws:ec2/subnet:Subnet")
        if s.props["tags"]["subnet-tier"] == tier
    )


def test_exact_children(rec: Recording) -> None:
    root = rec.one("inference-mesh:ingress:RegionalIngress")
    assert Counter(r.type for r in rec.children_of(root.urn)) == {
        "inference-mesh:kms:RegionalKey": 1,
        "aws:s3/bucket:Bucket": 1,
        "aws:s3/bucketVersioning:BucketVersioning": 1,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
        "aws:s3/bucketPolicy:BucketPolicy": 1,
        "aws:ec2/securityGroup:SecurityGroup": 1,
        "aws:ec2/securityGroupRule:SecurityGroupRule": 1,
        LB: 1,
        TARGET_GROUP: 1,
        LISTENER: 1,
        "inference-mesh:pod_identity:PodRole": 1,
        "kubernetes:helm.sh/v3:Release": 1,
        BINDING: 1,
    }
    for resource in rec.descendants_of(root.urn):
        if resource.type.startswith("aws:"):
            assert provider_region(rec, resource) == "eu-west-1", resource.name


def test_nlb_is_internal_cross_zone_protected_and_logged(rec: Recording) -> None:
    nlb = rec.one(LB).props
    assert nlb["loadBalancerType"] == "network"
    assert nlb["internal"] is True
    assert sorted(nlb["subnets"]) == _subnets(rec, "private")
    assert nlb["enableCrossZoneLoadBalancing"] is True
    assert nlb["enableDeletionProtection"] is True
    assert nlb["accessLogs"] == {
        "bucket": "inference-mesh-prod-eu-west-1-lb-logs",
        "prefix": "nlb",
        "enabled": True,
    }
    assert nlb["securityGroups"] == [rec.named("ingress-nlb-sg").outputs["id"]]
    assert len(nlb["name"]) <= 32


def test_tls_listener_forwards_to_the_gateway_target_group(rec: Recording, config: dict) -> None:
    listener = rec.one(LISTENER)
    props = listener.props
    assert (props["port"], props["protocol"]) == (443, "TLS")
    assert props["sslPolicy"] == TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    assert props["certificateArn"] == config["certificateArn"]
    assert props["loadBalancerArn"] == rec.one(LB).outputs["arn"]
    [action] = props["defaultActions"]
    assert action == {"type": "forward", "targetGroupArn": rec.one(TARGET_GROUP).outputs["arn"]}
    # The mock's listener ARN extends its load balancer's, as ELB's does.
    assert listener.outputs["arn"].startswith(
        rec.one(LB).outputs["arn"].replace(":loadbalancer/", ":listener/")
    )


def test_target_group_checks_the_gateways_readiness(rec: Recording, config: dict) -> None:
    group = rec.one(TARGET_GROUP).props
    assert (group["targetType"], group["protocol"], group["port"]) == ("ip", "TCP", GATEWAY_PORT)
    assert group["vpcId"] == rec.one("aws:ec2/vpc:Vpc").outputs["id"]
    check = group["healthCheck"]
    assert check["protocol"] == "HTTP"
    assert check["path"] == READY_PATH == "/v2/health/ready"
    assert check["port"] == "traffic-port"
    configured = config["healthCheck"]
    assert (
        check["interval"],
        check["timeout"],
        check["healthyThreshold"],
        check["unhealthyThreshold"],
    ) == (
        configured["intervalSeconds"],
        configured["timeoutSeconds"],
        configured["healthyThreshold"],
        configured["unhealthyThreshold"],
    )
    assert group["deregistrationDelay"] == config["deregistrationDelaySeconds"]


def test_only_the_gateway_service_is_bound(rec: Recording) -> None:
    [binding] = rec.of_type(BINDING)
    spec = binding.props["spec"]
    assert spec["serviceRef"] == {"name": "inference-gateway", "port": GATEWAY_PORT}
    assert spec["targetGroupARN"] == rec.one(TARGET_GROUP).outputs["arn"]
    assert spec["targetType"] == "ip"
    assert "networking" not in spec  # the controller never edits security groups
    assert binding.props["metadata"]["namespace"] == rec.outputs["serving"]["namespace"]
    gateway = [
        r
        for r in rec.of_type("kubernetes:core/v1:Service")
        if r.props["metadata"]["name"] == "inference-gateway"
    ]
    assert [g.urn for g in gateway] == [
        d for d in binding.dependencies if d in {g.urn for g in gateway}
    ]
    # No Service reaches outside the cluster on its own.
    assert {r.props["spec"]["type"] for r in rec.of_type("kubernetes:core/v1:Service")} == {
        "ClusterIP"
    }
    assert rec.named("ingress-lb-controller-chart").urn in binding.dependencies


def test_security_groups_admit_tls_and_the_gateway_port_only(rec: Recording) -> None:
    group = rec.named("ingress-nlb-sg")
    node_group = rec.named("cluster-node-sg").outputs["id"]
    [ingress] = group.props["ingress"]
    assert (ingress["protocol"], ingress["fromPort"], ingress["toPort"]) == ("tcp", 443, 443)
    [egress] = group.props["egress"]
    assert (egress["fromPort"], egress["toPort"], egress["securityGroups"]) == (
        GATEWAY_PORT,
        GATEWAY_PORT,
        [node_group],
    )
    rule = rec.named("ingress-nodes-from-nlb").props
    assert rule["type"] == "ingress"
    assert rule["securityGroupId"] == node_group
    assert rule["sourceSecurityGroupId"] == group.outputs["id"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == (
        "tcp",
        GATEWAY_PORT,
        GATEWAY_PORT,
    )


def test_the_gateways_metrics_port_is_not_reachable_through_the_nlb(rec: Recording) -> None:
    # The gateway serves /metrics on its own port; the NLB forwards the serving port only.
    assert GATEWAY_METRICS_PORT != GATEWAY_PORT
    group = rec.named("ingress-nlb-sg")

    def reaches(rule: dict[str, Any], port: int) -> bool:
        return rule["protocol"] == "-1" or rule["fromPort"] <= port <= rule["toPort"]

    assert not [r for r in group.props["egress"] if reaches(r, GATEWAY_METRICS_PORT)]
    from_nlb = [
        r.props
        for r in rec.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
        if r.props.get("sourceSecurityGroupId") == group.outputs["id"]
    ]
    assert from_nlb
    assert not [r for r in from_nlb if reaches(r, GATEWAY_METRICS_PORT)]
    target_group = rec.one(TARGET_GROUP).props
    assert target_group["port"] == GATEWAY_PORT
    assert target_group["healthCheck"]["port"] == "traffic-port"
    binding = rec.one(BINDING).props["spec"]
    assert binding["serviceRef"]["port"] == GATEWAY_PORT


def test_access_logs_are_personal_in_jurisdiction_and_expire(rec: Recording, config: dict) -> None:
    bucket = rec.named("ingress-logs")
    for resource in (bucket, rec.named("ingress-logs-key-key")):
        assert resource.props["tags"]["data-classification"] == "personal"
        assert resource.props["tags"]["jurisdiction"] == "EU"
    encryption = rec.named("ingress-logs-encryption").props["rules"][0]
    default = encryption["applyServerSideEncryptionByDefault"]
    assert default == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": rec.named("ingress-logs-key-key").outputs["arn"],
    }
    assert encryption["blockedEncryptionTypes"] == ["SSE-C"]
    [rule] = rec.named("ingress-logs-lifecycle").props["rules"]
    assert rule["expiration"]["days"] == config["accessLogRetentionDays"]
    statements = json.loads(rec.named("ingress-logs-policy").props["policy"])["Statement"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"]) for s in allowed} == {
        json.dumps({"Service": "delivery.logs.amazonaws.com"})
    }
    for statement in allowed:
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == (
            "arn:aws:logs:eu-west-1:123456789012:*"
        )
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    nlb = rec.one(LB)
    assert rec.named("ingress-logs-policy").urn in nlb.dependencies


def test_controller_may_only_describe_and_register_into_this_target_group(
    rec: Recording,
) -> None:
    root = rec.named("ingress-lb-controller-role")
    [policy] = [
        r
        for r in rec.of_type("aws:iam/rolePolicy:RolePolicy")
        if r.props["role"] == root.outputs["id"]
    ]
    statements = json.loads(policy.props["policy"])["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert set(by_sid) == {"Describe", "RegisterGatewayPods"}
    assert by_sid["Describe"]["Action"] == ["elasticloadbalancing:Describe*", "ec2:Describe*"]
    assert by_sid["RegisterGatewayPods"]["Resource"] == rec.one(TARGET_GROUP).outputs["arn"]
    assert set(by_sid["RegisterGatewayPods"]["Action"]) == {
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
    }
    [association] = [
        r
        for r in rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if r.props["serviceAccount"] == "aws-load-balancer-controller"
    ]
    assert association.props["namespace"] == "kube-system"
    release = rec.named("ingress-lb-controller-chart").props
    assert (release["chart"], release["version"]) == (LB_CONTROLLER.chart, "3.5.0")
    assert release["repositoryOpts"]["repo"] == "https://aws.github.io/eks-charts"
    values = release["values"]
    assert values["enableServiceMutatorWebhook"] is False
    assert values["enableBackendSecurityGroup"] is False
    assert values["region"] == "eu-west-1"
    assert values["vpcId"] == rec.one("aws:ec2/vpc:Vpc").outputs["id"]


def test_exports_keep_the_names_the_global_stack_reads(rec: Recording) -> None:
    exports = rec.outputs["ingress"]
    assert {"nlbArn", "nlbDnsName", "targetGroupArn", "listenerArn", "healthCheckPath"} <= set(
        exports
    )
    assert exports["nlbArn"] == rec.one(LB).outputs["arn"]
    assert exports["nlbArn"].startswith(
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/"
    )
    assert exports["nlbDnsName"] == rec.one(LB).outputs["dnsName"]
    assert exports["targetGroupArn"] == rec.one(TARGET_GROUP).outputs["arn"]
    assert exports["listenerArn"] == rec.one(LISTENER).outputs["arn"]
    assert exports["healthCheckPath"] == "/v2/health/ready"


def test_internet_facing_scheme_uses_the_public_subnets() -> None:
    rec = _record("dev-us-east-1", {"scheme": "internet-facing"})
    nlb: RecordedResource = rec.one(LB)
    assert nlb.props["internal"] is False
    assert sorted(nlb.props["subnets"]) == _subnets(rec, "public")
    assert rec.outputs["ingress"]["scheme"] == "internet-facing"

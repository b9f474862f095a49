"""GpuCluster in the mock cloud (components/cluster/).

Proves what the program declares: encryption, logging, endpoint exposure, IMDSv2 and disk
encryption on every node source, taints, labels, zones, capacity types, pool disjointness,
ordering (dependencies) and the Helm values. Does not prove that EKS, Karpenter or the charts
behave as configured: no API server, no EC2 and no Helm run here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.cluster import versions
from components.cluster.gpu_cluster import (
    CONTROL_PLANE_LOG_TYPES,
    GpuCluster,
    GpuClusterArgs,
    SystemNodes,
)
from components.cluster.manifests import NodeTiming
from components.cluster.pools import GpuPool, plan_gpu_pools
from meshctl.mock_cloud import RecordedResource
from regions.catalog import load_catalog
from tests.harness import Recording, provider_region, run_pulumi
from tests.k8s_schema import validate_fragment, validate_manifest

REGION = "us-east-1"
CLUSTER = "inference-mesh-prod-us-east-1"
SPEC = load_catalog().get(REGION)
SUBNETS = ("subnet-a", "subnet-b", "subnet-c")
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RELEASE = "kubernetes:helm.sh/v3:Release"


def _pools() -> tuple[GpuPool, ...]:
    # t4 as the planned base pool (on-demand only), l4 and a10g bursting on Spot: one
    # recording shows both capacity settings.
    return plan_gpu_pools(
        REGION,
        SPEC.availability_zones,
        SPEC.gpu_candidates,
        ("l4", "a10g", "t4"),
        {"l4": 32, "a10g": 8, "t4": 8},
        True,
        0.1,
        base_class="t4",
    )


def _args(**changes: Any) -> GpuClusterArgs:
    base = GpuClusterArgs(
        cluster_name=CLUSTER,
        region=REGION,
        account_id="123456789012",
        vpc_id="vpc-0123",
        private_subnet_ids=SUBNETS,
        availability_zones=SPEC.availability_zones,
        kubernetes_version="1.35",
        gpu_pools=_pools(),
        system_nodes=SystemNodes("m7i.xlarge", 3, 3, 6, 50),
        gpu_disk_gib=200,
        timing=NodeTiming("10m", "720h", "1h"),
        node_tags={"project": "inference-mesh", "jurisdiction": "US"},
    )
    return replace(base, **changes)


def _record(args: GpuClusterArgs) -> Recording:
    def program() -> dict[str, Any]:
        provider = aws.Provider(f"aws-{REGION}", region=REGION)
        cluster = GpuCluster("cluster", args, opts=pulumi.ResourceOptions(providers=[provider]))
        return cluster.exports()

    return run_pulumi(program, stack="prod-us-east-1")


@pytest.fixture(scope="module")
def prod() -> Recording:
    return _record(_args())


def _spec(resource: RecordedResource) -> dict[str, Any]:
    return resource.props["spec"]


def _requirement(pool: RecordedResource, key: str) -> list[str]:
    found = [r for r in _spec(pool)["template"]["spec"]["requirements"] if r["key"] == key]
    assert len(found) == 1, key
    assert found[0]["operator"] == "In"
    return found[0]["values"]


# -- shape ------------------------------------------------------------------------------
def test_exact_set_of_resources(prod: Recording) -> None:
    root = prod.one("inference-mesh:cluster:GpuCluster")
    counts = Counter(r.type for r in prod.descendants_of(root.urn))
    assert counts == {
        "inference-mesh:kms:RegionalKey": 1,
        "aws:kms/key:Key": 1,
        "aws:kms/alias:Alias": 1,
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:iam/role:Role": 5,  # cluster, system nodes, Karpenter nodes, 2 pod roles
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 10,
        "aws:iam/rolePolicy:RolePolicy": 2,
        "aws:eks/cluster:Cluster": 1,
        "aws:ec2/securityGroup:SecurityGroup": 1,
        "aws:ec2/securityGroupRule:SecurityGroupRule": 1,
        "aws:ec2/launchTemplate:LaunchTemplate": 1,
        "aws:eks/nodeGroup:NodeGroup": 1,
        "aws:eks/addon:Addon": 5,
        "inference-mesh:pod_identity:PodRole": 2,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation": 2,
        "aws:eks/accessEntry:AccessEntry": 1,
        "pulumi:providers:kubernetes": 1,
        "inference-mesh:cluster:Karpenter": 1,
        "aws:sqs/queue:Queue": 1,
        "aws:sqs/queuePolicy:QueuePolicy": 1,
        "aws:cloudwatch/eventRule:EventRule": 5,
        "aws:cloudwatch/eventTarget:EventTarget": 5,
        RELEASE: 3,
        NODECLASS: 1,
        NODEPOOL: 3,
        "inference-mesh:cluster:NvidiaGpu": 1,
        "kubernetes:core/v1:Namespace": 1,
    }
    # Everything declared hangs under the component, AWS children in the stack's region.
    assert len(prod.descendants_of(root.urn)) == len(prod.resources) - 2  # provider + root
    for resource in prod.custom:
        if resource.type.startswith("aws:"):
            assert provider_region(prod, resource) == REGION, resource.name


def test_no_irsa_anywhere(prod: Recording) -> None:
    assert prod.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    associations = {
        (r.props["namespace"], r.props["serviceAccount"])
        for r in prod.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert associations == {("kube-system", "karpenter"), ("kube-system", "ebs-csi-controller-sa")}


# -- control plane -------------------------------------------------------------------------
def test_secrets_are_encrypted_with_the_regional_rotated_key(prod: Recording) -> None:
    cluster, key = prod.one("aws:eks/cluster:Cluster"), prod.one("aws:kms/key:Key")
    assert cluster.props["encryptionConfig"] == {
        "provider": {"keyArn": key.outputs["arn"]},
        "resources": ["secrets"],
    }
    assert key.props["enableKeyRotation"] is True
    assert key.props["multiRegion"] is False
    assert key.outputs["arn"].startswith(f"arn:aws:kms:{REGION}:")


def test_all_five_log_types_go_to_an_encrypted_group_with_retention(prod: Recording) -> None:
    cluster = prod.one("aws:eks/cluster:Cluster")
    group = prod.one("aws:cloudwatch/logGroup:LogGroup")
    assert cluster.props["enabledClusterLogTypes"] == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    assert set(CONTROL_PLANE_LOG_TYPES) == set(cluster.props["enabledClusterLogTypes"])
    assert group.props["name"] == f"/aws/eks/{CLUSTER}/cluster"
    assert group.props["retentionInDays"] == 365
    assert group.props["kmsKeyId"] == prod.one("aws:kms/key:Key").outputs["arn"]
    assert group.urn in cluster.dependencies  # exists before EKS would create it bare


def test_prod_endpoint_is_private_only(prod: Recording) -> None:
    vpc = prod.one("aws:eks/cluster:Cluster").props["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    assert vpc["subnetIds"] == list(SUBNETS)


def test_dev_endpoint_is_public_only_to_the_configured_cidrs() -> None:
    dev = _record(_args(endpoint_public_access_cidrs=("203.0.113.0/24",)))
    vpc = dev.one("aws:eks/cluster:Cluster").props["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "0.0.0.0/1", "::/0"])
def test_an_open_public_endpoint_fails_before_any_resource(cidr: str) -> None:
    args = _args(endpoint_public_access_cidrs=(cidr,))

    def program() -> None:
        with pytest.raises(ValueError, match="must never open the endpoint to the internet"):
            GpuCluster("cluster", args)

    assert run_pulumi(program).resources == []


def test_api_authentication_mode_with_access_entries(prod: Recording) -> None:
    access = prod.one("aws:eks/cluster:Cluster").props["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    entry = prod.one("aws:eks/accessEntry:AccessEntry")
    assert entry.props["type"] == "EC2_LINUX"
    assert entry.props["principalArn"] == prod.named("cluster-karpenter-node-role").outputs["arn"]


# -- nodes ---------------------------------------------------------------------------------
def test_imdsv2_and_encrypted_roots_on_every_node_source(prod: Recording) -> None:
    template = prod.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.props["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }
    assert template.props["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {
                "deleteOnTermination": "true",
                "encrypted": "true",
                "volumeSize": 50,
                "volumeType": "gp3",
            },
        }
    ]
    group = prod.one("aws:eks/nodeGroup:NodeGroup")
    assert group.props["launchTemplate"] == {"id": template.id, "version": "1"}
    node_class = prod.one(NODECLASS)
    assert _spec(node_class)["metadataOptions"]["httpTokens"] == "required"
    assert _spec(node_class)["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert _spec(node_class)["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "rootVolume": True,
            "ebs": {
                "deleteOnTermination": True,
                "encrypted": True,
                "volumeSize": "200Gi",
                "volumeType": "gp3",
            },
        }
    ]
    # No other way to get a node: every pool launches through that one EC2NodeClass.
    for pool in prod.of_type(NODEPOOL):
        assert _spec(pool)["template"]["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws",
            "kind": "EC2NodeClass",
            "name": node_class.props["metadata"]["name"],
        }


def test_system_nodes_are_on_demand_cpu_over_the_three_zones(prod: Recording) -> None:
    group = prod.one("aws:eks/nodeGroup:NodeGroup")
    assert group.props["capacityType"] == "ON_DEMAND"
    assert group.props["amiType"] == "AL2023_x86_64_STANDARD"
    assert group.props["instanceTypes"] == ["m7i.xlarge"]
    assert group.props["subnetIds"] == list(SUBNETS)
    assert group.props["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 6}


def test_nodes_find_subnets_and_security_group_by_discovery_tag(prod: Recording) -> None:
    spec = _spec(prod.one(NODECLASS))
    discovery = [{"tags": {"karpenter.sh/discovery": CLUSTER}}]
    assert spec["subnetSelectorTerms"] == discovery
    assert spec["securityGroupSelectorTerms"] == discovery
    assert spec["amiFamily"] == "AL2023"
    assert spec["amiSelectorTerms"] == [{"alias": f"al2023@{versions.AL2023_AMI_RELEASE}"}]
    group = prod.one("aws:ec2/securityGroup:SecurityGroup")
    assert group.props["tags"]["karpenter.sh/discovery"] == CLUSTER
    assert not any("0.0.0.0/0" in rule.get("cidrBlocks", []) for rule in group.props["ingress"])


# -- GPU pools -----------------------------------------------------------------------------
def test_gpu_taint_and_class_labels_on_every_pool(prod: Recording) -> None:
    pools = {p.props["metadata"]["name"]: p for p in prod.of_type(NODEPOOL)}
    assert set(pools) == {"gpu-l4", "gpu-a10g", "gpu-t4"}
    for name, pool in pools.items():
        template = _spec(pool)["template"]
        assert template["spec"]["taints"] == [
            {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
        ]
        assert template["metadata"]["labels"] == {
            "inference-mesh/gpu-class": name.removeprefix("gpu-"),
            "inference-mesh/node-role": "gpu",
            "nvidia.com/gpu.present": "true",
        }


def test_pools_spread_over_the_three_zones(prod: Recording) -> None:
    for pool in prod.of_type(NODEPOOL):
        assert _requirement(pool, "topology.kubernetes.io/zone") == list(SPEC.availability_zones)
        assert len(set(SPEC.availability_zones)) == 3


def test_spot_and_on_demand_where_configured(prod: Recording) -> None:
    capacity = {
        p.props["metadata"]["name"]: _requirement(p, "karpenter.sh/capacity-type")
        for p in prod.of_type(NODEPOOL)
    }
    assert capacity == {
        "gpu-l4": ["on-demand", "spot"],
        "gpu-a10g": ["on-demand", "spot"],
        "gpu-t4": ["on-demand"],
    }


def test_no_two_pools_share_an_instance_family(prod: Recording) -> None:
    families = [
        f
        for p in prod.of_type(NODEPOOL)
        for f in _requirement(p, "karpenter.k8s.aws/instance-family")
    ]
    types = [
        t
        for p in prod.of_type(NODEPOOL)
        for t in _requirement(p, "node.kubernetes.io/instance-type")
    ]
    assert sorted(families) == ["g4dn", "g5", "g6"]
    assert len(types) == len(set(types)) == 3


def test_limits_budgets_and_consolidation(prod: Recording) -> None:
    specs = {p.props["metadata"]["name"]: _spec(p) for p in prod.of_type(NODEPOOL)}
    assert {n: s["limits"] for n, s in specs.items()} == {
        "gpu-l4": {"nvidia.com/gpu": 32},
        "gpu-a10g": {"nvidia.com/gpu": 8},
        "gpu-t4": {"nvidia.com/gpu": 8},
    }
    assert specs["gpu-l4"]["disruption"] == {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "10m",
        "budgets": [{"nodes": "5%"}],  # 10% of up to 32 nodes, lowered for Karpenter's rounding
    }
    assert specs["gpu-a10g"]["disruption"]["budgets"] == [{"nodes": "10%"}]
    assert [specs[n]["weight"] for n in ("gpu-l4", "gpu-a10g", "gpu-t4")] == [100, 90, 80]


def test_crd_objects_depend_on_the_chart_that_installs_their_crds(prod: Recording) -> None:
    chart = prod.named("cluster-karpenter-chart")
    assert chart.props["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert chart.props["version"] == "1.14.1"
    assert chart.props["skipCrds"] is False
    for resource in [*prod.of_type(NODEPOOL), *prod.of_type(NODECLASS)]:
        assert chart.urn in resource.dependencies, resource.name


def test_karpenter_waits_for_nodes_dns_and_its_pod_identity(prod: Recording) -> None:
    chart = prod.named("cluster-karpenter-chart")
    for name in (
        "cluster-system",
        "cluster-coredns",
        "cluster-eks-pod-identity-agent",
        "cluster-karpenter-node-access",
    ):
        assert prod.named(name).urn in chart.dependencies, name
    # Depending on a component means depending on its children: the association included.
    assert prod.named("cluster-karpenter-controller-association").urn in chart.dependencies
    group = prod.named("cluster-system")
    for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert prod.named(f"cluster-{addon}").urn in group.dependencies
    assert group.urn in prod.named("cluster-coredns").dependencies
    assert group.urn in prod.named("cluster-aws-ebs-csi-driver").dependencies


def test_interruption_queue_gets_the_four_event_kinds(prod: Recording) -> None:
    queue = prod.one("aws:sqs/queue:Queue")
    assert queue.props["sqsManagedSseEnabled"] is True
    assert queue.props["messageRetentionSeconds"] == 300
    patterns = {
        json.loads(r.props["eventPattern"])["detail-type"][0]: r
        for r in prod.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    assert {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "AWS Health Event",
        "EC2 Instance State-change Notification",
    } <= set(patterns)
    rule_names = {r.outputs["name"] for r in patterns.values()}
    targets = prod.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert {t.props["rule"] for t in targets} == rule_names
    assert {t.props["arn"] for t in targets} == {queue.outputs["arn"]}
    values = prod.named("cluster-karpenter-chart").props["values"]
    assert values["settings"] == {
        "clusterName": CLUSTER,
        "interruptionQueue": queue.outputs["name"],
    }


def test_pinned_addons(prod: Recording) -> None:
    addons = {
        r.props["addonName"]: r.props["addonVersion"] for r in prod.of_type("aws:eks/addon:Addon")
    }
    assert addons == versions.EKS_ADDONS["1.35"]


# -- NVIDIA --------------------------------------------------------------------------------
def test_nvidia_charts_run_only_on_gpu_nodes_and_tolerate_the_taint(prod: Recording) -> None:
    for name, version in (
        ("cluster-nvidia-device-plugin", "0.20.0"),
        ("cluster-nvidia-dcgm-exporter", "4.8.2"),
    ):
        release = prod.named(name)
        values = release.props["values"]
        assert release.props["version"] == version
        assert values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ] == [{"matchExpressions": [{"key": "inference-mesh/gpu-class", "operator": "Exists"}]}]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
            "tolerations"
        ]
        validate_fragment("affinity-v1", values["affinity"], "1.35")
        for toleration in values["tolerations"]:
            validate_fragment("toleration-v1", toleration, "1.35")


# -- Kubernetes provider and exports -------------------------------------------------------
def test_kubernetes_objects_use_the_cluster_provider_with_eks_tokens(prod: Recording) -> None:
    provider = prod.one("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.props["kubeconfig"])
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws"
    assert user["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        CLUSTER,
        "--region",
        REGION,
        "--output",
        "json",
    ]
    cluster = prod.one("aws:eks/cluster:Cluster")
    assert kubeconfig["clusters"][0]["cluster"]["server"] == cluster.outputs["endpoint"]
    for resource in prod.custom:
        if resource.type.startswith("kubernetes:"):
            assert resource.provider is not None
            assert resource.provider.startswith(provider.urn), resource.name


def test_exports(prod: Recording) -> None:
    cluster = prod.one("aws:eks/cluster:Cluster")
    outputs = prod.outputs
    assert outputs["clusterName"] == CLUSTER
    assert outputs["endpoint"] == cluster.outputs["endpoint"]
    assert outputs["certificateAuthority"] == cluster.outputs["certificateAuthority"]["data"]
    assert outputs["nodeSecurityGroupId"] == prod.one("aws:ec2/securityGroup:SecurityGroup").id
    assert outputs["gpuClasses"] == ["l4", "a10g", "t4"]
    assert outputs["gpuTaint"] == {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    assert outputs["podIdentity"] == "eks-pod-identity"


def test_declared_kubernetes_objects_validate(prod: Recording) -> None:
    for resource in prod.custom:
        if resource.type.startswith("kubernetes:") and "helm.sh" not in resource.type:
            validate_manifest(resource.props, "1.35")

"""Kubernetes objects and Helm values of the GPU cluster, built as plain dicts.

Pure functions (values may be Pulumi inputs), so tests and the schema check can read exactly
what the cluster will apply. Karpenter objects use the v1 APIs of chart 1.14.1:
``karpenter.sh/v1`` NodePool and ``karpenter.k8s.aws/v1`` EC2NodeClass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.cluster.pools import (
    GPU_CLASS_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    NODE_ROLE_LABEL,
    GpuPool,
)

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
NODECLASS_GROUP = "karpenter.k8s.aws"
DISCOVERY_TAG = "karpenter.sh/discovery"
ROOT_DEVICE = "/dev/xvda"
"""The root device of the AL2023 EKS AMIs."""
GPU_NODE_ROLE, SYSTEM_NODE_ROLE = "gpu", "system"
KARPENTER_SERVICE_ACCOUNT = "karpenter"

IMDS_HOP_LIMIT = 1
"""One hop: only processes on the node (and host-network pods) reach instance metadata, so no
pod can borrow the node role. Pods get AWS access from EKS Pod Identity instead."""


@dataclass(frozen=True)
class NodeTiming:
    consolidate_after: str
    """How long a node stays empty or underused before Karpenter consolidates it. GPU nodes
    take minutes to become useful (image pulls of 15-18 GB Triton images), so not seconds."""
    expire_after: str
    """Maximum node age; recycles nodes onto fresh AMIs and kernels."""
    termination_grace_period: str
    """How long a draining node waits for PDB-blocked pods before they are deleted anyway."""


def ec2_node_class_spec(
    cluster_name: str,
    role_name: pulumi.Input[str],
    ami_release: str,
    disk_gib: int,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """AL2023 with the NVIDIA variant: Karpenter picks the accelerated AMI of the pinned
    release for GPU instance types. Subnets and security groups are found by discovery tag."""
    discovery = {"tags": {DISCOVERY_TAG: cluster_name}}
    return {
        "amiFamily": "AL2023",
        "amiSelectorTerms": [{"alias": f"al2023@{ami_release}"}],
        "role": role_name,
        "subnetSelectorTerms": [discovery],
        "securityGroupSelectorTerms": [discovery],
        "blockDeviceMappings": [
            {
                "deviceName": ROOT_DEVICE,
                "rootVolume": True,
                "ebs": {
                    "volumeSize": f"{disk_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": IMDS_HOP_LIMIT,
            "httpTokens": "required",
        },
        "tags": dict(tags),
    }


def gpu_node_labels(pool: GpuPool) -> dict[str, str]:
    return {
        GPU_CLASS_LABEL: pool.gpu_class,
        NODE_ROLE_LABEL: GPU_NODE_ROLE,
        # The NVIDIA charts' own default affinity keys on this label too.
        "nvidia.com/gpu.present": "true",
    }


def gpu_taint() -> dict[str, str]:
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def node_pool_spec(pool: GpuPool, node_class_name: str, timing: NodeTiming) -> dict[str, Any]:
    """One GPU class: its instance families only, on-demand (plus spot where configured),
    spread over the region's zones, capped by its GPU limit."""
    return {
        "template": {
            "metadata": {"labels": gpu_node_labels(pool)},
            "spec": {
                "nodeClassRef": {
                    "group": NODECLASS_GROUP,
                    "kind": "EC2NodeClass",
                    "name": node_class_name,
                },
                "requirements": _requirements(pool),
                "taints": [gpu_taint()],
                "expireAfter": timing.expire_after,
                "terminationGracePeriod": timing.termination_grace_period,
            },
        },
        "limits": {GPU_RESOURCE: pool.gpu_limit},
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": timing.consolidate_after,
            "budgets": [{"nodes": pool.budget_nodes}],
        },
        "weight": pool.weight,
    }


def _requirements(pool: GpuPool) -> list[dict[str, Any]]:
    def req(key: str, values: tuple[str, ...] | list[str]) -> dict[str, Any]:
        return {"key": key, "operator": "In", "values": list(values)}

    return [
        req("karpenter.k8s.aws/instance-family", pool.families),
        req("node.kubernetes.io/instance-type", pool.instance_types),
        req("karpenter.sh/capacity-type", pool.capacity_types),
        req("topology.kubernetes.io/zone", pool.zones),
        req("kubernetes.io/arch", ["amd64"]),
        req("kubernetes.io/os", ["linux"]),
    ]


def gpu_only_placement() -> dict[str, Any]:
    """Affinity and tolerations of the NVIDIA DaemonSets: GPU pool nodes only."""
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": GPU_CLASS_LABEL, "operator": "Exists"}]}
                    ]
                }
            }
        },
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT},
        ],
    }


def karpenter_values(
    cluster_name: str, queue_name: pulumi.Input[str], region: str
) -> dict[str, Any]:
    return {
        "settings": {
            "clusterName": cluster_name,
            # The key is interruptionQueue; a wrong key (interruptionQueueName) silently turns
            # interruption handling off (eksctl-io/eksctl #7697).
            "interruptionQueue": queue_name,
        },
        "serviceAccount": {"name": KARPENTER_SERVICE_ACCOUNT},
        # The IMDS hop limit keeps pods from reading the region from instance metadata.
        "controller": {"env": [{"name": "AWS_REGION", "value": region}]},
        "nodeSelector": {"kubernetes.io/os": "linux", NODE_ROLE_LABEL: SYSTEM_NODE_ROLE},
    }


def device_plugin_values() -> dict[str, Any]:
    return {**gpu_only_placement(), "priorityClassName": "system-node-critical"}


def dcgm_exporter_values() -> dict[str, Any]:
    return {
        **gpu_only_placement(),
        # No Prometheus Operator CRDs in the cluster yet: a ServiceMonitor would fail the
        # release. The Service on :9400 stays, for whichever scraper the platform adds.
        "serviceMonitor": {"enabled": False},
    }


def gpu_namespace_labels() -> dict[str, str]:
    """The NVIDIA DaemonSets mount host paths (device-plugin socket, kubelet pod resources),
    which only the privileged Pod Security level admits; the namespace holds nothing else."""
    return {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/warn": "privileged",
    }

"""Every Kubernetes object the shipped stacks declare validates offline (tests/k8s_schema.py),
and the validator itself refuses what the API server would: one changed field per case."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.cluster import manifests
from components.cluster.pools import plan_gpu_pools
from meshctl.plan_engine import discover_stacks, evaluate_stack, is_global
from tests.k8s_schema import (
    ManifestError,
    validate_fragment,
    validate_manifest,
    validated_objects,
)

REGIONAL_STACKS = [s for s in discover_stacks() if not is_global(s)]
VERSION = "1.35"


@pytest.mark.slow
@pytest.mark.parametrize("stack", REGIONAL_STACKS)
def test_every_kubernetes_object_of_the_stack_validates(stack: str) -> None:
    kinds = {manifest["kind"] for _, manifest in validated_objects(evaluate_stack(stack), stack)}
    assert kinds >= {"NodePool", "EC2NodeClass", "Namespace"}, kinds


# -- the validator refuses bad objects -----------------------------------------------------
def _objects() -> dict[str, dict[str, Any]]:
    """The cluster's objects as the component builds them (pure builders, no Pulumi)."""
    pool = plan_gpu_pools(
        "us-east-1",
        ("us-east-1a", "us-east-1b", "us-east-1c"),
        ("g6.xlarge",),
        (),
        {"l4": 16},
        True,
        0.1,
    )[0]
    timing = manifests.NodeTiming("10m", "720h", "1h")
    return {
        "NodePool": {
            "apiVersion": manifests.NODEPOOL_API,
            "kind": "NodePool",
            "metadata": {"name": pool.name},
            "spec": manifests.node_pool_spec(pool, "gpu", timing),
        },
        "EC2NodeClass": {
            "apiVersion": manifests.NODECLASS_API,
            "kind": "EC2NodeClass",
            "metadata": {"name": "gpu"},
            "spec": manifests.ec2_node_class_spec(
                "inference-mesh-prod-us-east-1", "node-role", "v20260714", 200, {"a": "b"}
            ),
        },
        "Namespace": {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "gpu-system", "labels": manifests.gpu_namespace_labels()},
        },
    }


Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value

    return change


def _drop(path: str) -> Change:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return change


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("NodePool", _set("spec.disruption.budgets", [{"nodes": "10 percent"}]), "does not match"),
        ("NodePool", _set("spec.template.spec.taints.0.effect", "NoDrain"), "is not one of"),
        ("NodePool", _set("spec.template.spec.nodeClassRef.kind", ""), "should be non-empty"),
        ("NodePool", _set("spec.weight", 0), "less than the minimum"),
        ("NodePool", _set("spec.limits", {"nvidia.com/gpu": "lots"}), "is not valid"),
        ("NodePool", _set("spec.template.spec.tolerations", []), "Additional properties"),
        ("NodePool", _drop("spec.disruption.consolidateAfter"), "'consolidateAfter' is a required"),
        (
            "NodePool",
            _set("spec.template.metadata.labels", {"karpenter.sh/gpu": "x"}),
            "label domain of 'karpenter.sh/gpu' is restricted",
        ),
        (
            "NodePool",
            _set("spec.template.spec.requirements.0.values", []),
            "operator 'In' must have values",
        ),
        ("EC2NodeClass", _set("spec.instanceProfile", "p"), "exactly one of ['role'"),
        ("EC2NodeClass", _set("spec.amiFamily", "Bottlerocket"), "must be AL2023 for alias"),
        ("EC2NodeClass", _set("spec.amiSelectorTerms", []), "should be non-empty"),
        ("EC2NodeClass", _set("spec.metadataOptions.httpTokens", "off"), "is not one of"),
        (
            "EC2NodeClass",
            _set("spec.tags", {"kubernetes.io/cluster/x": "owned"}),
            "tag 'kubernetes.io/cluster/x' is restricted",
        ),
        ("EC2NodeClass", _set("spec.blockDeviceMappings.0.ebs.volumeSize", 200), "is not of type"),
        ("EC2NodeClass", _set("metadata.name", "GPU"), "metadata.name must be a DNS subdomain"),
        ("EC2NodeClass", _set("status", {}), "unknown top-level fields"),
        ("Namespace", _set("metadata.labels", {"a": 1}), "is not of type"),
        ("Namespace", _set("spec", {"finalisers": []}), "Additional properties"),
    ],
)
def test_one_bad_field_is_refused(kind: str, change: Change, message: str) -> None:
    document = copy.deepcopy(_objects()[kind])
    validate_manifest(document, VERSION)  # the unchanged object passes
    change(document)
    with pytest.raises(ManifestError) as caught:
        validate_manifest(document, VERSION)
    assert message in str(caught.value)


def test_unknown_kinds_and_versions_are_refused() -> None:
    with pytest.raises(ManifestError, match="no schema for Widget"):
        validate_manifest(
            {"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}, VERSION
        )
    with pytest.raises(ManifestError, match=r"no schema for NodePool karpenter\.sh/v1beta1"):
        validate_manifest(
            {"apiVersion": "karpenter.sh/v1beta1", "kind": "NodePool", "metadata": {"name": "p"}},
            VERSION,
        )
    with pytest.raises(ManifestError, match=r"no schemas for Kubernetes 1\.99"):
        validate_fragment("toleration-v1", {}, "1.99")


def test_fragments_use_the_built_in_definitions() -> None:
    validate_fragment("toleration-v1", {"key": "nvidia.com/gpu", "operator": "Exists"}, VERSION)
    with pytest.raises(ManifestError, match="'operatr' was unexpected"):
        validate_fragment("toleration-v1", {"key": "nvidia.com/gpu", "operatr": "Exists"}, VERSION)

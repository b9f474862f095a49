"""Every Kubernetes object of every shipped regional plan validates offline against the schema
of the cluster's Kubernetes minor (built-in kinds) or of the pinned charts' CRDs (custom
resources, ``tests/serving/crd_schemas.py``); and the custom-resource schemas refuse what the
API server or the controllers' webhooks would.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from meshctl.plan_engine import discover_stacks, evaluate_stack, is_global
from tests.k8s_schema import ManifestError, validate_manifest, validated_objects
from tests.serving import crd_schemas

REGIONAL_STACKS = [s for s in discover_stacks() if not is_global(s)]
SERVING_KINDS = {
    "Deployment": 3,
    "Service": 3,
    "PodDisruptionBudget": 3,
    "ConfigMap": 1,
    "ServiceAccount": 2,
    "ScaledObject": 1,
    "ServiceMonitor": 3,
    "TargetGroupBinding": 1,
}


@pytest.fixture(autouse=True)
def _custom_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    crd_schemas.register(monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("stack", REGIONAL_STACKS)
def test_every_kubernetes_object_of_the_stack_validates(stack: str) -> None:
    objects = validated_objects(evaluate_stack(stack), stack)
    kinds = Counter(manifest["kind"] for _, manifest in objects)
    for kind, count in SERVING_KINDS.items():
        assert kinds[kind] == count, (stack, kind, kinds[kind])


# -- the custom-resource schemas refuse bad objects ----------------------------------------
def _good() -> dict[str, dict[str, Any]]:
    return {
        "ScaledObject": {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "triton-gpu", "namespace": "inference"},
            "spec": {
                "scaleTargetRef": {"name": "triton-gpu"},
                "minReplicaCount": 1,
                "maxReplicaCount": 4,
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}
                    }
                },
                "triggers": [
                    {
                        "type": "prometheus",
                        "metricType": "AverageValue",
                        "metadata": {
                            "serverAddress": "http://p:9090",
                            "query": "q",
                            "threshold": "24",
                        },
                    }
                ],
            },
        },
        "ServiceMonitor": {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "triton", "namespace": "monitoring"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "triton"}},
                "endpoints": [{"port": "metrics", "interval": "15s"}],
            },
        },
        "TargetGroupBinding": {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "inference-gateway", "namespace": "inference"},
            "spec": {
                "serviceRef": {"name": "inference-gateway", "port": 8000},
                "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/y",
                "targetType": "ip",
            },
        },
    }


def _change(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize("kind", ["ScaledObject", "ServiceMonitor", "TargetGroupBinding"])
def test_good_custom_resources_validate(kind: str) -> None:
    validate_manifest(_good()[kind], "1.35")


@pytest.mark.parametrize(
    ("kind", "path", "value", "message"),
    [
        ("ScaledObject", "spec.minReplicaCount", 5, "minReplicaCount must be less"),
        ("ScaledObject", "spec.triggers", [], "should be non-empty"),
        ("ScaledObject", "spec.pollingInterval", 0, "less than the minimum"),
        ("ScaledObject", "spec.triggers.0.metricType", "Utilization", "AverageValue or Value"),
        ("ScaledObject", "spec.triggers.0.metadata.query", None, "prometheus needs ['query']"),
        ("ScaledObject", "spec.triggers.0.metadata.threshold", "lots", "not a number"),
        ("ScaledObject", "spec.maxReplicas", 4, "Additional properties"),
        (
            "ScaledObject",
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown."
            "stabilizationWindowSeconds",
            "five minutes",
            "behavior",
        ),
        ("ServiceMonitor", "spec.selector", None, "'selector' is a required property"),
        ("ServiceMonitor", "spec.endpoints.0.interval", "15 seconds", "does not match"),
        ("ServiceMonitor", "spec.endpoints.0.port", None, "names no port"),
        ("TargetGroupBinding", "spec.targetGroupARN", None, "targetGroupARN or targetGroupName"),
        ("TargetGroupBinding", "spec.targetType", "pod", "is not one of"),
        ("TargetGroupBinding", "spec.serviceRef.port", None, "'port' is a required property"),
    ],
)
def test_bad_custom_resources_are_refused(kind: str, path: str, value: Any, message: str) -> None:
    with pytest.raises(ManifestError) as raised:
        validate_manifest(_change(_good()[kind], path, value), "1.35")
    assert message in str(raised.value)

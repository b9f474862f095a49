"""Schemas of the custom resources serving and ingress declare, for ``tests/k8s_schema.py``.

Written from the CRDs the pinned charts install (fields only, descriptions left out; subtrees
the stacks never set are accepted as any object, every other unknown field is refused, as the
API server's structural pruning would silently drop it):

* ``keda.sh/v1alpha1`` ScaledObject: kedacore/charts 2.20.2,
  ``keda/templates/crds/crd-scaledobjects.yaml``, plus its CEL rule (min <= max) and what
  KEDA's webhook and Prometheus scaler refuse (metricType values, required metadata).
* ``monitoring.coreos.com/v1`` ServiceMonitor: kube-prometheus-stack 88.5.3 (operator
  v0.93.1), ``charts/crds/crds/crd-servicemonitors.yaml``.
* ``elbv2.k8s.aws/v1beta1`` TargetGroupBinding: aws-load-balancer-controller chart 3.5.0,
  ``crds/crds.yaml``.

``register(monkeypatch)`` adds them to ``tests.k8s_schema.CUSTOM_RESOURCES`` for one test. The
module imports ``tests.k8s_schema`` only inside functions, so that module can merge
``CUSTOM_RESOURCES`` from here at import time without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.k8s_schema import closed_object

ANY_OBJECT: dict[str, Any] = {"type": "object"}
ANY_ARRAY: dict[str, Any] = {"type": "array"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def _int(minimum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    return schema


_LABEL_SELECTOR = closed_object(
    {
        "matchLabels": _STRING_MAP,
        "matchExpressions": {
            "type": "array",
            "items": closed_object(
                {
                    "key": {"type": "string"},
                    "operator": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                },
                ("key", "operator"),
            ),
        },
    }
)

# -- KEDA ScaledObject -------------------------------------------------------------------
SCALED_OBJECT_SPEC = closed_object(
    {
        "advanced": closed_object(
            {
                "horizontalPodAutoscalerConfig": closed_object(
                    {"behavior": ANY_OBJECT, "name": {"type": "string"}}
                ),
                "restoreToOriginalReplicaCount": {"type": "boolean"},
                "scalingModifiers": closed_object(
                    {
                        "activationTarget": {"type": "string"},
                        "formula": {"type": "string"},
                        "metricType": {"enum": ["AverageValue", "Value"]},
                        "target": {"type": "string"},
                    }
                ),
            }
        ),
        "cooldownPeriod": _int(0),
        "fallback": closed_object(
            {
                "behavior": {
                    "enum": [
                        "static",
                        "currentReplicas",
                        "currentReplicasIfHigher",
                        "currentReplicasIfLower",
                        "scalingModifiers",
                    ]
                },
                "failureThreshold": _int(0),
                "replicas": _int(0),
            },
            ("failureThreshold", "replicas"),
        ),
        "idleReplicaCount": _int(0),
        "initialCooldownPeriod": _int(0),
        "maxReplicaCount": _int(1),
        "minReplicaCount": _int(0),
        "pollingInterval": _int(1),
        "scaleTargetRef": closed_object(
            {
                "apiVersion": {"type": "string"},
                "envSourceContainerName": {"type": "string"},
                "kind": {"type": "string"},
                "name": {"type": "string", "minLength": 1},
            },
            ("name",),
        ),
        "triggers": {
            "type": "array",
            "minItems": 1,
            "items": closed_object(
                {
                    "authenticationRef": closed_object(
                        {
                            "kind": {
                                "enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]
                            },
                            "name": {"type": "string"},
                        },
                        ("name",),
                    ),
                    "metadata": _STRING_MAP,
                    "metricType": {"type": "string"},
                    "name": {"type": "string"},
                    "type": {"type": "string", "minLength": 1},
                    "useCachedMetrics": {"type": "boolean"},
                },
                ("metadata", "type"),
            ),
        },
    },
    ("scaleTargetRef", "triggers"),
)
PROMETHEUS_METADATA = ("serverAddress", "query", "threshold")


def _scaled_object_rules(spec: Mapping[str, Any]) -> list[str]:
    errors: list[str] = []
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if low > high:
        errors.append("spec: minReplicaCount must be less than or equal to maxReplicaCount")
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior is not None:
        # Imported here: tests/k8s_schema.py may import this module to merge its schemas.
        from tests import k8s_schema

        try:
            k8s_schema.validate_fragment(
                "horizontalpodautoscalerbehavior-autoscaling-v2", behavior, "1.35"
            )
        except k8s_schema.ManifestError as exc:
            errors.append(f"spec.advanced.horizontalPodAutoscalerConfig.behavior: {exc}")
    for i, trigger in enumerate(spec["triggers"]):
        if trigger.get("metricType", "AverageValue") not in ("AverageValue", "Value"):
            errors.append(f"spec.triggers[{i}].metricType: a scaler takes AverageValue or Value")
        if trigger["type"] == "prometheus":
            missing = [k for k in PROMETHEUS_METADATA if not trigger["metadata"].get(k)]
            if missing:
                errors.append(f"spec.triggers[{i}].metadata: prometheus needs {missing}")
            try:
                float(trigger["metadata"].get("threshold", "x"))
            except ValueError:
                errors.append(f"spec.triggers[{i}].metadata.threshold: not a number")
    return errors


# -- Prometheus Operator ServiceMonitor ----------------------------------------------------
_ENDPOINT = closed_object(
    {
        "authorization": ANY_OBJECT,
        "basicAuth": ANY_OBJECT,
        "bearerTokenFile": {"type": "string"},
        "bearerTokenSecret": ANY_OBJECT,
        "enableHttp2": {"type": "boolean"},
        "filterRunning": {"type": "boolean"},
        "followRedirects": {"type": "boolean"},
        "honorLabels": {"type": "boolean"},
        "honorTimestamps": {"type": "boolean"},
        "interval": {"type": "string", "pattern": _DURATION},
        "metricRelabelings": ANY_ARRAY,
        "noProxy": {"type": "string"},
        "oauth2": ANY_OBJECT,
        "params": ANY_OBJECT,
        "path": {"type": "string"},
        "port": {"type": "string"},
        "proxyConnectHeader": ANY_OBJECT,
        "proxyFromEnvironment": {"type": "boolean"},
        "proxyUrl": {"type": "string"},
        "relabelings": ANY_ARRAY,
        "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
        "scrapeTimeout": {"type": "string", "pattern": _DURATION},
        "targetPort": _INT_OR_STRING,
        "tlsConfig": ANY_OBJECT,
        "trackTimestampsStaleness": {"type": "boolean"},
    }
)
SERVICE_MONITOR_SPEC = closed_object(
    {
        "attachMetadata": ANY_OBJECT,
        "bodySizeLimit": {"type": "string"},
        "convertClassicHistogramsToNHCB": {"type": "boolean"},
        "endpoints": {"type": "array", "items": _ENDPOINT},
        "fallbackScrapeProtocol": {"type": "string"},
        "jobLabel": {"type": "string"},
        "keepDroppedTargets": _int(0),
        "labelLimit": _int(0),
        "labelNameLengthLimit": _int(0),
        "labelValueLengthLimit": _int(0),
        "namespaceSelector": closed_object(
            {
                "any": {"type": "boolean"},
                "matchNames": {"type": "array", "items": {"type": "string"}},
            }
        ),
        "nativeHistogramBucketLimit": _int(0),
        "nativeHistogramMinBucketFactor": _INT_OR_STRING,
        "podTargetLabels": {"type": "array", "items": {"type": "string"}},
        "sampleLimit": _int(0),
        "scrapeClass": {"type": "string"},
        "scrapeClassicHistograms": {"type": "boolean"},
        "scrapeNativeHistograms": {"type": "boolean"},
        "scrapeProtocols": {"type": "array", "items": {"type": "string"}},
        "selector": _LABEL_SELECTOR,
        "selectorMechanism": {"enum": ["RelabelConfig", "RoleSelector"]},
        "serviceDiscoveryRole": {"enum": ["Endpoints", "EndpointSlice"]},
        "targetLabels": {"type": "array", "items": {"type": "string"}},
        "targetLimit": _int(0),
    },
    ("endpoints", "selector"),
)


def _service_monitor_rules(spec: Mapping[str, Any]) -> list[str]:
    errors = []
    for i, endpoint in enumerate(spec["endpoints"]):
        if "port" not in endpoint and "targetPort" not in endpoint:
            errors.append(f"spec.endpoints[{i}]: names no port (port or targetPort)")
    return errors


# -- AWS Load Balancer Controller TargetGroupBinding ----------------------------------------
TARGET_GROUP_BINDING_SPEC = closed_object(
    {
        "assumeRoleExternalId": {"type": "string"},
        "iamRoleArnToAssume": {"type": "string"},
        "ipAddressType": {"enum": ["ipv4", "ipv6"]},
        "multiClusterTargetGroup": {"type": "boolean"},
        "networking": ANY_OBJECT,
        "nodeSelector": _LABEL_SELECTOR,
        "serviceRef": closed_object(
            {"name": {"type": "string"}, "port": _INT_OR_STRING}, ("name", "port")
        ),
        "targetGroupARN": {"type": "string"},
        "targetGroupName": {"type": "string"},
        "targetGroupProtocol": {
            "enum": ["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "QUIC", "TCP_QUIC"]
        },
        "targetType": {"enum": ["instance", "ip"]},
        "vpcID": {"type": "string"},
    },
    ("serviceRef",),
)


def _binding_rules(spec: Mapping[str, Any]) -> list[str]:
    # The controller's webhook refuses a binding that names no target group.
    if not spec.get("targetGroupARN") and not spec.get("targetGroupName"):
        return ["spec: one of targetGroupARN or targetGroupName is required"]
    return []


CUSTOM_RESOURCES: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): (SCALED_OBJECT_SPEC, _scaled_object_rules),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (SERVICE_MONITOR_SPEC, _service_monitor_rules),
    ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"): (TARGET_GROUP_BINDING_SPEC, _binding_rules),
}


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes ``tests.k8s_schema.validate_manifest`` know these kinds for one test."""
    from tests import k8s_schema

    for key, value in CUSTOM_RESOURCES.items():
        monkeypatch.setitem(k8s_schema.CUSTOM_RESOURCES, key, value)

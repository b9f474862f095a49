"""Kubernetes objects of regional serving, built as plain dicts.

Pure functions (values may be Pulumi inputs, such as the gateway's image), so tests and the
offline schema check read exactly what the cluster will apply. Every workload runs under the
``restricted`` Pod Security Standard, spreads over the region's zones and has a
PodDisruptionBudget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import serving_plan as plan
from components.cluster.manifests import SYSTEM_NODE_ROLE
from components.cluster.pools import (
    GPU_CLASS_LABEL,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    NODE_ROLE_LABEL,
)
from components.serving import versions
from model_artifacts.catalog import ModelSpec

NAMESPACE = plan.SERVING_NAMESPACE
TRITON_SERVICE_ACCOUNT = "triton"
GATEWAY_SERVICE_ACCOUNT = "inference-gateway"
GATEWAY_NAME = "inference-gateway"
TRITON_GPU_NAME, TRITON_CPU_NAME = plan.TRITON_GPU_NAME, plan.TRITON_CPU_NAME
TRITON_APP = "triton"
ZONE_KEY = "topology.kubernetes.io/zone"
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MODEL_LABEL = "inference-mesh/model"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"
"""With it on the namespace, the AWS Load Balancer Controller adds a readiness gate to pods
behind a TargetGroupBinding: a rollout waits until the NLB sees the new pod healthy."""
TRITON_UID = 1000
"""The ``triton-server`` user of the NGC Triton images."""
GATEWAY_UID = 10001
"""The ``gateway`` user of gateway/Dockerfile."""
PRE_STOP_SECONDS = 15
"""Endpoints and target groups take seconds to drop a terminating pod; it keeps serving
until they have."""
TMP_SIZE = "1Gi"
TMP_DIR = "/tmp"  # noqa: S108 - the pod's own emptyDir, not a shared host directory
SHM_DIR = "/dev/shm"  # noqa: S108 - likewise, memory-backed


def service_url(service: str, port: int = plan.HTTP_PORT) -> str:
    """In-cluster URL of a Service of the serving namespace."""
    return f"http://{service}.{NAMESPACE}.svc.cluster.local:{port}"


def selector_labels(name: str, instance: str) -> dict[str, str]:
    return {NAME_LABEL: name, INSTANCE_LABEL: instance}


def labels(name: str, instance: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(name, instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "inference-mesh",
    }


def namespace_labels() -> dict[str, str]:
    return {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        READINESS_GATE_LABEL: "enabled",
    }


# -- placement -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    node_selector: Mapping[str, str]
    tolerations: Sequence[Mapping[str, str]] = ()


def gpu_placement(gpu_class: str) -> Placement:
    """The planned GPU class's Karpenter pool: its class label, and the GPU taint tolerated."""
    return Placement(
        node_selector={GPU_CLASS_LABEL: gpu_class},
        tolerations=(
            {
                "key": GPU_TAINT_KEY,
                "operator": "Equal",
                "value": GPU_TAINT_VALUE,
                "effect": GPU_TAINT_EFFECT,
            },
        ),
    )


def system_placement() -> Placement:
    """The on-demand system node group (CPU, three zones)."""
    return Placement(node_selector={NODE_ROLE_LABEL: SYSTEM_NODE_ROLE})


def zone_spread(selector: Mapping[str, str], zones: int) -> list[dict[str, Any]]:
    """Hard spread over the region's zones: a zone outage takes at most a third of a workload.
    ``minDomains`` counts zones without a replica as empty, so Karpenter places GPU nodes in
    every zone rather than filling the first one."""
    return [
        {
            "maxSkew": 1,
            "minDomains": zones,
            "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": dict(selector)},
            # Only pods of the same revision count, so a rollout is not blocked by old pods.
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def disruption_budget(selector: Mapping[str, str]) -> dict[str, Any]:
    """One pod at a time, for node drains, Karpenter consolidation and Spot replacement."""
    return {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}}


# -- security --------------------------------------------------------------------------------
def pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _empty_dir(name: str, size: str, memory: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"sizeLimit": size}
    if memory:
        source["medium"] = "Memory"
    return {"name": name, "emptyDir": source}


def _mount(name: str, path: str, read_only: bool = False) -> dict[str, Any]:
    return {"name": name, "mountPath": path, "readOnly": read_only}


def _pre_stop() -> dict[str, Any]:
    return {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}


# -- Triton ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TritonWorkload:
    name: str
    """Deployment and Service name: ``triton-gpu`` or ``triton-cpu``."""
    gpu: bool
    image: str
    sync_image: str
    region: str
    sources: tuple[plan.ModelSource, ...]
    warmups: Mapping[str, str]
    """Model name -> ``model_warmup`` stanza appended to its config."""
    resources: plan.PodResources
    placement: Placement
    zones: int
    replicas: int | None
    """Fixed replicas; ``None`` when an autoscaler owns the count."""
    startup_timeout_seconds: int
    exit_timeout_seconds: int = 30
    service_account: str = TRITON_SERVICE_ACCOUNT
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def selector(self) -> dict[str, str]:
        return selector_labels(TRITON_APP, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return {**labels(TRITON_APP, self.name, "inference-server"), **self.extra_labels}


def triton_workload(
    *,
    gpu: bool,
    model: ModelSpec,
    bucket: str,
    region: str,
    resources: plan.PodResources,
    placement: Placement,
    zones: int,
    replicas: int | None,
    startup_timeout_seconds: int,
) -> TritonWorkload:
    """Triton serving ``model`` from ``bucket``: the version the bucket's pointer names, the
    catalog's ``active`` version until a pointer exists."""
    return TritonWorkload(
        name=TRITON_GPU_NAME if gpu else TRITON_CPU_NAME,
        gpu=gpu,
        image=versions.TRITON_IMAGE,
        sync_image=versions.MODEL_SYNC_IMAGE,
        region=region,
        sources=(plan.model_source(bucket, model),),
        warmups={model.name: plan.warmup_stanza(model)},
        resources=resources,
        placement=placement,
        zones=zones,
        replicas=replicas,
        startup_timeout_seconds=startup_timeout_seconds,
        extra_labels={MODEL_LABEL: model.name},
    )


def _model_sync_container(workload: TritonWorkload) -> dict[str, Any]:
    return {
        "name": "model-sync",
        "image": workload.sync_image,
        "command": ["/bin/sh", "-ec"],
        "args": [plan.sync_script(workload.sources, workload.warmups)],
        "env": [
            {"name": "AWS_REGION", "value": workload.region},
            {"name": "AWS_DEFAULT_REGION", "value": workload.region},
            # Instance metadata is out of reach (hop limit 1); do not wait for it.
            {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
            {"name": "HOME", "value": TMP_DIR},
            {"name": "TMPDIR", "value": TMP_DIR},
            {"name": "MODEL_ROOT", "value": plan.MODEL_ROOT},
        ],
        "resources": plan.container_resources(plan.PodResources("500m", "512Mi")),
        "securityContext": container_security(),
        "volumeMounts": [_mount("models", plan.MODEL_ROOT), _mount("tmp", TMP_DIR)],
    }


def _triton_container(workload: TritonWorkload) -> dict[str, Any]:
    return {
        "name": "triton",
        "image": workload.image,
        "args": plan.triton_args(
            gpu=workload.gpu, exit_timeout_seconds=workload.exit_timeout_seconds
        ),
        "env": [{"name": "HOME", "value": TMP_DIR}],
        "ports": [
            {"name": "http", "containerPort": plan.HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": plan.METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": plan.container_resources(workload.resources, 1 if workload.gpu else 0),
        **plan.triton_probes(workload.startup_timeout_seconds),
        "lifecycle": _pre_stop(),
        "securityContext": container_security(),
        "volumeMounts": [
            _mount("models", plan.MODEL_ROOT, read_only=True),
            _mount("tmp", TMP_DIR),
            _mount("shm", SHM_DIR),
        ],
    }


def _placement(placement: Placement) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeSelector": dict(placement.node_selector)}
    if placement.tolerations:
        spec["tolerations"] = [dict(t) for t in placement.tolerations]
    return spec


def triton_deployment_spec(workload: TritonWorkload) -> dict[str, Any]:
    template_metadata: dict[str, Any] = {"labels": workload.labels}
    if workload.gpu:
        # A warm GPU replica is worth minutes (image pull, load, warm-up): Karpenter must
        # not move it to consolidate; it goes when KEDA scales in or the node expires.
        template_metadata["annotations"] = {DO_NOT_DISRUPT: "true"}
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": workload.selector},
        # GPU: no surge, since the pool's GPU limit may leave no room for an extra replica;
        # one replica at a time goes instead (the gateway falls back to CPU meanwhile).
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": (
                {"maxSurge": 0, "maxUnavailable": 1}
                if workload.gpu
                else {"maxSurge": 1, "maxUnavailable": 0}
            ),
        },
        "template": {
            "metadata": template_metadata,
            "spec": {
                "serviceAccountName": workload.service_account,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": workload.exit_timeout_seconds
                + PRE_STOP_SECONDS
                + 5,
                "securityContext": pod_security(TRITON_UID),
                **_placement(workload.placement),
                "topologySpreadConstraints": zone_spread(workload.selector, workload.zones),
                "initContainers": [_model_sync_container(workload)],
                "containers": [_triton_container(workload)],
                "volumes": [
                    _empty_dir("models", f"{plan.model_volume_mib(workload.sources)}Mi"),
                    _empty_dir("tmp", TMP_SIZE),
                    # Triton passes tensors between processes through shared memory.
                    _empty_dir("shm", TMP_SIZE, memory=True),
                ],
            },
        },
    }
    if workload.replicas is not None:
        spec["replicas"] = workload.replicas
    return spec


def triton_service_spec(workload: TritonWorkload) -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": workload.selector,
        "ports": [
            {"name": "http", "port": plan.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
            {
                "name": "metrics",
                "port": plan.METRICS_PORT,
                "targetPort": "metrics",
                "protocol": "TCP",
            },
        ],
    }


# -- the gateway -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GatewayWorkload:
    image: pulumi.Input[str]
    """``<repository URL>@sha256:<digest>``."""
    config_map: str
    replicas: int
    resources: plan.PodResources
    zones: int
    termination_grace_seconds: int
    """Covers the pre-stop wait and the NLB's deregistration delay."""
    service_account: str = GATEWAY_SERVICE_ACCOUNT

    @property
    def selector(self) -> dict[str, str]:
        return selector_labels(GATEWAY_NAME, GATEWAY_NAME)

    @property
    def labels(self) -> dict[str, str]:
        return labels(GATEWAY_NAME, GATEWAY_NAME, "gateway")


CONFIG_DIR = "/etc/gateway"
CONFIG_FILE = "config.yaml"


def _gateway_container(workload: GatewayWorkload) -> dict[str, Any]:
    return {
        "name": "gateway",
        "image": workload.image,
        "env": [{"name": "GATEWAY_CONFIG", "value": f"{CONFIG_DIR}/{CONFIG_FILE}"}],
        "ports": [
            {"name": "http", "containerPort": plan.GATEWAY_PORT, "protocol": "TCP"},
            # Prometheus only: the NLB's target group and security groups use "http" alone.
            {"name": "metrics", "containerPort": plan.GATEWAY_METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": plan.container_resources(workload.resources),
        **plan.gateway_probes(),
        "lifecycle": _pre_stop(),
        "securityContext": container_security(),
        "volumeMounts": [_mount("config", CONFIG_DIR, read_only=True), _mount("tmp", TMP_DIR)],
    }


def gateway_deployment_spec(workload: GatewayWorkload) -> dict[str, Any]:
    return {
        "replicas": workload.replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": workload.selector},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "template": {
            "metadata": {"labels": workload.labels},
            "spec": {
                "serviceAccountName": workload.service_account,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": workload.termination_grace_seconds,
                "securityContext": pod_security(GATEWAY_UID),
                **_placement(system_placement()),
                "topologySpreadConstraints": zone_spread(workload.selector, workload.zones),
                "containers": [_gateway_container(workload)],
                "volumes": [
                    {"name": "config", "configMap": {"name": workload.config_map}},
                    _empty_dir("tmp", TMP_SIZE),
                ],
            },
        },
    }


def gateway_service_spec(workload: GatewayWorkload) -> dict[str, Any]:
    """ClusterIP only: the NLB reaches the pods through the TargetGroupBinding's IP targets
    on ``http`` (the binding names that port), and nothing else outside the cluster reaches
    the gateway. ``metrics`` is for Prometheus in the cluster."""
    return {
        "type": "ClusterIP",
        "selector": workload.selector,
        "ports": [
            {"name": "http", "port": plan.GATEWAY_PORT, "targetPort": "http", "protocol": "TCP"},
            {
                "name": "metrics",
                "port": plan.GATEWAY_METRICS_PORT,
                "targetPort": "metrics",
                "protocol": "TCP",
            },
        ],
    }


# -- monitoring ------------------------------------------------------------------------------
SCRAPE_INTERVAL = "15s"


def service_monitor_spec(
    selector: Mapping[str, str], namespace: str, port: str, path: str = "/metrics"
) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": dict(selector)},
        "namespaceSelector": {"matchNames": [namespace]},
        "endpoints": [{"port": port, "path": path, "interval": SCRAPE_INTERVAL, "scheme": "http"}],
    }

"""``InferenceService`` in a shipped regional stack (prod-eu-west-1) under the mock cloud.

Proves what the program declares: the pod roles' exact permissions, where each workload may
run, the probes, the spread and budgets, KEDA's bounds and queries, the chart pins and which
provider and dependencies every object has. Does not prove that EKS hands the pods those
credentials, that KEDA or Karpenter act, or that the images start (no cluster here).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from capacity.planner import load_shipped_plan
from components.cluster import versions as cluster_versions
from components.serving import versions
from gateway.config import load_config
from meshctl.mock_cloud import RecordedResource
from meshctl.plan_engine import load_stack_config
from tests.harness import Recording, record_regional_stack

STACK = "prod-eu-west-1"
NAMESPACE = "inference"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
RELEASE = "kubernetes:helm.sh/v3:Release"
WRITE_WORDS = ("Put", "Delete", "Create", "Update", "Write", "Tag", "Restore", "*")


@pytest.fixture(scope="module")
def rec() -> Recording:
    return record_regional_stack(STACK)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return dict(load_stack_config(STACK)["inference-mesh:serving"])


def _k8s(rec: Recording, kind: str, name: str) -> RecordedResource:
    found = [
        r
        for r in rec.resources
        if r.type.endswith(f":{kind}") and (r.props.get("metadata") or {}).get("name") == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {[r.name for r in found]}"
    return found[0]


def _pod(deployment: RecordedResource) -> dict[str, Any]:
    return dict(deployment.props["spec"]["template"]["spec"])


def _statements(document: str) -> list[dict[str, Any]]:
    return list(json.loads(document)["Statement"])


def _role_children(rec: Recording, pod_role: str) -> list[RecordedResource]:
    root = rec.named(pod_role)
    return rec.descendants_of(root.urn)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the component --------------------------------------------------------------------------
def test_exact_children(rec: Recording) -> None:
    root = rec.one("inference-mesh:serving:InferenceService")
    assert Counter(r.type for r in rec.children_of(root.urn)) == {
        "kubernetes:core/v1:Namespace": 1,
        "kubernetes:core/v1:ServiceAccount": 2,
        "inference-mesh:pod_identity:PodRole": 2,
        "inference-mesh:serving:TritonServer": 2,
        "inference-mesh:serving:InferenceGateway": 1,
        "inference-mesh:serving:Monitoring": 1,
        "inference-mesh:serving:QueueAutoscaler": 1,
    }
    workloads = Counter(r.type for r in rec.descendants_of(root.urn) if "kubernetes:" in r.type)
    assert workloads[DEPLOYMENT] == 3
    assert workloads["kubernetes:policy/v1:PodDisruptionBudget"] == 3
    assert workloads[RELEASE] == 2
    assert workloads[SCALED_OBJECT] == 1
    assert workloads[SERVICE_MONITOR] == 3


def test_every_kubernetes_object_uses_the_clusters_provider(rec: Recording) -> None:
    root = rec.one("inference-mesh:serving:InferenceService")
    provider = rec.one("pulumi:providers:kubernetes")
    objects = [r for r in rec.descendants_of(root.urn) if r.type.startswith("kubernetes:")]
    assert len(objects) > 10
    for resource in objects:
        assert resource.provider is not None
        assert resource.provider.startswith(provider.urn), resource.name


def test_exports(rec: Recording) -> None:
    serving = rec.outputs["serving"]
    region = load_shipped_plan("prod").regions["eu-west-1"]
    assert serving["namespace"] == NAMESPACE
    assert serving["gpuClass"] == region.gpu_class
    assert serving["deployments"] == {
        "tritonGpu": "triton-gpu",
        "tritonCpu": "triton-cpu",
        "gateway": "inference-gateway",
    }
    assert serving["autoscaling"]["minReplicas"] == region.min_replicas


# -- AWS access -----------------------------------------------------------------------------
def test_triton_reads_only_its_regions_bucket(rec: Recording) -> None:
    bucket = rec.named("artifacts-bucket").outputs
    assert bucket["bucket"] == "inference-mesh-prod-eu-west-1-models"
    key_arn = rec.named("artifacts-key-key").outputs["arn"]
    children = _role_children(rec, "serving-triton")
    [policy] = [r for r in children if r.type == "aws:iam/rolePolicy:RolePolicy"]
    assert not [
        r for r in children if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    ]
    statements = _statements(policy.props["policy"])
    pointers = [
        f"{bucket['arn']}/pointers/resnet50/active.json",
        f"{bucket['arn']}/pointers/resnet50-lite/active.json",
    ]
    resources = {res for s in statements for res in _listify(s["Resource"])}
    assert resources == {bucket["arn"], f"{bucket['arn']}/artifacts/*", *pointers, key_arn}
    actions = {a for s in statements for a in _listify(s["Action"])}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    # The served models' pointers, read-only, and no other key under pointers/.
    [read_pointers] = [s for s in statements if s["Sid"] == "ReadActiveVersionPointers"]
    assert (read_pointers["Action"], read_pointers["Resource"]) == ("s3:GetObject", pointers)
    [listing] = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Resource"] == bucket["arn"]
    assert listing["Condition"] == {
        "StringLike": {
            "s3:prefix": [
                "artifacts/*",
                "pointers/resnet50/active.json",
                "pointers/resnet50-lite/active.json",
            ]
        }
    }
    assert not [a for a in actions if any(word in a for word in WRITE_WORDS)]
    [decrypt] = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    assert all(s["Effect"] == "Allow" for s in statements)


def test_gateway_role_holds_only_the_feature_reader_policy(rec: Recording) -> None:
    reader = rec.named("features-reader").outputs
    assert reader["name"] == "inference-mesh-prod-eu-west-1-feature-reader"
    role = rec.named("serving-inference-gateway-role")
    children = _role_children(rec, "serving-inference-gateway")
    assert not [r for r in children if r.type == "aws:iam/rolePolicy:RolePolicy"]
    attachments = [
        r
        for r in rec.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.props["role"] == role.outputs["name"]
    ]
    assert [a.props["policyArn"] for a in attachments] == [reader["arn"]]
    # The PodRole attaches the policy whose ARN is only known at deploy time: no separate
    # attachment beside it, and pods start only once the role holds the permission.
    [attachment] = attachments
    assert attachment.name == "serving-inference-gateway-feature-reader"
    assert attachment in children
    association = next(
        r for r in children if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"
    )
    assert attachment.urn in association.dependencies
    gateway = _k8s(rec, "Deployment", "inference-gateway")
    assert attachment.urn in gateway.dependencies


def test_pod_identity_binds_each_role_to_one_service_account(rec: Recording) -> None:
    associations = {
        (r.props["namespace"], r.props["serviceAccount"]): r.props["roleArn"]
        for r in rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert associations[(NAMESPACE, "triton")] == rec.named("serving-triton-role").outputs["arn"]
    assert (
        associations[(NAMESPACE, "inference-gateway")]
        == (rec.named("serving-inference-gateway-role").outputs["arn"])
    )
    for name in ("triton-gpu", "triton-cpu", "inference-gateway"):
        pod = _pod(_k8s(rec, "Deployment", name))
        assert pod["automountServiceAccountToken"] is False
        expected = "inference-gateway" if name == "inference-gateway" else "triton"
        assert pod["serviceAccountName"] == expected


# -- placement, probes, resilience ----------------------------------------------------------
def test_triton_gpu_runs_on_the_planned_class_and_tolerates_the_taint(rec: Recording) -> None:
    region = load_shipped_plan("prod").regions["eu-west-1"]
    deployment = _k8s(rec, "Deployment", "triton-gpu")
    pod = _pod(deployment)
    assert pod["nodeSelector"] == {"inference-mesh/gpu-class": region.gpu_class}
    assert rec.outputs["cluster"]["gpuTaint"] in [
        {k: t[k] for k in ("key", "value", "effect")} for t in pod["tolerations"]
    ]
    [triton] = pod["containers"]
    assert triton["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert triton["image"] == versions.TRITON_IMAGE == "nvcr.io/nvidia/tritonserver:26.04-py3"
    assert "replicas" not in deployment.props["spec"]  # KEDA owns the count
    assert deployment.props["spec"]["template"]["metadata"]["annotations"] == {
        "karpenter.sh/do-not-disrupt": "true"
    }
    nodepool = rec.named(f"cluster-karpenter-nodepool-{region.gpu_class}")
    assert nodepool.urn in deployment.dependencies
    # A pending replica is one Karpenter can serve: the pool's nodes carry the selected
    # label, and every taint they carry is tolerated.
    template = nodepool.props["spec"]["template"]
    assert pod["nodeSelector"].items() <= template["metadata"]["labels"].items()
    for taint in template["spec"]["taints"]:
        assert any(
            t["key"] == taint["key"] and t["effect"] == taint["effect"] for t in pod["tolerations"]
        )


def test_triton_cpu_serves_the_fallback_on_the_system_nodes(rec: Recording, config: dict) -> None:
    deployment = _k8s(rec, "Deployment", "triton-cpu")
    pod = _pod(deployment)
    assert pod["nodeSelector"] == {"inference-mesh/node-role": "system"}
    assert "tolerations" not in pod
    [triton] = pod["containers"]
    assert "nvidia.com/gpu" not in triton["resources"]["requests"]
    [sync] = pod["initContainers"]
    script = sync["args"][0]
    # The lite model's pointer in this region's bucket; its catalog version until then.
    assert "sync_model inference-mesh-prod-eu-west-1-models resnet50-lite 1 model.onnx" in (
        script.splitlines()
    )
    assert "sync_model inference-mesh-prod-eu-west-1-models resnet50 " not in script
    assert deployment.props["spec"]["replicas"] == config["cpuTriton"]["replicas"]


def test_triton_probes_and_model_copy(rec: Recording) -> None:
    for name in ("triton-gpu", "triton-cpu"):
        pod = _pod(_k8s(rec, "Deployment", name))
        [triton] = pod["containers"]
        assert triton["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert "--strict-readiness=true" in triton["args"]
        models = next(m for m in triton["volumeMounts"] if m["name"] == "models")
        assert models["readOnly"] is True
        [sync] = pod["initContainers"]
        assert sync["image"] == versions.MODEL_SYNC_IMAGE
        assert sync["command"] == ["/bin/sh", "-ec"]
        assert "manifest.json" in sync["args"][0]
        assert "sha256sum" in sync["args"][0]
        assert "model_warmup [" in sync["args"][0]
        env = {e["name"]: e["value"] for e in sync["env"]}
        assert env["MODEL_ROOT"] == models["mountPath"] == "/models"
        assert env["AWS_REGION"] == "eu-west-1"


def test_every_deployment_spreads_over_three_zones_and_has_a_budget(rec: Recording) -> None:
    budgets = rec.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    for name in ("triton-gpu", "triton-cpu", "inference-gateway"):
        deployment = _k8s(rec, "Deployment", name)
        labels = deployment.props["spec"]["template"]["metadata"]["labels"]
        [spread] = _pod(deployment)["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["minDomains"] == 3
        assert spread["whenUnsatisfiable"] == "DoNotSchedule"
        assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
        covering = [
            b
            for b in budgets
            if b.props["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, name
        assert covering[0].props["spec"]["maxUnavailable"] == 1


def test_pods_run_restricted(rec: Recording) -> None:
    namespace = _k8s(rec, "Namespace", NAMESPACE)
    assert (
        namespace.props["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    for name in ("triton-gpu", "triton-cpu", "inference-gateway"):
        pod = _pod(_k8s(rec, "Deployment", name))
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}


# -- the gateway ----------------------------------------------------------------------------
def test_gateway_image_is_pinned_by_the_configured_digest(rec: Recording, config: dict) -> None:
    [gateway] = _pod(_k8s(rec, "Deployment", "inference-gateway"))["containers"]
    repository = rec.outputs["images"]["gatewayRepositoryUrl"]
    assert gateway["image"] == f"{repository}@{config['gatewayImageDigest']}"
    assert gateway["image"].startswith("123456789012.dkr.ecr.eu-west-1.amazonaws.com/")


def test_gateway_config_map_is_what_the_pod_mounts_and_loads(
    rec: Recording, tmp_path: Path
) -> None:
    deployment = _k8s(rec, "Deployment", "inference-gateway")
    pod = _pod(deployment)
    [volume] = [v for v in pod["volumes"] if v["name"] == "config"]
    config_map = _k8s(rec, "ConfigMap", volume["configMap"]["name"])
    assert config_map.props["immutable"] is True
    path = tmp_path / "config.yaml"
    path.write_text(config_map.props["data"]["config.yaml"])
    loaded = load_config(path, env={})
    assert loaded.features.table == rec.outputs["features"]["tableName"]
    assert loaded.jurisdiction == "EU"
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {"name": "GATEWAY_CONFIG", "value": "/etc/gateway/config.yaml"} in container["env"]


# -- metrics and autoscaling ---------------------------------------------------------------
def test_scaled_object_queries_triton_with_the_plans_and_configs_numbers(
    rec: Recording, config: dict
) -> None:
    region = load_shipped_plan("prod").regions["eu-west-1"]
    scaled = rec.one(SCALED_OBJECT)
    spec = scaled.props["spec"]
    assert spec["scaleTargetRef"]["name"] == "triton-gpu"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (
        region.min_replicas,
        region.max_replicas,
    )
    depth, duration = spec["triggers"]
    assert "nv_inference_pending_request_count" in depth["metadata"]["query"]
    assert depth["metadata"]["threshold"] == str(region.queue_target_per_replica)
    assert "nv_inference_queue_duration_us" in duration["metadata"]["query"]
    threshold = config["autoscaling"]["queueDurationThresholdMs"]
    assert float(duration["metadata"]["threshold"]) == threshold
    assert spec["pollingInterval"] == config["autoscaling"]["pollingIntervalSeconds"]
    assert spec["cooldownPeriod"] == config["autoscaling"]["cooldownPeriodSeconds"]
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    stabilization = config["autoscaling"]["scaleDownStabilizationSeconds"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == stabilization
    prometheus = "http://prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"
    assert {t["metadata"]["serverAddress"] for t in spec["triggers"]} == {prometheus}
    keda = rec.named("serving-autoscaler-keda")
    assert keda.urn in scaled.dependencies
    assert _k8s(rec, "Deployment", "triton-gpu").urn in scaled.dependencies


def test_gateway_metrics_have_their_own_port_and_monitor(rec: Recording) -> None:
    [container] = _pod(_k8s(rec, "Deployment", "inference-gateway"))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000, "metrics": 9102}
    service = _k8s(rec, "Service", "inference-gateway").props["spec"]
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["ports"]} == {
        "http": (8000, "http"),
        "metrics": (9102, "metrics"),
    }
    assert service["type"] == "ClusterIP"
    monitor = next(
        r
        for r in rec.of_type(SERVICE_MONITOR)
        if r.props["metadata"]["name"] == "inference-gateway"
    )
    [endpoint] = monitor.props["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    # The NLB reaches the pods on the serving port only (tests/ingress prove its groups).
    binding = rec.one("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")
    assert binding.props["spec"]["serviceRef"] == {"name": "inference-gateway", "port": 8000}


def test_monitors_scrape_triton_dcgm_and_the_gateway_after_the_operator(rec: Recording) -> None:
    chart = rec.named("serving-monitoring-chart")
    monitors = {r.props["metadata"]["name"]: r for r in rec.of_type(SERVICE_MONITOR)}
    assert set(monitors) == {"triton", "dcgm-exporter", "inference-gateway"}
    for monitor in monitors.values():
        assert chart.urn in monitor.dependencies
    triton = monitors["triton"].props["spec"]
    assert triton["endpoints"][0]["port"] == "metrics"
    assert triton["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    triton_service = _k8s(rec, "Service", "triton-gpu").props
    metrics = next(p for p in triton_service["spec"]["ports"] if p["name"] == "metrics")
    assert metrics["port"] == 8002
    assert triton["selector"]["matchLabels"].items() <= triton_service["metadata"]["labels"].items()
    dcgm = monitors["dcgm-exporter"].props["spec"]
    release = rec.named("cluster-nvidia-dcgm-exporter").props
    assert dcgm["namespaceSelector"] == {"matchNames": [release["namespace"]]}
    # The chart labels its Service with its name and the release name (templates/_helpers.tpl).
    assert dcgm["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": cluster_versions.DCGM_EXPORTER.chart,
        "app.kubernetes.io/instance": release["name"],
    }
    assert dcgm["endpoints"][0]["port"] == "metrics"


def test_charts_are_pinned(rec: Recording) -> None:
    releases = {r.name: r.props for r in rec.of_type(RELEASE)}
    expected = {
        "serving-autoscaler-keda": versions.KEDA,
        "serving-monitoring-chart": versions.KUBE_PROMETHEUS_STACK,
    }
    for name, chart in expected.items():
        props = releases[name]
        assert (props["chart"], props["version"]) == (chart.chart, chart.version)
        assert props["repositoryOpts"]["repo"] == chart.repository
    assert versions.KEDA.version == "2.20.2"
    assert versions.KUBE_PROMETHEUS_STACK.version == "88.5.3"

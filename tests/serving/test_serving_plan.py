"""The pure decisions behind serving (components/serving_plan.py, components/serving/manifests.py)
without Pulumi: model sources, Triton arguments and warm-up, resources, the KEDA triggers and
the gateway's config, with golden files for what the cluster will run.

Proves what the objects say; does not prove that Triton, KEDA or the gateway behave as they
say (no cluster here): the warm-up is parsed against a transcription of Triton's config proto,
and the gateway config by the gateway's own loader.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import serving_plan as plan
from components.serving import manifests
from gateway.config import load_config
from meshctl.plan_engine import discover_stacks, is_global
from model_artifacts.catalog import load_model_catalog
from model_artifacts.registry.layout import version_prefix
from model_artifacts.triton_config import render_config
from stacks import naming
from tests.serving.support import StackInputs, check_golden, stack_inputs
from tests.serving.triton_proto import parse_model_config

REGIONAL_STACKS = [s for s in discover_stacks() if not is_global(s)]
STACK = "prod-eu-west-1"
BUCKET = naming.artifact_bucket("prod", "eu-west-1")


@pytest.fixture(scope="module")
def inputs() -> StackInputs:
    return stack_inputs(STACK)


def _workload(inputs: StackInputs, gpu: bool) -> manifests.TritonWorkload:
    return manifests.triton_workload(
        gpu=gpu,
        model=inputs.model if gpu else inputs.fallback,
        bucket=BUCKET,
        region="eu-west-1",
        resources=inputs.serving.triton_gpu if gpu else inputs.serving.triton_cpu,
        placement=(
            manifests.gpu_placement(inputs.region_plan.gpu_class)
            if gpu
            else manifests.system_placement()
        ),
        zones=3,
        replicas=None if gpu else inputs.serving.cpu_replicas,
        startup_timeout_seconds=inputs.serving.startup_timeout_seconds,
    )


def _scaling(inputs: StackInputs) -> plan.QueueScaling:
    serving, region = inputs.serving, inputs.region_plan
    return plan.QueueScaling(
        min_replicas=region.min_replicas,
        max_replicas=region.max_replicas,
        queue_target_per_replica=region.queue_target_per_replica,
        queue_duration_threshold_ms=serving.queue_duration_threshold_ms,
        polling_interval_seconds=serving.polling_interval_seconds,
        cooldown_period_seconds=serving.cooldown_period_seconds,
        scale_down_stabilization_seconds=serving.scale_down_stabilization_seconds,
    )


def _routing(inputs: StackInputs) -> plan.GatewayRouting:
    spec, gateway = inputs.settings.region, inputs.serving.gateway
    return plan.GatewayRouting(
        region=spec.region,
        jurisdiction=spec.jurisdiction,
        slo_ms=gateway.slo_ms,
        home_endpoints=inputs.serving.home_endpoints,
        feature_table=naming.feature_table(inputs.settings.environment, spec.region),
        gpu_url=manifests.service_url(manifests.TRITON_GPU_NAME),
        cpu_url=manifests.service_url(manifests.TRITON_CPU_NAME),
        gpu=gateway.gpu,
        cpu=gateway.cpu,
        log_level=gateway.log_level,
    )


# -- model files ---------------------------------------------------------------------------
def test_model_source_reads_the_regions_pointer_and_falls_back_to_the_catalog() -> None:
    catalog = load_model_catalog()
    for model in catalog:
        source = plan.model_source(BUCKET, model)
        assert source.bucket == BUCKET
        assert source.pointer_key == f"pointers/{model.name}/active.json"
        assert source.catalog_version == model.active
        assert source.version_uri(3) == f"s3://{BUCKET}/{version_prefix(model.name, 3)}"
        assert source.version_uri(3) == f"s3://{BUCKET}/artifacts/{model.name}/3/"
        assert source.max_size_bytes == max(v.size_bytes for v in model.versions)
        assert source.directory == f"/models/{model.name}"


def test_sync_script_reads_the_pointer_verifies_against_the_manifest_and_warms_up(
    inputs: StackInputs,
) -> None:
    # Behaviour (which version, refusals) is proven by running it: test_model_sync.py.
    source = plan.model_source(BUCKET, inputs.model)
    script = plan.sync_script([source], {inputs.model.name: plan.warmup_stanza(inputs.model)})
    lines = script.splitlines()
    assert lines[0] == "set -euf"  # any failed step stops the pod before Triton starts
    assert 'models_root="${MODEL_ROOT:-/models}"' in lines
    assert f"budget={plan.sync_budget_bytes([source])}" in lines
    call = f"sync_model {BUCKET} resnet50 {inputs.model.active} model.onnx"
    assert call in lines
    warmup = lines.index("cat >> \"$models_root/resnet50/config.pbtxt\" <<'WARMUP'")
    assert lines.index(call) < warmup  # the warm-up goes in after the files are verified
    assert "pointers/$model/active.json" in script
    assert "manifest.json" in script
    assert "sha256sum" in script
    assert "aws s3api list-objects-v2" in script
    assert "--recursive" not in script  # only the files the manifest lists are copied
    check_golden("resnet50-sync.sh", script)


def test_sync_script_is_valid_posix_shell(inputs: StackInputs, tmp_path: Path) -> None:
    source = plan.model_source(BUCKET, inputs.model)
    path = tmp_path / "sync.sh"
    path.write_text(plan.sync_script([source], {}))
    for shell in ("/bin/sh", "bash"):
        # -n: parse only, run nothing.
        result = subprocess.run(
            [shell, "-n", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr


def test_rollout_restart_names_the_deployment_that_serves_the_model() -> None:
    catalog = load_model_catalog()
    gpu, cpu = catalog.get("resnet50"), catalog.get("resnet50-lite")
    assert plan.triton_deployment(gpu) == manifests.TRITON_GPU_NAME == "triton-gpu"
    assert plan.triton_deployment(cpu) == manifests.TRITON_CPU_NAME == "triton-cpu"
    assert plan.rollout_restart_command(gpu, "inference-mesh-prod-eu-west-1") == (
        "kubectl --context inference-mesh-prod-eu-west-1 --namespace inference rollout "
        "restart deployment/triton-gpu"
    )


@pytest.mark.parametrize("name", ["resnet50", "resnet50-lite"])
def test_published_config_plus_warmup_parses_as_triton_config(name: str) -> None:
    model = load_model_catalog().get(name)
    text = render_config(model) + plan.warmup_stanza(model)
    config = parse_model_config(text)
    assert config.name == name
    sizes = [w.batch_size for w in config.model_warmup]
    assert sizes == sorted({1, *model.triton.preferred_batch_sizes})
    assert max(sizes) <= model.triton.max_batch_size
    for warmup in config.model_warmup:
        assert set(warmup.inputs) == {t.name for t in model.inputs}
        assert list(warmup.inputs["input"].dims) == [3, 224, 224]
    check_golden(f"{name}.config.pbtxt", text)


def test_committed_lite_config_is_what_the_catalog_renders() -> None:
    # The file the CPU Triton copies is the catalog's render; the warm-up extends that text.
    committed = Path("model_artifacts/repository/resnet50-lite/config.pbtxt").read_text()
    assert committed == render_config(load_model_catalog().get("resnet50-lite"))


def test_model_volume_holds_the_largest_catalog_version_with_headroom() -> None:
    model = load_model_catalog().get("resnet50")
    source = plan.model_source(BUCKET, model)
    mib = plan.model_volume_mib([source])
    assert mib * 2**20 > max(v.size_bytes for v in model.versions) * 1.2
    # The script may copy up to the volume less room for the warm-up it appends.
    assert source.max_size_bytes < plan.sync_budget_bytes([source]) < mib * 2**20


# -- Triton ----------------------------------------------------------------------------------
def test_triton_args() -> None:
    gpu = plan.triton_args(gpu=True, exit_timeout_seconds=30)
    assert gpu[0] == "tritonserver"
    for flag in (
        "--model-repository=/models",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--allow-grpc=false",
        "--http-port=8000",
        "--metrics-port=8002",
        "--allow-gpu-metrics=true",
        "--disable-auto-complete-config",
    ):
        assert flag in gpu
    cpu = plan.triton_args(gpu=False, exit_timeout_seconds=30)
    assert "--allow-gpu-metrics=false" in cpu
    assert "--pinned-memory-pool-byte-size=0" in cpu


def test_probes_use_the_kserve_health_endpoints() -> None:
    probes = plan.triton_probes(600)
    assert probes["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert probes["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    gateway = plan.gateway_probes()
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}


def test_triton_deployments_golden(inputs: StackInputs) -> None:
    check_golden(
        "triton-gpu.deployment.json", manifests.triton_deployment_spec(_workload(inputs, True))
    )
    check_golden(
        "triton-cpu.deployment.json", manifests.triton_deployment_spec(_workload(inputs, False))
    )


# -- resources -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("quantity", "millis"), [("2", 2000), ("500m", 500), ("1.5", 1500), ("0.25", 250)]
)
def test_cpu_quantities(quantity: str, millis: int) -> None:
    assert plan.cpu_millis(quantity) == millis


@pytest.mark.parametrize("bad", ["", "0", "2 cores", "1e3", "-1", "1.2345", "two"])
def test_bad_cpu_quantities(bad: str) -> None:
    with pytest.raises(plan.ServingPlanError, match="cpu must be a quantity"):
        plan.cpu_millis(bad)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["Mi", "Gi"]))
def test_memory_quantities(amount: int, unit: str) -> None:
    assert plan.memory_mib(f"{amount}{unit}") == amount * (1024 if unit == "Gi" else 1)


@pytest.mark.parametrize("bad", ["8G", "8gi", "0Mi", "8", "1.5Gi"])
def test_bad_memory_quantities(bad: str) -> None:
    with pytest.raises(plan.ServingPlanError, match="memory must be a quantity"):
        plan.memory_mib(bad)


def test_gpu_resources_request_and_limit_one_gpu() -> None:
    resources = plan.container_resources(plan.PodResources("2", "8Gi"), gpus=1)
    assert resources == {
        "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": 1},
    }


def test_requests_must_fit_the_smallest_instance_of_the_pool() -> None:
    plan.check_fits(plan.PodResources("3", "12Gi"), ["g5.xlarge", "g5.8xlarge"], "Triton")
    with pytest.raises(plan.ServingPlanError, match=r"Triton asks for 4 CPU .* g5\.xlarge"):
        plan.check_fits(plan.PodResources("4", "8Gi"), ["g5.8xlarge", "g5.xlarge"], "Triton")
    with pytest.raises(plan.ServingPlanError, match=r"more than g4dn\.xlarge leaves"):
        plan.check_fits(plan.PodResources("1", "13Gi"), ["g4dn.xlarge"], "Triton")


# -- autoscaling -----------------------------------------------------------------------------
def test_scaled_object_uses_the_plans_bounds_and_the_triton_queue(inputs: StackInputs) -> None:
    scaling = _scaling(inputs)
    plan.check_queue_scaling(scaling, inputs.model, inputs.region_plan.budget_ms)
    spec = plan.scaled_object_spec("triton-gpu", "inference", "resnet50", scaling, "http://p:9090")
    assert spec["minReplicaCount"] == inputs.region_plan.min_replicas
    assert spec["maxReplicaCount"] == inputs.region_plan.max_replicas
    depth, duration = spec["triggers"]
    assert depth["metricType"] == "AverageValue"  # per replica
    assert depth["metadata"]["query"] == (
        'sum(nv_inference_pending_request_count{namespace="inference",service="triton-gpu",'
        'model="resnet50"})'
    )
    assert depth["metadata"]["threshold"] == str(inputs.region_plan.queue_target_per_replica)
    assert duration["metricType"] == "Value"
    assert "rate(nv_inference_queue_duration_us{" in duration["metadata"]["query"]
    assert "rate(nv_inference_request_success{" in duration["metadata"]["query"]
    assert float(duration["metadata"]["threshold"]) == inputs.serving.queue_duration_threshold_ms
    check_golden("triton-gpu.scaledobject.json", spec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_replicas": 5, "max_replicas": 4}, "1 <= min <= max"),
        ({"min_replicas": 0}, "1 <= min <= max"),
        ({"queue_target_per_replica": 33}, "queue target per replica must be 1 to 32"),
        ({"queue_duration_threshold_ms": 2.0}, "batcher's own delay"),
        ({"queue_duration_threshold_ms": 130.0}, "latency budget"),
    ],
)
def test_queue_scaling_is_checked_against_the_model(
    inputs: StackInputs, change: dict[str, float], message: str
) -> None:
    scaling = dataclasses.replace(_scaling(inputs), **change)
    with pytest.raises(plan.ServingPlanError, match=message):
        plan.check_queue_scaling(scaling, inputs.model, 130.0)


# -- gateway config --------------------------------------------------------------------------
@pytest.mark.parametrize("stack", REGIONAL_STACKS)
def test_gateway_config_loads_with_the_gateways_own_loader(stack: str, tmp_path: Path) -> None:
    inputs = stack_inputs(stack)
    document = plan.gateway_config(
        _routing(inputs), inputs.serving.gateway.auth, inputs.model, inputs.fallback
    )
    path = tmp_path / "config.yaml"
    path.write_text(plan.render_gateway_config(document))
    config = load_config(path, env={})
    spec = inputs.settings.region
    assert (config.region, config.jurisdiction) == (spec.region, spec.jurisdiction)
    assert config.features.table == naming.feature_table(inputs.settings.environment, spec.region)
    assert config.features.aws_region == spec.region
    assert set(config.home_endpoints) == {r.jurisdiction for r in inputs.settings.catalog}
    assert config.backends["gpu"].url == "http://triton-gpu.inference.svc.cluster.local:8000"
    assert config.backends["cpu"].url == "http://triton-cpu.inference.svc.cluster.local:8000"
    [model] = config.models.values()
    assert (model.primary.backend, model.primary.model) == ("gpu", "resnet50")
    assert model.fallback is not None
    assert (model.fallback.backend, model.fallback.model) == ("cpu", "resnet50-lite")
    assert model.max_batch_size == inputs.model.triton.max_batch_size
    assert config.server.port == plan.GATEWAY_PORT
    assert config.server.metrics_port == plan.GATEWAY_METRICS_PORT != plan.GATEWAY_PORT
    assert config.auth.algorithm == "EdDSA"
    if stack == STACK:
        check_golden("gateway-config.prod-eu-west-1.yaml", path.read_text())


def test_config_map_name_follows_the_content() -> None:
    first = plan.config_map_name("inference-gateway-config", "a: 1\n")
    assert first == plan.config_map_name("inference-gateway-config", "a: 1\n")
    assert first != plan.config_map_name("inference-gateway-config", "a: 2\n")
    assert len(first) <= 63

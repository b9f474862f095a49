"""Pure decisions behind regional serving: where Triton's model files come from, its arguments
and warm-up, probes and resources, the KEDA queue triggers, and the gateway's configuration.

No Pulumi here: every rule is a function of the model catalog, the capacity plan and stack
config, so it is tested on its own and its rendered artefacts are golden files
(``tests/serving/golden/``).

Model files: the bucket holds one Triton model directory per version
(``artifacts/<model>/<version>/`` with ``config.pbtxt`` and ``<version>/model.onnx``,
``model_artifacts/README.md`` "Bucket layout"). Triton's own ``s3://`` repository support
cannot serve that layout (a repository holds model directories named after the model, with
every version inside), so an init container copies the catalog's ``active`` version of each
model out of the region's bucket into ``/models/<model>/`` (the layout README's "syncs
artifacts/<model>/<active>/ into /models/<model>/"), checks the model file against the
catalog's sha256 and appends the warm-up; Triton then serves ``/models``. The version comes
from the catalog (code review and ``pulumi up``), not from the bucket's pointer, so what runs
is what the stack says; ``meshctl models promote`` moves the pointer only once a version is
complete everywhere, and changing the catalog's ``active`` rolls it out with the probes and
the PodDisruptionBudget guarding the change.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from model_artifacts.catalog import ModelSpec, TensorSpec
from model_artifacts.registry.layout import MANIFEST_NAME, version_prefix
from model_artifacts.triton_config import triton_datatype
from regions.instance_types import INSTANCE_TYPES

HTTP_PORT = 8000
METRICS_PORT = 8002
GATEWAY_PORT = 8000
"""The gateway's listener (``gateway/config.py`` ``server.port`` default, its Dockerfile's
EXPOSE); the NLB's targets and health checks use it."""
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
"""KServe v2 health endpoints; Triton and the gateway both serve them."""
MODEL_ROOT = "/models"
GPU_RESOURCE = "nvidia.com/gpu"

NODE_HEADROOM_MILLICPU = 1000
NODE_HEADROOM_MIB = 4096
"""What a node keeps for the kubelet's reservations and the DaemonSets (VPC CNI, kube-proxy,
Pod Identity agent, NVIDIA device plugin, DCGM exporter, node exporter): a pod asking for more
than the node minus this would never schedule."""
MODEL_VOLUME_HEADROOM = 1.25
QUEUE_RATE_WINDOW = "1m"
"""Rate window of the queue-duration guardrail: four scrapes at the 15 s interval."""
MIN_REQUEST_RATE = 0.001
"""Requests/s below which the guardrail's denominator is clamped: no traffic reads as no
queueing instead of 0/0 (NaN), which KEDA would report as a scaler error."""


class ServingPlanError(ValueError):
    """The catalog, the capacity plan and the serving config do not fit together."""


# -- model files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSource:
    """One model version as Triton serves it, and where its files come from."""

    name: str
    version: int
    model_file: str
    sha256: str
    size_bytes: int
    uri: str
    """``s3://<bucket>/artifacts/<model>/<version>/``: the version's Triton model directory."""

    @property
    def directory(self) -> str:
        return f"{MODEL_ROOT}/{self.name}"

    @property
    def model_path(self) -> str:
        return f"{self.directory}/{self.version}/{self.model_file}"


def model_source(bucket: str, model: ModelSpec) -> ModelSource:
    """The catalog's ``active`` version of ``model`` in ``bucket``."""
    version = model.version(model.active)
    return ModelSource(
        name=model.name,
        version=model.active,
        model_file=model.model_file,
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        uri=f"s3://{bucket}/{version_prefix(model.name, model.active)}",
    )


def warmup_batch_sizes(model: ModelSpec) -> tuple[int, ...]:
    """Batch 1 and every preferred batch size: the shapes the dynamic batcher will run."""
    return tuple(sorted({1, *model.triton.preferred_batch_sizes}))


def warmup_stanza(model: ModelSpec) -> str:
    """Triton ``model_warmup`` entries (protobuf text) appended to the synced config.pbtxt, so
    the first real requests do not pay for kernel selection and memory allocation (figures.md
    section 7: model load and optimisation are slow; configure warm-up)."""
    entries = [_warmup_entry(model, size) for size in warmup_batch_sizes(model)]
    return "model_warmup [\n" + ",\n".join(entries) + "\n]\n"


def _warmup_entry(model: ModelSpec, batch_size: int) -> str:
    inputs = "".join(_warmup_input(tensor) for tensor in model.inputs)
    return (
        "  {\n"
        f'    name: "{model.name}-batch-{batch_size}"\n'
        f"    batch_size: {batch_size}\n"
        f"{inputs}"
        "  }"
    )


def _warmup_input(tensor: TensorSpec) -> str:
    # Variable dimensions (-1) need a concrete size to warm up with; 1 is the smallest.
    dims = ", ".join(str(d if d > 0 else 1) for d in tensor.shape)
    return (
        "    inputs {\n"
        f'      key: "{tensor.name}"\n'
        "      value {\n"
        f"        data_type: {triton_datatype(tensor.datatype)}\n"
        f"        dims: [ {dims} ]\n"
        "        random_data: true\n"
        "      }\n"
        "    }\n"
    )


def sync_script(sources: Sequence[ModelSource], warmups: Mapping[str, str]) -> str:
    """The init container's shell script: copy, verify, append warm-up; any failure stops the
    pod before Triton starts (``set -eu``), so a missing replica or a corrupt file never
    serves."""
    lines = ["set -eu"]
    for source in sources:
        lines += [
            f'aws s3 cp "{source.uri}" "{source.directory}/" --recursive --only-show-errors '
            f'--exclude "{MANIFEST_NAME}"',
            f'echo "{source.sha256}  {source.model_path}" | sha256sum -c --quiet -',
        ]
        if source.name in warmups:
            lines += [
                f"cat >> {source.directory}/config.pbtxt <<'WARMUP'",
                warmups[source.name].rstrip("\n"),
                "WARMUP",
            ]
    return "\n".join(lines) + "\n"


def model_volume_mib(sources: Sequence[ModelSource]) -> int:
    """Size limit of the emptyDir the models are copied into: their files plus headroom."""
    total = sum(s.size_bytes for s in sources) * MODEL_VOLUME_HEADROOM
    return math.ceil(total / 2**20) + 64


# -- Triton ----------------------------------------------------------------------------------
def triton_args(*, gpu: bool, exit_timeout_seconds: int) -> list[str]:
    """``tritonserver`` arguments. Model control ``none`` loads what is in /models at start
    and leaves no repository API to load or unload models at run time; gRPC is off because the
    gateway speaks KServe v2 over HTTP; strict readiness keeps a pod out of the Service until
    every model (and its warm-up) is loaded."""
    args = [
        "tritonserver",
        f"--model-repository={MODEL_ROOT}",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        # The config comes from the catalog; Triton must not invent missing fields.
        "--disable-auto-complete-config",
        "--allow-http=true",
        f"--http-port={HTTP_PORT}",
        "--allow-grpc=false",
        "--allow-metrics=true",
        f"--metrics-port={METRICS_PORT}",
        f"--allow-gpu-metrics={'true' if gpu else 'false'}",
        "--allow-cpu-metrics=true",
        f"--exit-timeout-secs={exit_timeout_seconds}",
    ]
    if not gpu:
        # No CUDA driver on CPU nodes: skip the pinned host-memory pool Triton would try to
        # allocate through it.
        args.append("--pinned-memory-pool-byte-size=0")
    return args


def _http_probe(path: str, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def triton_probes(startup_timeout_seconds: int) -> dict[str, dict[str, Any]]:
    """Startup covers the model copy's aftermath, load and warm-up; readiness drops a pod from
    the Service within ~10 s; liveness restarts a hung server only after 30 s."""
    period = 10
    return {
        "startupProbe": _http_probe(
            READY_PATH, period, max(1, math.ceil(startup_timeout_seconds / period))
        ),
        "readinessProbe": _http_probe(READY_PATH, 5, 2),
        "livenessProbe": _http_probe(LIVE_PATH, 10, 3, timeout=5),
    }


def gateway_probes() -> dict[str, dict[str, Any]]:
    return {
        "readinessProbe": _http_probe(READY_PATH, 5, 2),
        "livenessProbe": _http_probe(LIVE_PATH, 10, 3, timeout=5),
    }


# -- resources -------------------------------------------------------------------------------
_CPU = re.compile(r"^(?P<whole>[0-9]+)(?P<milli>m)?$|^(?P<decimal>[0-9]+\.[0-9]{1,3})$")
_MEMORY = re.compile(r"^(?P<amount>[0-9]+)(?P<unit>Mi|Gi)$")


@dataclass(frozen=True)
class PodResources:
    cpu: str
    """Kubernetes CPU quantity: ``2``, ``1.5`` or ``500m``."""
    memory: str
    """Kubernetes memory quantity in ``Mi`` or ``Gi``."""


def cpu_millis(quantity: str) -> int:
    match = _CPU.match(quantity)
    if not match or quantity in {"0", "0m"}:
        raise ServingPlanError(f"cpu must be a quantity such as 2, 1.5 or 500m, got {quantity!r}")
    if match["decimal"]:
        return round(float(match["decimal"]) * 1000)
    whole = int(match["whole"])
    return whole if match["milli"] else whole * 1000


def memory_mib(quantity: str) -> int:
    match = _MEMORY.match(quantity)
    if not match or int(match["amount"]) == 0:
        raise ServingPlanError(f"memory must be a quantity such as 512Mi or 8Gi, got {quantity!r}")
    amount = int(match["amount"])
    return amount * 1024 if match["unit"] == "Gi" else amount


def container_resources(resources: PodResources, gpus: int = 0) -> dict[str, Any]:
    """Requests as given; memory limited to the request (a leak is killed, never the node);
    no CPU limit, since throttling a latency-bound server only adds tail latency."""
    requests: dict[str, Any] = {"cpu": resources.cpu, "memory": resources.memory}
    limits: dict[str, Any] = {"memory": resources.memory}
    if gpus:
        requests[GPU_RESOURCE] = gpus
        limits[GPU_RESOURCE] = gpus
    return {"requests": requests, "limits": limits}


def check_fits(resources: PodResources, instance_types: Sequence[str], where: str) -> None:
    """Raises unless the smallest of ``instance_types`` holds the pod beside the headroom."""
    millis, mib = cpu_millis(resources.cpu), memory_mib(resources.memory)
    for name in instance_types:
        spec = INSTANCE_TYPES[name]
        cpu_room = spec.vcpus * 1000 - NODE_HEADROOM_MILLICPU
        memory_room = spec.memory_gib * 1024 - NODE_HEADROOM_MIB
        if millis > cpu_room or mib > memory_room:
            raise ServingPlanError(
                f"{where} asks for {resources.cpu} CPU and {resources.memory}, more than "
                f"{name} leaves for pods ({cpu_room}m CPU, {memory_room}Mi after the node's "
                f"reservations and DaemonSets); lower the request"
            )


# -- autoscaling -----------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueScaling:
    min_replicas: int
    """From the capacity plan (``RegionPlan.min_replicas``)."""
    max_replicas: int
    """From the capacity plan (``RegionPlan.max_replicas``)."""
    queue_target_per_replica: int
    """From the capacity plan (``RegionPlan.queue_target_per_replica``): requests waiting per
    replica at which KEDA adds replicas."""
    queue_duration_threshold_ms: float
    """Guardrail: mean time requests wait in Triton's queue before KEDA adds replicas even when
    the queue looks short (slow batches); from stack config."""
    polling_interval_seconds: int
    cooldown_period_seconds: int
    scale_down_stabilization_seconds: int


def check_queue_scaling(scaling: QueueScaling, model: ModelSpec, budget_ms: float) -> None:
    """The plan's and the config's numbers must make sense for the model's Triton settings."""
    if not 1 <= scaling.min_replicas <= scaling.max_replicas:
        raise ServingPlanError(
            f"replica bounds must satisfy 1 <= min <= max, got {scaling.min_replicas}/"
            f"{scaling.max_replicas} from the capacity plan"
        )
    full = model.triton.max_batch_size * model.triton.instance_count
    if not 1 <= scaling.queue_target_per_replica <= full:
        raise ServingPlanError(
            f"queue target per replica must be 1 to {full} (max_batch_size x instance_count of "
            f"{model.name}: beyond a full batch per instance requests wait a whole batch "
            f"before any scale-out), got {scaling.queue_target_per_replica}"
        )
    batcher_ms = model.triton.max_queue_delay_us / 1000
    if not batcher_ms < scaling.queue_duration_threshold_ms < budget_ms:
        raise ServingPlanError(
            f"queue duration threshold must lie between the batcher's own delay "
            f"({batcher_ms} ms, which it would trip constantly) and the region's latency "
            f"budget ({budget_ms} ms, by which point the SLO is already lost), got "
            f"{scaling.queue_duration_threshold_ms} ms"
        )


def _selector(namespace: str, service: str, model: str) -> str:
    # namespace and service are target labels the ServiceMonitor adds; model is Triton's.
    return f'namespace="{namespace}",service="{service}",model="{model}"'


def queue_depth_query(namespace: str, service: str, model: str) -> str:
    """Requests waiting in every replica's queue; KEDA divides by replicas (AverageValue)."""
    return f"sum(nv_inference_pending_request_count{{{_selector(namespace, service, model)}}})"


def queue_duration_query(namespace: str, service: str, model: str) -> str:
    """Mean milliseconds a request spent queued over the last minute, across replicas."""
    selector = _selector(namespace, service, model)
    window = QUEUE_RATE_WINDOW
    return (
        f"sum(rate(nv_inference_queue_duration_us{{{selector}}}[{window}])) / 1000 / "
        f"clamp_min(sum(rate(nv_inference_request_success{{{selector}}}[{window}])), "
        f"{MIN_REQUEST_RATE})"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def scaled_object_spec(
    deployment: str,
    namespace: str,
    model: str,
    scaling: QueueScaling,
    prometheus_url: str,
) -> dict[str, Any]:
    """KEDA ScaledObject spec: queue depth per replica is the signal, queue time the
    guardrail (figures.md section 2, EKS guide ml-inference-autoscaling-hpa-keda). KEDA takes
    the larger replica count of the two triggers."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "pollingInterval": scaling.polling_interval_seconds,
        "cooldownPeriod": scaling.cooldown_period_seconds,
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "name": deployment,
                "behavior": {
                    # Scale out at once: a new GPU replica takes 84 s to minutes to serve.
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                    },
                    # Scale in one replica a minute, after the window: a cold start costs more
                    # than a few idle GPU-minutes.
                    "scaleDown": {
                        "stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    },
                },
            }
        },
        "triggers": [
            {
                "type": "prometheus",
                "name": "queue-depth",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": queue_depth_query(namespace, deployment, model),
                    "threshold": str(scaling.queue_target_per_replica),
                },
            },
            {
                "type": "prometheus",
                "name": "queue-duration",
                "metricType": "Value",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": queue_duration_query(namespace, deployment, model),
                    "threshold": _number(scaling.queue_duration_threshold_ms),
                },
            },
        ],
    }


# -- the gateway's configuration -------------------------------------------------------------
@dataclass(frozen=True)
class GatewayAuth:
    """How the gateway verifies users' tokens. Asymmetric only: the gateway holds a public key,
    never a signing secret, so its ConfigMap is not a secret."""

    algorithm: str
    """``EdDSA`` or ``ES256``."""
    public_key_pem: str
    jurisdiction_claim: str = "jurisdiction"
    issuer: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class BackendTuning:
    timeout_ms: float
    max_concurrency: int


@dataclass(frozen=True)
class GatewayRouting:
    """What the gateway needs to know about this region and its backends."""

    region: str
    jurisdiction: str
    slo_ms: float
    home_endpoints: Mapping[str, str]
    """Jurisdiction -> https URL of that jurisdiction's entry point (its accelerator's DNS
    name): where a user from another jurisdiction is redirected."""
    feature_table: str
    gpu_url: str
    cpu_url: str
    gpu: BackendTuning
    cpu: BackendTuning
    log_level: str = "INFO"


def _tensors(tensors: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


def _auth(auth: GatewayAuth) -> dict[str, Any]:
    section: dict[str, Any] = {
        "algorithm": auth.algorithm,
        "public_key_pem": auth.public_key_pem,
        "jurisdiction_claim": auth.jurisdiction_claim,
    }
    if auth.issuer:
        section["issuer"] = auth.issuer
    if auth.audience:
        section["audience"] = auth.audience
    return section


def _backend(url: str, tuning: BackendTuning) -> dict[str, Any]:
    return {"url": url, "timeout_ms": tuning.timeout_ms, "max_concurrency": tuning.max_concurrency}


def gateway_config(
    routing: GatewayRouting, auth: GatewayAuth, primary: ModelSpec, fallback: ModelSpec
) -> dict[str, Any]:
    """The gateway's config document (schema: ``gateway/config.py``): the catalog's model on
    Triton GPU, its lighter fallback on Triton CPU, this region's feature table."""
    return {
        "region": routing.region,
        "jurisdiction": routing.jurisdiction,
        "slo_ms": routing.slo_ms,
        "home_endpoints": dict(routing.home_endpoints),
        "auth": _auth(auth),
        "features": {"table": routing.feature_table, "aws_region": routing.region},
        "backends": {
            "gpu": _backend(routing.gpu_url, routing.gpu),
            "cpu": _backend(routing.cpu_url, routing.cpu),
        },
        "models": [
            {
                "name": primary.name,
                "version": str(primary.active),
                "inputs": _tensors(primary.inputs),
                "outputs": _tensors(primary.outputs),
                "scores_output": primary.outputs[0].name,
                "max_batch_size": primary.triton.max_batch_size,
                "primary": {"backend": "gpu", "model": primary.name},
                "fallback": {"backend": "cpu", "model": fallback.name},
            }
        ],
        "server": {"host": "0.0.0.0", "port": GATEWAY_PORT},  # noqa: S104 - the pod's listener
        "observability": {"tracing_exporter": "none", "log_level": routing.log_level},
    }


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the PEM key) as literal blocks, the way people write them."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def render_gateway_config(document: Mapping[str, Any]) -> str:
    header = "# Rendered by components/serving_plan.py from the stack config; do not edit.\n"
    body = yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False, width=100)
    return header + body


def config_map_name(stem: str, content: str) -> str:
    """A name that changes with the content, so a config change replaces the ConfigMap and
    rolls the Deployment: the gateway reads its config once, at start."""
    return f"{stem}-{hashlib.sha256(content.encode()).hexdigest()[:10]}"

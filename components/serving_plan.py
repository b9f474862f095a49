"""Pure decisions behind regional serving: where Triton's model files come from, its arguments
and warm-up, probes and resources, the KEDA queue triggers, and the gateway's configuration.

No Pulumi here: every rule is a function of the model catalog, the capacity plan and stack
config, so it is tested on its own and its rendered artefacts are golden files
(``tests/serving/golden/``).

Model files: the bucket holds one Triton model directory per version
(``artifacts/<model>/<version>/`` with ``config.pbtxt`` and ``<version>/model.onnx``, and
``manifest.json`` written last, ``model_artifacts/README.md`` "Bucket layout"). Triton's own
``s3://`` repository support cannot serve that layout (a repository holds model directories
named after the model, with every version inside), so an init container copies one version
of each model out of the region's bucket into ``/models/<model>/`` and Triton serves
``/models``. Which version: the region's pointer ``pointers/<model>/active.json``, the one
``meshctl models promote`` and ``rollback`` move; only while no pointer exists yet (a fresh
environment, nothing promoted) the catalog's ``active`` version. The script logs which one it
used. It copies exactly the files the version's ``manifest.json`` lists and checks each
one's size and sha256 against it; a missing manifest (a version still replicating, or a
publish that never finished), a listing or copy that fails, or any mismatch stops the pod
before Triton starts. Then it appends the warm-up.

The pointer is read when a pod starts: after ``promote`` or ``rollback``, restart the Triton
Deployments in every region (``rollout_restart_commands``; ``meshctl models promote`` prints
them) and the rollout moves replica by replica behind the probes and the
PodDisruptionBudget.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from model_artifacts.catalog import ModelSpec, TensorSpec
from model_artifacts.registry.layout import pointer_key, version_prefix
from model_artifacts.triton_config import triton_datatype
from regions.instance_types import INSTANCE_TYPES

HTTP_PORT = 8000
METRICS_PORT = 8002
GATEWAY_PORT = 8000
"""The gateway's listener (``gateway/config.py`` ``server.port`` default, its Dockerfile's
EXPOSE); the NLB's targets and health checks use it, and nothing else of the gateway is on it."""
GATEWAY_METRICS_PORT = 9102
"""The gateway's Prometheus listener (``server.metrics_port``): in the cluster only, never a
target of the NLB, whose security groups admit the gateway port alone."""
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
"""KServe v2 health endpoints; Triton and the gateway both serve them."""
MODEL_ROOT = "/models"
SERVING_NAMESPACE = "inference"
TRITON_GPU_NAME, TRITON_CPU_NAME = "triton-gpu", "triton-cpu"
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
    """One model Triton serves, and where its files come from."""

    name: str
    bucket: str
    """The region's artifact bucket (``stacks.naming.artifact_bucket``)."""
    catalog_version: int
    """The catalog's ``active`` version: served only while the bucket holds no pointer for the
    model yet (a fresh environment, nothing promoted)."""
    model_file: str
    max_size_bytes: int
    """The largest model file among the catalog's versions: what the models volume is sized
    for. A version larger than every catalog version is refused at copy time."""

    @property
    def directory(self) -> str:
        return f"{MODEL_ROOT}/{self.name}"

    @property
    def pointer_key(self) -> str:
        """``pointers/<model>/active.json``: the version serving loads in this region."""
        return pointer_key(self.name)

    def version_uri(self, version: int) -> str:
        """``s3://<bucket>/artifacts/<model>/<version>/``: a version's Triton model directory."""
        return f"s3://{self.bucket}/{version_prefix(self.name, version)}"


def model_source(bucket: str, model: ModelSpec) -> ModelSource:
    """``model`` as served from ``bucket``: the version its pointer names, the catalog's
    ``active`` version until a pointer exists."""
    return ModelSource(
        name=model.name,
        bucket=bucket,
        catalog_version=model.active,
        model_file=model.model_file,
        max_size_bytes=max(v.size_bytes for v in model.versions),
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


SYNC_FUNCTIONS = r"""
log() { printf 'model-sync: %s\n' "$*" >&2; }
refuse() { log "$*; Triton does not start"; exit 1; }

# listed BUCKET KEY: whether the object exists. Only a listing that answers without KEY means
# it does not; a listing that fails (no access, no network) stops the script, so an error is
# never taken for a missing pointer.
listed() {
  keys=$(aws s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[].Key' \
    --output text </dev/null) || refuse "cannot list s3://$1/$2"
  for listed_key in $keys; do
    if [ "$listed_key" = "$2" ]; then return 0; fi
  done
  return 1
}

# fetch BUCKET KEY FILE
fetch() {
  mkdir -p "${3%/*}"
  aws s3 cp "s3://$1/$2" "$3" --only-show-errors </dev/null || refuse "cannot copy s3://$1/$2"
}

# field NAME: the scalar NAME of the one-line JSON object on stdin, without its quotes (up
# to the first quote, comma or brace: a value holding one reads short and fails a check).
field() {
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# sync_model BUCKET MODEL CATALOG_VERSION MODEL_FILE: copy the version the region's pointer
# names (the catalog's while there is no pointer) into $models_root/MODEL and check every file
# against the version's manifest.json.
sync_model() {
  bucket=$1 model=$2
  pointer="pointers/$model/active.json"
  if listed "$bucket" "$pointer"; then
    fetch "$bucket" "$pointer" "$work/$model.pointer.json"
    doc=$(tr -d ' \t\r\n' <"$work/$model.pointer.json")
    if [ "$(printf '%s' "$doc" | field model)" != "$model" ]; then
      refuse "s3://$bucket/$pointer is not the pointer of $model"
    fi
    version=$(printf '%s' "$doc" | field active)
    origin="s3://$bucket/$pointer"
  else
    version=$3
    origin="the model catalog (no s3://$bucket/$pointer yet: nothing promoted here)"
  fi
  case "$version" in
    '' | *[!0-9]* | 0*) refuse "$model: not a version number from $origin: '$version'" ;;
  esac
  log "$model: serving version $version from $origin"
  prefix="artifacts/$model/$version/"
  if ! listed "$bucket" "${prefix}manifest.json"; then
    refuse "$model version $version has no s3://$bucket/${prefix}manifest.json: it is" \
      "incomplete in this region (publish writes the manifest last, replication may" \
      "still be copying) or was never published"
  fi
  fetch "$bucket" "${prefix}manifest.json" "$work/$model.manifest.json"
  manifest=$(tr -d ' \t\r\n' <"$work/$model.manifest.json")
  header=$(printf '%s' "$manifest" | sed 's/"files":\[[^]]*\]//')
  if [ "$(printf '%s' "$header" | field model)" != "$model" ] \
    || [ "$(printf '%s' "$header" | field version)" != "$version" ]; then
    refuse "s3://$bucket/${prefix}manifest.json is not the manifest of $model version $version"
  fi
  printf '%s\n' "$manifest" | sed 's/.*"files":\[//; s/\].*//' | tr '}' '\n' >"$work/$model.files"
  target="$models_root/$model"
  rm -rf "$target"
  mkdir -p "$target"
  count=0
  listing="the manifest of $model version $version"
  while IFS= read -r entry; do
    entry=${entry#,}
    if [ -z "$entry" ]; then continue; fi
    path=$(printf '%s' "$entry" | field path)
    key=$(printf '%s' "$entry" | field key)
    size=$(printf '%s' "$entry" | field size)
    sha=$(printf '%s' "$entry" | field sha256)
    case "$path" in
      '' | /* | *..* | *[!A-Za-z0-9._/-]*) refuse "$listing lists an unsafe path: '$path'" ;;
    esac
    case "$size" in
      '' | *[!0-9]*) refuse "$listing gives no size for $path" ;;
    esac
    case "$sha" in
      *[!0-9a-f]*) refuse "$listing gives no sha256 for $path" ;;
    esac
    if [ "${#sha}" -ne 64 ]; then
      refuse "$listing gives no sha256 for $path"
    fi
    if [ "$key" != "$prefix$path" ]; then
      refuse "$listing lists $path at $key, expected $prefix$path"
    fi
    used=$((used + size))
    if [ "$used" -gt "$budget" ]; then
      refuse "$model version $version needs more than the models volume holds" \
        "($budget bytes): list the version in model_artifacts/models.yaml and deploy," \
        "so the volume is sized for it"
    fi
    fetch "$bucket" "$key" "$target/$path"
    actual=$(wc -c <"$target/$path")
    if [ "$((actual))" -ne "$size" ]; then
      refuse "$target/$path has $((actual)) bytes, manifest.json says $size"
    fi
    actual=$(sha256sum <"$target/$path")
    if [ "${actual%% *}" != "$sha" ]; then
      refuse "$target/$path has sha256 ${actual%% *}, manifest.json says $sha"
    fi
    count=$((count + 1))
  done <"$work/$model.files"
  if [ ! -f "$target/config.pbtxt" ] || [ ! -f "$target/$version/$4" ]; then
    refuse "$listing lacks config.pbtxt or $version/$4: not a Triton model directory"
  fi
  log "$model: version $version verified: $count files match its manifest.json"
}
"""
"""Shell functions of the init container's script (POSIX sh with the AWS CLI, sed, tr, wc
and sha256sum, all in the AWS CLI image). No JSON tool there: the pointer and the manifest
are flattened to one line and read field by field; a document they cannot read fails a check
and stops the pod rather than passing it."""


def sync_script(sources: Sequence[ModelSource], warmups: Mapping[str, str]) -> str:
    """The init container's shell script: for each model, resolve the version (pointer, else
    catalog), copy the files its manifest lists, verify each one's size and sha256, append the
    warm-up. Any failure stops the pod before Triton starts (``set -eu`` and explicit checks),
    so a missing replica, an incomplete version or a corrupt file never serves.
    ``MODEL_ROOT`` (default ``/models``) and ``TMPDIR`` move the copy for tests."""
    lines = [
        "set -euf",
        "# Rendered by components/serving_plan.py (sync_script); do not edit.",
        f'models_root="${{MODEL_ROOT:-{MODEL_ROOT}}}"',
        'work="$(mktemp -d)"',
        f"budget={sync_budget_bytes(sources)}",
        "used=0",
        SYNC_FUNCTIONS.strip("\n"),
    ]
    for source in sources:
        arguments = [source.bucket, source.name, str(source.catalog_version), source.model_file]
        lines.append("sync_model " + " ".join(shlex.quote(a) for a in arguments))
        if source.name in warmups:
            lines += [
                f"cat >> \"$models_root/{source.name}/config.pbtxt\" <<'WARMUP'",
                warmups[source.name].rstrip("\n"),
                "WARMUP",
            ]
    return "\n".join(lines) + "\n"


def model_volume_mib(sources: Sequence[ModelSource]) -> int:
    """Size limit of the emptyDir the models are copied into: the largest catalog version of
    each model plus headroom."""
    total = sum(s.max_size_bytes for s in sources) * MODEL_VOLUME_HEADROOM
    return math.ceil(total / 2**20) + 64


def sync_budget_bytes(sources: Sequence[ModelSource]) -> int:
    """What the script may copy: the volume less a MiB for the warm-up text it appends."""
    return (model_volume_mib(sources) - 1) * 2**20


# -- rollout after promote -------------------------------------------------------------------
def triton_deployment(model: ModelSpec) -> str:
    """The Triton Deployment that serves ``model``: GPU models on ``triton-gpu``, their CPU
    fallbacks on ``triton-cpu``."""
    return TRITON_GPU_NAME if model.serving == "gpu" else TRITON_CPU_NAME


def rollout_restart_command(model: ModelSpec, context: str) -> str:
    """The command that makes a region load a moved pointer: Triton reads it at pod start, so
    its pods are replaced one at a time (``maxUnavailable: 1``, readiness-gated)."""
    return (
        f"kubectl --context {context} --namespace {SERVING_NAMESPACE} rollout restart "
        f"deployment/{triton_deployment(model)}"
    )


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
        "server": {
            "host": "0.0.0.0",  # noqa: S104 - the pod's listeners
            "port": GATEWAY_PORT,
            "metrics_port": GATEWAY_METRICS_PORT,
        },
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

"""The ``serving`` concern of a regional stack: reads ``inference-mesh:serving`` and builds
``InferenceService`` in the region's cluster.

Config (stack file, under ``config:``)::

    inference-mesh:gatewayImageDigest: sha256:<64 hex>  # optional; CI sets it, overrides the next
    inference-mesh:serving:
      gatewayImageDigest: sha256:<64 hex>   # a tag is refused; all zeros: offline placeholder
      homeEndpoints:                        # every jurisdiction of the region catalog
        EU: https://eu.inference.example.com
      gateway:
        replicas: 3
        cpu: 500m
        memory: 512Mi
        sloMs: 50                  # at most the plan's latency budget for the region
        gpuTimeoutMs: 20
        cpuTimeoutMs: 25
        gpuMaxConcurrency: 64
        cpuMaxConcurrency: 32
        terminationGraceSeconds: 60
        logLevel: INFO
        auth: {algorithm: EdDSA, publicKeyPem: "...", jurisdictionClaim: jurisdiction,
               issuer: ..., audience: ...}
      triton: {cpu: "2", memory: 8Gi, startupTimeoutSeconds: 600}
      cpuTriton: {replicas: 3, cpu: "1", memory: 2Gi}
      autoscaling:
        queueDurationThresholdMs: 20
        pollingIntervalSeconds: 15
        cooldownPeriodSeconds: 300
        scaleDownStabilizationSeconds: 300
      prometheus: {retention: 2d, cpu: 500m, memory: 2Gi}

Not in config, on purpose: the GPU class, the replica bounds and the queue target per
replica come from the capacity plan (``capacity.planner.load_shipped_plan``), the single
source of fleet size; the models and their versions come from the model catalog.

``homeEndpoints`` are the per-jurisdiction entry points the gateway redirects users to: set
them to the DNS names of the jurisdictions' accelerators (the global stack exports them).

The gateway image: CI builds, scans and pushes it to the primary region's repository, waits
for ECR replication, then runs ``pulumi up`` with ``inference-mesh:gatewayImageDigest`` set
to the pushed digest (a top-level key, so CI sets it with ``pulumi config set`` without
editing the stack file); it overrides ``serving.gatewayImageDigest``. The all-zero digest in
the shipped stack files is a placeholder for the offline plan and previews: a real
deployment refuses it before declaring anything (``refuse_placeholders``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components import serving_plan as plan
from stacks import naming
from stacks.settings import NAMESPACE, RegionalSettings, StackConfigError, config_object

if TYPE_CHECKING:  # the SDK-heavy modules load only when a stack is built
    from capacity.planner import RegionPlan
    from components.serving import InferenceServiceArgs
    from model_artifacts.catalog import ModelSpec
    from stacks.context import RegionalContext

CONFIG_KEY = "serving"
KEY = f"{NAMESPACE}:{CONFIG_KEY}"
DIGEST_CONFIG_KEY = "gatewayImageDigest"
DIGEST_KEY = f"{NAMESPACE}:{DIGEST_CONFIG_KEY}"
"""Top-level key CI sets to the digest it pushed; overrides ``serving.gatewayImageDigest``."""
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
"""The shipped stack files' digest: no registry serves it; real deployments refuse it."""
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_JURISDICTION = re.compile(r"^[A-Z]{2,3}$")
_PEM = re.compile(r"^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$")
_RETENTION = re.compile(r"^[1-9][0-9]*(h|d|w)$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_OPTIONAL = re.compile(r"^\S.{0,255}$")
_TOP = {"gatewayImageDigest", "homeEndpoints", "gateway", "triton", "cpuTriton"}
_TOP |= {"autoscaling", "prometheus"}
_GATEWAY = {"replicas", "cpu", "memory", "sloMs", "gpuTimeoutMs", "cpuTimeoutMs"}
_GATEWAY |= {"gpuMaxConcurrency", "cpuMaxConcurrency", "terminationGraceSeconds"}
_GATEWAY |= {"logLevel", "auth"}
_AUTH = {"algorithm", "publicKeyPem", "jurisdictionClaim", "issuer", "audience"}
_TRITON = {"cpu", "memory", "startupTimeoutSeconds"}
_CPU_TRITON = {"replicas", "cpu", "memory"}
_AUTOSCALING = {"queueDurationThresholdMs", "pollingIntervalSeconds"}
_AUTOSCALING |= {"cooldownPeriodSeconds", "scaleDownStabilizationSeconds"}
_PROMETHEUS = {"retention", "cpu", "memory"}
AUTH_ALGORITHMS = ("EdDSA", "ES256")
"""Asymmetric only: an HS256 secret would have to live in the gateway's ConfigMap."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class GatewayConfig:
    replicas: int
    resources: plan.PodResources
    slo_ms: float
    gpu: plan.BackendTuning
    cpu: plan.BackendTuning
    termination_grace_seconds: int
    log_level: str
    auth: plan.GatewayAuth


@dataclass(frozen=True)
class ServingSettings:
    gateway_image_digest: str
    """``inference-mesh:gatewayImageDigest`` when CI set it, else the serving section's."""
    home_endpoints: Mapping[str, str]
    gateway: GatewayConfig
    triton_gpu: plan.PodResources
    startup_timeout_seconds: int
    cpu_replicas: int
    triton_cpu: plan.PodResources
    queue_duration_threshold_ms: float
    polling_interval_seconds: int
    cooldown_period_seconds: int
    scale_down_stabilization_seconds: int
    prometheus_retention: str
    prometheus_resources: plan.PodResources


# -- parsing (pure) ---------------------------------------------------------------------
class _Section:
    """One mapping of the config, naming ``inference-mesh:serving.<path>`` in errors."""

    def __init__(self, stack: str, data: Any, path: str, allowed: set[str]):
        if not isinstance(data, dict):
            raise StackConfigError(stack, path, "a mapping", data)
        for unknown in sorted(set(data) - allowed):
            raise StackConfigError(stack, f"{path}.{unknown}", f"one of {sorted(allowed)}")
        self.stack, self.data, self.path = stack, data, path

    def fail(self, key: str, expected: str) -> StackConfigError:
        return StackConfigError(self.stack, f"{self.path}.{key}", expected, self.data.get(key))

    def section(self, key: str, allowed: set[str], required: bool = False) -> _Section:
        if key not in self.data and not required:
            return _Section(self.stack, {}, f"{self.path}.{key}", allowed)
        return _Section(self.stack, self.data.get(key), f"{self.path}.{key}", allowed)

    def integer(self, key: str, low: int, high: int, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"a whole number from {low} to {high}")
        return value

    def number(self, key: str, low: float, high: float, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            raise self.fail(key, f"a number above {low} and at most {high}")
        return float(value)

    def text(self, key: str, pattern: re.Pattern[str], expected: str, default: str = "") -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not pattern.match(value):
            raise self.fail(key, expected)
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"one of {list(allowed)}")
        return str(value)

    def resources(self, default: plan.PodResources) -> plan.PodResources:
        cpu = self.data.get("cpu", default.cpu)
        memory = self.data.get("memory", default.memory)
        try:
            plan.cpu_millis(str(cpu))
        except plan.ServingPlanError as exc:
            raise self.fail("cpu", str(exc)) from None
        try:
            plan.memory_mib(str(memory))
        except plan.ServingPlanError as exc:
            raise self.fail("memory", str(exc)) from None
        return plan.PodResources(str(cpu), str(memory))


def parse_serving_settings(
    stack: str,
    data: Any,
    jurisdictions: Iterable[str],
    budget_ms: float,
    digest_override: Any = None,
) -> ServingSettings:
    """``data`` is the ``inference-mesh:serving`` mapping; ``jurisdictions`` those of the region
    catalog (each needs a home endpoint); ``budget_ms`` the plan's latency budget;
    ``digest_override`` the ``inference-mesh:gatewayImageDigest`` value when set."""
    top = _Section(stack, data, KEY, _TOP)
    scaling = top.section("autoscaling", _AUTOSCALING)
    triton, cpu_triton = top.section("triton", _TRITON), top.section("cpuTriton", _CPU_TRITON)
    prometheus = top.section("prometheus", _PROMETHEUS)
    return ServingSettings(
        gateway_image_digest=_image_digest(top, digest_override)[0],
        home_endpoints=_home_endpoints(top, jurisdictions),
        gateway=_gateway(top.section("gateway", _GATEWAY, required=True), budget_ms),
        triton_gpu=triton.resources(plan.PodResources("2", "8Gi")),
        startup_timeout_seconds=triton.integer("startupTimeoutSeconds", 60, 3600, 600),
        cpu_replicas=cpu_triton.integer("replicas", 1, 100, 3),
        triton_cpu=cpu_triton.resources(plan.PodResources("1", "2Gi")),
        queue_duration_threshold_ms=scaling.number(
            "queueDurationThresholdMs", 0, budget_ms, min(20.0, budget_ms / 2)
        ),
        polling_interval_seconds=scaling.integer("pollingIntervalSeconds", 5, 300, 15),
        cooldown_period_seconds=scaling.integer("cooldownPeriodSeconds", 0, 3600, 300),
        scale_down_stabilization_seconds=scaling.integer(
            "scaleDownStabilizationSeconds", 0, 3600, 300
        ),
        prometheus_retention=prometheus.text(
            "retention", _RETENTION, "a Prometheus duration in h, d or w such as 2d", "2d"
        ),
        prometheus_resources=prometheus.resources(plan.PodResources("500m", "2Gi")),
    )


_DIGEST_EXPECTED = (
    "an image digest sha256:<64 lowercase hex> (a tag is refused: it can move, a digest "
    "always names the same image)"
)


def _image_digest(top: _Section, override: Any) -> tuple[str, str]:
    """The gateway image digest and the key it came from: CI's top-level override when set,
    else the serving section's (which must be valid either way: it is the fallback)."""
    value = top.data.get("gatewayImageDigest")
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise top.fail("gatewayImageDigest", _DIGEST_EXPECTED)
    if override is None:
        return value, f"{KEY}.gatewayImageDigest"
    if not isinstance(override, str) or not _DIGEST.match(override):
        raise StackConfigError(top.stack, DIGEST_KEY, _DIGEST_EXPECTED, override)
    return override, DIGEST_KEY


def _home_endpoints(top: _Section, jurisdictions: Iterable[str]) -> dict[str, str]:
    key = "homeEndpoints"
    value = top.data.get(key)
    if not isinstance(value, dict) or not all(
        isinstance(j, str) and _JURISDICTION.match(j) for j in value
    ):
        raise top.fail(key, "a mapping of jurisdiction (EU, US ...) to an https:// URL")
    missing = sorted(set(jurisdictions) - set(value))
    if missing:
        raise top.fail(key, f"an entry for every jurisdiction of the catalog, missing {missing}")
    for jurisdiction, url in value.items():
        if not isinstance(url, str) or not re.match(r"^https://[a-z0-9.-]+(:[0-9]+)?/?$", url):
            raise StackConfigError(
                top.stack,
                f"{KEY}.{key}.{jurisdiction}",
                "an https:// URL of the jurisdiction's entry point (host only)",
                url,
            )
    return {j: str(u).rstrip("/") for j, u in sorted(value.items())}


def _gateway(section: _Section, budget_ms: float) -> GatewayConfig:
    return GatewayConfig(
        replicas=section.integer("replicas", 1, 100, 3),
        resources=section.resources(plan.PodResources("500m", "512Mi")),
        slo_ms=section.number("sloMs", 0, budget_ms, min(50.0, budget_ms)),
        gpu=plan.BackendTuning(
            section.number("gpuTimeoutMs", 0, 10_000, 20),
            section.integer("gpuMaxConcurrency", 1, 10_000, 64),
        ),
        cpu=plan.BackendTuning(
            section.number("cpuTimeoutMs", 0, 10_000, 25),
            section.integer("cpuMaxConcurrency", 1, 10_000, 32),
        ),
        termination_grace_seconds=section.integer("terminationGraceSeconds", 20, 3600, 60),
        log_level=section.choice("logLevel", LOG_LEVELS, "INFO"),
        auth=_auth(section.section("auth", _AUTH, required=True)),
    )


def _auth(section: _Section) -> plan.GatewayAuth:
    return plan.GatewayAuth(
        algorithm=section.choice("algorithm", AUTH_ALGORITHMS, ""),
        public_key_pem=section.text(
            "publicKeyPem", _PEM, "a PEM public key (-----BEGIN PUBLIC KEY----- ...)"
        ),
        jurisdiction_claim=section.text(
            "jurisdictionClaim", _CLAIM, "a JWT claim name", "jurisdiction"
        ),
        issuer=_optional(section, "issuer"),
        audience=_optional(section, "audience"),
    )


def _optional(section: _Section, key: str) -> str | None:
    if key not in section.data:
        return None
    return section.text(key, _OPTIONAL, "a non-empty string of at most 256 characters")


def serving_settings(settings: RegionalSettings, budget_ms: float) -> ServingSettings:
    jurisdictions = {spec.jurisdiction for spec in settings.catalog}
    return parse_serving_settings(
        settings.stack,
        config_object(settings, CONFIG_KEY),
        jurisdictions,
        budget_ms,
        digest_override=settings.raw.get(DIGEST_KEY),
    )


def check_settings(settings: RegionalSettings) -> None:
    """Parses ``inference-mesh:serving`` against this region's capacity plan; raises
    ``StackConfigError`` on bad input (stacks/regional.py runs it before any resource)."""
    serving_settings(settings, planned_region(settings)[1].budget_ms)


def gateway_image_digest(settings: RegionalSettings) -> tuple[str, str]:
    """The digest the gateway will run and the key it came from, validated, without the
    capacity plan (``refuse_placeholders`` runs before anything else)."""
    top = _Section(settings.stack, config_object(settings, CONFIG_KEY), KEY, _TOP)
    return _image_digest(top, settings.raw.get(DIGEST_KEY))


def check_deployable_digest(stack: str, digest: str, key: str) -> None:
    """Raises unless ``digest`` names a pushed image: the placeholder only plans."""
    if digest == PLACEHOLDER_DIGEST:
        raise StackConfigError(
            stack,
            key,
            f"the digest of a pushed gateway image: the all-zero digest is the offline plan's "
            f"placeholder and no registry serves it; set {DIGEST_KEY} to the digest CI pushed "
            f"(pulumi config set {DIGEST_KEY} sha256:...)",
            digest,
        )


def refuse_placeholders(settings: RegionalSettings) -> None:
    """In a real deployment (not a preview, not the mock engine), refuse the placeholder
    digest before any resource is declared."""
    from stacks import engine  # noqa: PLC0415 (imports the Pulumi SDK)

    if engine.is_real_deployment():
        check_deployable_digest(settings.stack, *gateway_image_digest(settings))


# -- inputs from the plan and the catalog -------------------------------------------------
def planned_region(settings: RegionalSettings) -> tuple[str, RegionPlan]:
    """The capacity plan's model and its sizing of this region: GPU class, replica bounds,
    queue target and latency budget."""
    from capacity.planner import load_shipped_plan  # noqa: PLC0415 (loads data files)

    fleet = load_shipped_plan(settings.environment)
    region = fleet.regions.get(settings.region.region)
    if region is None:
        raise StackConfigError(
            settings.stack,
            "aws:region",
            "a region the capacity plan sizes (capacity/planner.py load_shipped_plan)",
            settings.region.region,
        )
    return fleet.model, region


def served_models(model_name: str) -> tuple[ModelSpec, ModelSpec]:
    """The planned model of the catalog and its CPU fallback."""
    from model_artifacts.catalog import load_model_catalog  # noqa: PLC0415

    catalog = load_model_catalog()
    model = catalog.get(model_name)
    if model.fallback is None:
        raise ValueError(
            f"{model.source_file}: field 'models.{model.name}.fallback': expected the cpu "
            "model serving takes over with when no GPU replica answers in time"
        )
    return model, catalog.get(model.fallback)


# -- the builder ---------------------------------------------------------------------------
def build(ctx: RegionalContext) -> dict[str, Any]:
    """Declares the region's serving; ``ctx.built["serving"]`` is the component."""
    from components.serving import InferenceService  # noqa: PLC0415 (SDK-heavy)

    service = InferenceService("serving", serving_args(ctx), opts=ctx.opts)
    ctx.built["serving"] = service
    return service.exports()


def _built(ctx: RegionalContext, concern: str) -> Any:
    if concern not in ctx.built:
        raise RuntimeError(
            f"serving needs the {concern!r} builder to run before it (stacks/regional.py "
            "REGIONAL_BUILDERS)"
        )
    return ctx.built[concern]


def serving_args(ctx: RegionalContext) -> InferenceServiceArgs:
    import pulumi  # noqa: PLC0415

    from components.cluster import nvidia  # noqa: PLC0415
    from components.cluster import versions as cluster_versions  # noqa: PLC0415
    from components.serving import (  # noqa: PLC0415
        ArtifactAccess,
        DcgmTarget,
        GatewaySizing,
        InferenceServiceArgs,
        TritonSizing,
    )
    from components.serving.manifests import (  # noqa: PLC0415
        TRITON_CPU_NAME,
        TRITON_GPU_NAME,
        service_url,
    )
    from stacks.cluster import cluster_settings  # noqa: PLC0415

    settings, spec = ctx.settings, ctx.settings.region
    cluster, artifacts = _built(ctx, "cluster"), _built(ctx, "artifacts")
    features, images = _built(ctx, "features"), _built(ctx, "images")
    model_name, region_plan = planned_region(settings)
    config = serving_settings(settings, region_plan.budget_ms)
    model, fallback = served_models(model_name)
    pools = cluster.exports()["gpuPools"]
    if region_plan.gpu_class not in pools:
        raise StackConfigError(
            settings.stack,
            f"{NAMESPACE}:cluster.gpuPools.classes",
            f"to include {region_plan.gpu_class!r}, the class the capacity plan sizes "
            f"{spec.region} with",
            sorted(pools),
        )
    scaling = plan.QueueScaling(
        min_replicas=region_plan.min_replicas,
        max_replicas=region_plan.max_replicas,
        queue_target_per_replica=region_plan.queue_target_per_replica,
        queue_duration_threshold_ms=config.queue_duration_threshold_ms,
        polling_interval_seconds=config.polling_interval_seconds,
        cooldown_period_seconds=config.cooldown_period_seconds,
        scale_down_stabilization_seconds=config.scale_down_stabilization_seconds,
    )
    gpu_types = tuple(pools[region_plan.gpu_class]["instanceTypes"])
    system_type = cluster_settings(settings).system_nodes.instance_type
    _check_sizes(settings, config, model, scaling, region_plan.budget_ms, gpu_types, system_type)
    dcgm = cluster_versions.DCGM_EXPORTER.chart
    gateway = config.gateway
    return InferenceServiceArgs(
        region=spec.region,
        zones=len(spec.availability_zones),
        account_id=ctx.account_id,
        cluster_name=cluster.cluster.name,
        k8s_provider=cluster.k8s_provider,
        gpu_class=region_plan.gpu_class,
        gpu_instance_types=gpu_types,
        system_instance_type=system_type,
        artifacts=ArtifactAccess(
            bucket=naming.artifact_bucket(settings.environment, spec.region),
            bucket_arn=artifacts.bucket.arn,
            key_arn=artifacts.key.arn,
        ),
        feature_reader_policy_arn=features.reader_policy_arn,
        model=model,
        fallback=fallback,
        gateway_image=pulumi.Output.concat(images.url, "@", config.gateway_image_digest),
        gateway_routing=plan.GatewayRouting(
            region=spec.region,
            jurisdiction=spec.jurisdiction,
            slo_ms=gateway.slo_ms,
            home_endpoints=config.home_endpoints,
            feature_table=naming.feature_table(settings.environment, spec.region),
            gpu_url=service_url(TRITON_GPU_NAME),
            cpu_url=service_url(TRITON_CPU_NAME),
            gpu=gateway.gpu,
            cpu=gateway.cpu,
            log_level=gateway.log_level,
        ),
        gateway_auth=gateway.auth,
        gateway=GatewaySizing(
            gateway.replicas, gateway.resources, gateway.termination_grace_seconds
        ),
        triton=TritonSizing(
            gpu=config.triton_gpu,
            cpu=config.triton_cpu,
            cpu_replicas=config.cpu_replicas,
            startup_timeout_seconds=config.startup_timeout_seconds,
        ),
        scaling=scaling,
        budget_ms=region_plan.budget_ms,
        dcgm=DcgmTarget(
            namespace=nvidia.NAMESPACE,
            selector={"app.kubernetes.io/name": dcgm, "app.kubernetes.io/instance": dcgm},
        ),
        prometheus_retention=config.prometheus_retention,
        prometheus_resources=config.prometheus_resources,
        depends_on=[cluster.node_group, *cluster.addons.values()],
        gpu_depends_on=[
            cluster.karpenter.node_pools[region_plan.gpu_class],
            cluster.nvidia.device_plugin,
        ],
    )


def _check_sizes(
    settings: RegionalSettings,
    config: ServingSettings,
    model: ModelSpec,
    scaling: plan.QueueScaling,
    budget_ms: float,
    gpu_types: tuple[str, ...],
    system_type: str,
) -> None:
    """The plan-, catalog- and node-dependent checks, reported against the stack file."""
    checks: list[tuple[str, Callable[[], None]]] = [
        ("autoscaling", lambda: plan.check_queue_scaling(scaling, model, budget_ms)),
        ("triton", lambda: plan.check_fits(config.triton_gpu, gpu_types, "Triton on GPU")),
        ("cpuTriton", lambda: plan.check_fits(config.triton_cpu, [system_type], "Triton on CPU")),
        (
            "gateway",
            lambda: plan.check_fits(config.gateway.resources, [system_type], "the gateway"),
        ),
    ]
    for field, check in checks:
        try:
            check()
        except plan.ServingPlanError as exc:
            raise StackConfigError(settings.stack, f"{KEY}.{field}", str(exc)) from None

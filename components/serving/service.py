"""``InferenceService``: one region's serving in its GPU cluster.

Triton on the planned GPU class serves the catalog's model; Triton on the system nodes serves
its lighter CPU fallback; the inference gateway in front of both is the only workload the
load balancer reaches (``components.ingress``). KEDA scales Triton on GPU by its queue, read
from the Prometheus installed here, within the capacity plan's bounds; Karpenter adds GPU
nodes for the pods it cannot place.

AWS access is by EKS Pod Identity only (``components.pod_identity.PodRole``):

* ``triton`` (both Triton Deployments): read the region's artifact bucket (list and get
  ``artifacts/*``; list and get the served models' ``pointers/<model>/active.json``, the
  version to load) and decrypt with its key through S3. Nothing else, no write.
* ``inference-gateway``: the feature store's ``feature-reader`` policy (this region's table,
  read-only). Nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import serving_plan as plan
from components.pod_identity import PodRole, PodRoleArgs
from components.serving import manifests
from components.serving.autoscaling import QueueAutoscaler, QueueAutoscalerArgs
from components.serving.gateway import InferenceGateway, InferenceGatewayArgs
from components.serving.manifests import (
    GATEWAY_SERVICE_ACCOUNT,
    NAMESPACE,
    TRITON_CPU_NAME,
    TRITON_GPU_NAME,
    TRITON_SERVICE_ACCOUNT,
    GatewayWorkload,
)
from components.serving.observability import (
    DEFAULT_RESOURCES,
    Monitoring,
    MonitoringArgs,
    ScrapeTarget,
)
from components.serving.triton import TritonServer, TritonServerArgs
from model_artifacts.catalog import ModelSpec
from model_artifacts.registry.layout import pointer_key

FEATURE_READER = "feature-reader"
"""Name of the gateway role's attachment of the feature store's reader policy."""


@dataclass(frozen=True)
class ArtifactAccess:
    """The region's model artifact store (``components.model_store``)."""

    bucket: str
    bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class TritonSizing:
    gpu: plan.PodResources
    """CPU and memory beside the one GPU of each Triton GPU replica."""
    cpu: plan.PodResources
    """Each CPU fallback replica."""
    cpu_replicas: int
    startup_timeout_seconds: int = 600
    """How long a replica may take to load and warm up its models before it is restarted.
    Defaults to ten minutes (figures.md section 7: up to ~10 min on a cold node)."""


@dataclass(frozen=True)
class GatewaySizing:
    replicas: int
    resources: plan.PodResources
    termination_grace_seconds: int = 60
    """Pre-stop wait plus the NLB's deregistration delay. Defaults to 60 s."""


@dataclass(frozen=True)
class DcgmTarget:
    """Where the cluster's DCGM exporter Service is (``components.cluster.nvidia``)."""

    namespace: str
    selector: Mapping[str, str]
    port: str = "metrics"


@dataclass(frozen=True)
class InferenceServiceArgs:
    region: str
    zones: int
    """Availability zones of the region: workloads spread over all of them."""
    account_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    k8s_provider: k8s.Provider
    gpu_class: str
    """The capacity plan's GPU class for this region; Triton selects its Karpenter pool."""
    gpu_instance_types: Sequence[str]
    """Instance types of that pool: Triton's requests must fit the smallest."""
    system_instance_type: str
    artifacts: ArtifactAccess
    feature_reader_policy_arn: pulumi.Input[str]
    model: ModelSpec
    """The catalog's GPU model. Triton serves the version the region's pointer names
    (``meshctl models promote``); the catalog's ``active`` version until a pointer exists."""
    fallback: ModelSpec
    """The model's CPU fallback from the catalog."""
    gateway_image: pulumi.Input[str]
    """``<repository URL>@sha256:<digest>``; never a tag."""
    gateway_routing: plan.GatewayRouting
    gateway_auth: plan.GatewayAuth
    gateway: GatewaySizing
    triton: TritonSizing
    scaling: plan.QueueScaling
    budget_ms: float
    """The region's latency budget for queue and compute (capacity plan)."""
    dcgm: DcgmTarget
    prometheus_retention: str = "2d"
    prometheus_resources: plan.PodResources = DEFAULT_RESOURCES
    depends_on: Sequence[pulumi.Resource] = ()
    """Cluster readiness: system nodes and add-ons (charts and CPU workloads wait for them)."""
    gpu_depends_on: Sequence[pulumi.Resource] = ()
    """GPU readiness: the class's NodePool and the NVIDIA device plugin."""
    tags: Mapping[str, str] = field(default_factory=dict)


class InferenceService(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    model_reader: PodRole
    gateway_role: PodRole
    triton_gpu: TritonServer
    triton_cpu: TritonServer
    gateway: InferenceGateway
    monitoring: Monitoring
    autoscaler: QueueAutoscaler

    def __init__(
        self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate_args(args)
        super().__init__("inference-mesh:serving:InferenceService", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self._in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": manifests.namespace_labels()},
            opts=self._in_cluster,
        )
        self.model_reader = self._create_model_reader()
        self.gateway_role = self._create_gateway_role()
        self.triton_gpu = self._create_triton(gpu=True)
        self.triton_cpu = self._create_triton(gpu=False)
        self.gateway = self._create_gateway()
        self.monitoring = self._create_monitoring()
        self.autoscaler = self._create_autoscaler()
        self.register_outputs(self.exports())

    @property
    def gateway_termination_grace_seconds(self) -> int:
        """How long a terminating gateway pod may drain; the NLB's deregistration delay and
        the pre-stop wait must fit in it."""
        return self._args.gateway.termination_grace_seconds

    def exports(self) -> dict[str, Any]:
        """The regional stack's ``serving`` export."""
        args = self._args
        return {
            "namespace": NAMESPACE,
            "gpuClass": args.gpu_class,
            "deployments": {
                "tritonGpu": TRITON_GPU_NAME,
                "tritonCpu": TRITON_CPU_NAME,
                "gateway": manifests.GATEWAY_NAME,
            },
            "gatewayService": {"name": manifests.GATEWAY_NAME, "port": plan.GATEWAY_PORT},
            "models": {
                "primary": {"name": args.model.name, "version": args.model.active},
                "fallback": {"name": args.fallback.name, "version": args.fallback.active},
            },
            "autoscaling": {
                "minReplicas": args.scaling.min_replicas,
                "maxReplicas": args.scaling.max_replicas,
                "queueTargetPerReplica": args.scaling.queue_target_per_replica,
            },
            "podRoles": {
                "triton": self.model_reader.role_arn,
                "gateway": self.gateway_role.role_arn,
            },
        }

    # -- identities -------------------------------------------------------------------------
    def _service_account(self, account: str) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{self._name}-{account}-sa",
            metadata={"name": account, "namespace": self.namespace.metadata["name"]},
            automount_service_account_token=False,
            opts=self._in_cluster,
        )

    def _pod_role(
        self,
        account: str,
        inline: Mapping[str, pulumi.Input[str]] | None = None,
        managed: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> PodRole:
        args = self._args
        account_sa = self._service_account(account)
        return PodRole(
            f"{self._name}-{account}",
            PodRoleArgs(
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=account,
                account_id=args.account_id,
                managed_policy_arns=dict(managed or {}),
                inline_policies=dict(inline or {}),
                tags=dict(args.tags),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account_sa]),
        )

    def _create_model_reader(self) -> PodRole:
        args = self._args
        artifacts = args.artifacts
        document = model_reader_policy(
            args.region,
            artifacts.bucket_arn,
            artifacts.key_arn,
            models=(args.model.name, args.fallback.name),
        )
        return self._pod_role(
            TRITON_SERVICE_ACCOUNT, {"read-models": pulumi.Output.json_dumps(document)}
        )

    def _create_gateway_role(self) -> PodRole:
        # The reader policy's ARN is known once the feature store exists; PodRole names the
        # attachment after this key, and the gateway waits for it.
        return self._pod_role(
            GATEWAY_SERVICE_ACCOUNT,
            managed={FEATURE_READER: self._args.feature_reader_policy_arn},
        )

    # -- workloads --------------------------------------------------------------------------
    def _create_triton(self, *, gpu: bool) -> TritonServer:
        args = self._args
        workload = manifests.triton_workload(
            gpu=gpu,
            model=args.model if gpu else args.fallback,
            bucket=args.artifacts.bucket,
            region=args.region,
            resources=args.triton.gpu if gpu else args.triton.cpu,
            placement=(
                manifests.gpu_placement(args.gpu_class) if gpu else manifests.system_placement()
            ),
            zones=args.zones,
            # KEDA owns the GPU replica count; leaving it out keeps `pulumi up` from
            # resetting what the autoscaler chose.
            replicas=None if gpu else args.triton.cpu_replicas,
            startup_timeout_seconds=args.triton.startup_timeout_seconds,
        )
        ready = [self.model_reader, *args.depends_on, *(args.gpu_depends_on if gpu else ())]
        return TritonServer(
            workload.name,
            TritonServerArgs(
                workload=workload,
                namespace=self.namespace.metadata["name"],
                k8s_provider=args.k8s_provider,
                depends_on=ready,
            ),
            opts=self._child,
        )

    def _create_gateway(self) -> InferenceGateway:
        args = self._args
        config = plan.render_gateway_config(
            plan.gateway_config(args.gateway_routing, args.gateway_auth, args.model, args.fallback)
        )
        workload = GatewayWorkload(
            image=args.gateway_image,
            config_map=plan.config_map_name(f"{manifests.GATEWAY_NAME}-config", config),
            replicas=args.gateway.replicas,
            resources=args.gateway.resources,
            zones=args.zones,
            termination_grace_seconds=args.gateway.termination_grace_seconds,
        )
        return InferenceGateway(
            manifests.GATEWAY_NAME,
            InferenceGatewayArgs(
                workload=workload,
                config=config,
                namespace=self.namespace.metadata["name"],
                k8s_provider=args.k8s_provider,
                depends_on=[
                    self.gateway_role,
                    self.gateway_role.attachments[FEATURE_READER],
                    *args.depends_on,
                ],
            ),
            opts=self._child,
        )

    # -- metrics and autoscaling ------------------------------------------------------------
    def _create_monitoring(self) -> Monitoring:
        args = self._args
        gateway = manifests.selector_labels(manifests.GATEWAY_NAME, manifests.GATEWAY_NAME)
        targets = [
            ScrapeTarget(
                "triton", NAMESPACE, {manifests.NAME_LABEL: manifests.TRITON_APP}, "metrics"
            ),
            ScrapeTarget("dcgm-exporter", args.dcgm.namespace, args.dcgm.selector, args.dcgm.port),
            # The gateway's own metrics port: /metrics is not on the port the NLB forwards.
            ScrapeTarget("inference-gateway", NAMESPACE, gateway, "metrics"),
        ]
        return Monitoring(
            f"{self._name}-monitoring",
            MonitoringArgs(
                k8s_provider=args.k8s_provider,
                targets=targets,
                retention=args.prometheus_retention,
                resources=args.prometheus_resources,
                depends_on=list(args.depends_on),
            ),
            opts=self._child,
        )

    def _create_autoscaler(self) -> QueueAutoscaler:
        args = self._args
        return QueueAutoscaler(
            f"{self._name}-autoscaler",
            QueueAutoscalerArgs(
                k8s_provider=args.k8s_provider,
                deployment=TRITON_GPU_NAME,
                namespace=NAMESPACE,
                model=args.model.name,
                scaling=args.scaling,
                prometheus_url=self.monitoring.prometheus_url,
                target_depends_on=[self.triton_gpu.deployment, self.monitoring.release],
                depends_on=list(args.depends_on),
            ),
            opts=self._child,
        )


def model_reader_policy(
    region: str,
    bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    models: Sequence[str],
) -> dict[str, Any]:
    """Read the model files of this region's artifact bucket, nothing else: list the bucket
    under ``artifacts/`` and at the served ``models``' pointers, get the objects there,
    decrypt with its key only through S3 here. The init container lists a pointer before it
    reads it, so a missing pointer (a fresh environment) is told apart from a denied read."""
    pointers = [pointer_key(model) for model in sorted(set(models))]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListModelArtifacts",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": ["artifacts/*", *pointers]}},
            },
            {
                "Sid": "ReadModelArtifacts",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/artifacts/*"),
            },
            {
                "Sid": "ReadActiveVersionPointers",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [pulumi.Output.concat(bucket_arn, "/", key) for key in pointers],
            },
            {
                "Sid": "DecryptModelArtifactsThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ],
    }


def validate_args(args: InferenceServiceArgs) -> None:
    """Fails before any resource exists, naming the input and what is allowed."""
    if args.model.serving != "gpu":
        raise ValueError(f"model must be a gpu model of the catalog, got {args.model.name!r}")
    if args.fallback.serving != "cpu" or args.model.fallback != args.fallback.name:
        raise ValueError(
            f"fallback must be {args.model.name}'s cpu fallback "
            f"{args.model.fallback!r}, got {args.fallback.name!r}"
        )
    if args.gpu_class not in {p.gpu_class for p in args.model.throughput_profiles}:
        raise ValueError(
            f"gpu_class must have a throughput profile in {args.model.name}, got {args.gpu_class!r}"
        )
    if args.zones < 1 or args.triton.cpu_replicas < 1 or args.gateway.replicas < 1:
        raise ValueError("zones, triton.cpu_replicas and gateway.replicas must be at least 1")
    plan.check_queue_scaling(args.scaling, args.model, args.budget_ms)
    plan.check_fits(args.triton.gpu, args.gpu_instance_types, "Triton on GPU")
    plan.check_fits(args.triton.cpu, [args.system_instance_type], "Triton on CPU")
    plan.check_fits(args.gateway.resources, [args.system_instance_type], "the gateway")

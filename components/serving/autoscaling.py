"""KEDA and the ScaledObject that scales Triton on GPU by its queue.

KEDA turns the two Prometheus triggers (``components.serving_plan.scaled_object_spec``) into
an HPA; pods it adds stay Pending until Karpenter launches a node of the planned GPU class,
whose pool caps the GPUs (and so the replicas) the region can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.serving import manifests, versions
from components.serving_plan import QueueScaling, scaled_object_spec

SCALED_OBJECT_API = "keda.sh/v1alpha1"
RELEASE_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class QueueAutoscalerArgs:
    k8s_provider: k8s.Provider
    deployment: str
    namespace: str
    model: str
    """The Triton model whose queue is measured (its ``model`` metric label)."""
    scaling: QueueScaling
    prometheus_url: str
    target_depends_on: Sequence[pulumi.Resource] = ()
    """The scaled Deployment and Prometheus: the ScaledObject reads both."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Cluster readiness for the KEDA chart."""


class QueueAutoscaler(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    scaled_object: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: QueueAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("inference-mesh:serving:QueueAutoscaler", name, None, opts)
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": versions.KEDA_NAMESPACE,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=in_cluster,
        )
        chart = versions.KEDA
        self.release = k8s.helm.v3.Release(
            f"{name}-keda",
            k8s.helm.v3.ReleaseArgs(
                name="keda",
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=namespace.metadata["name"],
                values={"nodeSelector": dict(manifests.system_placement().node_selector)},
                atomic=True,
                cleanup_on_fail=True,
                timeout=RELEASE_TIMEOUT_SECONDS,
            ),
            opts=pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=list(args.depends_on))
            ),
        )
        # The chart installs the ScaledObject CRD; the object waits for it.
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version=SCALED_OBJECT_API,
            kind="ScaledObject",
            metadata={"name": args.deployment, "namespace": args.namespace},
            spec=scaled_object_spec(
                args.deployment, args.namespace, args.model, args.scaling, args.prometheus_url
            ),
            opts=pulumi.ResourceOptions.merge(
                in_cluster,
                pulumi.ResourceOptions(depends_on=[self.release, *args.target_depends_on]),
            ),
        )
        self.register_outputs(
            {
                "minReplicas": args.scaling.min_replicas,
                "maxReplicas": args.scaling.max_replicas,
            }
        )

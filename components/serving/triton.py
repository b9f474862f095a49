"""One Triton Deployment with its Service and PodDisruptionBudget (GPU or CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.serving import manifests
from components.serving.exposure import expose
from components.serving.manifests import TritonWorkload

GPU_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="30m")
"""A first GPU replica waits for Karpenter's node (minutes), a 15-16 GB image pull and the
model load (shared figures.md section 7: 84 s warm to ~10 min cold); Pulumi's default 10 min
await would fail a healthy rollout."""


@dataclass(frozen=True)
class TritonServerArgs:
    workload: TritonWorkload
    namespace: pulumi.Input[str]
    k8s_provider: k8s.Provider
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist before pods start: the service account and its Pod Identity role,
    and for GPU the node pool and the NVIDIA device plugin."""


class TritonServer(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service

    def __init__(
        self, name: str, args: TritonServerArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("inference-mesh:serving:TritonServer", name, None, opts)
        workload = args.workload
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        metadata = {
            "name": workload.name,
            "namespace": args.namespace,
            "labels": workload.labels,
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=manifests.triton_deployment_spec(workload),
            opts=pulumi.ResourceOptions.merge(
                in_cluster,
                pulumi.ResourceOptions(
                    depends_on=list(args.depends_on),
                    custom_timeouts=GPU_TIMEOUTS if workload.gpu else None,
                ),
            ),
        )
        self.service = expose(
            name, metadata, manifests.triton_service_spec(workload), workload.selector, in_cluster
        )
        self.register_outputs({"deployment": workload.name, "service": workload.name})

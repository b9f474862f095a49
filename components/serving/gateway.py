"""The inference gateway: ConfigMap (rendered by ``components.serving_plan``), Deployment,
Service and PodDisruptionBudget. The NLB reaches it through the ingress component's
TargetGroupBinding; it reaches Triton through the cluster's Services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.serving import manifests
from components.serving.exposure import expose
from components.serving.manifests import GATEWAY_NAME, GatewayWorkload


@dataclass(frozen=True)
class InferenceGatewayArgs:
    workload: GatewayWorkload
    config: str
    """The rendered config file; ``workload.config_map`` names it by its hash."""
    namespace: pulumi.Input[str]
    k8s_provider: k8s.Provider
    depends_on: Sequence[pulumi.Resource] = ()
    """The service account's Pod Identity role and its feature-reader attachment."""


class InferenceGateway(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service

    def __init__(
        self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("inference-mesh:serving:InferenceGateway", name, None, opts)
        workload = args.workload
        in_cluster = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        metadata = {"name": GATEWAY_NAME, "namespace": args.namespace, "labels": workload.labels}
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={**metadata, "name": workload.config_map},
            data={manifests.CONFIG_FILE: args.config},
            immutable=True,
            opts=in_cluster,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec=manifests.gateway_deployment_spec(workload),
            opts=pulumi.ResourceOptions.merge(
                in_cluster, pulumi.ResourceOptions(depends_on=[config, *args.depends_on])
            ),
        )
        self.service = expose(
            name, metadata, manifests.gateway_service_spec(workload), workload.selector, in_cluster
        )
        self.register_outputs({"deployment": GATEWAY_NAME, "service": GATEWAY_NAME})

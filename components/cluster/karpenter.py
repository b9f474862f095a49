"""Karpenter for the GPU pools: interruption queue and rules, IAM, the controller chart, the
EC2NodeClass and one NodePool per GPU class.

Interruption handling (aws/karpenter-provider-aws ``website/content/en/docs/concepts/
disruption.md``): EventBridge forwards Spot interruption warnings, rebalance recommendations,
AWS Health scheduled changes and instance state changes to an SQS queue that the controller
reads (``settings.interruptionQueue``), so it drains a node on the 2-minute Spot warning
instead of losing pods with it. Budgets do not limit such forceful disruption: serving protects
itself with PodDisruptionBudgets and ``karpenter.sh/do-not-disrupt``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import iam, manifests, versions
from components.cluster.node_role import create_node_role
from components.cluster.pools import GpuPool
from components.iam_documents import deny_insecure_transport_to, policy_document
from components.pod_identity import PodRole, PodRoleArgs

QUEUE_RETENTION_SECONDS = 300
"""Interruption events older than five minutes are past acting on (Karpenter's template)."""
RELEASE_TIMEOUT_SECONDS = 900
NODE_CLASS_NAME = "gpu"

INTERRUPTION_EVENTS: dict[str, tuple[str, str]] = {
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": (
        "aws.ec2",
        "EC2 Capacity Reservation Instance Interruption Warning",
    ),
}
"""EventBridge rules of Karpenter's getting-started CloudFormation template (v1.14.1)."""


@dataclass(frozen=True)
class KarpenterArgs:
    cluster_name: str
    cluster: aws.eks.Cluster
    region: str
    account_id: pulumi.Input[str]
    k8s_provider: k8s.Provider
    pools: Sequence[GpuPool]
    timing: manifests.NodeTiming
    ami_release: str
    disk_gib: int
    """Root volume of GPU nodes: the AMI, 15-18 GB Triton images and model caches."""
    node_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags Karpenter puts on the instances and volumes it launches."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the controller needs running first: system nodes, CoreDNS, the Pod Identity agent."""


class Karpenter(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    node_role: aws.iam.Role
    release: k8s.helm.v3.Release
    node_class: k8s.apiextensions.CustomResource
    node_pools: dict[str, k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("inference-mesh:cluster:Karpenter", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self.queue = self._create_interruption_queue()
        self.node_role, node_access = self._create_node_role()
        controller = self._create_controller_role()
        self.release = self._install_chart([controller, node_access, *args.depends_on])
        self.node_class = self._create_node_class()
        self.node_pools = {pool.gpu_class: self._create_node_pool(pool) for pool in args.pools}
        self.register_outputs(
            {
                "interruptionQueue": self.queue.name,
                "nodePools": {c: p.metadata["name"] for c, p in self.node_pools.items()},
            }
        )

    def _create_interruption_queue(self) -> aws.sqs.Queue:
        queue = aws.sqs.Queue(
            f"{self._name}-interruptions",
            name=self._args.cluster_name,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=self._child,
        )
        aws.sqs.QueuePolicy(
            f"{self._name}-interruptions-policy",
            queue_url=queue.id,
            policy=pulumi.Output.json_dumps(_queue_policy(queue.arn)),
            opts=self._child,
        )
        for event, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{self._name}-{event}",
                description=f"{detail_type} events for Karpenter in {self._args.cluster_name}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                opts=self._child,
            )
            aws.cloudwatch.EventTarget(
                f"{self._name}-{event}-target",
                rule=rule.name,
                target_id="KarpenterInterruptionQueueTarget",
                arn=queue.arn,
                opts=self._child,
            )
        return queue

    def _create_node_role(self) -> tuple[aws.iam.Role, aws.eks.AccessEntry]:
        role, attachments = create_node_role(
            f"{self._name}-node",
            self._args.region,
            self._child,
            description=f"GPU nodes that Karpenter launches in {self._args.cluster_name}",
        )
        # Nodes Karpenter launches are not in a managed node group, so nothing else grants
        # them cluster access in API authentication mode.
        access = aws.eks.AccessEntry(
            f"{self._name}-node-access",
            cluster_name=self._args.cluster.name,
            principal_arn=role.arn,
            type="EC2_LINUX",
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        return role, access

    def _create_controller_role(self) -> PodRole:
        args = self._args
        policy = iam.karpenter_controller_policy(
            args.region, args.account_id, args.cluster_name, self.node_role.arn, self.queue.arn
        )
        return PodRole(
            f"{self._name}-controller",
            PodRoleArgs(
                cluster_name=args.cluster.name,
                namespace=versions.KARPENTER_NAMESPACE,
                service_account=manifests.KARPENTER_SERVICE_ACCOUNT,
                account_id=args.account_id,
                inline_policies={"controller": pulumi.Output.json_dumps(policy)},
            ),
            opts=self._child,
        )

    def _install_chart(self, depends_on: Sequence[pulumi.Resource]) -> k8s.helm.v3.Release:
        chart = versions.KARPENTER
        return k8s.helm.v3.Release(
            f"{self._name}-chart",
            k8s.helm.v3.ReleaseArgs(
                name="karpenter",
                chart=chart.chart,
                version=chart.version,
                namespace=versions.KARPENTER_NAMESPACE,
                values=manifests.karpenter_values(
                    self._args.cluster_name, self.queue.name, self._args.region
                ),
                # The chart's crds/ directory installs NodePool and EC2NodeClass on first
                # install; the objects below wait for it.
                skip_crds=False,
                atomic=True,
                cleanup_on_fail=True,
                timeout=RELEASE_TIMEOUT_SECONDS,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._args.k8s_provider, depends_on=list(depends_on)
            ),
        )

    def _create_node_class(self) -> k8s.apiextensions.CustomResource:
        args = self._args
        return k8s.apiextensions.CustomResource(
            f"{self._name}-nodeclass-{NODE_CLASS_NAME}",
            api_version=manifests.NODECLASS_API,
            kind="EC2NodeClass",
            metadata={"name": NODE_CLASS_NAME},
            spec=manifests.ec2_node_class_spec(
                args.cluster_name,
                self.node_role.name,
                args.ami_release,
                args.disk_gib,
                args.node_tags,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[self.release]
            ),
        )

    def _create_node_pool(self, pool: GpuPool) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{self._name}-nodepool-{pool.gpu_class}",
            api_version=manifests.NODEPOOL_API,
            kind="NodePool",
            metadata={"name": pool.name},
            spec=manifests.node_pool_spec(pool, NODE_CLASS_NAME, self._args.timing),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self._args.k8s_provider,
                depends_on=[self.release, self.node_class],
            ),
        )


def _queue_policy(queue_arn: pulumi.Input[str]) -> dict[str, object]:
    return policy_document(
        [
            {
                "Sid": "EventBridgeDelivers",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            deny_insecure_transport_to("sqs:*", queue_arn, sid="DenyHTTP"),
        ],
        policy_id="EC2InterruptionPolicy",
    )

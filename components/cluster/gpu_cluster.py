"""The regional GPU cluster: EKS control plane, system nodes, managed add-ons, Karpenter GPU
pools, NVIDIA device plugin and DCGM exporter, and a Kubernetes provider for what deploys
into the cluster.

Design choices:

* **Pod access to AWS is EKS Pod Identity, everywhere** (``components.pod_identity.PodRole``):
  no OIDC provider to manage per cluster, roles reusable across clusters, and the trust policy
  pins cluster, namespace and service account. IRSA is not used.
* **Control plane**: API authentication mode (access entries, no aws-auth ConfigMap); private
  endpoint always on; the public endpoint is off unless ``endpoint_public_access_cidrs`` lists
  networks (dev only), and never 0.0.0.0/0. Secrets are envelope-encrypted with a regional,
  rotated customer-managed key that also encrypts the control-plane log group, which gets all
  five log types. Because the public endpoint is off in prod, ``pulumi up`` (the Helm releases
  and Karpenter objects) must run from a network that reaches the VPC.
* **Nodes**: a small on-demand system node group (CPU, three zones) runs the controllers; GPU
  capacity comes only from Karpenter, on AL2023 NVIDIA AMIs (driver and container toolkit in the
  AMI, device plugin from Helm). Every node requires IMDSv2 with a hop limit of 1 and an
  encrypted gp3 root volume.
* **Ordering for a first ``up``**: add-ons that nodes need to join (VPC CNI, kube-proxy, Pod
  Identity agent) before the node group; CoreDNS and the EBS CSI driver after it; the Karpenter
  chart after both; NodePool and EC2NodeClass after the chart that installs their CRDs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.cluster import iam, manifests, versions
from components.cluster.access import check_public_access_cidr
from components.cluster.karpenter import Karpenter, KarpenterArgs
from components.cluster.node_role import create_node_role
from components.cluster.nvidia import NvidiaGpu, NvidiaGpuArgs
from components.cluster.pools import (
    GPU_CLASS_LABEL,
    NODE_ROLE_LABEL,
    GpuPool,
    SystemNodes,
)
from components.iam_documents import ASSUME_ROLE, service_trust_policy
from components.kms import RegionalKey, RegionalKeyArgs, logs_service_statement
from components.pod_identity import PodRole, PodRoleArgs

CONTROL_PLANE_LOG_TYPES: tuple[str, ...] = (
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
)
"""All five EKS control-plane log types (CKV_AWS_37, AVD-AWS-0038, CIS EKS 2.1.1)."""

EARLY_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""DaemonSets a node needs to become Ready; installed before any node exists."""
EBS_CSI_ADDON = "aws-ebs-csi-driver"
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
CLUSTER_TIMEOUTS = pulumi.CustomTimeouts(create="40m", update="60m", delete="30m")
"""EKS control planes take 13-16 min to create and often more (shared figures.md section 8)."""
NODE_GROUP_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="60m", delete="30m")
HTTPS, EPHEMERAL_LOW, EPHEMERAL_HIGH = 443, 1025, 65535
SYSTEM_AMI_TYPE = "AL2023_x86_64_STANDARD"


@dataclass(frozen=True)
class GpuClusterArgs:
    cluster_name: str
    """EKS cluster name; also the Karpenter discovery tag value on subnets and security group."""
    region: str
    """The region of the stack's AWS provider (used in ARNs, policies and the kubeconfig)."""
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    """The VPC of ``private_subnet_ids``; the node security group lives in it."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """One private subnet per availability zone; nodes and control-plane ENIs live here."""
    availability_zones: tuple[str, ...]
    kubernetes_version: str
    """A minor with pinned add-ons in ``components.cluster.versions.EKS_ADDONS``."""
    gpu_pools: tuple[GpuPool, ...]
    """From ``components.cluster.pools.plan_gpu_pools``: one per GPU class."""
    system_nodes: SystemNodes
    gpu_disk_gib: int
    """Root volume of GPU nodes: the AMI, multi-GB inference images and model caches."""
    timing: manifests.NodeTiming
    """Consolidation delay, node expiry and drain grace period of the GPU pools."""
    endpoint_public_access_cidrs: tuple[str, ...] = ()
    """Networks allowed on the public endpoint. Defaults to none: public endpoint off."""
    log_retention_days: int = 365
    """Retention of the control-plane log group. Defaults to a year of audit logs."""
    admin_role_arns: tuple[str, ...] = ()
    """IAM roles given cluster-admin through access entries. Defaults to none: only the
    identity that creates the cluster (it must, for the Helm releases of the same update)."""
    ami_release: str = versions.AL2023_AMI_RELEASE
    """amazon-eks-ami release of the GPU nodes. Defaults to the pinned release."""
    deletion_protection: bool = True
    """EKS deletion protection. Defaults to on."""
    node_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for instances and volumes the nodes create (the stack tags everything else)."""


class GpuCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    key: RegionalKey
    node_security_group: aws.ec2.SecurityGroup
    node_group: aws.eks.NodeGroup
    addons: dict[str, aws.eks.Addon]
    k8s_provider: k8s.Provider
    karpenter: Karpenter
    nvidia: NvidiaGpu

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None):
        validate_args(args)
        super().__init__("inference-mesh:cluster:GpuCluster", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self.key = self._create_key()
        self.cluster = self._create_control_plane(self._create_log_group())
        self.node_security_group = self._create_node_security_group()
        self.addons = self._create_addons(EARLY_ADDONS, [])
        self.node_group = self._create_system_nodes()
        self.addons.update(self._create_late_addons())
        self._create_admin_access()
        self.k8s_provider = self._create_k8s_provider()
        ready: list[pulumi.Resource] = [self.node_group, *self.addons.values()]
        self.karpenter = self._create_karpenter(ready)
        self.nvidia = NvidiaGpu(
            f"{name}-nvidia",
            NvidiaGpuArgs(k8s_provider=self.k8s_provider),
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        self.register_outputs(self.exports())

    # -- outputs --------------------------------------------------------------------------
    @property
    def certificate_authority(self) -> pulumi.Output[str]:
        return self.cluster.certificate_authority.data

    def exports(self) -> dict[str, Any]:
        pools = self._args.gpu_pools
        return {
            "clusterName": self.cluster.name,
            "clusterArn": self.cluster.arn,
            "endpoint": self.cluster.endpoint,
            "certificateAuthority": self.certificate_authority,
            "kubernetesVersion": self._args.kubernetes_version,
            "clusterSecurityGroupId": self._cluster_security_group_id,
            "nodeSecurityGroupId": self.node_security_group.id,
            "podIdentity": "eks-pod-identity",
            "gpuClasses": [p.gpu_class for p in pools],
            "gpuPools": {
                p.gpu_class: {
                    "nodePool": p.name,
                    "instanceTypes": list(p.instance_types),
                    "capacityTypes": list(p.capacity_types),
                    "gpuLimit": p.gpu_limit,
                    "base": p.base,
                }
                for p in pools
            },
            "gpuClassLabel": GPU_CLASS_LABEL,
            "gpuTaint": manifests.gpu_taint(),
            "interruptionQueue": self.karpenter.queue.name,
        }

    @property
    def _cluster_security_group_id(self) -> pulumi.Output[str]:
        return self.cluster.vpc_config.cluster_security_group_id

    # -- control plane --------------------------------------------------------------------
    def _create_key(self) -> RegionalKey:
        args = self._args
        return RegionalKey(
            f"{self._name}-key",
            RegionalKeyArgs(
                description=f"EKS secrets and control-plane logs of {args.cluster_name}",
                account_id=args.account_id,
                alias=f"{args.cluster_name}-eks",
                service_statements=[logs_service_statement(args.region, args.account_id)],
            ),
            opts=self._child,
        )

    def _create_log_group(self) -> aws.cloudwatch.LogGroup:
        # EKS writes to this fixed name; creating it first sets retention and encryption
        # before EKS would create it without either.
        return aws.cloudwatch.LogGroup(
            f"{self._name}-control-plane-logs",
            name=f"/aws/eks/{self._args.cluster_name}/cluster",
            retention_in_days=self._args.log_retention_days,
            kms_key_id=self.key.arn,
            opts=self._child,
        )

    def _create_cluster_role(self) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        role = aws.iam.Role(
            f"{self._name}-cluster-role",
            assume_role_policy=json.dumps(
                service_trust_policy("eks.amazonaws.com", (ASSUME_ROLE, "sts:TagSession"))
            ),
            opts=self._child,
        )
        attach = aws.iam.RolePolicyAttachment(
            f"{self._name}-cluster-policy",
            role=role.name,
            policy_arn=iam.managed_policy_arn(self._args.region, iam.CLUSTER_POLICY),
            opts=self._child,
        )
        encrypt = aws.iam.RolePolicy(
            f"{self._name}-cluster-secrets-key",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.secrets_key_statement(self.key.arn)),
            opts=self._child,
        )
        return role, [attach, encrypt]

    def _create_control_plane(self, log_group: aws.cloudwatch.LogGroup) -> aws.eks.Cluster:
        args = self._args
        role, grants = self._create_cluster_role()
        public = bool(args.endpoint_public_access_cidrs)
        return aws.eks.Cluster(
            f"{self._name}-cluster",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(args.endpoint_public_access_cidrs) if public else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running `pulumi up` installs the Helm charts in the same update.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=self.key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            # Managed add-ons below replace the self-managed defaults, so nothing is adopted.
            bootstrap_self_managed_addons=False,
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[log_group, *grants], custom_timeouts=CLUSTER_TIMEOUTS
            ),
        )

    # -- nodes ----------------------------------------------------------------------------
    def _create_node_security_group(self) -> aws.ec2.SecurityGroup:
        args, cluster_sg = self._args, self._cluster_security_group_id
        group = aws.ec2.SecurityGroup(
            f"{self._name}-node-sg",
            vpc_id=args.vpc_id,
            description=f"Nodes of {args.cluster_name}",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="-1", from_port=0, to_port=0, self=True, description="Node to node"
                ),
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    security_groups=[cluster_sg],
                    description="Control plane to webhooks on 443",
                ),
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=EPHEMERAL_LOW,
                    to_port=EPHEMERAL_HIGH,
                    security_groups=[cluster_sg],
                    description="Control plane to kubelet and extension API servers",
                ),
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                    description="Image pulls and AWS APIs through the NAT and endpoints",
                )
            ],
            tags={
                "Name": f"{args.cluster_name}-node",
                manifests.DISCOVERY_TAG: args.cluster_name,
                f"kubernetes.io/cluster/{args.cluster_name}": "owned",
            },
            opts=self._child,
        )
        aws.ec2.SecurityGroupRule(
            f"{self._name}-nodes-to-api",
            type="ingress",
            security_group_id=cluster_sg,
            source_security_group_id=group.id,
            protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="Nodes to the Kubernetes API",
            opts=self._child,
        )
        return group

    def _create_launch_template(self) -> aws.ec2.LaunchTemplate:
        nodes, tags = self._args.system_nodes, dict(self._args.node_tags)
        return aws.ec2.LaunchTemplate(
            f"{self._name}-system-lt",
            description=f"System nodes of {self._args.cluster_name}",
            update_default_version=True,
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=manifests.ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=nodes.disk_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=manifests.IMDS_HOP_LIMIT,
            ),
            vpc_security_group_ids=[self.node_security_group.id],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume")
            ],
            opts=self._child,
        )

    def _create_system_nodes(self) -> aws.eks.NodeGroup:
        nodes = self._args.system_nodes
        role, attachments = create_node_role(
            f"{self._name}-system-node", self._args.region, self._child
        )
        template = self._create_launch_template()
        return aws.eks.NodeGroup(
            f"{self._name}-system",
            cluster_name=self.cluster.name,
            node_role_arn=role.arn,
            subnet_ids=list(self._args.private_subnet_ids),
            instance_types=[nodes.instance_type],
            capacity_type="ON_DEMAND",
            ami_type=SYSTEM_AMI_TYPE,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=nodes.min_size, desired_size=nodes.desired_size, max_size=nodes.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels={NODE_ROLE_LABEL: manifests.SYSTEM_NODE_ROLE},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*attachments, *self.addons.values()],
                custom_timeouts=NODE_GROUP_TIMEOUTS,
            ),
        )

    def _create_karpenter(self, ready: Sequence[pulumi.Resource]) -> Karpenter:
        args = self._args
        return Karpenter(
            f"{self._name}-karpenter",
            KarpenterArgs(
                cluster_name=args.cluster_name,
                cluster=self.cluster,
                region=args.region,
                account_id=args.account_id,
                k8s_provider=self.k8s_provider,
                pools=args.gpu_pools,
                timing=args.timing,
                ami_release=args.ami_release,
                disk_gib=args.gpu_disk_gib,
                node_tags=args.node_tags,
                depends_on=ready,
            ),
            opts=self._child,
        )

    # -- add-ons and access ---------------------------------------------------------------
    def _create_addons(
        self, names: Sequence[str], depends_on: Sequence[pulumi.Resource]
    ) -> dict[str, aws.eks.Addon]:
        pinned = versions.EKS_ADDONS[self._args.kubernetes_version]
        return {
            addon: aws.eks.Addon(
                f"{self._name}-{addon}",
                cluster_name=self.cluster.name,
                addon_name=addon,
                addon_version=pinned[addon],
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )
            for addon in names
        }

    def _create_late_addons(self) -> dict[str, aws.eks.Addon]:
        # CoreDNS and the EBS CSI controller are Deployments: they need nodes to go ACTIVE.
        namespace, service_account = EBS_CSI_SERVICE_ACCOUNT
        ebs_role = PodRole(
            f"{self._name}-ebs-csi",
            PodRoleArgs(
                cluster_name=self.cluster.name,
                namespace=namespace,
                service_account=service_account,
                account_id=self._args.account_id,
                managed_policy_arns=[iam.managed_policy_arn(self._args.region, iam.EBS_CSI_POLICY)],
            ),
            opts=self._child,
        )
        return {
            **self._create_addons(("coredns",), [self.node_group]),
            **self._create_addons((EBS_CSI_ADDON,), [self.node_group, ebs_role]),
        }

    def _create_admin_access(self) -> None:
        for index, principal in enumerate(self._args.admin_role_arns):
            entry = aws.eks.AccessEntry(
                f"{self._name}-admin-{index}",
                cluster_name=self.cluster.name,
                principal_arn=principal,
                type="STANDARD",
                opts=self._child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{self._name}-admin-{index}-policy",
                cluster_name=self.cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=iam.CLUSTER_ADMIN_ACCESS_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=self._child,
            )

    def _create_k8s_provider(self) -> k8s.Provider:
        return k8s.Provider(
            f"{self._name}-k8s",
            kubeconfig=pulumi.Output.json_dumps(
                kubeconfig(
                    self.cluster.name,
                    self.cluster.endpoint,
                    self.certificate_authority,
                    self._args.region,
                )
            ),
            opts=self._child,
        )


def kubeconfig(
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    region: str,
) -> dict[str, Any]:
    """A kubeconfig that fetches short-lived tokens with ``aws eks get-token``: nothing secret
    is stored, and access follows the deployer's IAM identity through the access entries."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cluster",
                "cluster": {
                    "server": endpoint,
                    "certificate-authority-data": certificate_authority,
                },
            }
        ],
        "contexts": [{"name": "cluster", "context": {"cluster": "cluster", "user": "aws"}}],
        "current-context": "cluster",
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            "eks",
                            "get-token",
                            "--cluster-name",
                            cluster_name,
                            "--region",
                            region,
                            "--output",
                            "json",
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def validate_args(args: GpuClusterArgs) -> None:
    """Fails before any resource exists, naming the input, the bad value and what is allowed."""
    if args.kubernetes_version not in versions.EKS_ADDONS:
        raise ValueError(
            f"kubernetes_version must be one with pinned add-ons "
            f"{sorted(versions.EKS_ADDONS)}, got {args.kubernetes_version!r}"
        )
    for cidr in args.endpoint_public_access_cidrs:
        check_public_access_cidr(cidr)
    if not args.gpu_pools:
        raise ValueError("gpu_pools must hold at least one pool, got none")
    for pool in args.gpu_pools:
        if tuple(pool.zones) != tuple(args.availability_zones):
            raise ValueError(
                f"gpu pool {pool.name} must span the cluster's zones "
                f"{list(args.availability_zones)}, got {list(pool.zones)}"
            )
    if len(args.private_subnet_ids) != len(args.availability_zones):
        raise ValueError(
            f"private_subnet_ids must hold one subnet per zone "
            f"({len(args.availability_zones)}), got {len(args.private_subnet_ids)}"
        )
    nodes = args.system_nodes
    if not 1 <= nodes.min_size <= nodes.desired_size <= nodes.max_size:
        raise ValueError(
            "system_nodes must satisfy 1 <= min_size <= desired_size <= max_size, got "
            f"{nodes.min_size}/{nodes.desired_size}/{nodes.max_size}"
        )

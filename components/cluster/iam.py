"""IAM policy documents of the GPU cluster, as plain dicts (values may be Pulumi inputs).

Karpenter's controller statements follow aws/karpenter-provider-aws v1.14.1
``website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml``
(NodeLifecycle, IAMIntegration, EKSIntegration, Interruption and ResourceDiscovery policies),
scoped by the same cluster tags; they are merged into one role policy here.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.iam_documents import allow, policy_document

NODE_MANAGED_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
"""The node role of Karpenter's getting-started template, used for both node kinds. SSM
replaces SSH for break-glass access, so no node opens port 22."""

EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
CLUSTER_POLICY = "AmazonEKSClusterPolicy"
CLUSTER_ADMIN_ACCESS_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_arn(region: str, name: str) -> str:
    return f"arn:{partition(region)}:iam::aws:policy/{name}"


def secrets_key_statement(key_arn: pulumi.Input[str]) -> dict[str, Any]:
    """What the control plane needs to envelope-encrypt Secrets with the cluster key."""
    return policy_document(
        [
            allow(
                "EnvelopeEncryptSecrets",
                ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                key_arn,
            )
        ]
    )


def karpenter_controller_policy(
    region: str,
    account_id: pulumi.Input[str],
    cluster_name: str,
    node_role_arn: pulumi.Input[str],
    queue_arn: pulumi.Input[str],
) -> dict[str, Any]:
    arn = f"arn:{partition(region)}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    requested = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
    }
    statements = [
        *_node_lifecycle(arn, region, cluster_name, owned, requested),
        *_instance_profiles(arn, region, account_id, cluster_name, owned, requested),
        {
            "Sid": "AllowPassingInstanceRole",
            "Effect": "Allow",
            "Resource": node_role_arn,
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "AllowAPIServerEndpointDiscovery",
            "Effect": "Allow",
            "Resource": pulumi.Output.concat(
                arn, ":eks:", region, ":", account_id, ":cluster/", cluster_name
            ),
            "Action": "eks:DescribeCluster",
        },
        {
            "Sid": "AllowInterruptionQueueActions",
            "Effect": "Allow",
            "Resource": queue_arn,
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        },
        *_discovery(arn, region),
    ]
    return policy_document(statements)


def _node_lifecycle(
    arn: str,
    region: str,
    cluster_name: str,
    owned: dict[str, str],
    requested: dict[str, str],
) -> list[dict[str, Any]]:
    ec2 = f"{arn}:ec2:{region}"
    nodepool_tagged = {"StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}
    nodepool_requested = {"StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}
    created = [
        f"{ec2}:*:{kind}/*"
        for kind in (
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        )
    ]
    return [
        {
            "Sid": "AllowScopedEC2InstanceAccessActions",
            "Effect": "Allow",
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        },
        {
            "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:launch-template/*",
            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            "Condition": {"StringEquals": owned, **nodepool_tagged},
        },
        {
            "Sid": "AllowScopedEC2InstanceActionsWithTags",
            "Effect": "Allow",
            "Resource": created,
            "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            "Condition": {"StringEquals": requested, **nodepool_requested},
        },
        {
            "Sid": "AllowScopedResourceCreationTagging",
            "Effect": "Allow",
            "Resource": created,
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": {
                    **requested,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                **nodepool_requested,
            },
        },
        {
            "Sid": "AllowScopedResourceTagging",
            "Effect": "Allow",
            "Resource": f"{ec2}:*:instance/*",
            "Action": "ec2:CreateTags",
            "Condition": {
                "StringEquals": owned,
                **nodepool_tagged,
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        },
        {
            "Sid": "AllowScopedDeletion",
            "Effect": "Allow",
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Condition": {"StringEquals": owned, **nodepool_tagged},
        },
    ]


def _instance_profiles(
    arn: str,
    region: str,
    account_id: pulumi.Input[str],
    cluster_name: str,
    owned: dict[str, str],
    requested: dict[str, str],
) -> list[dict[str, Any]]:
    profiles = pulumi.Output.concat(arn, ":iam::", account_id, ":instance-profile/*")
    region_tag = "topology.kubernetes.io/region"
    nodeclass = "karpenter.k8s.aws/ec2nodeclass"
    owned_here = {**owned, f"aws:ResourceTag/{region_tag}": region}
    requested_here = {**requested, f"aws:RequestTag/{region_tag}": region}
    return [
        {
            "Sid": "AllowScopedInstanceProfileCreationActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:CreateInstanceProfile"],
            "Condition": {
                "StringEquals": requested_here,
                "StringLike": {f"aws:RequestTag/{nodeclass}": "*"},
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileTagActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": ["iam:TagInstanceProfile"],
            "Condition": {
                "StringEquals": {**owned_here, **requested_here},
                "StringLike": {
                    f"aws:ResourceTag/{nodeclass}": "*",
                    f"aws:RequestTag/{nodeclass}": "*",
                },
            },
        },
        {
            "Sid": "AllowScopedInstanceProfileActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Condition": {
                "StringEquals": owned_here,
                "StringLike": {f"aws:ResourceTag/{nodeclass}": "*"},
            },
        },
        {
            "Sid": "AllowInstanceProfileReadActions",
            "Effect": "Allow",
            "Resource": profiles,
            "Action": "iam:GetInstanceProfile",
        },
    ]


def _discovery(arn: str, region: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "AllowRegionalReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Sid": "AllowSSMReadActions",
            "Effect": "Allow",
            "Resource": f"{arn}:ssm:{region}::parameter/aws/service/*",
            "Action": "ssm:GetParameter",
        },
        {
            "Sid": "AllowPricingReadActions",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "pricing:GetProducts",
        },
        {
            "Sid": "AllowUnscopedInstanceProfileListAction",
            "Effect": "Allow",
            "Resource": "*",
            "Action": "iam:ListInstanceProfiles",
        },
    ]

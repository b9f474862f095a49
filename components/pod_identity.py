"""AWS access for one Kubernetes service account, by EKS Pod Identity.

The mesh grants pods AWS access one way only: EKS Pod Identity (no IRSA, no OIDC provider,
no node-role fallback). A ``PodRole`` is an IAM role that only the EKS Pod Identity service
can assume, and only for this cluster, namespace and service account (the session tags Pod
Identity sets, checked in the trust policy), plus the ``PodIdentityAssociation`` that binds it
to the service account. Serving, the feature store and the cluster's own controllers all use
it. Source for the trust policy: EKS user guide "Create IAM role with trust policy required by
EKS Pod Identity" (pod-id-role), section "Setting Conditions".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ATTACHMENT_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


@dataclass(frozen=True)
class PodRoleArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster whose pods may assume the role."""
    namespace: str
    """Kubernetes namespace of the service account (a DNS label)."""
    service_account: str
    """Kubernetes service account name (a DNS label); it need not exist yet."""
    account_id: pulumi.Input[str]
    """AWS account of the cluster; the trust policy accepts no other account."""
    managed_policy_arns: Sequence[str] | Mapping[str, pulumi.Input[str]] = ()
    """AWS- or customer-managed policies to attach. Defaults to none.

    A sequence of ARN strings names each attachment after its policy
    (``<name>-<policy name>``). An ARN known only at deploy time (an ``Output``, such as a
    policy another component creates) has no name to read, so pass a mapping of attachment
    name to ARN instead; the attachment is ``<name>-<key>``, stable however the ARN
    resolves."""
    inline_policies: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Role policies by name, as JSON documents. Defaults to none: the role can do nothing."""
    tags: Mapping[str, str] = field(default_factory=dict)


class PodRole(pulumi.ComponentResource):
    """An IAM role for one service account, bound to it with an EKS Pod Identity association."""

    role: aws.iam.Role
    role_arn: pulumi.Output[str]
    attachments: dict[str, aws.iam.RolePolicyAttachment]
    """Managed-policy attachments by name (the mapping's keys, or the policies' names)."""
    association: aws.eks.PodIdentityAssociation

    def __init__(self, name: str, args: PodRoleArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("inference-mesh:pod_identity:PodRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(trust_policy(args)),
            description=f"EKS Pod Identity role of {args.namespace}/{args.service_account}",
            tags=dict(args.tags),
            opts=child,
        )
        self.attachments = {
            key: aws.iam.RolePolicyAttachment(
                f"{name}-{key}", role=self.role.name, policy_arn=arn, opts=child
            )
            for key, arn in managed_policies(args).items()
        }
        inline = [
            aws.iam.RolePolicy(f"{name}-{policy}", role=self.role.id, policy=doc, opts=child)
            for policy, doc in args.inline_policies.items()
        ]
        # Pods read credentials when they start: the association goes last, so a pod that
        # starts once it exists already gets a role that holds its permissions.
        self.association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=self.role.arn,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*self.attachments.values(), *inline]
            ),
        )
        self.role_arn = self.role.arn
        self.register_outputs({"roleArn": self.role_arn})


def trust_policy(args: PodRoleArgs) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EksPodIdentityForOneServiceAccount",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_SERVICE},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": args.account_id,
                        "aws:RequestTag/eks-cluster-name": args.cluster_name,
                        "aws:RequestTag/kubernetes-namespace": args.namespace,
                        "aws:RequestTag/kubernetes-service-account": args.service_account,
                    }
                },
            }
        ],
    }


def managed_policies(args: PodRoleArgs) -> dict[str, pulumi.Input[str]]:
    """Attachment name -> policy ARN: the mapping as given, or each ARN string under its
    policy's name."""
    arns = args.managed_policy_arns
    if isinstance(arns, Mapping):
        return dict(arns)
    return {arn.rsplit("/", 1)[-1]: arn for arn in arns}


def _validate(args: PodRoleArgs) -> None:
    for field_name in ("namespace", "service_account"):
        value = getattr(args, field_name)
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            raise ValueError(
                f"{field_name} must be a Kubernetes name (lowercase letters, digits and '-', "
                f"at most 63 characters), got {value!r}"
            )
    arns = args.managed_policy_arns
    if isinstance(arns, Mapping):
        for key in arns:
            if not isinstance(key, str) or not _ATTACHMENT_NAME.match(key):
                raise ValueError(
                    "managed_policy_arns keys name the attachments (letters, digits, '-', '_', "
                    f"'+', '=', ',', '.', '@', at most 64 characters), got {key!r}"
                )
        known: list[object] = [arn for arn in arns.values() if isinstance(arn, str)]
    else:
        for arn in arns:
            if not isinstance(arn, str):
                raise ValueError(
                    "managed_policy_arns: an ARN known only at deploy time has no policy name "
                    f"to name its attachment by; pass a mapping {{name: arn}}, got {arn!r}"
                )
        known = list(arns)
        names = [str(arn).rsplit("/", 1)[-1] for arn in known]
        if len(set(names)) != len(names):
            raise ValueError(f"managed_policy_arns must name different policies, got {known!r}")
    # Outputs resolve at deploy time; IAM rejects a malformed one then.
    for value in known:
        if not isinstance(value, str) or not value.startswith("arn:") or ":policy/" not in value:
            raise ValueError(f"managed_policy_arns must be IAM policy ARNs, got {value!r}")

"""The IAM role of cluster nodes, shared by the system node group and Karpenter's GPU nodes."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.cluster import iam
from components.iam_documents import ASSUME_ROLE, service_trust_policy


def create_node_role(
    stem: str,
    region: str,
    opts: pulumi.ResourceOptions,
    *,
    description: str | None = None,
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """``<stem>-role``, assumed by EC2, with the managed node policies
    (``iam.NODE_MANAGED_POLICIES``) attached as ``<stem>-<policy>``. ``opts`` carries the
    calling component as parent. No description when omitted."""
    role = aws.iam.Role(
        f"{stem}-role",
        # The action as a one-element list, as both roles were released with.
        assume_role_policy=json.dumps(service_trust_policy("ec2.amazonaws.com", (ASSUME_ROLE,))),
        description=description,
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{stem}-{policy}",
            role=role.name,
            policy_arn=iam.managed_policy_arn(region, policy),
            opts=opts,
        )
        for policy in iam.NODE_MANAGED_POLICIES
    ]
    return role, attachments

"""PodRole (components/pod_identity.py) in the mock cloud.

Proves the trust policy, the attachments and the association the program declares; does not
prove that EKS hands credentials to the pod (no EKS Pod Identity agent here)."""

from __future__ import annotations

import json
from collections import Counter

import pulumi
import pulumi_aws as aws
import pytest

from components.pod_identity import PodRole, PodRoleArgs
from tests.harness import Recording, run_pulumi

ARGS = PodRoleArgs(
    cluster_name="inference-mesh-prod-eu-west-1",
    namespace="serving",
    service_account="triton",
    account_id="123456789012",
    managed_policy_arns=("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",),
    inline_policies={"read-models": json.dumps({"Version": "2012-10-17", "Statement": []})},
)


@pytest.fixture(scope="module")
def recording() -> Recording:
    def program() -> dict[str, object]:
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        role = PodRole("triton", ARGS, opts=pulumi.ResourceOptions(providers=[provider]))
        return {"roleArn": role.role_arn}

    return run_pulumi(program)


def test_exact_children(recording: Recording) -> None:
    root = recording.one("inference-mesh:pod_identity:PodRole")
    assert Counter(r.type for r in recording.children_of(root.urn)) == {
        "aws:iam/role:Role": 1,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation": 1,
    }


def test_only_pod_identity_for_this_service_account_may_assume(recording: Recording) -> None:
    trust = json.loads(recording.one("aws:iam/role:Role").props["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Sid": "EksPodIdentityForOneServiceAccount",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": "123456789012",
                    "aws:RequestTag/eks-cluster-name": "inference-mesh-prod-eu-west-1",
                    "aws:RequestTag/kubernetes-namespace": "serving",
                    "aws:RequestTag/kubernetes-service-account": "triton",
                }
            },
        }
    ]


def test_association_binds_the_role_after_its_permissions(recording: Recording) -> None:
    association = recording.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    role = recording.one("aws:iam/role:Role")
    assert association.props["clusterName"] == "inference-mesh-prod-eu-west-1"
    assert association.props["namespace"] == "serving"
    assert association.props["serviceAccount"] == "triton"
    assert association.props["roleArn"] == role.outputs["arn"]
    assert recording.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").urn in (
        association.dependencies
    )
    assert recording.one("aws:iam/rolePolicy:RolePolicy").urn in association.dependencies
    assert recording.outputs == {"roleArn": role.outputs["arn"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"namespace": "Serving"}, "namespace must be a Kubernetes name"),
        ({"service_account": "a" * 64}, "service_account must be a Kubernetes name"),
        ({"managed_policy_arns": ("AmazonS3ReadOnlyAccess",)}, "must be IAM policy ARNs"),
    ],
)
def test_bad_args_fail_before_any_resource(change: dict, message: str) -> None:
    args = PodRoleArgs(**{**ARGS.__dict__, **change})

    def program() -> None:
        with pytest.raises(ValueError, match=message):
            PodRole("bad", args)

    assert run_pulumi(program).resources == []

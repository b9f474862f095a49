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


def test_an_arn_known_only_at_deploy_time_is_attached_under_its_name() -> None:
    # A policy another component creates: its ARN is an Output until the policy exists.
    def program() -> dict[str, object]:
        policy = aws.iam.Policy("reader", policy=json.dumps({"Version": "2012-10-17"}))
        args = PodRoleArgs(
            cluster_name="inference-mesh-prod-eu-west-1",
            namespace="serving",
            service_account="gateway",
            account_id="123456789012",
            managed_policy_arns={"feature-reader": policy.arn},
        )
        role = PodRole("gateway", args)
        assert set(role.attachments) == {"feature-reader"}
        return {"policyArn": policy.arn}

    recording = run_pulumi(program)
    [attachment] = recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.name == "gateway-feature-reader"
    assert attachment.props["policyArn"] == recording.outputs["policyArn"]
    assert attachment.props["role"] == recording.one("aws:iam/role:Role").outputs["name"]
    assert attachment.parent == recording.one("inference-mesh:pod_identity:PodRole").urn
    association = recording.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert attachment.urn in association.dependencies


def test_string_arns_keep_their_policy_named_attachments(recording: Recording) -> None:
    [attachment] = recording.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.name == "triton-AmazonS3ReadOnlyAccess"


@pytest.mark.parametrize(
    ("arns", "message"),
    [
        (lambda: [pulumi.Output.from_input("arn:aws:iam::1:policy/x")], "pass a mapping"),
        (lambda: {"has space": "arn:aws:iam::aws:policy/X"}, "keys name the attachments"),
        (lambda: {"reader": "AmazonS3ReadOnlyAccess"}, "must be IAM policy ARNs"),
        (
            lambda: ["arn:aws:iam::aws:policy/A", "arn:aws:iam::123456789012:policy/A"],
            "must name different policies",
        ),
    ],
)
def test_managed_policy_arns_that_cannot_be_attached_fail_first(arns: object, message: str) -> None:
    def program() -> None:
        args = PodRoleArgs(**{**ARGS.__dict__, "managed_policy_arns": arns()})  # type: ignore[operator]
        with pytest.raises(ValueError, match=message):
            PodRole("bad", args)

    assert run_pulumi(program).resources == []

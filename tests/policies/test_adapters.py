"""The thin layer between CrossGuard's arguments and the rule functions, exercised with
arguments built the way the engine builds them (proxied props, real option and provider
objects), including values that are unknown during preview."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pulumi.runtime.config import CONFIG
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policies.props import get, peek, present
from policies.rule import (
    ResourceRule,
    StackRule,
    current_stack,
    stack_view_from_args,
    view_from_args,
)
from tests.policies.harness import OPTS, RULES_BY_NAME

STACK = "prod-eu-west-1"
AWS_URN = f"urn:pulumi:{STACK}::inference-mesh::pulumi:providers:aws::aws-eu-west-1"
K8S_URN = f"urn:pulumi:{STACK}::inference-mesh::pulumi:providers:kubernetes::cluster-k8s"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The pack process of stack prod-eu-west-1, whose config sets aws:region."""
    monkeypatch.setenv("PULUMI_STACK", STACK)
    token = CONFIG.set({"aws:region": "eu-west-1"})
    yield
    CONFIG.reset(token)


def aws_provider(region: str) -> PolicyProviderResource:
    return PolicyProviderResource(
        "pulumi:providers:aws", unknown_checking_proxy({"region": region}), AWS_URN, "aws"
    )


def k8s_provider() -> PolicyProviderResource:
    props = unknown_checking_proxy({"kubeconfig": UNKNOWN_STRING_VALUE})
    return PolicyProviderResource("pulumi:providers:kubernetes", props, K8S_URN, "cluster-k8s")


def args(
    type_: str,
    props: dict[str, Any],
    provider: PolicyProviderResource | None = None,
    config: dict[str, Any] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_,
        unknown_checking_proxy(props),
        f"urn:pulumi:{STACK}::inference-mesh::{type_}::r",
        "r",
        OPTS,
        provider,
        config,
    )


def validate(rule_name: str, resource_args: ResourceValidationArgs) -> list[str]:
    rule = RULES_BY_NAME[rule_name]
    assert isinstance(rule, ResourceRule)
    messages: list[str] = []
    rule.policy().validate(resource_args, lambda message, urn=None: messages.append(message))
    return messages


def test_region_comes_from_the_aws_provider(engine: None) -> None:
    view = view_from_args(args("aws:s3/bucket:Bucket", {}, aws_provider("ap-southeast-1")))
    assert view.region == "ap-southeast-1"
    assert view.stack == STACK == current_stack()


def test_an_explicit_region_input_wins_over_the_stack_config(engine: None) -> None:
    view = view_from_args(args("aws:s3/bucket:Bucket", {"region": "eu-central-1"}))
    assert view.region == "eu-central-1"


def test_kubernetes_objects_live_in_the_stacks_region(engine: None) -> None:
    view = view_from_args(args("kubernetes:karpenter.sh/v1:NodePool", {}, k8s_provider()))
    assert view.region == "eu-west-1"


def test_no_provider_and_no_config_means_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    token = CONFIG.set({})
    try:
        view = view_from_args(args("aws:s3/bucket:Bucket", {}))
    finally:
        CONFIG.reset(token)
    assert view.region is None
    assert view.stack is None


def test_rules_ignore_types_they_do_not_judge(engine: None) -> None:
    assert validate("eks-version-supported", args("aws:s3/bucket:Bucket", {})) == []


def test_a_value_unknown_during_preview_reaches_the_engine(engine: None) -> None:
    # The engine turns UnknownValueError into an advisory "can't run during preview" note.
    cluster = args("aws:eks/cluster:Cluster", {"version": UNKNOWN_STRING_VALUE})
    with pytest.raises(UnknownValueError):
        validate("eks-version-supported", cluster)


def test_a_key_that_exists_only_after_up_counts_as_set(engine: None) -> None:
    group = {"kmsKeyId": UNKNOWN_STRING_VALUE, "retentionInDays": 30}
    assert validate("log-group-customer-key", args("aws:cloudwatch/logGroup:LogGroup", group)) == []
    assert validate("log-group-customer-key", args("aws:cloudwatch/logGroup:LogGroup", {})) != []


def test_present_and_peek_on_proxies() -> None:
    props = unknown_checking_proxy({"a": {"b": UNKNOWN_STRING_VALUE}, "c": [1, 2]})
    assert present(props, "a", "b")
    assert present(props, "c")
    assert not present(props, "missing")
    assert peek(props, "a", "b") is None
    assert get(props, "c", 1) == 2
    assert get(props, "c", 5) is None


def test_policy_config_from_the_engine_overrides_defaults(engine: None) -> None:
    cluster = {"version": "1.29"}
    assert validate("eks-version-supported", args("aws:eks/cluster:Cluster", cluster)) != []
    configured = args("aws:eks/cluster:Cluster", cluster, config={"supportedVersions": ["1.29"]})
    assert validate("eks-version-supported", configured) == []


def _stack_resource(type_: str, name: str, outputs: dict[str, Any]) -> PolicyResource:
    urn = f"urn:pulumi:{STACK}::inference-mesh::{type_}::{name}"
    return PolicyResource(
        type_,
        unknown_checking_proxy(outputs),
        urn,
        name,
        OPTS,
        aws_provider("eu-west-1"),
        None,
        [],
        {},
    )


def test_stack_rules_read_outputs_and_blame_a_urn(engine: None) -> None:
    vpc = _stack_resource("aws:ec2/vpc:Vpc", "network-vpc", {"id": "vpc-1"})
    view = stack_view_from_args(StackValidationArgs([vpc]))
    assert view.stack == STACK
    assert view.resources[0].region == "eu-west-1"
    rule = RULES_BY_NAME["vpc-flow-logs-enabled"]
    assert isinstance(rule, StackRule)
    reported: list[tuple[str, str | None]] = []
    rule.policy().validate(
        StackValidationArgs([vpc]), lambda m, urn=None: reported.append((m, urn))
    )
    assert [urn for _, urn in reported] == [vpc.urn]
    flow_log = _stack_resource(
        "aws:ec2/flowLog:FlowLog", "network-flow-log", {"vpcId": "vpc-1", "trafficType": "ALL"}
    )
    assert rule.evaluate(stack_view_from_args(StackValidationArgs([vpc, flow_log]))) == []


def test_stack_outputs_unknown_during_preview_reach_the_engine(engine: None) -> None:
    vpc = _stack_resource("aws:ec2/vpc:Vpc", "network-vpc", {"id": UNKNOWN_STRING_VALUE})
    rule = RULES_BY_NAME["vpc-flow-logs-enabled"]
    with pytest.raises(UnknownValueError):
        rule.policy().validate(StackValidationArgs([vpc]), lambda m, urn=None: None)

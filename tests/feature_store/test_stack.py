"""The feature store wired into a shipped regional stack: network ids, tags and exports."""

from __future__ import annotations

import pytest

from meshctl.mock_cloud import RecordedResource
from stacks.regional import REGIONAL_BUILDERS
from tests.harness import Recording, record_regional_stack

STACK = "prod-eu-west-1"


@pytest.fixture(scope="module")
def rec() -> Recording:
    return record_regional_stack(STACK)


def _endpoint(rec: Recording, service: str) -> RecordedResource:
    [endpoint] = [
        e
        for e in rec.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.props["serviceName"] == f"com.amazonaws.eu-west-1.{service}"
    ]
    return endpoint


def test_features_builder_is_registered() -> None:
    assert "features" in [concern for concern, _ in REGIONAL_BUILDERS]


def test_uses_the_networks_endpoints_subnets_and_vpc(rec: Recording) -> None:
    policy = rec.one("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
    assert policy.props["vpcEndpointId"] == _endpoint(rec, "dynamodb").id
    bucket_policy = rec.named("features-offline-policy").props["policy"]
    assert _endpoint(rec, "s3").id in bucket_policy
    private = sorted(
        s.id
        for s in rec.of_type("aws:ec2/subnet:Subnet")
        if s.props["tags"]["subnet-tier"] == "private"
    )
    function = rec.one("aws:lambda/function:Function")
    assert sorted(function.props["vpcConfig"]["subnetIds"]) == private
    vpc = rec.one("aws:ec2/vpc:Vpc").id
    assert rec.named("features-consumer-sg").props["vpcId"] == vpc


def test_personal_classification_wins_over_the_stack_default(rec: Recording) -> None:
    table = rec.one("aws:dynamodb/table:Table").props["tags"]
    assert table["data-classification"] == "personal"
    assert table["jurisdiction"] == "EU"
    assert table["project"] == "inference-mesh"
    assert table["environment"] == "prod"


def test_exports(rec: Recording) -> None:
    exports = rec.outputs["features"]
    assert set(exports) == {
        "tableName",
        "tableArn",
        "streamArn",
        "offlineBucket",
        "readerPolicyArn",
        "keyArn",
    }
    assert exports["tableName"] == "inference-mesh-prod-eu-west-1-features"
    assert exports["offlineBucket"] == "inference-mesh-prod-eu-west-1-features-offline"
    assert exports["streamArn"].startswith("arn:aws:kinesis:eu-west-1:")
    assert exports["keyArn"] == rec.named("features-key-key").outputs["arn"]

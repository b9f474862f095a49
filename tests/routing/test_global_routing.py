"""``JurisdictionAccelerator`` under the mock cloud: the exact child set, where each child is
declared, the listener, endpoint groups and the flow-log bucket's protections.

Proves what the component declares (types, names, properties, provider regions, parentage);
does not prove that Global Accelerator delivers flow logs or honours client affinity.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pulumi
import pytest

from components.global_routing import JurisdictionAccelerator, JurisdictionAcceleratorArgs
from components.routing_plan import AcceleratorPlan, parse_routing_config, plan_routing
from meshctl.mock_cloud import ACCOUNT_ID, RecordedResource
from regions.catalog import load_catalog
from regions.residency import load_policy
from stacks.providers import aws_provider
from tests.harness import Recording, provider_region, run_pulumi
from tests.routing.helpers import ROUTING, ingress_export, ingress_refs

ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
LISTENER = "aws:globalaccelerator/listener:Listener"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
BUCKET = "aws:s3/bucket:Bucket"


def _eu_plan() -> AcceleratorPlan[str]:
    catalog = load_catalog()
    plan = plan_routing(
        "prod",
        catalog,
        load_policy(catalog),
        parse_routing_config(ROUTING, "stacks/Pulumi.prod-global.yaml"),
        ingress_refs(catalog),
        "stacks/Pulumi.prod-global.yaml",
    )
    return next(a for a in plan.accelerators if a.jurisdiction == "EU")


def _declare(plan: AcceleratorPlan[str]) -> dict[str, Any]:
    ga = aws_provider("us-west-2", {})
    component = JurisdictionAccelerator(
        "accelerator-eu",
        JurisdictionAcceleratorArgs(
            plan=plan,
            account_id=ACCOUNT_ID,
            flow_log_provider=aws_provider(plan.flow_log_region, {}),
        ),
        opts=pulumi.ResourceOptions(providers=[ga]),
    )
    return component.exports()


@pytest.fixture(scope="module")
def eu() -> Recording:
    return run_pulumi(lambda: _declare(_eu_plan()), stack="prod-global")


def _policy(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    value = resource.props[key]
    return json.loads(value) if isinstance(value, str) else value


def test_exact_child_set_parented_to_the_component(eu: Recording) -> None:
    component = eu.one("inference-mesh:routing:JurisdictionAccelerator")
    children = Counter(r.type for r in eu.descendants_of(component.urn) if r.custom)
    assert children == {
        ACCELERATOR: 1,
        LISTENER: 1,
        ENDPOINT_GROUP: 2,
        BUCKET: 1,
        "aws:s3/bucketVersioning:BucketVersioning": 1,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
        "aws:s3/bucketPolicy:BucketPolicy": 1,
        "aws:kms/key:Key": 1,
        "aws:kms/alias:Alias": 1,
    }
    # Nothing else: no replication, no second bucket, nothing outside the component.
    outside = [r for r in eu.custom if not r.type.startswith("pulumi:providers:")]
    assert len(outside) == sum(children.values())


def test_ga_resources_on_us_west_2_and_the_bucket_and_key_in_the_jurisdiction(
    eu: Recording,
) -> None:
    for token in (ACCELERATOR, LISTENER, ENDPOINT_GROUP):
        assert {provider_region(eu, r) for r in eu.of_type(token)} == {"us-west-2"}
    regional = [r for r in eu.custom if r.type.startswith(("aws:s3/", "aws:kms/"))]
    assert {provider_region(eu, r) for r in regional} == {"eu-central-1"}


def test_accelerator_ipv4_enabled_with_flow_logs_to_the_in_jurisdiction_bucket(
    eu: Recording,
) -> None:
    accelerator = eu.one(ACCELERATOR)
    assert accelerator.props["name"] == "prod-eu"
    assert accelerator.props["ipAddressType"] == "IPV4"
    assert accelerator.props["enabled"] is True
    assert accelerator.props["attributes"] == {
        "flowLogsEnabled": True,
        "flowLogsS3Bucket": "inference-mesh-prod-eu-central-1-ga-flow-logs",
        "flowLogsS3Prefix": "prod-eu",
    }
    assert accelerator.props["tags"]["jurisdiction"] == "EU"
    # GA checks it may write to the bucket when flow logs are enabled.
    policy = eu.one("aws:s3/bucketPolicy:BucketPolicy")
    assert policy.urn in accelerator.dependencies


def test_listener_is_tcp_443_with_source_ip_affinity_on_its_accelerator(eu: Recording) -> None:
    listener = eu.one(LISTENER)
    assert listener.props["protocol"] == "TCP"
    assert listener.props["clientAffinity"] == "SOURCE_IP"
    assert listener.props["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    assert listener.props["acceleratorArn"] == eu.one(ACCELERATOR).outputs["arn"]


def test_one_endpoint_group_per_region_with_its_nlb_dial_and_health_checks(
    eu: Recording,
) -> None:
    listener_arn = eu.one(LISTENER).outputs["arn"]
    groups = {g.props["endpointGroupRegion"]: g for g in eu.of_type(ENDPOINT_GROUP)}
    assert set(groups) == {"eu-central-1", "eu-west-1"}
    expected_dials = {"eu-central-1": 0, "eu-west-1": 100}
    for region, group in groups.items():
        props = group.props
        assert props["listenerArn"] == listener_arn
        assert props["trafficDialPercentage"] == expected_dials[region]
        assert props["healthCheckIntervalSeconds"] == 10
        assert props["thresholdCount"] == 2
        assert props["healthCheckProtocol"] == "HTTPS"
        assert props["healthCheckPort"] == 443
        assert props["healthCheckPath"] == ingress_export("prod", region)["healthCheckPath"]
        assert props["endpointConfigurations"] == [
            {
                "endpointId": ingress_export("prod", region)["nlbArn"],
                "clientIpPreservationEnabled": False,
                "weight": 128,
            }
        ]


def test_flow_log_bucket_is_personal_tagged_hardened_and_expires(eu: Recording) -> None:
    bucket = eu.one(BUCKET)
    assert bucket.props["bucket"] == "inference-mesh-prod-eu-central-1-ga-flow-logs"
    assert bucket.props["tags"]["data-classification"] == "personal"
    assert bucket.props["tags"]["jurisdiction"] == "EU"
    key = eu.one("aws:kms/key:Key")
    assert key.props["multiRegion"] is False
    assert key.props["tags"]["data-classification"] == "personal"
    encryption = eu.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = encryption.props["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert eu.one("aws:s3/bucketVersioning:BucketVersioning").props["versioningConfiguration"] == {
        "status": "Enabled"
    }
    block = eu.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").props
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = eu.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").props
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (lifecycle,) = eu.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").props[
        "rules"
    ]
    assert lifecycle["expiration"] == {"days": 30}
    assert lifecycle["noncurrentVersionExpiration"] == {"noncurrentDays": 7}


def test_bucket_policy_lets_only_this_accounts_log_delivery_write_and_denies_plain_http(
    eu: Recording,
) -> None:
    bucket_arn = eu.one(BUCKET).outputs["arn"]
    statements = {
        s["Sid"]: s for s in _policy(eu.one("aws:s3/bucketPolicy:BucketPolicy"))["Statement"]
    }
    assert set(statements) == {
        "DenyInsecureTransport",
        "GlobalAcceleratorFlowLogsWrite",
        "GlobalAcceleratorFlowLogsAclCheck",
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    source_arn = f"arn:aws:logs:us-west-2:{ACCOUNT_ID}:*"
    write = statements["GlobalAcceleratorFlowLogsWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"{bucket_arn}/prod-eu/AWSLogs/{ACCOUNT_ID}/*"
    assert write["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT_ID,
            "s3:x-amz-acl": "bucket-owner-full-control",
        },
        "ArnLike": {"aws:SourceArn": source_arn},
    }
    check = statements["GlobalAcceleratorFlowLogsAclCheck"]
    assert check["Resource"] == bucket_arn
    assert check["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": source_arn},
    }


def test_key_policy_lets_log_delivery_generate_data_keys_for_this_account_only(
    eu: Recording,
) -> None:
    statements = {s["Sid"]: s for s in _policy(eu.one("aws:kms/key:Key"))["Statement"]}
    delivery = statements["GlobalAcceleratorFlowLogDelivery"]
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert "kms:GenerateDataKey*" in delivery["Action"]
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}


def test_exports_name_the_dns_name_static_ips_and_regions(eu: Recording) -> None:
    accelerator = eu.one(ACCELERATOR)
    assert eu.outputs["arn"] == accelerator.outputs["arn"]
    assert eu.outputs["dnsName"] == accelerator.outputs["dnsName"]
    assert eu.outputs["staticIps"] == accelerator.outputs["ipSets"][0]["ipAddresses"]
    assert len(eu.outputs["staticIps"]) == 2
    assert eu.outputs["regions"] == ["eu-central-1", "eu-west-1"]
    assert eu.outputs["flowLogBucket"] == "inference-mesh-prod-eu-central-1-ga-flow-logs"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint_groups": ()}, "at least one endpoint group"),
        ({"flow_log_region": "us-east-1"}, "flow_log_region must be one of its own regions"),
        ({"flow_log_prefix": "prod-eu/"}, "must not start or end with '/'"),
        ({"flow_log_retention_days": 0}, "flow_log_retention_days must be"),
    ],
)
def test_bad_plans_fail_before_any_resource(change: dict[str, Any], message: str) -> None:
    from dataclasses import replace

    plan = replace(_eu_plan(), **change)
    with pytest.raises(ValueError, match=message):
        run_pulumi(lambda: _declare(plan), stack="prod-global")

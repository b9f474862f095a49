"""A fake Global Accelerator estate and the exact call sequences meshctl traffic must make.

Responses are validated by botocore against the service model, so their shapes are real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

ACCOUNT = "123456789012"


def accelerator_arn(name: str) -> str:
    return f"arn:aws:globalaccelerator::{ACCOUNT}:accelerator/{name}-0000"


def listener_arn(name: str) -> str:
    return f"{accelerator_arn(name)}/listener/{name}-443"


def group_arn(name: str, region: str) -> str:
    return f"{listener_arn(name)}/endpoint-group/{region}"


def nlb(region: str) -> str:
    return f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/net/gw/{region}"


@dataclass
class Group:
    region: str
    dial: float = 100.0
    health: tuple[str, ...] = ("HEALTHY",)


@dataclass
class Accel:
    name: str
    groups: list[Group]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return accelerator_arn(self.name)


def ours(name: str, groups: list[Group], environment: str = "prod") -> Accel:
    return Accel(name, groups, {"project": "inference-mesh", "environment": environment})


def prod_world() -> list[Accel]:
    """prod as the global stack builds it: one accelerator per jurisdiction, all healthy."""
    return [
        ours("prod-eu", [Group("eu-central-1"), Group("eu-west-1")]),
        ours("prod-jp", [Group("ap-northeast-1")]),
        ours("prod-sg", [Group("ap-southeast-1")]),
        ours("prod-us", [Group("us-east-1"), Group("us-west-2")]),
    ]


def client() -> Any:
    return boto3.client(
        "globalaccelerator",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def group_document(accel: Accel, group: Group, dial: float | None = None) -> dict[str, Any]:
    return {
        "EndpointGroupArn": group_arn(accel.name, group.region),
        "EndpointGroupRegion": group.region,
        "EndpointDescriptions": [
            {
                "EndpointId": nlb(group.region),
                "Weight": 128,
                "HealthState": state,
                "ClientIPPreservationEnabled": True,
            }
            for state in group.health
        ],
        "TrafficDialPercentage": group.dial if dial is None else dial,
        "HealthCheckPort": 443,
        "HealthCheckProtocol": "HTTPS",
        "HealthCheckPath": "/v2/health/ready",
        "HealthCheckIntervalSeconds": 10,
        "ThresholdCount": 3,
    }


def stub_discovery(stubber: Stubber, world: list[Accel], environment: str = "prod") -> None:
    """The read calls of discovery, in order, with their exact parameters."""
    stubber.add_response(
        "list_accelerators",
        {
            "Accelerators": [
                {
                    "AcceleratorArn": a.arn,
                    "Name": a.name,
                    "IpAddressType": "IPV4",
                    "Enabled": True,
                    "DnsName": f"{a.name}.awsglobalaccelerator.com",
                    "Status": "DEPLOYED",
                    "CreatedTime": datetime(2026, 1, 1, tzinfo=UTC),
                }
                for a in world
            ]
        },
        {},
    )
    wanted = {f"{environment}-{j}" for j in ("eu", "jp", "sg", "us")}
    for accel in world:
        if accel.name not in wanted:
            continue  # not even the tags of an accelerator with a foreign name are read
        stubber.add_response(
            "list_tags_for_resource",
            {"Tags": [{"Key": k, "Value": v} for k, v in accel.tags.items()]},
            {"ResourceArn": accel.arn},
        )
        if accel.tags.get("project") != "inference-mesh" or accel.tags.get("environment") != (
            environment
        ):
            continue
        stubber.add_response(
            "list_listeners",
            {
                "Listeners": [
                    {
                        "ListenerArn": listener_arn(accel.name),
                        "PortRanges": [{"FromPort": 443, "ToPort": 443}],
                        "Protocol": "TCP",
                        "ClientAffinity": "SOURCE_IP",
                    }
                ]
            },
            {"AcceleratorArn": accel.arn},
        )
        stubber.add_response(
            "list_endpoint_groups",
            {"EndpointGroups": [group_document(accel, g) for g in accel.groups]},
            {"ListenerArn": listener_arn(accel.name)},
        )


def stub_update_and_wait(
    stubber: Stubber,
    accel: Accel,
    region: str,
    dial: float,
    statuses: tuple[str, ...] = ("IN_PROGRESS", "DEPLOYED"),
) -> None:
    """The write: one update of one dial, polling until DEPLOYED, then the fresh group."""
    group = next(g for g in accel.groups if g.region == region)
    stubber.add_response(
        "update_endpoint_group",
        {"EndpointGroup": group_document(accel, group, dial)},
        {"EndpointGroupArn": group_arn(accel.name, region), "TrafficDialPercentage": dial},
    )
    for status in statuses:
        stubber.add_response(
            "describe_accelerator",
            {"Accelerator": {"AcceleratorArn": accel.arn, "Name": accel.name, "Status": status}},
            {"AcceleratorArn": accel.arn},
        )
    if statuses[-1] == "DEPLOYED":
        stubber.add_response(
            "describe_endpoint_group",
            {"EndpointGroup": group_document(accel, group, dial)},
            {"EndpointGroupArn": group_arn(accel.name, region)},
        )

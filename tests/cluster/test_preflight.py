"""``meshctl preflight`` (meshctl/commands/preflight.py).

EC2 instance-type offerings come from a real ``moto_server`` on 127.0.0.1 (the
``aws_endpoint`` fixture). moto 5.2 serves Service Quotas for the ``vpc`` service only and has
no ``eks:DescribeClusterVersions`` or ``eks:DescribeAddonVersions``, so those two clients are
``botocore.stub.Stubber``s that assert the exact calls and parameters.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from capacity.planner import load_shipped_plan
from components.cluster import versions
from meshctl import cli
from meshctl.aws import AwsClients
from meshctl.commands import preflight
from meshctl.commands.preflight import (
    RegionTarget,
    check_offerings,
    load_target,
    required_vcpus,
    run_preflight,
)
from regions.catalog import load_catalog

CATALOG = load_catalog()


class Clients:
    """EC2 against moto; Service Quotas and EKS stubbed (moto lacks what preflight calls)."""

    def __init__(self, endpoint: str):
        self.moto = AwsClients(endpoint_url=endpoint)
        self.stubs: dict[tuple[str, str], tuple[Any, Stubber]] = {}

    def client(self, service: str, region: str) -> Any:
        if service == "ec2":
            return self.moto.client("ec2", region)
        return self.stub(service, region)[0]

    def stub(self, service: str, region: str) -> tuple[Any, Stubber]:
        if (service, region) not in self.stubs:
            client = boto3.client(service, region_name=region)
            stubber = Stubber(client)
            stubber.activate()
            self.stubs[(service, region)] = (client, stubber)
        return self.stubs[(service, region)]

    def quota(self, region: str, code: str, value: float) -> None:
        self.stub("service-quotas", region)[1].add_response(
            "get_service_quota",
            {"Quota": {"ServiceCode": "ec2", "QuotaCode": code, "Value": value}},
            {"ServiceCode": "ec2", "QuotaCode": code},
        )

    def eks(self, region: str, status: str = "STANDARD_SUPPORT", missing: str = "") -> None:
        stubber = self.stub("eks", region)[1]
        stubber.add_response(
            "describe_cluster_versions",
            {"clusterVersions": [{"clusterVersion": "1.35", "versionStatus": status}]},
            {"clusterVersions": ["1.35"]},
        )
        for addon, pinned in versions.EKS_ADDONS["1.35"].items():
            offered = ["v0.0.1-eksbuild.1"] if addon == missing else [pinned, "v0.0.1-eksbuild.1"]
            stubber.add_response(
                "describe_addon_versions",
                {
                    "addons": [
                        {
                            "addonName": addon,
                            "addonVersions": [{"addonVersion": v} for v in offered],
                        }
                    ]
                },
                {"kubernetesVersion": "1.35", "addonName": addon},
            )

    def all_called(self) -> None:
        for _, stubber in self.stubs.values():
            stubber.assert_no_pending_responses()


def _target(stack_env: str = "prod", region: str = "eu-west-1") -> RegionTarget:
    return load_target(stack_env, region, CATALOG)


def _by_check(checks: list[preflight.Check]) -> dict[str, preflight.Check]:
    return {c.check: c for c in checks}


# -- what the pools need ---------------------------------------------------------------------
BASE_GPUS = load_shipped_plan("prod").regions["eu-west-1"].gpu_limit  # a10g on g5.xlarge
BURST_GPUS = 8  # t4 on g4dn.xlarge: burstGpuLimit of stacks/Pulumi.prod-eu-west-1.yaml
ON_DEMAND_VCPUS = 4 * BASE_GPUS + 4 * BURST_GPUS  # both types: 4 vCPUs per GPU
SPOT_VCPUS = 4 * BURST_GPUS  # only the burst pool may run on Spot


def test_prod_eu_west_1_needs_g_vcpus_per_capacity_type() -> None:
    assert load_shipped_plan("prod").regions["eu-west-1"].instance_type == "g5.xlarge"
    assert required_vcpus(_target().pools) == {
        ("G", "on-demand"): ON_DEMAND_VCPUS,
        ("G", "spot"): SPOT_VCPUS,
    }


# -- against moto ----------------------------------------------------------------------------
def test_everything_in_place_passes(aws_endpoint: str) -> None:
    clients = Clients(aws_endpoint)
    clients.quota("eu-west-1", "L-DB2E81BA", ON_DEMAND_VCPUS + 100)  # on-demand G and VT
    clients.quota("eu-west-1", "L-3819A6DF", SPOT_VCPUS)  # spot G and VT: exactly enough
    clients.eks("eu-west-1")
    checks = run_preflight([_target()], clients)
    clients.all_called()
    assert [c.check for c in checks] == [
        "offering g5.xlarge",
        "offering g4dn.xlarge",
        "quota L-DB2E81BA",
        "quota L-3819A6DF",
        "kubernetes 1.35",
        *(f"add-on {a}" for a in versions.EKS_ADDONS["1.35"]),
    ]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert _by_check(checks)["offering g5.xlarge"].detail == (
        "offered in 3 of 3 catalog zones (eu-west-1a, eu-west-1b, eu-west-1c)"
    )


def test_two_zones_are_enough_and_one_is_not(aws_endpoint: str) -> None:
    ec2 = AwsClients(endpoint_url=aws_endpoint).client("ec2", "ap-northeast-1")
    tokyo = CATALOG.get("ap-northeast-1")  # moto offers g6.xlarge in 1a and 1c, not 1d
    two = _by_check(check_offerings(ec2, tokyo))["offering g6.xlarge"]
    assert two.ok
    assert two.detail == "offered in 2 of 3 catalog zones (ap-northeast-1a, ap-northeast-1c)"
    one = replace(
        tokyo, availability_zones=("ap-northeast-1a", "ap-northeast-1b", "ap-northeast-1d")
    )
    failed = _by_check(check_offerings(ec2, one))["offering g6.xlarge"]
    assert not failed.ok
    assert "remove g6.xlarge from gpu_candidates in regions/ap-northeast-1.yaml" in failed.fix


def test_a_type_the_region_does_not_offer_fails(aws_endpoint: str) -> None:
    ec2 = AwsClients(endpoint_url=aws_endpoint).client("ec2", "eu-west-1")
    ireland = replace(CATALOG.get("eu-west-1"), gpu_candidates=("g5.xlarge", "g6.xlarge"))
    checks = _by_check(check_offerings(ec2, ireland))
    assert checks["offering g5.xlarge"].ok
    assert not checks["offering g6.xlarge"].ok
    assert checks["offering g6.xlarge"].detail == "offered in 0 of 3 catalog zones"


def test_short_quota_says_what_to_request(aws_endpoint: str) -> None:
    clients = Clients(aws_endpoint)
    clients.quota("eu-west-1", "L-DB2E81BA", ON_DEMAND_VCPUS)
    clients.quota("eu-west-1", "L-3819A6DF", SPOT_VCPUS - 1)
    clients.eks("eu-west-1")
    checks = _by_check(run_preflight([_target()], clients))
    assert checks["quota L-DB2E81BA"].ok
    spot = checks["quota L-3819A6DF"]
    assert not spot.ok
    assert spot.detail == (
        f"All G and VT Spot Instance Requests: {SPOT_VCPUS - 1} vCPUs, pools need {SPOT_VCPUS}"
    )
    assert spot.fix == (
        f"request L-3819A6DF (All G and VT Spot Instance Requests) of at least {SPOT_VCPUS} "
        "vCPUs in eu-west-1, or lower gpuPools.burstGpuLimit in "
        "stacks/Pulumi.prod-eu-west-1.yaml (the base pool's limit is the capacity plan's)"
    )


def test_version_out_of_standard_support_and_missing_addon_fail(aws_endpoint: str) -> None:
    clients = Clients(aws_endpoint)
    clients.quota("eu-west-1", "L-DB2E81BA", 256)
    clients.quota("eu-west-1", "L-3819A6DF", 256)
    clients.eks("eu-west-1", status="EXTENDED_SUPPORT", missing="coredns")
    checks = _by_check(run_preflight([_target()], clients))
    assert not checks["kubernetes 1.35"].ok
    assert checks["kubernetes 1.35"].detail == "EKS reports EXTENDED_SUPPORT"
    assert not checks["add-on coredns"].ok
    assert "components/cluster/versions.py EKS_ADDONS['1.35']" in checks["add-on coredns"].fix
    assert checks["add-on vpc-cni"].ok


# -- the command -------------------------------------------------------------------------------
@pytest.fixture
def stubbed(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Clients:
    clients = Clients(aws_endpoint)
    monkeypatch.setattr(preflight.AwsClients, "from_args", classmethod(lambda cls, a: clients))
    return clients


def test_command_exits_zero_when_ready(stubbed: Clients, capsys: pytest.CaptureFixture) -> None:
    stubbed.quota("eu-west-1", "L-DB2E81BA", 500)
    stubbed.quota("eu-west-1", "L-3819A6DF", 500)
    stubbed.eks("eu-west-1")
    code = cli.main(["preflight", "--region", "eu-west-1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["ok"] is True
    assert {c["region"] for c in report["checks"]} == {"eu-west-1"}


def test_command_exits_one_and_prints_the_fix(
    stubbed: Clients, capsys: pytest.CaptureFixture
) -> None:
    stubbed.quota("eu-west-1", "L-DB2E81BA", 0)
    stubbed.quota("eu-west-1", "L-3819A6DF", 500)
    stubbed.eks("eu-west-1")
    code = cli.main(["preflight", "--region", "eu-west-1"])
    captured = capsys.readouterr()
    assert code == 1
    assert "GPU preflight" in captured.out
    assert "FAIL" in captured.out
    assert "eu-west-1: quota L-DB2E81BA: request L-DB2E81BA" in captured.err


def test_all_regions(stubbed: Clients, capsys: pytest.CaptureFixture) -> None:
    for spec in CATALOG:
        target = _target("dev", spec.region)
        for group, capacity in sorted(required_vcpus(target.pools)):
            stubbed.quota(spec.region, preflight.QUOTAS[(group, capacity)][0], 1000)
        stubbed.eks(spec.region)
    code = cli.main(["preflight", "--all", "--env", "dev", "--json"])
    report = json.loads(capsys.readouterr().out)
    stubbed.all_called()
    assert {c["region"] for c in report["checks"]} == set(CATALOG.names)
    failed = [c for c in report["checks"] if not c["ok"]]
    # moto offers every catalog candidate in at least two of its region's catalog zones.
    assert failed == []
    assert code == 0


def test_unknown_region_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["preflight", "--region", "mars-east-1"]) == 2
    assert "mars-east-1" in capsys.readouterr().err

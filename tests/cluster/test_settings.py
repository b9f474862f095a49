"""The ``inference-mesh:cluster`` stack config (stacks/cluster.py): shipped files, and one bad
field per failing case."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from capacity.planner import load_shipped_plan
from meshctl.plan_engine import discover_stacks, is_global, load_stack_config
from regions.catalog import RegionCatalog, load_catalog
from stacks.cluster import KEY, cluster_settings, gpu_pools, parse_cluster_settings
from stacks.settings import RegionalSettings, StackConfigError, parse_settings

REGIONAL_STACKS = [s for s in discover_stacks() if not is_global(s)]


def _settings(stack: str, catalog: RegionCatalog | None = None) -> RegionalSettings:
    settings = parse_settings(stack, load_stack_config(stack), catalog)
    assert isinstance(settings, RegionalSettings)
    return settings


def _shipped(stack: str = "dev-eu-west-1") -> dict[str, Any]:
    return copy.deepcopy(load_stack_config(stack)[KEY])


@pytest.mark.parametrize("stack", REGIONAL_STACKS)
def test_every_shipped_stack_declares_a_valid_cluster(stack: str) -> None:
    settings = _settings(stack)
    config = cluster_settings(settings)
    pools = gpu_pools(settings, config)
    assert config.kubernetes_version == "1.35"
    assert config.log_retention_days == 365
    assert pools, stack
    if settings.environment == "prod":
        assert config.endpoint_public_access_cidrs == ()
        assert config.deletion_protection is True
    else:
        assert "0.0.0.0/0" not in config.endpoint_public_access_cidrs


def test_shipped_pools_follow_the_catalog() -> None:
    assert [p.gpu_class for p in gpu_pools(*_pair("prod-us-east-1"))] == ["l4", "a10g", "t4"]
    assert [p.gpu_class for p in gpu_pools(*_pair("prod-eu-west-1"))] == ["a10g", "t4"]
    assert [p.gpu_class for p in gpu_pools(*_pair("prod-ap-southeast-1"))] == ["t4"]


@pytest.mark.parametrize("stack", REGIONAL_STACKS)
def test_the_base_pool_is_the_capacity_plan(stack: str) -> None:
    settings, config = _pair(stack)
    planned = load_shipped_plan(settings.environment).regions[settings.region.region]
    pools = gpu_pools(settings, config)
    base = [p for p in pools if p.base]
    assert [(p.gpu_class, p.gpu_limit, p.capacity_types) for p in base] == [
        (planned.gpu_class, planned.gpu_limit, ("on-demand",))
    ]
    assert planned.instance_type in base[0].instance_types
    for burst in (p for p in pools if not p.base):
        assert burst.gpu_limit == config.gpu_pools.burst_gpu_limit
        assert burst.capacity_types == ("on-demand", "spot")


def _pair(stack: str) -> tuple[RegionalSettings, Any]:
    settings = _settings(stack)
    return settings, cluster_settings(settings)


def _error(stack: str, data: Any, environment: str = "dev") -> str:
    with pytest.raises(StackConfigError) as caught:
        parse_cluster_settings(stack, environment, data)
    return str(caught.value)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.0.0.0/8", "::/0", "203.0.113.7/24", "nope"])
def test_dev_public_endpoint_refuses_open_or_malformed_cidrs(cidr: str) -> None:
    data = _shipped() | {"endpointPublicAccessCidrs": [cidr]}
    message = _error("dev-eu-west-1", data)
    assert message.startswith(
        "stacks/Pulumi.dev-eu-west-1.yaml: field 'inference-mesh:cluster.endpointPublicAccessCidrs'"
    )


def test_prod_refuses_any_public_endpoint_cidr() -> None:
    data = _shipped("prod-eu-west-1") | {"endpointPublicAccessCidrs": ["203.0.113.0/24"]}
    message = _error("prod-eu-west-1", data, environment="prod")
    assert "no entries in prod: the public endpoint stays off" in message


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"kubernetesVersion": 1.35}, "kubernetesVersion", "a quoted Kubernetes minor"),
        ({"kubernetesVersion": "1.34"}, "kubernetesVersion", "['1.35']"),
        ({"logRetentionDays": 10}, "logRetentionDays", "one of [1, 3"),
        ({"nodeGroups": {}}, "nodeGroups", "one of ['adminRoleArns'"),
        ({"adminRoleArns": ["root"]}, "adminRoleArns", "IAM role ARNs"),
        ({"deletionProtection": "yes"}, "deletionProtection", "true or false"),
    ],
)
def test_bad_top_level_fields_name_the_field(change: dict, field: str, expected: str) -> None:
    message = _error("dev-eu-west-1", _shipped() | change)
    assert f"field 'inference-mesh:cluster.{field}'" in message
    assert expected in message


@pytest.mark.parametrize(
    ("section", "change", "field", "expected"),
    [
        ("systemNodes", {"instanceType": "c7g.xlarge"}, "instanceType", "x86 CPU instance type"),
        ("systemNodes", {"instanceType": "g5.xlarge"}, "instanceType", "x86 CPU instance type"),
        ("systemNodes", {"min": 3, "desired": 2}, "desired", "from 3 to 100"),
        ("gpuPools", {"spot": "sometimes"}, "spot", "true or false"),
        ("gpuPools", {"diskGiB": 20}, "diskGiB", "from 100 to 2000"),
        ("gpuPools", {"classes": ["v100"]}, "classes", "GPU classes from"),
        ("gpuPools", {"gpuLimits": {"l4": 4}}, "gpuLimits", "one of ['amiRelease'"),
        ("gpuPools", {"burstGpuLimit": 0}, "burstGpuLimit", "from 1 to 1000"),
        ("gpuPools", {"disruptionFraction": 0.9}, "disruptionFraction", "from 0.05 to 0.5"),
        ("gpuPools", {"consolidateAfter": "soon"}, "consolidateAfter", "a duration"),
        ("gpuPools", {"amiRelease": "latest"}, "amiRelease", "an amazon-eks-ami release"),
    ],
)
def test_bad_nested_fields_name_the_field(
    section: str, change: dict, field: str, expected: str
) -> None:
    data = _shipped()
    data[section] = data[section] | change
    message = _error("dev-eu-west-1", data)
    assert f"field 'inference-mesh:cluster.{section}.{field}'" in message
    assert expected in message


def test_a_region_without_the_requested_classes_fails_naming_region_and_types() -> None:
    catalog = load_catalog()
    singapore = catalog.get("ap-southeast-1")
    settings = _settings("prod-ap-southeast-1", catalog)
    config = cluster_settings(settings)
    wanted = replace(config, gpu_pools=replace(config.gpu_pools, classes=("l4", "a10g")))
    with pytest.raises(StackConfigError) as caught:
        gpu_pools(settings, wanted)
    message = str(caught.value)
    assert message.startswith(
        "stacks/Pulumi.prod-ap-southeast-1.yaml: field 'inference-mesh:cluster.gpuPools.classes'"
    )
    assert "region ap-southeast-1 offers none of the requested GPU classes ['l4', 'a10g']" in (
        message
    )
    assert ", ".join(f"{t} (t4)" for t in singapore.gpu_candidates) in message

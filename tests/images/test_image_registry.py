"""Gateway image repositories and their ECR replication rule (mock cloud).

Proves the declared settings (immutability, scanning, KMS, the replication destinations);
does not prove that ECR copies an image.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from components.image_registry import (
    ImageReplication,
    ImageReplicationArgs,
    ImageRepository,
    ImageRepositoryArgs,
)
from tests.harness import provider_region, run_pulumi


def test_repository_is_immutable_scanned_and_encrypted_with_a_regional_key() -> None:
    def program() -> None:
        provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
        ImageRepository(
            "gateway-image",
            ImageRepositoryArgs("inference-mesh/prod/gateway", "123456789012", "images"),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )

    rec = run_pulumi(program)
    repo = rec.one("aws:ecr/repository:Repository")
    key = rec.one("aws:kms/key:Key")
    assert repo.props["name"] == "inference-mesh/prod/gateway"
    assert repo.props["imageTagMutability"] == "IMMUTABLE"
    assert repo.props["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.props["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}
    ]
    assert key.props["multiRegion"] is False
    policy = json.loads(rec.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").props["policy"])
    assert [r["selection"]["tagStatus"] for r in policy["rules"]] == ["untagged", "any"]
    assert provider_region(rec, repo) == "eu-west-1"


def test_replication_goes_from_the_primary_to_every_other_region_for_the_env_prefix() -> None:
    def program() -> None:
        primary = aws.Provider("aws-us-east-1", region="us-east-1")
        ImageReplication(
            "images",
            ImageReplicationArgs(
                "123456789012", ["eu-west-1", "ap-southeast-1"], "inference-mesh/prod/"
            ),
            opts=pulumi.ResourceOptions(providers=[primary]),
        )

    rec = run_pulumi(program, stack="prod-global")
    config = rec.one("aws:ecr/replicationConfiguration:ReplicationConfiguration")
    (rule,) = config.props["replicationConfiguration"]["rules"]
    assert [d["region"] for d in rule["destinations"]] == ["ap-southeast-1", "eu-west-1"]
    assert rule["repositoryFilters"] == [
        {"filter": "inference-mesh/prod/", "filterType": "PREFIX_MATCH"}
    ]
    assert provider_region(rec, config) == "us-east-1"


def test_replication_without_destinations_is_refused() -> None:
    with pytest.raises(ValueError, match="destination_regions must name at least one region"):
        ImageReplication("images", ImageReplicationArgs("1", [], "p/"))


def test_global_plan_replicates_to_every_regional_repository(
    shipped_plans: dict[str, dict],
) -> None:
    from regions.catalog import load_catalog

    catalog = load_catalog()
    for env in ("dev", "prod"):
        plan = shipped_plans[f"{env}-global"]
        (config,) = [
            r
            for r in plan["resources"]
            if r["type"] == "aws:ecr/replicationConfiguration:ReplicationConfiguration"
        ]
        assert config["region"] == catalog.primary.region
        (rule,) = config["props"]["replicationConfiguration"]["rules"]
        destinations = sorted(d["region"] for d in rule["destinations"])
        assert destinations == sorted(s.region for s in catalog if not s.artifact_primary)
        prefix = rule["repositoryFilters"][0]["filter"]
        assert prefix == f"inference-mesh/{env}/"
        # Every region, primary included, declares the repository the rule fills.
        for spec in catalog:
            regional = shipped_plans[f"{env}-{spec.region}"]
            names = [
                r["props"]["name"]
                for r in regional["resources"]
                if r["type"] == "aws:ecr/repository:Repository"
            ]
            assert names == [f"{prefix}gateway"]

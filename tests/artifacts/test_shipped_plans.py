"""The shipped stacks, planned offline: regional stores and global replication join on values.

Proves that the prod and dev global plans replicate from the primary regional plan's bucket to
exactly the other regional plans' buckets, each with that plan's key, and that every regional
plan exports its store under deterministic names; does not prove anything about AWS.
"""

from __future__ import annotations

from typing import Any

import pytest

from regions.catalog import load_catalog
from stacks import naming
from stacks.settings import STACKS_DIR

ENVIRONMENTS = ("dev", "prod")


def _resources(plan: dict[str, Any], token: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == token]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_global_replication_targets_exactly_the_other_regional_plans_buckets_and_keys(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    catalog = load_catalog()
    primary = catalog.primary.region
    regional = {
        r: shipped_plans[f"{environment}-{r}"]["outputs"]["artifacts"] for r in catalog.names
    }
    (config,) = _resources(
        shipped_plans[f"{environment}-global"],
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    )
    assert config["region"] == primary
    assert config["props"]["bucket"] == regional[primary]["bucketName"]
    destinations = {
        rule["destination"]["bucket"]: rule["destination"]["encryptionConfiguration"][
            "replicaKmsKeyId"
        ]
        for rule in config["props"]["rules"]
    }
    assert destinations == {
        store["bucketArn"]: store["keyArn"] for r, store in regional.items() if r != primary
    }
    assert len(config["props"]["rules"]) == len(catalog) - 1


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_destination_is_a_real_bucket_and_key_of_its_regional_plan(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    (config,) = _resources(
        shipped_plans[f"{environment}-global"],
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    )
    for rule in config["props"]["rules"]:
        region = rule["id"].removeprefix("to-")
        plan = shipped_plans[f"{environment}-{region}"]
        bucket_arns = {b["outputs"]["arn"] for b in _resources(plan, "aws:s3/bucket:Bucket")}
        key_arns = {k["outputs"]["arn"] for k in _resources(plan, "aws:kms/key:Key")}
        assert rule["destination"]["bucket"] in bucket_arns
        assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"] in key_arns


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_regional_plan_exports_its_store_under_deterministic_names(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    for region in load_catalog().names:
        plan = shipped_plans[f"{environment}-{region}"]
        store = plan["outputs"]["artifacts"]
        assert store["bucketName"] == naming.artifact_bucket(environment, region)
        assert store["bucketArn"] == f"arn:aws:s3:::{store['bucketName']}"
        assert store["logBucketName"] == naming.artifact_log_bucket(environment, region)
        assert store["keyArn"].startswith(f"arn:aws:kms:{region}:")
        assert len(_resources(plan, "inference-mesh:artifacts:ModelArtifactStore")) == 1


def test_stack_files_set_the_artifacts_key_for_every_regional_stack() -> None:
    import yaml

    for environment in ENVIRONMENTS:
        for region in load_catalog().names:
            path = STACKS_DIR / f"Pulumi.{environment}-{region}.yaml"
            config = yaml.safe_load(path.read_text())["config"]
            assert set(config["inference-mesh:artifacts"]) == {
                "noncurrentVersionExpirationDays",
                "accessLogRetentionDays",
            }, path.name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_lifecycle_uses_the_stack_files_noncurrent_days(
    shipped_plans: dict[str, dict], environment: str
) -> None:
    import yaml

    for region in load_catalog().names:
        stack = f"{environment}-{region}"
        config = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
        days = config["inference-mesh:artifacts"]["noncurrentVersionExpirationDays"]
        lifecycles = [
            r
            for r in _resources(
                shipped_plans[stack],
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            )
            if r["props"]["bucket"] == naming.artifact_bucket(environment, region)
        ]
        assert len(lifecycles) == 1
        (rule,) = lifecycles[0]["props"]["rules"]
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": days}

"""Shared test data: regional ``artifacts`` exports as the regional stacks write them, and a
catalog with one more region than the shipped one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.replication import ArtifactReplication, ArtifactReplicationArgs
from components.replication_plan import ArtifactStoreRef, ReplicationPlan, plan_replication
from meshctl.mock_cloud import ACCOUNT_ID, RecordedResource
from regions.catalog import CATALOG_DIR, RegionCatalog, load_catalog
from stacks import naming
from tests.harness import Recording, run_pulumi

REPLICATION_CONFIG = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

SEVENTH_REGION = "eu-north-1"
_SEVENTH = {
    "region": SEVENTH_REGION,
    "jurisdiction": "EU",
    "availability_zones": ["eu-north-1a", "eu-north-1b", "eu-north-1c"],
    "vpc_cidr": "10.22.0.0/16",
    "gpu_candidates": ["g5.xlarge", "g4dn.xlarge"],
    "demand_share": 0.05,
    "artifact_primary": False,
}


def key_arn(region: str, environment: str = "prod") -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{environment}-{region}-artifacts"


def artifacts_export(environment: str, region: str) -> dict[str, str]:
    """What ``stacks.artifacts.build`` exports, with a distinguishable key ARN per stack."""
    bucket = naming.artifact_bucket(environment, region)
    return {
        "bucketName": bucket,
        "bucketArn": f"arn:aws:s3:::{bucket}",
        "keyArn": key_arn(region, environment),
        "logBucketName": naming.artifact_log_bucket(environment, region),
    }


def regional_outputs(catalog: RegionCatalog, environment: str) -> dict[str, dict[str, Any]]:
    """StackReference outputs of every regional stack of ``environment``, by stack name."""
    return {
        naming.stack_name(environment, spec.region): {
            "region": spec.region,
            "environment": environment,
            "jurisdiction": spec.jurisdiction,
            "network": {"vpcId": f"vpc-{environment}-{spec.region}"},
            "artifacts": artifacts_export(environment, spec.region),
        }
        for spec in catalog
    }


def store(region: str, environment: str = "prod") -> ArtifactStoreRef[str]:
    export = artifacts_export(environment, region)
    return ArtifactStoreRef(region, export["bucketName"], export["bucketArn"], export["keyArn"])


def stores(catalog: RegionCatalog, environment: str = "prod") -> dict[str, ArtifactStoreRef[str]]:
    return {spec.region: store(spec.region, environment) for spec in catalog}


def catalog_with_seventh_region(directory: Path) -> RegionCatalog:
    """The shipped catalog plus eu-north-1, its demand share taken from eu-west-1."""
    for source in sorted(Path(CATALOG_DIR).glob("*.yaml")):
        shutil.copy(source, directory / source.name)
    ireland = directory / "eu-west-1.yaml"
    ireland.write_text(ireland.read_text().replace("demand_share: 0.2", "demand_share: 0.15"))
    (directory / f"{SEVENTH_REGION}.yaml").write_text(json.dumps(_SEVENTH))  # JSON is YAML
    return load_catalog(directory)


def run_replication(plan: ReplicationPlan[str]) -> Recording:
    """The component alone, on a provider pinned to the plan's source region."""

    def program() -> dict[str, Any]:
        provider = aws.Provider(f"aws-{plan.source.region}", region=plan.source.region)
        replication = ArtifactReplication(
            "artifact-replication",
            ArtifactReplicationArgs(plan=plan, name_prefix="inference-mesh-prod-artifacts"),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        return replication.exports()

    return run_pulumi(program, stack="prod-global")


def replication_plan(catalog: RegionCatalog | None = None) -> ReplicationPlan[str]:
    catalog = catalog or load_catalog()
    return plan_replication(catalog, stores(catalog))


def rules(recording: Recording) -> list[dict[str, Any]]:
    return list(recording.one(REPLICATION_CONFIG).props["rules"])


def policy_document(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    return dict(json.loads(resource.props[key]))

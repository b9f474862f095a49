"""The global stack program's replication wiring, under the mock cloud.

Proves that the global stack of an environment reads only that environment's regional stacks,
declares the replication in the primary region from their exports, and that a region added to
the catalog (no code change) adds exactly one rule; does not prove that S3 copies objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regions.catalog import RegionCatalog, load_catalog
from stacks.global_program import global_program
from stacks.settings import GlobalSettings, parse_settings
from tests.artifacts.helpers import (
    METRIC_ALARM,
    REPLICATION_CONFIG,
    SEVENTH_REGION,
    artifacts_export,
    catalog_with_seventh_region,
    regional_outputs,
    rules,
)
from tests.harness import Recording, provider_region, run_pulumi

RAW = {
    "aws:region": "us-west-2",
    "inference-mesh:owner": "platform-inference",
    "inference-mesh:costCenter": "ml-serving",
}


def _global(
    environment: str,
    catalog: RegionCatalog,
    outputs: dict[str, dict[str, Any]] | None = None,
    raw: dict[str, Any] | None = None,
) -> Recording:
    settings = parse_settings(f"{environment}-global", raw or RAW, catalog)
    assert isinstance(settings, GlobalSettings)
    return run_pulumi(
        lambda: global_program(settings),
        stack=f"{environment}-global",
        stack_outputs=regional_outputs(catalog, environment) if outputs is None else outputs,
    )


@pytest.fixture(scope="module")
def prod() -> Recording:
    return _global("prod", load_catalog())


ONCALL = "arn:aws:sns:us-east-1:123456789012:inference-mesh-prod-oncall"


def test_replication_alarms_notify_the_configured_topics() -> None:
    raw = {**RAW, "inference-mesh:alarms": {"topicArns": [ONCALL]}}
    alarms = _global("prod", load_catalog(), raw=raw).of_type(METRIC_ALARM)
    assert len(alarms) == 2 * 5  # latency and failures, per destination
    for alarm in alarms:
        assert (alarm.props["alarmActions"], alarm.props["okActions"]) == ([ONCALL], [ONCALL])


def test_without_topics_the_alarms_exist_but_notify_nobody(prod: Recording) -> None:
    alarms = prod.of_type(METRIC_ALARM)
    assert alarms
    assert all(not a.props.get("alarmActions") for a in alarms)


def test_replication_is_declared_once_in_the_primary_region(prod: Recording) -> None:
    config = prod.one(REPLICATION_CONFIG)
    assert provider_region(prod, config) == "us-east-1"
    assert config.props["bucket"] == "inference-mesh-prod-us-east-1-models"
    assert {provider_region(prod, alarm) for alarm in prod.of_type(METRIC_ALARM)} == {"us-east-1"}
    providers = prod.of_type("pulumi:providers:aws")
    assert [p.props["region"] for p in providers] == ["us-east-1"]


def test_rules_come_from_the_regional_exports(prod: Recording) -> None:
    catalog = load_catalog()
    expected = {
        artifacts_export("prod", r)["bucketArn"]: artifacts_export("prod", r)["keyArn"]
        for r in catalog.names
        if r != catalog.primary.region
    }
    assert {
        rule["destination"]["bucket"]: rule["destination"]["encryptionConfiguration"][
            "replicaKmsKeyId"
        ]
        for rule in rules(prod)
    } == expected
    assert len(rules(prod)) == len(catalog) - 1


def test_existing_exports_are_kept_and_replication_is_exported(prod: Recording) -> None:
    assert prod.outputs["environment"] == "prod"
    assert prod.outputs["regions"]["eu-west-1"] == {
        "jurisdiction": "EU",
        "vpcId": "vpc-prod-eu-west-1",
    }
    replication = prod.outputs["artifactReplication"]
    assert replication["sourceRegion"] == "us-east-1"
    assert [r["destinationRegion"] for r in replication["rules"]] == [
        r["destination"]["bucket"].split("inference-mesh-prod-")[1].removesuffix("-models")
        for r in rules(prod)
    ]


def test_dev_reads_only_dev_stacks_and_replicates_only_between_dev_buckets() -> None:
    catalog = load_catalog()
    # Only dev outputs exist: a reference to any prod stack would fail the program.
    dev = _global("dev", catalog, regional_outputs(catalog, "dev"))
    references = dev.of_type("pulumi:pulumi:StackReference")
    assert sorted(r.name for r in references) == sorted(
        f"organization/inference-mesh/dev-{r}" for r in catalog.names
    )
    config = dev.one(REPLICATION_CONFIG)
    assert config.props["bucket"] == "inference-mesh-dev-us-east-1-models"
    for rule in rules(dev):
        assert rule["destination"]["bucket"].startswith("arn:aws:s3:::inference-mesh-dev-")
        assert ":key/dev-" in rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
    assert dev.one("aws:iam/role:Role").props["name"] == "inference-mesh-dev-artifacts-replication"


def test_a_seventh_catalog_region_adds_exactly_one_rule_without_code_change(
    prod: Recording, tmp_path: Path
) -> None:
    seven = _global("prod", catalog_with_seventh_region(tmp_path))
    before = {rule["id"] for rule in rules(prod)}
    after = {rule["id"]: rule for rule in rules(seven)}
    assert set(after) - before == {f"to-{SEVENTH_REGION}"}
    assert len(after) == len(before) + 1
    added = after[f"to-{SEVENTH_REGION}"]["destination"]
    assert added["bucket"] == artifacts_export("prod", SEVENTH_REGION)["bucketArn"]
    assert (
        added["encryptionConfiguration"]["replicaKmsKeyId"]
        == artifacts_export("prod", SEVENTH_REGION)["keyArn"]
    )
    assert len(seven.of_type(REPLICATION_CONFIG)) == 1
    assert len(seven.of_type("pulumi:pulumi:StackReference")) == 7


def test_a_regional_stack_without_the_artifacts_export_fails_clearly() -> None:
    catalog = load_catalog()
    outputs = regional_outputs(catalog, "prod")
    del outputs["prod-eu-west-1"]["artifacts"]["keyArn"]
    with pytest.raises(Exception, match=r"region eu-west-1: expected keys .* missing \['keyArn'\]"):
        _global("prod", catalog, outputs)

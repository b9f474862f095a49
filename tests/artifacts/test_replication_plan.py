"""Which replication rules exist, without Pulumi: one per non-primary region, none to the
primary, and a new region in the catalog adds exactly one rule.

Proves the rule set the global stack declares; does not prove that S3 copies objects.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from components.replication_plan import (
    ReplicationPlanError,
    plan_replication,
    rule_id,
    store_from_export,
)
from regions.catalog import load_catalog
from tests.artifacts.helpers import (
    SEVENTH_REGION,
    artifacts_export,
    catalog_with_seventh_region,
    store,
    stores,
)


def test_one_rule_per_non_primary_region_and_none_to_the_primary() -> None:
    catalog = load_catalog()
    primary = catalog.primary.region
    plan = plan_replication(catalog, stores(catalog))
    assert plan.source == store(primary)
    assert primary == "us-east-1"
    others = [r for r in catalog.names if r != primary]
    assert [rule.destination for rule in plan.rules] == [store(r) for r in others]
    assert primary not in plan.destination_regions
    assert [rule.rule_id for rule in plan.rules] == [f"to-{r}" for r in others]
    assert sorted(rule.priority for rule in plan.rules) == list(range(1, len(others) + 1))


def test_each_rule_carries_its_destination_regions_own_bucket_and_key() -> None:
    catalog = load_catalog()
    for rule in plan_replication(catalog, stores(catalog)).rules:
        region = rule.destination.region
        assert rule.destination.bucket_arn == f"arn:aws:s3:::inference-mesh-prod-{region}-models"
        assert rule.destination.key_arn.startswith(f"arn:aws:kms:{region}:")


def test_a_seventh_region_adds_exactly_one_rule(tmp_path: Path) -> None:
    six = load_catalog()
    seven = catalog_with_seventh_region(tmp_path)
    assert len(seven) == len(six) + 1
    before = plan_replication(six, stores(six))
    after = plan_replication(seven, stores(seven))
    assert len(after.rules) == len(before.rules) + 1
    by_id_before = {r.rule_id: r.destination for r in before.rules}
    by_id_after = {r.rule_id: r.destination for r in after.rules}
    assert set(by_id_after) - set(by_id_before) == {rule_id(SEVENTH_REGION)}
    assert by_id_after[rule_id(SEVENTH_REGION)] == store(SEVENTH_REGION)
    # Every existing rule keeps its id and destination; only priorities may be renumbered.
    assert {k: v for k, v in by_id_after.items() if k in by_id_before} == by_id_before
    assert after.source == before.source


def test_moving_the_primary_moves_the_source_and_drops_its_rule(tmp_path: Path) -> None:
    for source in Path(load_catalog().directory).glob("*.yaml"):
        text = source.read_text()
        if source.stem == "us-east-1":
            text = text.replace("artifact_primary: true", "artifact_primary: false")
        if source.stem == "eu-west-1":
            text = text.replace("artifact_primary: false", "artifact_primary: true")
        (tmp_path / source.name).write_text(text)
    catalog = load_catalog(tmp_path)
    plan = plan_replication(catalog, stores(catalog))
    assert plan.source.region == "eu-west-1"
    assert "eu-west-1" not in plan.destination_regions
    assert "us-east-1" in plan.destination_regions


def test_rules_replicate_only_the_artifact_prefix() -> None:
    catalog = load_catalog()
    assert plan_replication(catalog, stores(catalog)).prefix == "artifacts/"
    with pytest.raises(ReplicationPlanError, match=r"prefix must be a key folder .* got ''"):
        plan_replication(catalog, stores(catalog), prefix="")


def test_a_missing_regional_store_is_refused() -> None:
    catalog = load_catalog()
    partial = stores(catalog)
    del partial["ap-southeast-1"]
    with pytest.raises(ReplicationPlanError, match=r"missing \['ap-southeast-1'\]"):
        plan_replication(catalog, partial)


def test_a_store_outside_the_catalog_is_refused() -> None:
    catalog = load_catalog()
    extra = {**stores(catalog), "sa-east-1": store("sa-east-1")}
    with pytest.raises(ReplicationPlanError, match=r"regions \['sa-east-1'\] are not in"):
        plan_replication(catalog, extra)


def test_a_store_filed_under_the_wrong_region_is_refused() -> None:
    catalog = load_catalog()
    crossed = stores(catalog)
    crossed["eu-west-1"] = replace(crossed["eu-west-1"], region="eu-central-1")
    with pytest.raises(ReplicationPlanError, match="listed under eu-west-1 is in region"):
        plan_replication(catalog, crossed)


def test_store_from_export_reads_the_regional_export_and_names_missing_keys() -> None:
    assert store_from_export("eu-west-1", artifacts_export("prod", "eu-west-1")) == store(
        "eu-west-1"
    )
    broken = {k: v for k, v in artifacts_export("prod", "eu-west-1").items() if k != "keyArn"}
    with pytest.raises(ReplicationPlanError, match=r"region eu-west-1.*missing \['keyArn'\]"):
        store_from_export("eu-west-1", broken)

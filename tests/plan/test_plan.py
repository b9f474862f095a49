"""``meshctl plan``: plan files for every stack, references joined by value, clear failures."""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from meshctl.cli import main
from meshctl.plan_engine import discover_stacks
from regions.catalog import load_catalog
from stacks.settings import STACKS_DIR

REQUIRED_TAGS = ("project", "environment", "region", "owner", "cost-center", "data-classification")
RESOURCE_FIELDS = {"urn", "type", "name", "parent", "region", "id", "props", "outputs"}


def test_every_stack_file_has_a_plan(shipped_plans: dict[str, dict]) -> None:
    stacks = discover_stacks()
    assert len(stacks) == 14
    assert sorted(shipped_plans) == stacks


def test_plan_documents_follow_the_format(shipped_plans: dict[str, dict]) -> None:
    for stack, plan in shipped_plans.items():
        assert plan["project"] == "inference-mesh"
        assert plan["stack"] == stack
        urns = {r["urn"] for r in plan["resources"]}
        assert len(urns) == len(plan["resources"]), f"{stack}: duplicate URNs"
        for resource in plan["resources"]:
            assert set(resource) >= RESOURCE_FIELDS, resource["urn"]
            assert (
                resource["parent"] is None
                or resource["parent"] in urns
                or resource["parent"].endswith("pulumi:pulumi:Stack::inference-mesh-" + stack)
            )
        json.dumps(plan)  # serialisable as written


def test_regional_resources_live_in_their_region(shipped_plans: dict[str, dict]) -> None:
    for spec in load_catalog():
        for env in ("dev", "prod"):
            plan = shipped_plans[f"{env}-{spec.region}"]
            aws_resources = [r for r in plan["resources"] if r["type"].startswith("aws:")]
            assert aws_resources
            assert {r["region"] for r in aws_resources} == {spec.region}
            arns = [r["outputs"].get("arn", "") for r in aws_resources]
            regional_arns = [a for a in arns if a.split(":")[3:4] not in ([""], [])]
            assert all(a.split(":")[3] == spec.region for a in regional_arns)


def test_global_plan_references_resolve_to_regional_outputs(shipped_plans: dict[str, dict]) -> None:
    for env in ("dev", "prod"):
        plan = shipped_plans[f"{env}-global"]
        references = [r for r in plan["resources"] if r["type"] == "pulumi:pulumi:StackReference"]
        assert len(references) == len(load_catalog())
        for reference in references:
            short = reference["outputs"]["name"].rsplit("/", 1)[-1]
            assert short.startswith(f"{env}-")
            assert reference["outputs"]["outputs"] == shipped_plans[short]["outputs"]
        for region, summary in plan["outputs"]["regions"].items():
            regional = shipped_plans[f"{env}-{region}"]["outputs"]
            assert summary["vpcId"] == regional["network"]["vpcId"]
            assert summary["jurisdiction"] == regional["jurisdiction"]


def _resource_class(token: str) -> Any:
    _, module, cls = token.split(":")
    module_name = module.split("/")[0].replace("lambda", "lambda_")
    return getattr(importlib.import_module(f"pulumi_aws.{module_name}"), cls)


def test_every_taggable_resource_carries_the_tags_in_its_own_inputs(
    shipped_plans: dict[str, dict],
) -> None:
    checked = 0
    for stack, plan in shipped_plans.items():
        for resource in plan["resources"]:
            if not resource["type"].startswith("aws:"):
                continue
            params = inspect.signature(_resource_class(resource["type"])._internal_init).parameters
            if "tags" not in params:
                continue
            tags = resource["props"].get("tags") or {}
            missing = [t for t in REQUIRED_TAGS if t not in tags]
            assert not missing, f"{stack} {resource['urn']}: missing tags {missing}"
            if not stack.endswith("-global"):
                assert tags["jurisdiction"] == plan["outputs"]["jurisdiction"]
            checked += 1
    assert checked > 100


@pytest.fixture
def stacks_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "stacks"
    directory.mkdir()
    for name in ("Pulumi.dev-eu-west-1.yaml", "Pulumi.dev-us-east-1.yaml"):
        shutil.copy(STACKS_DIR / name, directory / name)
    return directory


def test_stack_for_a_region_missing_from_the_catalog_fails_clearly(
    stacks_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (STACKS_DIR / "Pulumi.dev-eu-west-1.yaml").read_text().replace("eu-west-1", "sa-east-1")
    (stacks_copy / "Pulumi.dev-sa-east-1.yaml").write_text(text)
    out = tmp_path / "plans"
    code = main(
        ["plan", "--all", "--stacks-dir", str(stacks_copy), "--out", str(out), "--jobs", "2"]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "stacks/Pulumi.dev-sa-east-1.yaml: field 'aws:region'" in captured.err
    assert "region 'sa-east-1' is not in the catalog" in captured.err
    # The other stacks still planned and reported.
    assert sorted(p.name for p in out.glob("*.json")) == [
        "dev-eu-west-1.json",
        "dev-us-east-1.json",
        "summary.json",
    ]
    assert "✓ dev-eu-west-1" in captured.out


def test_unknown_config_key_fails_with_file_and_key(
    stacks_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = stacks_copy / "Pulumi.dev-eu-west-1.yaml"
    path.write_text(path.read_text() + "  inference-mesh:colour: blue\n")
    code = main(
        [
            "plan",
            "--stack",
            "dev-eu-west-1",
            "--stacks-dir",
            str(stacks_copy),
            "--out",
            str(tmp_path / "p"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "Pulumi.dev-eu-west-1.yaml: field 'inference-mesh:colour': expected one of" in err

"""CI workflows: they parse, the preview and deploy matrices come from the stack files (the
same listing as ``meshctl plan``), actions are pinned by SHA, credentials come by OIDC, and
deploys are gated by environments and never cancelled."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshctl.plan_engine import discover_stacks, is_global
from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
MATRIX_SCRIPT = REPO_ROOT / ".github" / "scripts" / "stack_matrix.py"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


class _StrictLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which PyYAML (and a reviewer) would silently let the last win."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {duplicates}", node.start_mark
        )
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def workflow(name: str) -> dict[str, Any]:
    document = yaml.load((WORKFLOWS / name).read_text(), Loader=_StrictLoader)  # noqa: S506
    assert isinstance(document, dict)
    return document


def triggers(document: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean True.
    return document.get("on") or document[True]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in steps(job) if str(s.get("uses", "")).startswith(f"{action}@"))


def matrix(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(MATRIX_SCRIPT), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_parses_and_pins_every_action_by_sha(path: Path) -> None:
    document = workflow(path.name)
    assert document["jobs"]
    assert triggers(document)
    for line in path.read_text().splitlines():
        found = USES_LINE.match(line)
        if found:
            reference, comment = found.groups()
            assert PINNED.match(reference), f"{path.name}: {reference} is not pinned by SHA"
            assert re.search(r"#\s*v\d+(\.\d+)*", comment), f"{path.name}: say which release"


def test_the_matrix_covers_exactly_the_stack_files() -> None:
    entries = matrix()["include"]
    assert [e["stack"] for e in entries] == discover_stacks()
    assert all(e["kind"] == ("global" if is_global(e["stack"]) else "regional") for e in entries)
    regional = [e["stack"] for e in matrix("--kind", "regional")["include"]]
    assert regional == [s for s in discover_stacks() if not is_global(s)]
    assert [e["stack"] for e in matrix("--kind", "global")["include"]] == [
        s for s in discover_stacks() if is_global(s)
    ]


def test_the_matrix_carries_each_stacks_region() -> None:
    for entry in matrix()["include"]:
        config = yaml.safe_load(
            (REPO_ROOT / "stacks" / f"Pulumi.{entry['stack']}.yaml").read_text()
        )
        assert entry["region"] == config["config"]["aws:region"]
        assert entry["environment"] == entry["stack"].split("-", 1)[0]


def test_a_new_stack_file_joins_the_matrix(tmp_path: Path) -> None:
    sys.path.insert(0, str(MATRIX_SCRIPT.parent))
    try:
        import stack_matrix
    finally:
        sys.path.remove(str(MATRIX_SCRIPT.parent))
    (tmp_path / "Pulumi.prod-sa-east-1.yaml").write_text("config:\n  aws:region: sa-east-1\n")
    (tmp_path / "Pulumi.prod-global.yaml").write_text("config:\n  aws:region: us-west-2\n")
    found = stack_matrix.matrix(stacks_dir=tmp_path)["include"]
    assert [(e["stack"], e["kind"], e["region"]) for e in found] == [
        ("prod-global", "global", "us-west-2"),
        ("prod-sa-east-1", "regional", "sa-east-1"),
    ]


def test_pull_request_checks_run_the_make_targets_and_comment() -> None:
    document = workflow("pull-request.yml")
    assert "pull_request" in triggers(document)
    checks = document["jobs"]["checks"]
    commands = [str(s.get("run", "")) for s in steps(checks)]
    assert any(c.startswith("make test") for c in commands)
    assert any(c.startswith("make plan") for c in commands)
    comment = step_using(checks, "actions/github-script")
    assert "summary.md" in comment["with"]["script"]
    assert "policy.md" in comment["with"]["script"]
    assert checks["permissions"]["pull-requests"] == "write"


def test_preview_matrix_comes_from_the_stack_listing() -> None:
    jobs = workflow("pull-request.yml")["jobs"]
    listing = " ".join(str(s.get("run", "")) for s in steps(jobs["stacks"]))
    assert ".github/scripts/stack_matrix.py" in listing
    assert "--kind" not in listing
    preview = jobs["preview"]
    assert "stacks" in preview["needs"]
    assert preview["strategy"]["matrix"] == "${{ fromJSON(needs.stacks.outputs.matrix) }}"
    assert jobs["stacks"]["outputs"]["matrix"] == "${{ steps.list.outputs.matrix }}"


def test_preview_uses_the_policy_pack_and_oidc() -> None:
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    assert preview["permissions"]["id-token"] == "write"
    assert preview["permissions"]["pull-requests"] == "write"
    pulumi = step_using(preview, "pulumi/actions")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["policyPacks"] == "policies"
    assert pulumi["comment-on-pr"] is True
    assert "${{ matrix.stack }}" in pulumi["stack-name"]
    aws = step_using(preview, "aws-actions/configure-aws-credentials")["with"]
    assert aws["role-to-assume"].startswith("${{ vars.")
    assert "aws-access-key-id" not in aws
    auth = step_using(preview, "pulumi/auth-actions")["with"]
    assert auth["requested-token-type"] == "urn:pulumi:token-type:access_token:organization"
    assert "PULUMI_ACCESS_TOKEN" not in (WORKFLOWS / "pull-request.yml").read_text()


def test_deploy_runs_regional_stacks_then_global_behind_environments() -> None:
    document = workflow("deploy.yml")
    assert triggers(document)["push"]["branches"] == ["main"]
    assert document["concurrency"]["cancel-in-progress"] is False
    jobs = document["jobs"]
    listing = " ".join(str(s.get("run", "")) for s in steps(jobs["verify"]))
    assert "--kind regional" in listing
    assert "--kind global" in listing
    assert "make plan" in listing
    regional, global_ = jobs["regional"], jobs["global"]
    assert regional["strategy"]["matrix"] == "${{ fromJSON(needs.verify.outputs.regional) }}"
    assert global_["strategy"]["matrix"] == "${{ fromJSON(needs.verify.outputs.global) }}"
    assert "regional" in global_["needs"]
    for job in (regional, global_):
        assert "production" in job["environment"]
        assert job["concurrency"]["cancel-in-progress"] is False
        assert job["permissions"]["id-token"] == "write"
        up = step_using(job, "pulumi/actions")["with"]
        assert up["command"] == "up"
        assert up["policyPacks"] == "policies"


def test_deploys_install_without_a_shared_cache() -> None:
    # A cache written by a pull-request run must not feed what runs with deploy credentials.
    for job in workflow("deploy.yml")["jobs"].values():
        setup = step_using(job, "actions/setup-python")
        assert "cache" not in setup.get("with", {})

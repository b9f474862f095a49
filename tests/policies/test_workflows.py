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
from stacks.naming import ENVIRONMENTS
from stacks.settings import CONFIG_KEYS
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
    # A cache written by a pull-request run must not feed what runs with deploy credentials:
    # no dependency cache, no Trivy database cache, no Docker layer cache.
    jobs = workflow("deploy.yml")["jobs"]
    for name, job in jobs.items():
        for step in steps(job):
            uses = str(step.get("uses", ""))
            assert not uses.startswith("actions/cache@"), name
            if uses.startswith("actions/setup-python@"):
                assert "cache" not in step.get("with", {}), name
            if uses.startswith("aquasecurity/trivy-action@"):
                assert step["with"]["cache"] == "false", name
            assert "--cache-from" not in str(step.get("run", "")), name
        if name != "image":  # the image job runs no Python
            step_using(job, "actions/setup-python")


# -- the gateway image: build -> scan -> push -> replicated -> deploy -------------------------
def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _upstream(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job ``name`` waits for, directly or not."""
    seen: set[str] = set()
    frontier = list(_needs(jobs[name]))
    while frontier:
        job = frontier.pop()
        if job not in seen:
            seen.add(job)
            frontier.extend(_needs(jobs[job]))
    return seen


def _step_index(job: dict[str, Any], predicate: Any) -> int:
    found = [i for i, step in enumerate(steps(job)) if predicate(step)]
    assert len(found) == 1, found
    return found[0]


def test_deploys_wait_for_the_image_to_be_built_scanned_pushed_and_replicated() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert _needs(jobs["image"]) == {"verify"}
    assert _needs(jobs["replicated"]) == {"verify", "image"}
    assert {"image", "replicated"} <= _needs(jobs["regional"])
    assert _upstream(jobs, "regional") == {"verify", "image", "replicated"}
    assert {"verify", "image", "replicated", "regional"} <= _upstream(jobs, "global")
    # Within the image job: build, then scan, then credentials and push; nothing is pushed
    # that the scan has not passed.
    image = jobs["image"]
    build = _step_index(image, lambda s: "docker buildx build" in str(s.get("run", "")))
    scan = _step_index(image, lambda s: str(s.get("uses", "")).startswith("aquasecurity/"))
    login = _step_index(image, lambda s: "configure-aws-credentials" in str(s.get("uses", "")))
    push = _step_index(image, lambda s: s.get("id") == "push")
    assert build < scan < login < push


def test_the_image_is_built_from_the_gateway_dockerfile_and_scanned_strictly() -> None:
    image = workflow("deploy.yml")["jobs"]["image"]
    build = next(s for s in steps(image) if "docker buildx build" in str(s.get("run", "")))
    assert "--file gateway/Dockerfile" in build["run"]
    assert '--tag "$LOCAL_IMAGE"' in build["run"]
    assert "--push" not in build["run"]  # pushed only after the scan
    scan = step_using(image, "aquasecurity/trivy-action")["with"]
    assert scan["image-ref"] == "${{ env.LOCAL_IMAGE }}"
    assert scan["scan-type"] == "image"
    assert set(scan["severity"].split(",")) == {"CRITICAL", "HIGH"}
    assert scan["ignore-unfixed"] is True  # fails on vulnerabilities that have a fix
    assert scan["exit-code"] == "1"
    assert re.match(r"^v\d+\.\d+\.\d+$", scan["version"]), "pin the Trivy version"


def test_the_image_goes_to_the_primary_regions_repository_with_the_deploy_role() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    image = jobs["image"]
    assert image["strategy"]["matrix"] == "${{ fromJSON(needs.verify.outputs.images) }}"
    assert jobs["verify"]["outputs"]["images"] == "${{ steps.images.outputs.images }}"
    targets = next(s for s in steps(jobs["verify"]) if s.get("id") == "images")
    assert ".github/scripts/wait_for_image.py targets --github-output images" in targets["run"]
    assert "production" in image["environment"]
    assert image["permissions"]["id-token"] == "write"
    aws = step_using(image, "aws-actions/configure-aws-credentials")["with"]
    assert aws["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert aws["aws-region"] == "${{ matrix.region }}"  # the primary, from the targets
    push = next(s for s in steps(image) if s.get("id") == "push")
    assert push["env"]["REPOSITORY"] == "${{ matrix.repository }}"
    assert "aws ecr get-login-password" in push["run"]
    assert 'echo "${ENVIRONMENT}=${digest}" >> "$GITHUB_OUTPUT"' in push["run"]
    assert "^sha256:[0-9a-f]{64}$" in push["run"]
    # One output per environment, each from its own leg.
    assert image["outputs"] == {env: f"${{{{ steps.push.outputs.{env} }}}}" for env in ENVIRONMENTS}


def test_replication_is_awaited_in_every_region_before_deploying() -> None:
    replicated = workflow("deploy.yml")["jobs"]["replicated"]
    assert replicated["strategy"]["matrix"] == "${{ fromJSON(needs.verify.outputs.images) }}"
    wait = next(s for s in steps(replicated) if "wait_for_image.py wait" in str(s.get("run", "")))
    assert wait["env"]["DIGEST"] == "${{ needs.image.outputs[matrix.environment] }}"
    assert '--digest "$DIGEST"' in wait["run"]
    assert '--environment "$ENVIRONMENT"' in wait["run"]
    assert "--timeout" in wait["run"]
    assert replicated["permissions"]["id-token"] == "write"


def test_regional_deploys_receive_the_pushed_digest_through_config() -> None:
    regional = workflow("deploy.yml")["jobs"]["regional"]
    up = step_using(regional, "pulumi/actions")["with"]
    config = yaml.safe_load(up["config-map"])
    assert config == {
        "inference-mesh:gatewayImageDigest": {
            "value": "${{ needs.image.outputs[matrix.environment] }}",
            "secret": False,
        }
    }
    # A key the program reads (and meshctl plan accepts) without editing the stack file.
    assert "gatewayImageDigest" in CONFIG_KEYS
    assert (
        "config-map"
        not in step_using(workflow("deploy.yml")["jobs"]["global"], "pulumi/actions")["with"]
    )

"""``meshctl policy check``: findings grouped by stack and rule, exit codes, configuration in
the format of ``pulumi preview --policy-pack-config``, and the ``make plan`` wiring."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from meshctl.cli import main
from policies import RULES
from policies.offline import PolicyInputError, parse_config
from tests.conftest import REPO_ROOT
from tests.policies.harness import resource

pytestmark = pytest.mark.slow

STACK = "prod-eu-west-1"
CLUSTER = "aws:eks/cluster:Cluster"


@pytest.fixture
def plans(shipped_plans: dict[str, dict], tmp_path: Path) -> Path:
    """Two shipped plans and the plan run's summary.json, as `meshctl plan` leaves them."""
    out = tmp_path / "plans"
    out.mkdir()
    for stack in (STACK, "prod-global"):
        (out / f"{stack}.json").write_text(json.dumps(shipped_plans[stack]))
    (out / "summary.json").write_text(json.dumps({"stacks": {}, "failed": []}))
    return out


@pytest.fixture
def broken(plans: Path) -> Path:
    """prod-eu-west-1 with IMDSv1 allowed on the system nodes' launch template: one
    mandatory violation of one rule by one resource."""
    path = plans / f"{STACK}.json"
    plan = json.loads(path.read_text())
    changed = copy.deepcopy(plan)
    resource(changed, "aws:ec2/launchTemplate:LaunchTemplate", "cluster-system-lt")["props"][
        "metadataOptions"
    ]["httpTokens"] = "optional"
    path.write_text(json.dumps(changed))
    return plans


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["policy", "check", *argv])
    return code, capsys.readouterr().out


def test_shipped_plans_pass(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, str(plans))
    assert code == 0
    assert f"✓ {STACK}" in out
    assert "✓ prod-global" in out
    assert "2 stack(s): 0 mandatory violation(s)" in out


def test_a_mandatory_violation_exits_1_grouped_by_stack_and_rule(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, *sorted(str(p) for p in broken.glob("*.json")), "--json")
    report = json.loads(out)
    assert code == 1
    assert report["mandatory"] == 1
    assert report["advisory"] == 0
    assert report["skipped"] == [str(broken / "summary.json")]
    assert report["stacks"]["prod-global"] == {}
    [finding] = report["stacks"][STACK]["nodes-imdsv2-required"]
    assert finding["level"] == "mandatory"
    assert finding["urn"].endswith("::cluster-system-lt")
    assert "http_tokens='required'" in finding["message"]


def test_a_rule_configured_advisory_reports_but_passes(
    broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"nodes-imdsv2-required": "advisory"}))
    code, out = run(capsys, str(broken), "--config", str(config))
    assert code == 0
    assert "nodes-imdsv2-required" in out
    assert "advisory" in out
    assert "0 mandatory violation(s), 1 advisory finding(s)" in out


def test_a_disabled_rule_is_not_run(
    broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"nodes-imdsv2-required": {"enforcementLevel": "disabled"}}))
    code, out = run(capsys, str(broken), "--config", str(config), "--json")
    assert code == 0
    assert json.loads(out)["stacks"][STACK] == {}


def test_rule_settings_come_from_the_config_file(
    plans: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"eks-version-supported": {"supportedVersions": ["1.36"]}}))
    code, out = run(capsys, str(plans), "--config", str(config), "--json")
    assert code == 1
    assert "eks-version-supported" in json.loads(out)["stacks"][STACK]


def test_markdown_report_for_the_pull_request(
    broken: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "policy.md"
    code, _ = run(capsys, str(broken), "--markdown", str(report))
    text = report.read_text()
    assert code == 1
    assert text.startswith("## Policy check")
    assert f"| {STACK} | 1 | 0 |" in text
    assert "| prod-global | 0 | 0 |" in text
    assert f"### {STACK}: `nodes-imdsv2-required` (mandatory)" in text


def test_unusable_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["policy", "check", str(bad)]) == 2
    assert "expected a readable plan file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["policy", "check", str(empty)]) == 2
    assert "no plan files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ([], "field '(document)': expected a JSON object"),
        ({"no-such-rule": "advisory"}, "field 'no-such-rule': expected the name of a policy"),
        ({"required-tags": "sometimes"}, "field 'required-tags.enforcementLevel': expected one of"),
        ({"required-tags": {"requiredTag": ["owner"]}}, "field 'required-tags.requiredTag'"),
        ({"required-tags": 3}, "field 'required-tags': expected an enforcement level"),
    ],
)
def test_config_errors_name_the_field(document: Any, error: str) -> None:
    with pytest.raises(PolicyInputError) as caught:
        parse_config(document, "policy-config.json")
    assert error in str(caught.value)
    assert "policy-config.json" in str(caught.value)


def test_pack_wide_level_and_remediate() -> None:
    config = parse_config(
        {"all": "advisory", "required-tags": {"enforcementLevel": "remediate"}}, "c.json"
    )
    by_name = {rule.name: rule for rule in RULES}
    assert config.level(by_name["eks-version-supported"]) is EnforcementLevel.ADVISORY
    assert config.level(by_name["required-tags"]) is EnforcementLevel.MANDATORY


def test_make_plan_runs_the_policy_check_after_planning() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\nplan:", 1)[1].split("\n\n", 1)[0].splitlines()
    commands = [line.strip() for line in recipe[1:]]
    assert commands[0].startswith("$(PY) -m meshctl plan --all --out $(PLAN_DIR)")
    assert commands[1].startswith("$(PY) -m meshctl policy check $(PLAN_DIR)/*.json")


def test_list_shows_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rule"] for r in rows] == [rule.name for rule in RULES]
    assert {r["level"] for r in rows} <= {"mandatory", "advisory"}


def test_malformed_cidr_lists_do_not_crash_the_network_rules() -> None:
    from policies.network import eks_public_endpoint_restricted, security_group_no_world_ingress
    from policies.rule import ResourceView

    settings = {"worldIngressPorts": [443]}
    group = ResourceView(
        type="aws:ec2/securityGroup:SecurityGroup",
        name="sg",
        urn="urn:sg",
        region="eu-west-1",
        props={
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrBlocks": [{"not": "a cidr"}, "0.0.0.0/0"],
                }
            ]
        },
    )
    assert len(list(security_group_no_world_ingress(group, settings))) == 1
    cluster = ResourceView(
        type="aws:eks/cluster:Cluster",
        name="c",
        urn="urn:c",
        region="eu-west-1",
        props={
            "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": [["x"], "10.0.0.0/8"]}
        },
    )
    assert list(eks_public_endpoint_restricted(cluster, settings)) == []

"""policies/README.md lists the rules as the pack defines them (a golden file)."""

from __future__ import annotations

import json

from policies.offline import parse_config, rules_markdown
from tests.conftest import REPO_ROOT


def test_readme_rule_table_is_current() -> None:
    readme = (REPO_ROOT / "policies" / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- BEGIN RULES -->\n", 1)[1].split("<!-- END RULES -->", 1)[0]
    assert table == rules_markdown(), "regenerate with: python -m meshctl policy list --markdown"


def test_readme_config_example_is_valid() -> None:
    readme = (REPO_ROOT / "policies" / "README.md").read_text(encoding="utf-8")
    example = readme.split("```json\n", 1)[1].split("```", 1)[0]
    config = parse_config(json.loads(example), "policies/README.md")
    assert config.settings["eks-version-supported"] == {"supportedVersions": ["1.35", "1.36"]}

"""What the pack promises about its rules: names, citations, enforcement, configuration."""

from __future__ import annotations

import re

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies import ALL, DOMAINS, RULES
from policies.rule import ResourceRule, Rule, StackRule

KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
INDUSTRY_ID = re.compile(
    r"^(CKV2?_AWS_\d+|AVD-AWS-\d{4}|CIS EKS \d+(\.\d+)+|CT\.EKS\.PR\.\d+|Security Hub EKS\.\d+"
    r"|Config [a-z0-9-]+|AWSGuard [a-z0-9-]+|AWS-GR_[A-Z0-9_]+|Control Tower [A-Z]+|AWS "
    r"Organizations tag policies)"
)
TYPE_TOKEN = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9./-]+:[A-Z][A-Za-z0-9]+$")
JSON_TYPES = {"array": list, "integer": int, "string": str, "boolean": bool}


def _ids(rules: tuple[Rule, ...]) -> list[str]:
    return [rule.name for rule in rules]


def test_the_pack_has_at_least_forty_rules_in_seven_domains() -> None:
    assert len(RULES) >= 40
    assert set(DOMAINS) == {
        "encryption",
        "network",
        "logging",
        "eks",
        "artifacts",
        "residency",
        "tagging",
    }
    assert all(DOMAINS.values())


@pytest.mark.parametrize("rule", RULES, ids=_ids(RULES))
def test_name_is_kebab_case_and_valid_for_crossguard(rule: Rule) -> None:
    assert KEBAB.match(rule.name)
    assert len(rule.name) <= 100
    assert rule.name != "all"


@pytest.mark.parametrize("rule", RULES, ids=_ids(RULES))
def test_description_cites_the_industry_check_or_says_why_there_is_none(rule: Rule) -> None:
    for industry_id in rule.industry:
        assert INDUSTRY_ID.match(industry_id), industry_id
        assert industry_id in rule.description
    if not rule.industry:
        assert "No scanner check exists" in rule.rationale
        assert rule.rationale in rule.description


@pytest.mark.parametrize("rule", RULES, ids=_ids(RULES))
def test_mandatory_unless_a_reason_is_given(rule: Rule) -> None:
    if rule.enforcement is not EnforcementLevel.MANDATORY:
        assert rule.advisory_reason, f"{rule.name}: say why it is {rule.enforcement.value}"
    assert rule.enforcement is not EnforcementLevel.DISABLED


@pytest.mark.parametrize("rule", RULES, ids=_ids(RULES))
def test_resource_types_are_type_tokens(rule: Rule) -> None:
    if isinstance(rule, ResourceRule) and rule.types is not None:
        assert rule.types
        assert all(TYPE_TOKEN.match(t) for t in rule.types), sorted(rule.types)


def test_crossguard_policies_mirror_the_rules() -> None:
    assert [p.name for p in ALL] == [r.name for r in RULES]
    for policy, rule in zip(ALL, RULES, strict=True):
        expected = (
            ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
        )
        assert isinstance(policy, expected)
        assert isinstance(rule, ResourceRule | StackRule)
        assert policy.description == rule.description
        assert policy.enforcement_level is rule.enforcement
        assert policy.severity is rule.severity


@pytest.mark.parametrize("rule", [r for r in RULES if r.config], ids=lambda r: r.name)
def test_config_schema_has_typed_defaults(rule: Rule) -> None:
    policy = next(p for p in ALL if p.name == rule.name)
    assert isinstance(policy.config_schema, PolicyConfigSchema)
    for key in rule.config:
        schema = policy.config_schema.properties[key.name]
        assert isinstance(key.default, JSON_TYPES[schema["type"]])
        assert schema.get("description")
    assert rule.settings() == {key.name: key.default for key in rule.config}


def test_given_config_overrides_defaults_and_ignores_the_enforcement_level() -> None:
    rule = next(r for r in RULES if r.name == "required-tags")
    settings = rule.settings({"requiredTags": ["owner"], "enforcementLevel": "advisory"})
    assert settings["requiredTags"] == ["owner"]
    assert "enforcementLevel" not in settings
    assert settings["globalStackExemptTags"] == ["jurisdiction"]


def test_allowed_jurisdictions_default_to_the_catalog() -> None:
    from regions.catalog import load_catalog

    for rule in RULES:
        for key in rule.config:
            if key.name == "allowedJurisdictions":
                assert key.default == list(load_catalog().jurisdictions)

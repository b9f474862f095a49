"""Every rule against real resources: the shipped plans pass, one changed field fails.

Each case runs twice, offline (``meshctl policy check``'s code path) and through the
CrossGuard adapter with engine-shaped arguments; both must report the same violations. What
this does not prove: that the engine's preview hands over the same property values as the
offline plan (the mock cloud's outputs approximate the providers'), nor that AWS enforces
what the declared properties ask for.
"""

from __future__ import annotations

import pytest

from policies import RULES
from policies.offline import check_plan
from policies.rule import ResourceRule, StackRule
from tests.policies.cases import CASES
from tests.policies.harness import (
    FIXTURES,
    RULES_BY_NAME,
    Case,
    Plan,
    base_plan,
    crossguard_resource,
    crossguard_stack,
    engine_context,
    mutated_plan,
    offline,
    resource,
)

pytestmark = pytest.mark.slow

INSTRUCTIONS = frozenset(
    {"add", "create", "give", "name", "pin", "reference", "remove", "restrict", "set", "tag", "use"}
)


def test_every_rule_has_a_violating_case() -> None:
    covered = {case.rule for case in CASES}
    missing = [rule.name for rule in RULES if rule.name not in covered]
    assert not missing, f"rules without a case in tests/policies/cases.py: {missing}"
    unknown = sorted(covered - set(RULES_BY_NAME))
    assert not unknown, f"cases name rules that do not exist: {unknown}"


def test_shipped_plans_have_no_mandatory_violation(shipped_plans: dict[str, Plan]) -> None:
    found = [f for plan in shipped_plans.values() for f in check_plan(plan)]
    mandatory = [f"{f.stack} {f.rule}: {f.message}" for f in found if f.level == "mandatory"]
    assert not mandatory, "\n".join(mandatory)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_unchanged_resource_passes(
    case: Case, shipped_plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = RULES_BY_NAME[case.rule]
    plan = base_plan(case, shipped_plans)
    assert offline(rule, plan) == []
    with engine_context(monkeypatch, plan):
        if isinstance(rule, ResourceRule):
            assert crossguard_resource(rule, plan, resource(plan, case.type, case.name)) == []
        else:
            assert isinstance(rule, StackRule)
            assert crossguard_stack(rule, plan) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_changed_field_violates(
    case: Case, shipped_plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = RULES_BY_NAME[case.rule]
    plan = mutated_plan(base_plan(case, shipped_plans), case)
    target = resource(plan, case.type, case.name)
    findings = offline(rule, plan)
    assert findings, f"{case.rule} did not flag the change to {case.name}"
    blamed = case.blames or case.name
    assert any(blamed in f.message for f in findings), [f.message for f in findings]
    for finding in findings:  # each message names the resource it blames
        named = finding.urn.rsplit("::", 1)[-1] if finding.urn else blamed
        assert named in finding.message, finding.message
    with engine_context(monkeypatch, plan):
        if isinstance(rule, ResourceRule):
            assert {f.urn for f in findings} == {target["urn"]}
            engine = crossguard_resource(rule, plan, target)
            assert engine == [f.message for f in findings]
        else:
            assert isinstance(rule, StackRule)
            engine_stack = crossguard_stack(rule, plan)
            assert engine_stack == [(f.message, f.urn) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_message_says_what_to_change(case: Case, shipped_plans: dict[str, Plan]) -> None:
    plan = mutated_plan(base_plan(case, shipped_plans), case)
    for finding in offline(RULES_BY_NAME[case.rule], plan):
        # What is wrong, then a complete instruction: "<resource> <problem>: set ... ."
        problem, _, instruction = finding.message.partition(": ")
        assert problem, finding.message
        assert instruction.split(" ", 1)[0] in INSTRUCTIONS, finding.message
        assert finding.message.endswith("."), finding.message


def test_fixture_properties_are_the_providers_input_names(
    shipped_plans: dict[str, Plan],
) -> None:
    # A misspelt fixture property would pass a rule that reads the real name.
    import pulumi_aws.s3.bucket_replication_config as module
    from pulumi._types import input_type_py_to_pulumi_names

    def names(cls: type) -> set[str]:
        return set(input_type_py_to_pulumi_names(cls).values())

    [fixture] = FIXTURES["personal-replication"](shipped_plans["prod-eu-west-1"])
    [rule] = fixture["props"]["rules"]
    assert set(fixture["props"]) <= names(module.BucketReplicationConfigArgs)
    assert set(rule) <= names(module.BucketReplicationConfigRuleArgs)
    assert set(rule["destination"]) <= names(module.BucketReplicationConfigRuleDestinationArgs)

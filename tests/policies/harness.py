"""Running one rule both ways over a plan: offline (``policies.offline``) and the way the
CrossGuard engine calls a policy (``unknown_checking_proxy`` props, ``PolicyResourceOptions``,
the provider as a ``PolicyProviderResource``, ``PULUMI_STACK`` and ``aws:region`` config).

A *case* takes a real resource from a shipped plan and changes one field of it. Fixture
resources (``FIXTURES``) stand in only for what no shipped stack declares; they get their ids
and outputs from the same mock cloud the offline plan uses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi.runtime.config import CONFIG
from pulumi.runtime.mocks import MockResourceArgs
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from meshctl.mock_cloud import CloudMocks, _plain
from policies import RULES
from policies.offline import Finding, check_plan
from policies.rule import AWS_PROVIDER, ResourceRule, Rule, StackRule

Plan = dict[str, Any]
Resource = dict[str, Any]
Mutation = Callable[[dict[str, Any]], None]

RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
OPTS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


# -- mutations -----------------------------------------------------------------------------------
def _steps(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _parent(target: Any, steps: list[str | int]) -> Any:
    for step in steps[:-1]:
        if isinstance(step, str) and step not in target:
            target[step] = {}
        target = target[step]
    return target


def setp(path: str, value: Any) -> Mutation:
    """Set one field (``a.b.0.c``), creating missing mappings on the way."""

    def mutate(props: dict[str, Any]) -> None:
        steps = _steps(path)
        _parent(props, steps)[steps[-1]] = value

    return mutate


def delp(path: str) -> Mutation:
    def mutate(props: dict[str, Any]) -> None:
        steps = _steps(path)
        del _parent(props, steps)[steps[-1]]

    return mutate


def edit_json(path: str, change: Callable[[Any], None]) -> Mutation:
    """Change a field inside a JSON document held as a string (policies)."""

    def mutate(props: dict[str, Any]) -> None:
        steps = _steps(path)
        parent = _parent(props, steps)
        document = json.loads(parent[steps[-1]])
        change(document)
        parent[steps[-1]] = json.dumps(document)

    return mutate


# -- cases ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    rule: str
    stack: str
    type: str
    name: str
    """Logical name of the resource to change."""
    mutate: Mutation
    fixtures: str | None = None
    """Key of ``FIXTURES``: resources added to the plan first (kinds no stack ships)."""
    blames: str | None = None
    """What the violation message must name; the changed resource's name by default."""

    @property
    def id(self) -> str:
        return f"{self.rule}[{self.stack}:{self.name}]"


def resource(plan: Plan, type_: str, name: str) -> Resource:
    for candidate in plan["resources"]:
        if candidate["type"] == type_ and candidate["name"] == name:
            return candidate
    names = sorted(r["name"] for r in plan["resources"] if r["type"] == type_)
    raise AssertionError(
        f"stack {plan['stack']} has no {type_} named {name!r} (it has {names}): update the "
        "case in tests/policies/cases.py"
    )


def base_plan(case: Case, shipped_plans: dict[str, Plan]) -> Plan:
    plan = copy.deepcopy(shipped_plans[case.stack])
    if case.fixtures:
        plan["resources"] += FIXTURES[case.fixtures](plan)
    return plan


def mutated_plan(plan: Plan, case: Case) -> Plan:
    """The plan with one field of the case's resource changed: its inputs for a resource
    rule, its outputs for a stack rule (what each kind of policy reads)."""
    changed = copy.deepcopy(plan)
    side = "outputs" if isinstance(RULES_BY_NAME[case.rule], StackRule) else "props"
    case.mutate(resource(changed, case.type, case.name)[side])
    return changed


def offline(rule: Rule, plan: Plan) -> list[Finding]:
    return check_plan(plan, rules=[rule])


# -- the engine's way ----------------------------------------------------------------------------
def _provider(plan: Plan, reference: str | None) -> PolicyProviderResource | None:
    if not reference:
        return None
    urn = reference.rsplit("::", 1)[0]
    found = next((r for r in plan["resources"] if r["urn"] == urn), None)
    if found is None:
        return None
    return PolicyProviderResource(
        found["type"], unknown_checking_proxy(copy.deepcopy(found["props"])), urn, found["name"]
    )


def _aws_provider(plan: Plan) -> Resource | None:
    """The stack's (first) AWS provider resource."""
    return next((r for r in plan["resources"] if r["type"] == AWS_PROVIDER), None)


def _stack_region(plan: Plan) -> str | None:
    provider = _aws_provider(plan)
    return provider["region"] if provider else None


def _engine_fields(plan: Plan, r: Resource, side: str) -> tuple[Any, ...]:
    """What the engine hands over of a plan resource, in the order both
    ``ResourceValidationArgs`` and ``PolicyResource`` take it: type, ``side`` (``props`` for
    a resource policy, ``outputs`` for a stack policy) as a proxy, URN, name, options and
    provider."""
    return (
        r["type"],
        unknown_checking_proxy(copy.deepcopy(r[side])),
        r["urn"],
        r["name"],
        OPTS,
        _provider(plan, r.get("provider")),
    )


@contextmanager
def engine_context(monkeypatch: pytest.MonkeyPatch, plan: Plan) -> Iterator[None]:
    """What the engine sets up for a pack process: the stack name and the stack's config."""
    monkeypatch.setenv("PULUMI_STACK", plan["stack"])
    token = CONFIG.set({"aws:region": _stack_region(plan)})
    try:
        yield
    finally:
        CONFIG.reset(token)


def crossguard_resource(rule: ResourceRule, plan: Plan, target: Resource) -> list[str]:
    args = ResourceValidationArgs(*_engine_fields(plan, target, "props"))
    messages: list[str] = []
    rule.policy().validate(args, lambda message, urn=None: messages.append(message))
    return messages


def crossguard_stack(rule: StackRule, plan: Plan) -> list[tuple[str, str | None]]:
    # Then parent, dependencies and property dependencies, which no rule reads.
    resources = [
        PolicyResource(*_engine_fields(plan, r, "outputs"), None, [], {}) for r in plan["resources"]
    ]
    reported: list[tuple[str, str | None]] = []
    rule.policy().validate(
        StackValidationArgs(resources), lambda message, urn=None: reported.append((message, urn))
    )
    return reported


# -- fixture resources ---------------------------------------------------------------------------
def fixture_resource(plan: Plan, type_: str, name: str, inputs: dict[str, Any]) -> Resource:
    """A FIXTURE resource shaped like a plan resource, for what no shipped stack declares:
    the stack's AWS provider, and outputs from the offline plan's mock cloud."""
    provider = _aws_provider(plan)
    assert provider is not None, f"stack {plan['stack']} has no AWS provider for fixtures"
    reference = f"{provider['urn']}::{provider['id']}"
    mocks = CloudMocks(plan["stack"], provider["region"], {})
    mocks.provider_regions[provider["id"]] = provider["region"]
    rid, outputs = mocks.new_resource(
        MockResourceArgs(type_, name, copy.deepcopy(inputs), reference, None, True)
    )
    return {
        "urn": f"urn:pulumi:{plan['stack']}::inference-mesh::{type_}::{name}",
        "type": type_,
        "name": name,
        "parent": None,
        "region": mocks.region_of(reference, inputs),
        "id": rid,
        "provider": reference,
        "dependencies": [],
        "props": copy.deepcopy(inputs),
        "outputs": _plain(outputs),
        "fixture": True,
    }


def personal_replication(plan: Plan) -> list[Resource]:
    """FIXTURE: disaster-recovery replication of the EU offline feature bucket to the other
    EU region, the one copy of personal data the residency policy allows. No stack ships it
    (the feature store replicates nothing), so only a fixture can show the rule passing it."""
    env = plan["environment"]
    return [
        fixture_resource(
            plan,
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            "features-offline-replication",
            {
                "bucket": f"inference-mesh-{env}-eu-west-1-features-offline",
                "role": "arn:aws:iam::123456789012:role/fixture-replication",
                "rules": [
                    {
                        "id": "to-eu-central-1",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "deleteMarkerReplication": {"status": "Enabled"},
                        "sourceSelectionCriteria": {
                            "sseKmsEncryptedObjects": {"status": "Enabled"}
                        },
                        "destination": {
                            "bucket": f"arn:aws:s3:::inference-mesh-{env}-eu-central-1-features-offline",
                            "encryptionConfiguration": {
                                "replicaKmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/fixture"
                            },
                            "replicationTime": {"status": "Enabled", "time": {"minutes": 15}},
                            "metrics": {"status": "Enabled", "eventThreshold": {"minutes": 15}},
                        },
                    }
                ],
            },
        )
    ]


FIXTURES: dict[str, Callable[[Plan], list[Resource]]] = {
    "personal-replication": personal_replication,
}

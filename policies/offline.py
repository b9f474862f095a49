"""The pack's rules over offline plan files (``meshctl plan``), without the Pulumi engine.

A plan resource's ``props`` are its inputs, what a resource policy sees; its ``outputs`` are
what a stack policy sees; its ``region`` is its provider's. Configuration uses the format of
``pulumi preview --policy-pack-config``, so one file serves both runners.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel

from policies import DOMAINS, RULES
from policies.rule import ResourceRule, ResourceView, Rule, StackRule, StackView
from regions.catalog import CatalogError

PACK_WIDE = "all"
"""The config key Pulumi reads as the enforcement level of every policy."""


class PolicyInputError(CatalogError):
    """A plan or config file cannot be used; the message names the file, the field and what
    was expected, like every input error of the repository."""


@dataclass(frozen=True)
class Finding:
    stack: str
    rule: str
    level: str
    """``mandatory`` or ``advisory``."""
    message: str
    urn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "level": self.level, "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class PackConfig:
    """Per-rule settings and enforcement overrides, as ``--policy-pack-config`` has them."""

    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    levels: Mapping[str, EnforcementLevel] = field(default_factory=dict)

    def level(self, rule: Rule) -> EnforcementLevel:
        level = self.levels.get(rule.name) or self.levels.get(PACK_WIDE) or rule.enforcement
        # Stack policies cannot remediate, and a remediated violation still blocks.
        return EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level


# -- config ----------------------------------------------------------------------------------
def load_config(path: Path, rules: Sequence[Rule] = RULES) -> PackConfig:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyInputError(
            path, "(document)", "a readable JSON policy config", str(exc)
        ) from None
    return parse_config(document, str(path), rules)


def parse_config(document: Any, source: str, rules: Sequence[Rule] = RULES) -> PackConfig:
    if not isinstance(document, dict):
        raise PolicyInputError(source, "(document)", "a JSON object keyed by policy name")
    by_name = {rule.name: rule for rule in rules}
    settings: dict[str, dict[str, Any]] = {}
    levels: dict[str, EnforcementLevel] = {}
    for name, value in document.items():
        if name != PACK_WIDE and name not in by_name:
            raise PolicyInputError(source, name, "the name of a policy of the pack")
        entry = {"enforcementLevel": value} if isinstance(value, str) else value
        if not isinstance(entry, dict):
            raise PolicyInputError(source, name, "an enforcement level or an object", value)
        if "enforcementLevel" in entry:
            levels[name] = _level(entry["enforcementLevel"], source, f"{name}.enforcementLevel")
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        known = {key.name for key in by_name[name].config} if name in by_name else set()
        unknown = sorted(set(properties) - known)
        if unknown:
            raise PolicyInputError(
                source, f"{name}.{unknown[0]}", f"a setting of the policy: {sorted(known)}"
            )
        settings[name] = properties
    return PackConfig(settings, levels)


def _level(value: Any, source: str, field: str) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        allowed = [level.value for level in EnforcementLevel]
        raise PolicyInputError(source, field, f"one of {allowed}", value) from None


# -- plans -----------------------------------------------------------------------------------
def is_plan(document: Any) -> bool:
    return isinstance(document, dict) and "stack" in document and "resources" in document


def load_plan(path: Path) -> dict[str, Any] | None:
    """The plan document at ``path``; ``None`` for other JSON (``summary.json``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyInputError(path, "(document)", "a readable plan file", str(exc)) from None
    return document if is_plan(document) else None


def plan_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory stands for the ``*.json`` files in it."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return found


def _view(resource: Mapping[str, Any], stack: str, key: str) -> ResourceView:
    props = resource.get(key)
    return ResourceView(
        type=str(resource.get("type", "")),
        name=str(resource.get("name", "")),
        urn=str(resource.get("urn", "")),
        props=props if isinstance(props, Mapping) else {},
        region=resource.get("region"),
        stack=stack,
    )


def resource_views(plan: Mapping[str, Any]) -> list[ResourceView]:
    """What resource policies see: inputs."""
    return [_view(r, str(plan["stack"]), "props") for r in plan.get("resources", [])]


def stack_view(plan: Mapping[str, Any]) -> StackView:
    """What stack policies see: outputs."""
    stack = str(plan["stack"])
    return StackView(stack, tuple(_view(r, stack, "outputs") for r in plan.get("resources", [])))


def check_plan(
    plan: Mapping[str, Any], config: PackConfig | None = None, rules: Sequence[Rule] = RULES
) -> list[Finding]:
    config = config or PackConfig()
    stack = str(plan["stack"])
    views = resource_views(plan)
    whole = stack_view(plan)
    findings: list[Finding] = []
    for rule in rules:
        level = config.level(rule)
        if level is EnforcementLevel.DISABLED:
            continue
        given = config.settings.get(rule.name)
        if isinstance(rule, ResourceRule):
            findings += [
                Finding(stack, rule.name, level.value, message, view.urn)
                for view in views
                for message in rule.evaluate(view, given)
            ]
        elif isinstance(rule, StackRule):
            findings += [
                Finding(stack, rule.name, level.value, v.message, v.urn)
                for v in rule.evaluate(whole, given)
            ]
    return findings


@dataclass
class Report:
    stacks: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Files that were JSON but not plans (the plan run's ``summary.json``)."""

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.level == EnforcementLevel.MANDATORY.value]

    @property
    def advisory(self) -> list[Finding]:
        return [f for f in self.findings if f.level != EnforcementLevel.MANDATORY.value]

    def grouped(self) -> dict[str, dict[str, list[Finding]]]:
        """Stack -> rule -> findings, in the order the files and rules were checked."""
        groups: dict[str, dict[str, list[Finding]]] = {stack: {} for stack in self.stacks}
        for finding in self.findings:
            groups[finding.stack].setdefault(finding.rule, []).append(finding)
        return groups

    def to_dict(self) -> dict[str, Any]:
        return {
            "stacks": {
                stack: {rule: [f.to_dict() for f in found] for rule, found in rules.items()}
                for stack, rules in self.grouped().items()
            },
            "mandatory": len(self.mandatory),
            "advisory": len(self.advisory),
            "rules": len(RULES),
            "skipped": self.skipped,
        }


def check_files(paths: Iterable[Path], config: PackConfig | None = None) -> Report:
    report = Report()
    for path in plan_files(paths):
        plan = load_plan(path)
        if plan is None:
            report.skipped.append(str(path))
            continue
        report.stacks.append(str(plan["stack"]))
        report.findings += check_plan(plan, config)
    return report


# -- the rule list ---------------------------------------------------------------------------
def rule_rows() -> list[dict[str, str]]:
    """One row per rule, in pack order: for ``meshctl policy list`` and policies/README.md."""
    return [
        {
            "rule": rule.name,
            "domain": domain,
            "scope": "stack" if isinstance(rule, StackRule) else "resource",
            "level": rule.enforcement.value,
            "mirrors": ", ".join(rule.industry) or "(none: see the rule's description)",
            "summary": rule.summary,
        }
        for domain, rules in DOMAINS.items()
        for rule in rules
    ]


def rules_markdown() -> str:
    lines = ["| rule | domain | scope | level | mirrors |", "|---|---|---|---|---|"]
    lines += [
        f"| `{r['rule']}` | {r['domain']} | {r['scope']} | {r['level']} | {r['mirrors']} |"
        for r in rule_rows()
    ]
    return "\n".join(lines) + "\n"

"""One rule, two runners: CrossGuard during ``pulumi preview``/``up`` and ``meshctl policy check``.

A rule is a plain function over a small neutral view of a resource (or of a whole stack), so
the same code judges what the engine sends a policy pack and what the offline plan wrote. The
adapters here are the only code that knows about ``pulumi_policy`` argument objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

Props = Mapping[str, Any]
Settings = Mapping[str, Any]
"""A rule's configuration: the pack config for that rule over the schema defaults."""

AWS_PROVIDER = "pulumi:providers:aws"
GLOBAL_STACK_SUFFIX = "-global"
"""Stack names end with ``-global`` for the layer that spans regions (stacks/naming.py)."""


@dataclass(frozen=True)
class ResourceView:
    """What every rule sees of a resource, whichever runner built it."""

    type: str
    name: str
    urn: str
    props: Props
    """Inputs for resource rules, outputs for stack rules (as CrossGuard hands them over)."""
    region: str | None = None
    stack: str | None = None

    @property
    def label(self) -> str:
        """How messages name the resource: logical name and type, unique within a stack."""
        return f"'{self.name}' ({self.type})"

    @property
    def in_global_stack(self) -> bool:
        return bool(self.stack and self.stack.endswith(GLOBAL_STACK_SUFFIX))


@dataclass(frozen=True)
class StackView:
    stack: str | None
    resources: tuple[ResourceView, ...]

    def of_type(self, *types: str) -> list[ResourceView]:
        return [r for r in self.resources if r.type in types]


@dataclass(frozen=True)
class Violation:
    message: str
    urn: str | None = None
    """The offending resource; ``None`` blames the stack as a whole."""


ResourceCheck = Callable[[ResourceView, Settings], Iterable[str]]
StackCheck = Callable[[StackView, Settings], Iterable[Violation]]


@dataclass(frozen=True)
class ConfigKey:
    """One property of a rule's ``PolicyConfigSchema``; its default applies when unset."""

    name: str
    schema: Mapping[str, Any]

    @property
    def default(self) -> Any:
        return self.schema["default"]

    @classmethod
    def array(cls, name: str, *, of: str, default: list[Any], description: str) -> ConfigKey:
        """A list setting whose items are of JSON type ``of`` (``string``, ``integer``)."""
        return cls(
            name,
            {
                "type": "array",
                "items": {"type": of},
                "default": default,
                "description": description,
            },
        )


@dataclass(frozen=True, kw_only=True)
class Rule:
    name: str
    """Kebab-case, unique in the pack; the policy name CrossGuard reports."""
    summary: str
    """What the rule requires, one sentence."""
    industry: tuple[str, ...]
    """The Checkov / Trivy / CIS EKS / AWS checks it mirrors; empty when none exists."""
    rationale: str = ""
    """Why the rule exists when no industry check does (required then)."""
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY
    advisory_reason: str = ""
    """Why the rule is not mandatory (required for any other level)."""
    severity: Severity = Severity.HIGH
    config: tuple[ConfigKey, ...] = ()

    @property
    def description(self) -> str:
        cited = f"Mirrors {', '.join(self.industry)}." if self.industry else self.rationale
        return f"{self.summary} {cited}".strip()

    def settings(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Schema defaults overlaid with ``given`` (the engine's or the offline config)."""
        values = {key.name: key.default for key in self.config}
        values.update({k: v for k, v in (given or {}).items() if k != "enforcementLevel"})
        return values

    def _schema(self) -> PolicyConfigSchema | None:
        if not self.config:
            return None
        return PolicyConfigSchema({key.name: dict(key.schema) for key in self.config})

    def _policy_options(self) -> dict[str, Any]:
        """What CrossGuard is told about the rule, whichever kind of policy it becomes."""
        return {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.enforcement,
            "config_schema": self._schema(),
            "severity": self.severity,
        }

    def policy(self) -> Policy:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class ResourceRule(Rule):
    types: frozenset[str] | None
    """Resource types the rule judges; ``None`` for every AWS resource (providers aside)."""
    check: ResourceCheck

    def applies_to(self, resource_type: str) -> bool:
        if self.types is None:
            return resource_type.startswith("aws:")
        return resource_type in self.types

    def evaluate(self, view: ResourceView, given: Mapping[str, Any] | None = None) -> list[str]:
        if not self.applies_to(view.type):
            return []
        return list(self.check(view, self.settings(given)))

    def policy(self) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            for message in self.evaluate(view_from_args(args), args.get_config()):
                report(message, None)

        return ResourceValidationPolicy(validate=validate, **self._policy_options())


@dataclass(frozen=True, kw_only=True)
class StackRule(Rule):
    check: StackCheck

    def evaluate(self, view: StackView, given: Mapping[str, Any] | None = None) -> list[Violation]:
        return list(self.check(view, self.settings(given)))

    def policy(self) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            for violation in self.evaluate(stack_view_from_args(args), args.get_config()):
                report(violation.message, violation.urn)

        return StackValidationPolicy(validate=validate, **self._policy_options())


# -- CrossGuard adapters -----------------------------------------------------------------
def current_stack() -> str | None:
    """The stack under analysis: the engine starts the pack with ``PULUMI_STACK`` set."""
    return os.environ.get("PULUMI_STACK") or None


def _configured_region() -> str | None:
    # Resources without an AWS provider (Kubernetes objects) live in the stack's region.
    import pulumi  # noqa: PLC0415 (only the CrossGuard path needs the SDK's config store)

    return pulumi.Config("aws").get("region")


def region_of(provider: Any, props: Props) -> str | None:
    """The provider's region for AWS resources, else an explicit ``region`` input, else the
    stack's ``aws:region``."""
    if provider is not None and provider.resource_type == AWS_PROVIDER:
        region = provider.props.get("region")
        if isinstance(region, str) and region:
            return region
    explicit = props.get("region")
    if isinstance(explicit, str) and explicit:
        return explicit
    return _configured_region()


def _view(resource: ResourceValidationArgs | PolicyResource, stack: str | None) -> ResourceView:
    """The view of a resource as the engine hands it over: the arguments of a resource policy
    or one ``PolicyResource`` of a stack policy (both carry type, name, URN, props, provider)."""
    return ResourceView(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=resource.props,
        region=region_of(resource.provider, resource.props),
        stack=stack,
    )


def view_from_args(args: ResourceValidationArgs) -> ResourceView:
    return _view(args, current_stack())


def stack_view_from_args(args: StackValidationArgs) -> StackView:
    stack = current_stack()
    return StackView(stack, tuple(_view(r, stack) for r in args.resources))


# -- registry ------------------------------------------------------------------------------
def unique(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"policy names must be unique in the pack, got duplicates {duplicates}")
    return tuple(rules)

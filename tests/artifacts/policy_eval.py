"""A small offline evaluator for the Deny statements of an S3 bucket policy.

Covers exactly the operators the artifact store's policies use (Bool, Null, StringEquals,
StringNotEquals, ArnLike) with IAM's semantics for absent keys, so tests can ask "is this
request refused?" instead of comparing JSON. moto implements neither bucket-policy conditions
nor the IAM simulator (shared reference policy-checks.md section 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    """Condition keys present in the request (``aws:SecureTransport``, S3 headers, ...)."""


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    present = key in context
    actual = context.get(key, "")
    if operator == "Null":
        return (not present) == (str(expected).lower() == "true")
    if operator == "Bool":
        return present and actual.lower() in {v.lower() for v in _values(expected)}
    if operator == "StringEquals":
        return present and actual in _values(expected)
    if operator == "StringNotEquals":
        # IAM: a negated operator is true when the key is absent.
        return not present or actual not in _values(expected)
    if operator == "ArnLike":
        return present and any(fnmatchcase(actual, pattern) for pattern in _values(expected))
    raise NotImplementedError(f"condition operator {operator} is not modelled")


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    actions = _values(statement["Action"])
    if not any(fnmatchcase(request.action, a) for a in actions):
        return False
    if not any(fnmatchcase(request.resource, r) for r in _values(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, expected, request.context)
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def denied_by(policy: Mapping[str, Any], request: Request) -> list[str]:
    """Sids of the Deny statements (for any principal) that refuse ``request``."""
    return [
        str(s.get("Sid"))
        for s in policy["Statement"]
        if s["Effect"] == "Deny" and s.get("Principal") == "*" and _matches(s, request)
    ]


def allowed_by(policy: Mapping[str, Any], request: Request, service: str) -> list[str]:
    """Sids of the Allow statements that grant ``request`` to the service principal."""
    return [
        str(s.get("Sid"))
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        and s.get("Principal") == {"Service": service}
        and _matches(s, request)
    ]

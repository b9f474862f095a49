"""The shapes many rules share, built once: one property that must hold a value, a feature
switched on with its setting, every bucket that must have a configuration resource, where a
node keeps its settings.

A factory returns a plain check function (``ResourceCheck`` or ``StackCheck``) for the
``check=`` of a rule, so the rule's message stands in its domain module beside its
description and industry ids. Messages are templates that name the resource as ``{label}``
and, for text properties, the value found as ``{value}``; ``_say`` fills them in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from policies import joins
from policies.props import flag, get, present, text
from policies.rule import (
    Props,
    ResourceCheck,
    ResourceView,
    Settings,
    StackCheck,
    StackView,
    Violation,
)
from policies.tokens import EC2_NODE_CLASS

Condition = Callable[[Props], bool]
"""Which resources of the rule's types a check judges at all (``is_personal``, say)."""


def _say(message: str, view: ResourceView, value: str = "") -> str:
    return message.format(label=view.label, value=value)


def _property_check(
    path: tuple[str, ...],
    read: Callable[[Any], Any],
    ok: Callable[[Any], object],
    message: str,
    missing: str,
    when: Condition | None,
) -> ResourceCheck:
    def check(view: ResourceView, _: Settings) -> Iterator[str]:
        if when is not None and not when(view.props):
            return
        value = read(get(view.props, *path))
        if not ok(value):
            yield _say(message, view, text(value) or missing)

    return check


def flag_required(*path: str, message: str, when: Condition | None = None) -> ResourceCheck:
    """The boolean at ``path`` must be true (unset fails)."""
    return _property_check(path, flag, lambda on: on is True, message, "", when)


def flag_forbidden(*path: str, message: str, when: Condition | None = None) -> ResourceCheck:
    """The boolean at ``path`` must not be true (unset passes)."""
    return _property_check(path, flag, lambda on: on is not True, message, "", when)


def enabled_with(block: str, switch: str, setting: str, *, message: str) -> ResourceCheck:
    """The settings block ``block`` must turn ``switch`` on and set ``setting`` (a key ARN or
    bucket that exists only after ``up`` counts as set)."""

    def check(view: ResourceView, _: Settings) -> Iterator[str]:
        options = get(view.props, block)
        if flag(get(options, switch)) is not True or not present(options, setting):
            yield _say(message, view)

    return check


def text_required(
    *path: str, expected: str | re.Pattern[str], message: str, missing: str = "unset"
) -> ResourceCheck:
    """The string at ``path`` must equal ``expected``, or match it when it is a pattern;
    ``{value}`` in the message is what the resource holds, ``missing`` when it is empty."""
    if isinstance(expected, str):
        return _property_check(path, text, lambda v: v == expected, message, missing, None)
    return _property_check(path, text, expected.match, message, missing, None)


def _any_config(_: ResourceView, configs: list[ResourceView]) -> bool:
    return bool(configs)


def every_bucket(
    types: frozenset[str],
    message: str,
    *,
    configured: Callable[[ResourceView, list[ResourceView]], bool] = _any_config,
    exempt: Callable[[StackView], set[str]] | None = None,
) -> StackCheck:
    """Every bucket of the stack must be configured by resources of ``types``: by any one of
    them, or as ``configured`` (bucket, its configurations) says. Buckets named in
    ``exempt(stack)`` are left out; a violation blames the bucket."""

    def check(stack: StackView, _: Settings) -> Iterator[Violation]:
        attached = joins.buckets_with(stack, types)
        skipped = exempt(stack) if exempt is not None else set()
        for bucket, configs in attached:
            if joins.bucket_ids(bucket) & skipped:
                continue
            if not configured(bucket, configs):
                yield Violation(_say(message, bucket), bucket.urn)

    return check


def node_settings(view: ResourceView) -> Any:
    """Where a node resource keeps its EC2 settings: a Karpenter EC2NodeClass under ``spec``,
    a launch template or an instance at the top."""
    return get(view.props, "spec") if view.type == EC2_NODE_CLASS else view.props

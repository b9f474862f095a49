"""The inference-mesh policy pack: every rule, grouped by domain.

``RULES`` are the rule objects (plain functions plus metadata, run offline by
``meshctl policy check``); ``ALL`` are the same rules as CrossGuard policies, what
``policies/__main__.py`` hands to ``PolicyPack``. Importing this package starts nothing.
"""

from __future__ import annotations

from pulumi_policy import Policy

from policies import artifacts, eks, encryption, logs, network, residency, tagging
from policies.rule import Rule, unique

DOMAINS: dict[str, tuple[Rule, ...]] = {
    "encryption": encryption.RULES,
    "network": network.RULES,
    "logging": logs.RULES,
    "eks": eks.RULES,
    "artifacts": artifacts.RULES,
    "residency": residency.RULES,
    "tagging": tagging.RULES,
}

RULES: tuple[Rule, ...] = unique([rule for rules in DOMAINS.values() for rule in rules])
ALL: list[Policy] = [rule.policy() for rule in RULES]

__all__ = ["ALL", "DOMAINS", "RULES"]

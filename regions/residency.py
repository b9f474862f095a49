"""The residency model: data classification tags and where personal data may live.

Pure (no pulumi, no boto3), so the stacks, the policy pack, meshctl and tests share it.

- ``classification_tags`` is the one helper that tags resources. Personal data carries
  ``data-classification=personal`` and ``jurisdiction=<J>``; other resources carry their own
  classification and the jurisdiction of the region they live in.
- ``regions/policy/residency.yaml`` is the one place that says which regions each
  jurisdiction allows for personal data. ``load_policy`` validates it against the catalog.
- ``allowed_regions`` and ``is_allowed`` answer "may J's data collected in region H be in R?".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from regions.catalog import JURISDICTIONS, CatalogError, RegionCatalog

POLICY_FILE = Path(__file__).resolve().parent / "policy" / "residency.yaml"
POLICY_FILE_ENV = "INFERENCE_MESH_RESIDENCY_FILE"
"""Environment variable that points the stacks and meshctl at another policy file (tests)."""

CLASSIFICATION_TAG = "data-classification"
JURISDICTION_TAG = "jurisdiction"

_RULE_FIELDS = {
    "allow_within_jurisdiction": "true or false",
    "regions": "a non-empty list of catalog regions of this jurisdiction, each listed once",
}
_TOP_FIELDS = {
    "default": "a mapping with allow_within_jurisdiction",
    "jurisdictions": "a mapping of jurisdiction to rule",
}


class DataClassification(StrEnum):
    """What a resource may hold. Only ``PERSONAL`` is bound to its jurisdiction."""

    PERSONAL = "personal"
    """Data about an identifiable person: features, raw events, client IPs, dead letters."""
    INTERNAL = "internal"
    """Our own non-personal data: model artifacts, plans, logs without client IPs."""
    PUBLIC = "public"
    """Meant to be published: docs, public model cards."""


class ResidencyPolicyError(CatalogError):
    """The residency policy file is invalid (names the file, the field and what was expected)."""


@dataclass(frozen=True)
class JurisdictionRule:
    allow_within_jurisdiction: bool = False
    """When False (the default), personal data stays in the region where it was collected."""
    regions: tuple[str, ...] | None = None
    """With ``allow_within_jurisdiction``: limits movement to these regions (default: all the
    jurisdiction's catalog regions)."""


@dataclass(frozen=True)
class ResidencyPolicy:
    default: JurisdictionRule = field(default_factory=JurisdictionRule)
    rules: Mapping[str, JurisdictionRule] = field(default_factory=dict)
    source_file: str = ""

    def rule_for(self, jurisdiction: str) -> JurisdictionRule:
        return self.rules.get(jurisdiction, self.default)


def classification_tags(
    classification: DataClassification | str, jurisdiction: str
) -> dict[str, str]:
    """The two residency tags every resource carries; merge them into the resource's tags."""
    try:
        value = DataClassification(classification)
    except ValueError:
        allowed = [c.value for c in DataClassification]
        raise ValueError(
            f"classification must be one of {allowed}, got {classification!r}"
        ) from None
    _check_jurisdiction(jurisdiction)
    return {CLASSIFICATION_TAG: value.value, JURISDICTION_TAG: jurisdiction}


def is_personal(tags: Mapping[str, str]) -> bool:
    """True when tags mark a resource as holding personal data."""
    return tags.get(CLASSIFICATION_TAG) == DataClassification.PERSONAL.value


def allowed_regions(
    jurisdiction: str, home_region: str, catalog: RegionCatalog, policy: ResidencyPolicy
) -> frozenset[str]:
    """Regions where personal data of ``jurisdiction`` collected in ``home_region`` may be.

    Empty when ``home_region`` is not a catalog region of ``jurisdiction``: such data should
    not exist anywhere, so no copy of it is allowed either.
    """
    _check_jurisdiction(jurisdiction)
    home = next((r for r in catalog if r.region == home_region), None)
    if home is None or home.jurisdiction != jurisdiction:
        return frozenset()
    rule = policy.rule_for(jurisdiction)
    if not rule.allow_within_jurisdiction:
        return frozenset({home_region})
    group = rule.regions or tuple(r.region for r in catalog.in_jurisdiction(jurisdiction))
    return frozenset(group) if home_region in group else frozenset({home_region})


def is_allowed(
    jurisdiction: str,
    home_region: str,
    region: str,
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
) -> bool:
    """May personal data of ``jurisdiction`` collected in ``home_region`` be in ``region``?"""
    return region in allowed_regions(jurisdiction, home_region, catalog, policy)


def default_policy_file() -> Path:
    return Path(os.environ.get(POLICY_FILE_ENV) or POLICY_FILE)


def load_policy(catalog: RegionCatalog, path: str | Path | None = None) -> ResidencyPolicy:
    """Load and validate the residency policy (default: ``regions/policy/residency.yaml``)."""
    source = Path(path) if path is not None else default_policy_file()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResidencyPolicyError(
            source, "(file)", "a readable residency policy file", str(exc)
        ) from exc
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0]
        raise ResidencyPolicyError(source, "(document)", "valid YAML", first_line) from exc
    return parse_policy(document, catalog, source)


def parse_policy(document: Any, catalog: RegionCatalog, source: str | Path) -> ResidencyPolicy:
    if not isinstance(document, dict):
        raise ResidencyPolicyError(source, "(document)", _mapping_of(_TOP_FIELDS), document)
    _reject_unknown(document, _TOP_FIELDS, "", source)
    # Without a default section the secure rule applies: data stays in its region.
    raw_default = document.get("default")
    default = (
        JurisdictionRule()
        if raw_default is None
        else _parse_rule(raw_default, "default", None, catalog, source)
    )
    raw_rules = document.get("jurisdictions") or {}
    if not isinstance(raw_rules, dict):
        raise ResidencyPolicyError(source, "jurisdictions", _TOP_FIELDS["jurisdictions"], raw_rules)
    rules: dict[str, JurisdictionRule] = {}
    for name, raw in raw_rules.items():
        if name not in JURISDICTIONS:
            raise ResidencyPolicyError(
                source, f"jurisdictions.{name}", f"a jurisdiction from {sorted(JURISDICTIONS)}"
            )
        rules[name] = _parse_rule(raw, f"jurisdictions.{name}", name, catalog, source)
    return ResidencyPolicy(default=default, rules=rules, source_file=str(source))


def _parse_rule(
    raw: Any, where: str, jurisdiction: str | None, catalog: RegionCatalog, source: str | Path
) -> JurisdictionRule:
    if not isinstance(raw, dict):
        raise ResidencyPolicyError(source, where, _mapping_of(_RULE_FIELDS), raw)
    _reject_unknown(raw, _RULE_FIELDS, f"{where}.", source)
    allow = raw.get("allow_within_jurisdiction")
    if not isinstance(allow, bool):
        raise ResidencyPolicyError(
            source,
            f"{where}.allow_within_jurisdiction",
            _RULE_FIELDS["allow_within_jurisdiction"],
            allow,
        )
    if "regions" not in raw:
        return JurisdictionRule(allow_within_jurisdiction=allow)
    if jurisdiction is None:
        raise ResidencyPolicyError(
            source, f"{where}.regions", "no regions list: it only makes sense per jurisdiction"
        )
    if not allow:
        raise ResidencyPolicyError(
            source,
            f"{where}.regions",
            "no regions list unless allow_within_jurisdiction is true",
            raw["regions"],
        )
    regions = _parse_regions(raw["regions"], f"{where}.regions", jurisdiction, catalog, source)
    return JurisdictionRule(allow_within_jurisdiction=True, regions=regions)


def _parse_regions(
    raw: Any, where: str, jurisdiction: str, catalog: RegionCatalog, source: str | Path
) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or len(set(map(str, raw))) != len(raw):
        raise ResidencyPolicyError(source, where, _RULE_FIELDS["regions"], raw)
    own = [r.region for r in catalog.in_jurisdiction(jurisdiction)]
    for region in raw:
        if region not in own:
            raise ResidencyPolicyError(
                source, where, f"catalog regions of {jurisdiction}: {own}", region
            )
    return tuple(raw)


def _reject_unknown(
    raw: dict[Any, Any], fields: dict[str, str], prefix: str, source: str | Path
) -> None:
    unknown = sorted(str(k) for k in set(raw) - set(fields))
    if unknown:
        raise ResidencyPolicyError(
            source, f"{prefix}{unknown[0]}", f"no such field; allowed fields are {sorted(fields)}"
        )


def _mapping_of(fields: dict[str, str]) -> str:
    return "a mapping with " + ", ".join(f"{name} ({what})" for name, what in fields.items())


def _check_jurisdiction(jurisdiction: str) -> None:
    if jurisdiction not in JURISDICTIONS:
        raise ValueError(
            f"jurisdiction must be one of {sorted(JURISDICTIONS)}, got {jurisdiction!r}"
        )

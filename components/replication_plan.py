"""Which model-artifact replication rules exist: a pure function of the catalog and exports.

The primary artifact region (``artifact_primary: true`` in ``regions/``) replicates to every
other region of the catalog, one rule per destination. Nothing here declares resources, so
the rule set is tested without Pulumi; the values it carries (bucket and key ARNs) pass through
untouched, plain strings in tests and ``pulumi.Output`` values in the global stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from regions.catalog import RegionCatalog

V = TypeVar("V")

EXPORT_FIELDS: tuple[str, ...] = ("bucketName", "bucketArn", "keyArn")
"""The keys of a regional stack's ``artifacts`` export that replication needs."""

REPLICATED_PREFIX = "artifacts/"
"""The only key prefix replicated: the model files ``meshctl models publish`` writes to the
primary (``model_artifacts/registry/layout.py`` ``ARTIFACT_PREFIX``). ``pointers/`` stays out:
meshctl writes each region's pointer itself, and a late replica would overwrite a newer one."""


class ReplicationPlanError(ValueError):
    """The regional exports do not match the catalog."""


@dataclass(frozen=True)
class ArtifactStoreRef(Generic[V]):
    """One region's artifact bucket and its key, as the regional stack exported them."""

    region: str
    bucket_name: V
    bucket_arn: V
    key_arn: V


@dataclass(frozen=True)
class ReplicationRule(Generic[V]):
    rule_id: str
    priority: int
    """Unique per rule, as S3 requires of V2 rules. Rules never overlap on a destination, so
    the value decides nothing; renumbering when a region is added only rewrites the one
    replication configuration that changes anyway."""
    destination: ArtifactStoreRef[V]


@dataclass(frozen=True)
class ReplicationPlan(Generic[V]):
    source: ArtifactStoreRef[V]
    rules: tuple[ReplicationRule[V], ...]
    prefix: str = REPLICATED_PREFIX
    """Key prefix every rule replicates; the role may touch objects under it only."""

    @property
    def destination_regions(self) -> tuple[str, ...]:
        return tuple(rule.destination.region for rule in self.rules)


def rule_id(destination_region: str) -> str:
    return f"to-{destination_region}"


def store_from_export(region: str, artifacts: Mapping[str, V]) -> ArtifactStoreRef[V]:
    """Reads a regional ``artifacts`` export; fails naming the missing key."""
    missing = [key for key in EXPORT_FIELDS if key not in artifacts]
    if missing:
        raise ReplicationPlanError(
            f"artifacts export of region {region}: expected keys {list(EXPORT_FIELDS)}, "
            f"missing {missing}"
        )
    return ArtifactStoreRef(
        region, artifacts["bucketName"], artifacts["bucketArn"], artifacts["keyArn"]
    )


def plan_replication(
    catalog: RegionCatalog,
    stores: Mapping[str, ArtifactStoreRef[V]],
    prefix: str = REPLICATED_PREFIX,
) -> ReplicationPlan[V]:
    """One rule from the primary to each other catalog region, in the catalog's order."""
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ReplicationPlanError(
            f"prefix must be a key folder such as 'artifacts/' (ending, not starting, with "
            f"'/'), got {prefix!r}"
        )
    _check_stores(catalog, stores)
    primary = catalog.primary.region
    destinations = [region for region in catalog.names if region != primary]
    rules = tuple(
        ReplicationRule(rule_id(region), priority, stores[region])
        for priority, region in enumerate(destinations, start=1)
    )
    return ReplicationPlan(stores[primary], rules, prefix)


def _check_stores(catalog: RegionCatalog, stores: Mapping[str, ArtifactStoreRef[V]]) -> None:
    missing = [region for region in catalog.names if region not in stores]
    if missing:
        raise ReplicationPlanError(
            f"artifact stores: expected one per catalog region {list(catalog.names)}, "
            f"missing {missing}"
        )
    unknown = sorted(set(stores) - set(catalog.names))
    if unknown:
        raise ReplicationPlanError(
            f"artifact stores: regions {unknown} are not in the catalog {list(catalog.names)}"
        )
    for region, store in stores.items():
        if store.region != region:
            raise ReplicationPlanError(
                f"artifact store listed under {region} is in region {store.region}"
            )

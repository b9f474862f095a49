"""Is a version present and complete in every region, and how far behind is replication?

"Complete in a region" means: the region's bucket holds the manifest and every object the
primary's manifest lists, each with the listed size and ``x-amz-meta-sha256``. That proves
the replica is the object the publisher verified, not that its bytes are intact: pass
``verify_content`` to download every object and recompute its sha256.

Replication lag. S3 replicas keep the source object's creation time (S3 user guide,
"Replication and other bucket configurations"), so on AWS ``replica LastModified -
primary LastModified`` reads 0 for objects that have arrived; it is only non-zero for
copies made by other means (the tests' stand-in for replication, a manual sync). The honest
signals are therefore: which objects are missing, how long ago the primary wrote the oldest
of them (the region is at least that far behind), and the primary's
``x-amz-replication-status`` (PENDING, COMPLETED, FAILED) when S3 reports one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from model_artifacts.registry.layout import (
    ARTIFACT_PREFIX,
    SHA256_METADATA,
    Manifest,
    ManifestEntry,
    manifest_key,
    version_prefix,
)
from model_artifacts.registry.store import (
    ArtifactStore,
    RegionBucket,
    bucket_exists,
    get_bytes,
    head,
    object_sha256,
    read_pointer,
    require_bucket,
)


@dataclass(frozen=True)
class RegionStatus:
    region: str
    bucket: str
    is_primary: bool
    objects_expected: int
    """Files of the manifest plus the manifest itself."""
    objects_present: int
    problems: tuple[str, ...]
    lag_seconds: float | None
    """Largest replica-minus-primary LastModified over objects present (see module doc)."""
    behind_seconds: float | None
    """Time since the primary wrote the oldest object still missing here; None if none is."""
    replication_status: tuple[tuple[str, int], ...]
    """Counts of ``x-amz-replication-status`` values seen on this region's objects."""

    @property
    def present(self) -> bool:
        return self.objects_present > 0

    @property
    def complete(self) -> bool:
        return not self.problems and self.objects_present == self.objects_expected

    @property
    def lag_text(self) -> str:
        if self.is_primary:
            return "primary"
        if self.behind_seconds is not None:
            missing = self.objects_expected - self.objects_present
            return (
                f"missing {missing} of {self.objects_expected}, "
                f"behind >= {self.behind_seconds:.0f} s"
            )
        return f"{self.lag_seconds or 0.0:.1f} s"


@dataclass(frozen=True)
class VersionStatus:
    model: str
    version: int
    published_at: str | None
    """None when the primary holds no manifest: the version is not published."""
    regions: tuple[RegionStatus, ...]

    @property
    def published(self) -> bool:
        return self.published_at is not None

    @property
    def incomplete_regions(self) -> tuple[str, ...]:
        return tuple(r.region for r in self.regions if not r.complete)

    @property
    def complete_everywhere(self) -> bool:
        return self.published and not self.incomplete_regions


@dataclass(frozen=True)
class ModelStatus:
    model: str
    active: tuple[tuple[str, int | None], ...]
    """Each region's pointer: (region, active version or None)."""
    versions: tuple[VersionStatus, ...]


def published_versions(store: ArtifactStore, model: str) -> tuple[int, ...]:
    """Version numbers with at least one object in the primary (complete or not)."""
    paginator = store.primary.s3.get_paginator("list_objects_v2")
    found: set[int] = set()
    prefix = f"{ARTIFACT_PREFIX}{model}/"
    for page in paginator.paginate(Bucket=store.primary.bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            label = common["Prefix"][len(prefix) :].rstrip("/")
            if label.isdigit():
                found.add(int(label))
    return tuple(sorted(found))


def model_status(
    store: ArtifactStore, model: str, version: int | None = None, *, verify_content: bool = False
) -> ModelStatus:
    versions = (version,) if version is not None else published_versions(store, model)
    pointers = tuple((t.region, _active(t, model)) for t in store.regions)
    return ModelStatus(
        model,
        pointers,
        tuple(version_status(store, model, v, verify_content=verify_content) for v in versions),
    )


def _active(target: RegionBucket, model: str) -> int | None:
    pointer = read_pointer(target, model) if bucket_exists(target) else None
    return pointer.active if pointer else None


def version_status(
    store: ArtifactStore,
    model: str,
    version: int,
    *,
    verify_content: bool = False,
    now: datetime | None = None,
) -> VersionStatus:
    now = now or datetime.now(UTC)
    require_bucket(store.primary)
    data = get_bytes(store.primary, manifest_key(model, version))
    if data is None:
        return _unpublished(store, model, version)
    manifest = Manifest.from_json(data, store.primary.url(manifest_key(model, version)))
    entries = (*manifest.files, _manifest_entry(model, version, data))
    primary_heads = {e.key: head(store.primary, e.key) for e in entries}
    regions = tuple(
        _region_status(t, t is store.primary, entries, primary_heads, verify_content, now)
        for t in store.regions
    )
    return VersionStatus(model, version, manifest.published_at, regions)


def _manifest_entry(model: str, version: int, data: bytes) -> ManifestEntry:
    key = manifest_key(model, version)
    return ManifestEntry("manifest.json", key, len(data), hashlib.sha256(data).hexdigest())


def _unpublished(store: ArtifactStore, model: str, version: int) -> VersionStatus:
    listed = store.primary.s3.list_objects_v2(
        Bucket=store.primary.bucket, Prefix=version_prefix(model, version), MaxKeys=1000
    )
    stray = listed.get("KeyCount", 0)
    problem = "no manifest in the primary bucket: not published"
    if stray:
        problem += f" ({stray} objects of an interrupted publish, invisible to serving)"
    regions = tuple(
        RegionStatus(t.region, t.bucket, t is store.primary, 0, 0, (problem,), None, None, ())
        for t in store.regions
    )
    return VersionStatus(model, version, None, regions)


def _region_status(
    target: RegionBucket,
    is_primary: bool,
    entries: tuple[ManifestEntry, ...],
    primary_heads: dict[str, dict[str, Any] | None],
    verify_content: bool,
    now: datetime,
) -> RegionStatus:
    if not bucket_exists(target):
        problem = f"bucket {target.bucket} does not exist"
        return RegionStatus(
            target.region, target.bucket, is_primary, len(entries), 0, (problem,), None, None, ()
        )
    problems: list[str] = []
    lags: list[float] = []
    missing_since: list[datetime] = []
    replication: Counter[str] = Counter()
    present = 0
    for entry in entries:
        stored = primary_heads[entry.key] if is_primary else head(target, entry.key)
        source = primary_heads[entry.key]
        if stored is None:
            problems.append(f"missing {entry.path}")
            if source is not None:
                missing_since.append(source["LastModified"])
            continue
        present += 1
        if stored.get("ReplicationStatus"):  # S3 reports it only under a replication rule
            replication[stored["ReplicationStatus"]] += 1
        problems.extend(_object_problems(target, entry, stored, verify_content))
        if source is not None and not is_primary:
            lags.append((stored["LastModified"] - source["LastModified"]).total_seconds())
    behind = (now - min(missing_since)).total_seconds() if missing_since else None
    return RegionStatus(
        region=target.region,
        bucket=target.bucket,
        is_primary=is_primary,
        objects_expected=len(entries),
        objects_present=present,
        problems=tuple(problems),
        lag_seconds=max([0.0, *lags]) if lags else None,
        behind_seconds=max(0.0, behind) if behind is not None else None,
        replication_status=tuple(sorted(replication.items())),
    )


def _object_problems(
    target: RegionBucket, entry: ManifestEntry, stored: dict[str, Any], verify_content: bool
) -> list[str]:
    if stored["ContentLength"] != entry.size:
        return [f"{entry.path}: {stored['ContentLength']} bytes, the manifest says {entry.size}"]
    metadata_sha = stored.get("Metadata", {}).get(SHA256_METADATA)
    if metadata_sha != entry.sha256:
        return [f"{entry.path}: sha256 metadata {metadata_sha}, the manifest says {entry.sha256}"]
    if verify_content and object_sha256(target, entry.key, entry.size) != entry.sha256:
        return [f"{entry.path}: the bytes read back do not have the manifest's sha256"]
    return []

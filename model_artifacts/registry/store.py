"""The artifact buckets of one environment, and the few S3 reads everything else builds on."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from model_artifacts.registry.errors import MissingBucketError
from model_artifacts.registry.layout import Pointer, pointer_key
from regions.catalog import RegionCatalog
from stacks.naming import artifact_bucket

MiB = 1 << 20
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class RegionBucket:
    region: str
    bucket: str
    s3: Any
    """A boto3 S3 client pinned to ``region``."""

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class ArtifactStore:
    primary: RegionBucket
    replicas: tuple[RegionBucket, ...]
    """Every other region, each fed from the primary by bucket replication."""

    @property
    def regions(self) -> tuple[RegionBucket, ...]:
        return (self.primary, *self.replicas)


def artifact_store(
    environment: str, catalog: RegionCatalog, s3_client: Callable[[str], Any]
) -> ArtifactStore:
    """The buckets named by ``stacks.naming`` for every catalog region; primary from the catalog."""
    primary = catalog.primary.region

    def target(region: str) -> RegionBucket:
        return RegionBucket(region, artifact_bucket(environment, region), s3_client(region))

    return ArtifactStore(target(primary), tuple(target(r) for r in catalog.names if r != primary))


def bucket_exists(target: RegionBucket) -> bool:
    """HEAD of a key in a missing bucket is a plain 404 too, so ask about the bucket first."""
    try:
        target.s3.head_bucket(Bucket=target.bucket)
    except ClientError as exc:
        if is_not_found(exc) or exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return False
        raise
    return True


def require_bucket(target: RegionBucket) -> None:
    if not bucket_exists(target):
        raise MissingBucketError(
            f"{target.url()} does not exist in {target.region}: deploy the regional stack "
            "(or pass the right --env / --endpoint-url)"
        )


def is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


def head(target: RegionBucket, key: str) -> dict[str, Any] | None:
    """The object's HEAD response, or None when it does not exist."""
    try:
        response: dict[str, Any] = target.s3.head_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return response


def get_bytes(target: RegionBucket, key: str) -> bytes | None:
    try:
        response = target.s3.get_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    data: bytes = response["Body"].read()
    return data


def read_pointer(target: RegionBucket, model: str) -> Pointer | None:
    data = get_bytes(target, pointer_key(model))
    return Pointer.from_json(data, target.url(pointer_key(model))) if data is not None else None


def object_sha256(
    target: RegionBucket,
    key: str,
    size: int,
    *,
    part_size: int = 16 * MiB,
    concurrency: int = 8,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """sha256 of the stored bytes, read back with parallel ranged GETs hashed in order.

    Only ``concurrency`` parts are in memory at once, so a 10 GB model needs no disk and
    no 10 GB of RAM; the hash is the real sha256 of the bytes S3 returns.
    """
    digest = hashlib.sha256()
    ranges = deque((start, min(start + part_size, size) - 1) for start in range(0, size, part_size))
    if not ranges:  # an empty object: one GET, nothing to hash
        return digest.hexdigest()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: deque[Future[bytes]] = deque()
        while ranges or pending:
            while ranges and len(pending) < concurrency:
                first, last = ranges.popleft()
                pending.append(pool.submit(_read_range, target, key, first, last))
            chunk = pending.popleft().result()
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


def _read_range(target: RegionBucket, key: str, first: int, last: int) -> bytes:
    response = target.s3.get_object(Bucket=target.bucket, Key=key, Range=f"bytes={first}-{last}")
    data: bytes = response["Body"].read()
    return data

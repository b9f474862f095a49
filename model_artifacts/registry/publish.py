"""Publish one version of a Triton model directory to the primary artifact bucket.

Order of events, so that a version is visible only when complete:

1. hash every local file (and compare the model file with the catalog's sha256);
2. refuse when ``manifest.json`` of the version already exists;
3. upload every file in parallel (multipart for large files), each carrying its sha256 in
   ``x-amz-meta-sha256``;
4. read every object back and recompute its sha256 from the bytes S3 returns;
5. write ``manifest.json`` last, conditionally (``If-None-Match: *``), so two publishers
   racing for the same version cannot both win.

A failure before step 5 leaves objects without a manifest: invisible to serving and to
promote, overwritten by the next attempt.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from boto3.s3.transfer import (  # type: ignore[import-untyped, unused-ignore]
    TransferConfig,
    create_transfer_manager,
)
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)
from s3transfer.subscribers import BaseSubscriber  # type: ignore[import-untyped, unused-ignore]

from model_artifacts.registry.errors import (
    BadModelDirectoryError,
    ChecksumMismatchError,
    UploadFailedError,
    VersionExistsError,
)
from model_artifacts.registry.layout import (
    MANIFEST_NAME,
    SHA256_METADATA,
    Manifest,
    ManifestEntry,
    manifest_key,
    object_key,
)
from model_artifacts.registry.store import (
    MiB,
    RegionBucket,
    head,
    object_sha256,
    require_bucket,
)

Progress = Callable[[str, int], None]
"""Called with ("upload" | "verify", bytes just done), from worker threads."""

_CONFIG_NAME = re.compile(r'^\s*name\s*:\s*"([^"]*)"', re.MULTILINE)


@dataclass(frozen=True)
class TransferSettings:
    part_size: int = 16 * MiB
    """Multipart part size, and the threshold above which a file goes multipart."""
    concurrency: int = 10
    """Parallel requests across all files and parts (and ranged GETs when verifying)."""

    def transfer_config(self) -> TransferConfig:
        return TransferConfig(
            multipart_threshold=self.part_size,
            multipart_chunksize=self.part_size,
            max_concurrency=self.concurrency,
            use_threads=True,
        )


@dataclass(frozen=True)
class LocalFile:
    path: str
    """Relative to the model directory, with ``/`` separators."""
    source: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class PublishResult:
    manifest: Manifest
    target: RegionBucket
    upload_seconds: float
    verify_seconds: float


def collect_model_directory(path: Path, model: str, version: int) -> tuple[LocalFile, ...]:
    """The files of ``version``: top-level files (config.pbtxt, labels) plus ``<version>/``.

    Other numbered directories are left out: each version is published on its own.
    """
    if not path.is_dir():
        raise BadModelDirectoryError(f"{path}: not a directory (expected a Triton model directory)")
    config = path / "config.pbtxt"
    if not config.is_file():
        raise BadModelDirectoryError(f"{path}: no config.pbtxt (expected a Triton model directory)")
    named = _CONFIG_NAME.search(config.read_text(encoding="utf-8"))
    if named and named.group(1) != model:
        raise BadModelDirectoryError(f"{config}: name is {named.group(1)!r}, expected {model!r}")
    version_dir = path / str(version)
    files = sorted(p for p in version_dir.rglob("*") if p.is_file()) if version_dir.is_dir() else []
    if not files:
        raise BadModelDirectoryError(f"{path}: no files under {version}/ (the version directory)")
    top = sorted(p for p in path.iterdir() if p.is_file())
    if any(p.name == MANIFEST_NAME for p in top):
        raise BadModelDirectoryError(
            f"{path / MANIFEST_NAME}: the name is reserved for the manifest"
        )
    with ThreadPoolExecutor(max_workers=4) as pool:
        # hashlib releases the GIL on large buffers, so files hash in parallel.
        return tuple(pool.map(lambda p: _local_file(path, p), [*top, *files]))


def _local_file(root: Path, source: Path) -> LocalFile:
    digest = hashlib.sha256()
    with source.open("rb") as handle:
        for chunk in iter(lambda: handle.read(4 * MiB), b""):
            digest.update(chunk)
    return LocalFile(
        source.relative_to(root).as_posix(), source, source.stat().st_size, digest.hexdigest()
    )


def check_model_file(files: tuple[LocalFile, ...], relative_path: str, sha256: str) -> None:
    """Refuse before any upload when the model file is not the one the catalog records."""
    found = next((f for f in files if f.path == relative_path), None)
    if found is None:
        raise BadModelDirectoryError(f"no {relative_path} in the model directory")
    if found.sha256 != sha256:
        raise ChecksumMismatchError(
            f"{found.source}: sha256 is {found.sha256}, but the model catalog records {sha256}"
        )


def publish(
    target: RegionBucket,
    model: str,
    version: int,
    files: tuple[LocalFile, ...],
    *,
    settings: TransferSettings | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    settings = settings or TransferSettings()
    require_bucket(target)
    existing = head(target, manifest_key(model, version))
    if existing is not None:
        raise VersionExistsError(
            f"{model} version {version} is already published "
            f"({target.url(manifest_key(model, version))}, "
            f"{existing['LastModified']:%Y-%m-%d %H:%M:%S} UTC); versions are immutable, "
            "publish a new version number"
        )
    started = time.monotonic()
    _upload(target, model, version, files, settings, progress)
    uploaded = time.monotonic()
    entries = tuple(_verify(target, model, version, f, settings, progress) for f in files)
    verified = time.monotonic()
    manifest = Manifest(model, version, _now(), entries)
    _write_manifest(target, manifest)
    return PublishResult(manifest, target, uploaded - started, verified - uploaded)


class _Counter(BaseSubscriber):  # type: ignore[misc, unused-ignore]  # s3transfer is untyped
    def __init__(self, progress: Progress):
        self._progress = progress

    def on_progress(self, future: object, bytes_transferred: int, **kwargs: object) -> None:
        self._progress("upload", bytes_transferred)


def _upload(
    target: RegionBucket,
    model: str,
    version: int,
    files: tuple[LocalFile, ...],
    settings: TransferSettings,
    progress: Progress | None,
) -> None:
    subscribers = [_Counter(progress)] if progress else []
    current = ""
    try:
        # One transfer manager for all files: parts of every file share one bounded pool.
        with create_transfer_manager(target.s3, settings.transfer_config()) as manager:
            futures = [
                (
                    f,
                    manager.upload(
                        str(f.source),
                        target.bucket,
                        object_key(model, version, f.path),
                        extra_args={"Metadata": {SHA256_METADATA: f.sha256}},
                        subscribers=subscribers,
                    ),
                )
                for f in files
            ]
            for f, future in futures:
                current = f.path
                future.result()
    except (BotoCoreError, ClientError, OSError) as exc:
        raise UploadFailedError(
            f"upload of {model} version {version} to {target.url()} failed at {current}: {exc}; "
            "no manifest was written, so the version is not visible; re-run publish to retry"
        ) from exc


def _verify(
    target: RegionBucket,
    model: str,
    version: int,
    local: LocalFile,
    settings: TransferSettings,
    progress: Progress | None,
) -> ManifestEntry:
    """Compare size, the sha256 metadata and the sha256 of the bytes read back."""
    key = object_key(model, version, local.path)
    stored = head(target, key)
    refused = f"refusing to write the manifest: {model} version {version} stays invisible"
    if stored is None:
        raise UploadFailedError(f"{target.url(key)} is missing after upload; {refused}")
    metadata_sha = stored.get("Metadata", {}).get(SHA256_METADATA)
    if stored["ContentLength"] != local.size or metadata_sha != local.sha256:
        raise ChecksumMismatchError(
            f"{target.url(key)}: stored {stored['ContentLength']} bytes with sha256 metadata "
            f"{metadata_sha}, the local file has {local.size} bytes and {local.sha256}; {refused}"
        )
    on_bytes = (lambda n: progress("verify", n)) if progress else None
    actual = object_sha256(
        target,
        key,
        local.size,
        part_size=settings.part_size,
        concurrency=settings.concurrency,
        on_bytes=on_bytes,
    )
    if actual != local.sha256:
        raise ChecksumMismatchError(
            f"{target.url(key)}: sha256 of the bytes read back is {actual}, the local file has "
            f"{local.sha256}; {refused}"
        )
    return ManifestEntry(local.path, key, local.size, local.sha256)


def _write_manifest(target: RegionBucket, manifest: Manifest) -> None:
    body = manifest.to_json()
    key = manifest_key(manifest.model, manifest.version)
    try:
        target.s3.put_object(
            Bucket=target.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            Metadata={SHA256_METADATA: hashlib.sha256(body).hexdigest()},
            IfNoneMatch="*",  # the check in publish() and this write could race another publisher
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise VersionExistsError(
                f"{manifest.model} version {manifest.version} was published by someone else "
                f"while this upload ran ({target.url(key)}); versions are immutable"
            ) from exc
        raise


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Where model artifacts live in the artifact buckets, and the two JSON documents there.

One bucket per region (``stacks.naming.artifact_bucket``). Keys::

    artifacts/<model>/<version>/config.pbtxt            the Triton model directory,
    artifacts/<model>/<version>/<version>/model.onnx    copied as published
    artifacts/<model>/<version>/manifest.json           written last: the version exists
    pointers/<model>/active.json                        the version serving loads

``artifacts/`` is written to the primary bucket only and reaches the other regions through
bucket replication (the replication rule filters on this prefix). ``pointers/`` is never
replicated: meshctl writes it into every region's bucket itself (see README, "Bucket
layout", for why). Syncing ``artifacts/<model>/<version>/`` into ``/models/<model>/`` gives
Triton a valid model directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from model_artifacts.registry.errors import RegistryError

ARTIFACT_PREFIX = "artifacts/"
"""The only prefix the replication rule copies to the other regions."""
POINTER_PREFIX = "pointers/"
"""Written per region by meshctl; must not be replicated (stale pointer replicas would race)."""
MANIFEST_NAME = "manifest.json"
SHA256_METADATA = "sha256"
"""User metadata key (``x-amz-meta-sha256``) holding each object's hex sha256."""
MANIFEST_SCHEMA = 1
POINTER_HISTORY = 10
"""How many earlier active versions a pointer remembers for repeated rollbacks."""


def version_prefix(model: str, version: int) -> str:
    return f"{ARTIFACT_PREFIX}{model}/{version}/"


def object_key(model: str, version: int, relative_path: str) -> str:
    return f"{version_prefix(model, version)}{relative_path}"


def manifest_key(model: str, version: int) -> str:
    return object_key(model, version, MANIFEST_NAME)


def pointer_key(model: str) -> str:
    return f"{POINTER_PREFIX}{model}/active.json"


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    """Relative to the model directory, e.g. ``1/model.onnx``."""
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    model: str
    version: int
    published_at: str
    files: tuple[ManifestEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        document = {
            "schema": MANIFEST_SCHEMA,
            "model": self.model,
            "version": self.version,
            "published_at": self.published_at,
            "files": [vars(f) for f in self.files],
        }
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        document = _document(data, where)
        try:
            files = tuple(
                ManifestEntry(str(f["path"]), str(f["key"]), int(f["size"]), str(f["sha256"]))
                for f in document["files"]
            )
            return cls(
                str(document["model"]), int(document["version"]), document["published_at"], files
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(
                f"{where}: not a manifest of schema {MANIFEST_SCHEMA}: {exc!r}"
            ) from exc


@dataclass(frozen=True)
class Pointer:
    """``pointers/<model>/active.json``: what serving loads, and what rollback returns to."""

    model: str
    active: int
    history: tuple[int, ...]
    """Earlier active versions, most recent first; ``history[0]`` is the previous one."""
    updated_at: str

    @property
    def previous(self) -> int | None:
        return self.history[0] if self.history else None

    def to_json(self) -> bytes:
        document = {
            "model": self.model,
            "active": self.active,
            "previous": self.previous,
            "history": list(self.history),
            "updated_at": self.updated_at,
        }
        return json.dumps(document, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Pointer:
        document = _document(data, where)
        try:
            history = tuple(int(v) for v in document["history"])
            return cls(
                str(document["model"]), int(document["active"]), history, document["updated_at"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"{where}: not an active-version pointer: {exc!r}") from exc


def _document(data: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise RegistryError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise RegistryError(f"{where}: expected a JSON object, got {type(document).__name__}")
    return document

"""Artifact buckets on the real moto server, and a stand-in for S3 replication.

moto stores replication configurations but copies no object, so tests copy objects from the
primary bucket themselves (``replicate``), choosing what a region is missing. What this
proves: the publisher, status and pointer logic against a real S3 API. What it does not
prove: that S3 replication delivers objects, or its timing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from model_artifacts.generate import model_bytes
from model_artifacts.registry import ArtifactStore, local

ENV = "dev"
MODEL = "resnet50-lite"
LITE_DIR = Path(__file__).resolve().parents[2] / "model_artifacts" / "repository" / MODEL


@pytest.fixture
def store(aws_endpoint: str) -> ArtifactStore:
    """Every catalog region's artifact bucket, versioned as the stack creates it."""
    built = local.local_store(ENV, aws_endpoint)
    local.create_buckets(built)
    return built


def lite_version(tmp_path: Path, version: int, seed: int) -> Path:
    """The committed resnet50-lite directory with another version's weights."""
    target = tmp_path / f"v{version}" / MODEL
    target.mkdir(parents=True)
    shutil.copy(LITE_DIR / "config.pbtxt", target / "config.pbtxt")
    (target / str(version)).mkdir()
    (target / str(version) / "model.onnx").write_bytes(model_bytes(MODEL, seed))
    return target


def keys(store: ArtifactStore, region: str, prefix: str = "") -> list[str]:
    target = next(t for t in store.regions if t.region == region)
    listed = target.s3.list_objects_v2(Bucket=target.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def replicate(
    store: ArtifactStore,
    model: str,
    version: int,
    *,
    regions: Iterable[str] | None = None,
    skip: Iterable[tuple[str, str]] = (),
) -> None:
    """Copy a version's objects to other regions, as bucket replication would."""
    local.replicate(store, model, version, regions=regions, skip=skip)

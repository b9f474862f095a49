"""publish, status, promote and rollback against the real moto server (see conftest)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from model_artifacts.catalog import load_model_catalog
from model_artifacts.registry import (
    ArtifactStore,
    BadModelDirectoryError,
    ChecksumMismatchError,
    IncompleteVersionError,
    NothingToRollBackError,
    TransferSettings,
    UploadFailedError,
    VersionExistsError,
    check_model_file,
    collect_model_directory,
    model_status,
    promote,
    publish,
    read_pointer,
    rollback,
    version_status,
)
from model_artifacts.registry.layout import manifest_key, object_key, pointer_key
from tests.model_artifacts.conftest import LITE_DIR, MODEL, keys, lite_version, replicate

MiB = 1 << 20
SMALL_PARTS = TransferSettings(part_size=5 * MiB, concurrency=4)
"""5 MiB is S3's smallest multipart part; small parts make a 12 MiB file go multipart."""


def _publish(store: ArtifactStore, path: Path, version: int, **kwargs: Any) -> Any:
    files = collect_model_directory(path, MODEL, version)
    return publish(store.primary, MODEL, version, files, **kwargs)


def _everywhere(store: ArtifactStore, path: Path, version: int) -> None:
    _publish(store, path, version)
    replicate(store, MODEL, version)


def _pointers(store: ArtifactStore) -> dict[str, int | None]:
    return {t.region: (p.active if (p := read_pointer(t, MODEL)) else None) for t in store.regions}


def _big_model_dir(tmp_path: Path) -> Path:
    """A model directory whose model file (12 MiB) goes multipart with SMALL_PARTS."""
    path = tmp_path / MODEL
    (path / "1").mkdir(parents=True)
    (path / "config.pbtxt").write_text(f'name: "{MODEL}"\n', encoding="utf-8")
    (path / "1" / "model.onnx").write_bytes(bytes(range(256)) * (48 * 1024))
    return path


class TestPublish:
    def test_uploads_every_file_with_its_sha256_and_writes_the_manifest(
        self, store: ArtifactStore
    ) -> None:
        result = _publish(store, LITE_DIR, 1)
        local = {
            p: hashlib.sha256((LITE_DIR / p).read_bytes()).hexdigest()
            for p in ("config.pbtxt", "1/model.onnx")
        }
        assert {f.path: f.sha256 for f in result.manifest.files} == local
        assert keys(store, "us-east-1") == [
            object_key(MODEL, 1, "1/model.onnx"),
            object_key(MODEL, 1, "config.pbtxt"),
            manifest_key(MODEL, 1),
        ]
        for entry in result.manifest.files:
            stored = store.primary.s3.head_object(Bucket=store.primary.bucket, Key=entry.key)
            assert stored["Metadata"]["sha256"] == local[entry.path]
            assert stored["ContentLength"] == entry.size
        manifest = json.loads(
            store.primary.s3.get_object(Bucket=store.primary.bucket, Key=manifest_key(MODEL, 1))[
                "Body"
            ].read()
        )
        assert {f["path"] for f in manifest["files"]} == set(local)
        # Only the primary is written: the other regions wait for replication.
        assert all(keys(store, t.region) == [] for t in store.replicas)

    def test_the_catalog_checksum_matches_the_published_model(self) -> None:
        files = collect_model_directory(LITE_DIR, MODEL, 1)
        check_model_file(files, "1/model.onnx", load_model_catalog().get(MODEL).version(1).sha256)

    def test_large_files_go_multipart_and_are_verified_by_reading_back(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        path = _big_model_dir(tmp_path)
        seen: list[str] = []
        store.primary.s3.meta.events.register(
            "before-call.s3.UploadPart", lambda **_: seen.append("part")
        )
        done: dict[str, int] = {"upload": 0, "verify": 0}
        result = _publish(
            store,
            path,
            1,
            settings=SMALL_PARTS,
            progress=lambda phase, n: done.__setitem__(phase, done[phase] + n),
        )
        assert len(seen) == 3  # 12 MiB in 5 MiB parts
        stored = store.primary.s3.head_object(
            Bucket=store.primary.bucket, Key=object_key(MODEL, 1, "1/model.onnx")
        )
        assert stored["ETag"].endswith('-3"')  # a multipart ETag: not a sha256, not an MD5
        assert done == {
            "upload": result.manifest.total_bytes,
            "verify": result.manifest.total_bytes,
        }

    def test_publishing_an_existing_version_is_refused_and_changes_nothing(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _publish(store, LITE_DIR, 1)
        before = store.primary.s3.list_object_versions(Bucket=store.primary.bucket)["Versions"]
        with pytest.raises(
            VersionExistsError, match="resnet50-lite version 1 is already published"
        ):
            _publish(store, lite_version(tmp_path, 1, seed=5), 1)
        after = store.primary.s3.list_object_versions(Bucket=store.primary.bucket)["Versions"]
        assert [v["VersionId"] for v in after] == [v["VersionId"] for v in before]

    @pytest.mark.parametrize(
        ("seed", "refusal", "message"),
        [
            (1, VersionExistsError, "published by someone else"),  # same bytes: manifest race
            (9, ChecksumMismatchError, "sha256 metadata"),  # other bytes overwrote ours
        ],
    )
    def test_a_publisher_that_loses_the_race_is_refused(
        self, store: ArtifactStore, tmp_path: Path, seed: int, refusal: type, message: str
    ) -> None:
        """Another publisher completes the same version while this one verifies."""
        other = lite_version(tmp_path, 1, seed=seed)
        heads: list[int] = []

        def on_head(**_: Any) -> None:
            heads.append(1)
            if len(heads) == 2:  # the first HEAD of verification, after the pre-check's
                _publish(store, other, 1)

        store.primary.s3.meta.events.register("before-call.s3.HeadObject", on_head)
        with pytest.raises(refusal, match=message):
            _publish(store, LITE_DIR, 1)
        store.primary.s3.meta.events.unregister("before-call.s3.HeadObject", on_head)
        assert version_status(store, MODEL, 1).published

    def test_an_upload_that_fails_midway_leaves_no_visible_version(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        promote(store, MODEL, 1)
        path = _big_model_dir(tmp_path)
        (path / "2").mkdir()
        (path / "1" / "model.onnx").rename(path / "2" / "model.onnx")
        calls: list[int] = []

        def drop_connection(**_: Any) -> None:
            calls.append(1)
            if len(calls) == 2:
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1")

        store.primary.s3.meta.events.register("before-call.s3.UploadPart", drop_connection)
        with pytest.raises(UploadFailedError, match="the version is not visible"):
            _publish(store, path, 2, settings=SMALL_PARTS)
        status = version_status(store, MODEL, 2)
        assert not status.published
        assert "not published" in status.regions[0].problems[0]
        assert _pointers(store) == {t.region: 1 for t in store.regions}
        with pytest.raises(IncompleteVersionError, match="not published"):
            promote(store, MODEL, 2)
        # The next attempt overwrites the leftovers and completes.
        store.primary.s3.meta.events.unregister("before-call.s3.UploadPart", drop_connection)
        assert _publish(store, path, 2, settings=SMALL_PARTS).manifest.version == 2

    def test_a_model_file_unlike_the_catalog_is_refused_before_upload(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        files = collect_model_directory(lite_version(tmp_path, 1, seed=2), MODEL, 1)
        recorded = load_model_catalog().get(MODEL).version(1).sha256
        with pytest.raises(ChecksumMismatchError, match=f"the model catalog records {recorded}"):
            check_model_file(files, "1/model.onnx", recorded)
        assert keys(store, "us-east-1") == []

    def test_bytes_that_differ_after_upload_are_refused(self, store: ArtifactStore) -> None:
        """A byte flipped on the way in (after the client's CRC32) is caught by the read-back."""

        def corrupt(params: dict[str, Any], **_: Any) -> None:
            if params["Key"].endswith("model.onnx"):
                data = bytearray(params["Body"].read())
                data[100] ^= 0xFF
                params["Body"] = bytes(data)

        store.primary.s3.meta.events.register("provide-client-params.s3.PutObject", corrupt)
        with pytest.raises(ChecksumMismatchError, match="sha256 of the bytes read back"):
            _publish(store, LITE_DIR, 1)
        assert manifest_key(MODEL, 1) not in keys(store, "us-east-1")

    def test_wrong_metadata_is_refused(self, store: ArtifactStore) -> None:
        def relabel(params: dict[str, Any], **_: Any) -> None:
            params["Metadata"] = {"sha256": "0" * 64}

        store.primary.s3.meta.events.register("provide-client-params.s3.PutObject", relabel)
        with pytest.raises(ChecksumMismatchError, match="sha256 metadata 0000"):
            _publish(store, LITE_DIR, 1)

    @pytest.mark.parametrize(
        ("layout", "message"),
        [
            ({"1/model.onnx": b"x"}, "no config.pbtxt"),
            ({"config.pbtxt": b'name: "other"'}, "name is 'other', expected 'resnet50-lite'"),
            ({"config.pbtxt": b"", "2/model.onnx": b"x"}, "no files under 1/"),
            ({"config.pbtxt": b"", "manifest.json": b"{}", "1/m": b"x"}, "reserved"),
        ],
    )
    def test_bad_model_directories(
        self, tmp_path: Path, layout: dict[str, bytes], message: str
    ) -> None:
        for relative, data in layout.items():
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / relative).write_bytes(data)
        with pytest.raises(BadModelDirectoryError, match=message):
            collect_model_directory(tmp_path, MODEL, 1)

    def test_only_the_published_version_directory_is_uploaded(self, tmp_path: Path) -> None:
        path = lite_version(tmp_path, 2, seed=3)
        (path / "1").mkdir()
        (path / "1" / "model.onnx").write_bytes(b"old")
        files = collect_model_directory(path, MODEL, 2)
        assert [f.path for f in files] == ["config.pbtxt", "2/model.onnx"]


class TestStatus:
    def test_reports_missing_regions_and_what_they_lack(self, store: ArtifactStore) -> None:
        _publish(store, LITE_DIR, 1)
        replicate(
            store,
            MODEL,
            1,
            skip=[("eu-west-1", "1/model.onnx")],
            regions=["eu-west-1", "eu-central-1"],
        )
        status = version_status(store, MODEL, 1)
        by_region = {r.region: r for r in status.regions}
        assert by_region["us-east-1"].complete
        assert by_region["eu-central-1"].complete
        eu_west = by_region["eu-west-1"]
        assert (eu_west.present, eu_west.complete) == (True, False)
        assert eu_west.problems == ("missing 1/model.onnx",)
        assert (eu_west.objects_present, eu_west.objects_expected) == (2, 3)
        assert eu_west.behind_seconds is not None
        assert eu_west.lag_text.startswith("missing 1 of 3, behind >=")
        tokyo = by_region["ap-northeast-1"]
        assert (tokyo.present, tokyo.objects_present) == (False, 0)
        assert set(status.incomplete_regions) == {
            "eu-west-1",
            "ap-northeast-1",
            "ap-southeast-1",
            "us-west-2",
        }

    def test_lag_is_replica_minus_primary_last_modified(self, store: ArtifactStore) -> None:
        _publish(store, LITE_DIR, 1)
        time.sleep(1.2)  # LastModified has one-second resolution
        replicate(store, MODEL, 1)
        status = version_status(store, MODEL, 1)
        assert status.complete_everywhere
        for region in status.regions:
            if region.is_primary:
                assert region.lag_text == "primary"
            else:
                assert region.lag_seconds is not None
                assert region.lag_seconds >= 1.0
                assert region.behind_seconds is None

    def test_a_replica_with_other_metadata_is_not_complete(self, store: ArtifactStore) -> None:
        _everywhere(store, LITE_DIR, 1)
        tokyo = next(t for t in store.regions if t.region == "ap-northeast-1")
        key = object_key(MODEL, 1, "1/model.onnx")
        tokyo.s3.put_object(Bucket=tokyo.bucket, Key=key, Body=b"short")
        problems = {r.region: r.problems for r in version_status(store, MODEL, 1).regions}
        assert problems["ap-northeast-1"] == ("1/model.onnx: 5 bytes, the manifest says 16386",)

    def test_only_content_verification_sees_same_size_same_metadata_damage(
        self, store: ArtifactStore
    ) -> None:
        """What the default check does not prove, and --verify-content does."""
        _everywhere(store, LITE_DIR, 1)
        tokyo = next(t for t in store.regions if t.region == "ap-northeast-1")
        key = object_key(MODEL, 1, "1/model.onnx")
        original = tokyo.s3.head_object(Bucket=tokyo.bucket, Key=key)
        tokyo.s3.put_object(
            Bucket=tokyo.bucket,
            Key=key,
            Body=b"\0" * original["ContentLength"],
            Metadata=original["Metadata"],
        )
        assert version_status(store, MODEL, 1).complete_everywhere
        deep = version_status(store, MODEL, 1, verify_content=True)
        assert deep.incomplete_regions == ("ap-northeast-1",)

    def test_a_region_without_its_bucket_is_reported(self, store: ArtifactStore) -> None:
        _everywhere(store, LITE_DIR, 1)
        singapore = next(t for t in store.regions if t.region == "ap-southeast-1")
        for version in singapore.s3.list_object_versions(Bucket=singapore.bucket)["Versions"]:
            singapore.s3.delete_object(
                Bucket=singapore.bucket, Key=version["Key"], VersionId=version["VersionId"]
            )
        singapore.s3.delete_bucket(Bucket=singapore.bucket)
        status = model_status(store, MODEL, 1)
        (region,) = (r for r in status.versions[0].regions if not r.complete)
        assert region.problems == (f"bucket {singapore.bucket} does not exist",)
        assert dict(status.active)["ap-southeast-1"] is None

    def test_an_unpublished_version_and_interrupted_uploads(self, store: ArtifactStore) -> None:
        assert not version_status(store, MODEL, 7).published
        store.primary.s3.put_object(
            Bucket=store.primary.bucket, Key=object_key(MODEL, 7, "config.pbtxt"), Body=b""
        )
        status = version_status(store, MODEL, 7)
        assert "1 objects of an interrupted publish" in status.regions[0].problems[0]

    def test_model_status_lists_versions_and_pointers(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        _publish(store, lite_version(tmp_path, 2, seed=2), 2)
        promote(store, MODEL, 1)
        status = model_status(store, MODEL)
        assert [v.version for v in status.versions] == [1, 2]
        assert [v.complete_everywhere for v in status.versions] == [True, False]
        assert dict(status.active) == {t.region: 1 for t in store.regions}


class TestPromoteAndRollback:
    def test_promote_is_refused_while_one_region_is_incomplete_naming_it(
        self, store: ArtifactStore
    ) -> None:
        _publish(store, LITE_DIR, 1)
        replicate(store, MODEL, 1, skip=[("ap-southeast-1", "manifest.json")])
        with pytest.raises(IncompleteVersionError) as refused:
            promote(store, MODEL, 1)
        assert refused.value.regions == ("ap-southeast-1",)
        assert "not complete in ap-southeast-1 (ap-southeast-1: missing manifest.json)" in str(
            refused.value
        )
        assert set(_pointers(store).values()) == {None}

    def test_promote_writes_the_pointer_in_every_region(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        _everywhere(store, lite_version(tmp_path, 2, seed=2), 2)
        first = promote(store, MODEL, 1)
        assert (first.active, first.previous) == (1, None)
        second = promote(store, MODEL, 2)
        assert (second.active, second.previous, second.history) == (2, 1, (1,))
        for target in store.regions:
            pointer = read_pointer(target, MODEL)
            assert pointer is not None
            assert (pointer.active, pointer.previous) == (2, 1)
        document = json.loads(
            store.primary.s3.get_object(Bucket=store.primary.bucket, Key=pointer_key(MODEL))[
                "Body"
            ].read()
        )
        assert (document["active"], document["previous"]) == (2, 1)

    def test_promoting_the_active_version_again_keeps_history(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        _everywhere(store, lite_version(tmp_path, 2, seed=2), 2)
        promote(store, MODEL, 1)
        promote(store, MODEL, 2)
        assert promote(store, MODEL, 2).history == (1,)

    def test_rollback_returns_to_the_previous_version_and_then_stops(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        _everywhere(store, lite_version(tmp_path, 2, seed=2), 2)
        promote(store, MODEL, 1)
        promote(store, MODEL, 2)
        back = rollback(store, MODEL)
        assert (back.active, back.history) == (1, ())
        assert _pointers(store) == {t.region: 1 for t in store.regions}
        with pytest.raises(NothingToRollBackError, match="only version 1"):
            rollback(store, MODEL)

    def test_rollback_is_refused_when_the_previous_version_lost_a_region(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        _everywhere(store, LITE_DIR, 1)
        _everywhere(store, lite_version(tmp_path, 2, seed=2), 2)
        promote(store, MODEL, 1)
        promote(store, MODEL, 2)
        oregon = next(t for t in store.regions if t.region == "us-west-2")
        oregon.s3.delete_object(Bucket=oregon.bucket, Key=object_key(MODEL, 1, "config.pbtxt"))
        with pytest.raises(IncompleteVersionError, match=r"rollback refused: .* us-west-2"):
            rollback(store, MODEL)
        assert _pointers(store) == {t.region: 2 for t in store.regions}

    def test_rollback_without_a_pointer(self, store: ArtifactStore) -> None:
        with pytest.raises(NothingToRollBackError, match="no active pointer"):
            rollback(store, MODEL)

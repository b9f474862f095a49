"""The model catalog loader: the shipped file, and one broken field per failing case."""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from model_artifacts.catalog import (
    CATALOG_FILE,
    ModelCatalogError,
    load_model_catalog,
)
from model_artifacts.profiles import (
    MLPERF_RESNET50,
    PROFILE_BATCH_SIZES,
    batch_latency_ms,
    source_text,
)
from regions.catalog import CatalogError
from regions.instance_types import GPU_CLASSES


def _shipped() -> dict[str, Any]:
    return yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))


def _load_with(tmp_path: Path, change: Any) -> Any:
    """Write the shipped catalog with ``change(document)`` applied, then load it."""
    document = copy.deepcopy(_shipped())
    change(document)
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_model_catalog(path)


def _error(tmp_path: Path, change: Any) -> str:
    with pytest.raises(ModelCatalogError) as caught:
        _load_with(tmp_path, change)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'models.yaml'}: field '"), message
    return message


def _set(path: str, value: Any) -> Any:
    """A change that sets ``models.<...>`` at a dotted path."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key) if isinstance(node, list) or key.isdigit() else key]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Any:
    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[key]
        del node[last]

    return change


class TestShippedCatalog:
    def test_loads_both_models_with_their_contract_fields(self) -> None:
        catalog = load_model_catalog()
        assert catalog.names == ("resnet50", "resnet50-lite")
        resnet = catalog.get("resnet50")
        assert (resnet.format, resnet.serving, resnet.active) == ("onnx", "gpu", 1)
        assert resnet.fallback == "resnet50-lite"
        assert [(t.name, t.datatype, t.shape) for t in resnet.inputs] == [
            ("input", "FP32", (3, 224, 224))
        ]
        assert [(t.name, t.datatype, t.shape) for t in resnet.outputs] == [
            ("probabilities", "FP32", (1000,))
        ]
        assert resnet.triton.preferred_batch_sizes[-1] <= resnet.triton.max_batch_size
        assert resnet.model_file == "model.onnx"
        lite = catalog.get("resnet50-lite")
        assert (lite.serving, lite.throughput_profiles) == ("cpu", ())
        assert (lite.inputs, lite.outputs) == (resnet.inputs, resnet.outputs)

    def test_profiles_are_the_documented_derivation_of_mlperf_figures(self) -> None:
        resnet = load_model_catalog().get("resnet50")
        assert {p.gpu_class for p in resnet.throughput_profiles} == {
            f.gpu_class for f in MLPERF_RESNET50
        }
        for figure in MLPERF_RESNET50:
            profile = resnet.profile(figure.gpu_class)
            assert profile.batch_latency_ms == batch_latency_ms(figure, PROFILE_BATCH_SIZES)
            assert profile.source == source_text(figure)
            # Per-sample time at the anchor batch is the MLPerf Server rate.
            assert profile.throughput(32) == pytest.approx(figure.server, rel=1e-3)
            assert ("proxy" in profile.source) == bool(figure.proxy)

    def test_classes_without_a_published_figure_are_left_out(self) -> None:
        resnet = load_model_catalog().get("resnet50")
        covered = {p.gpu_class for p in resnet.throughput_profiles}
        assert covered < GPU_CLASSES
        assert "l40s" not in covered
        with pytest.raises(KeyError, match="no throughput profile for 'l40s'"):
            resnet.profile("l40s")

    def test_unknown_model_names_the_catalog_and_the_choices(self) -> None:
        with pytest.raises(KeyError, match=r"'bert' is not in the catalog .*resnet50-lite"):
            load_model_catalog().get("bert")

    def test_error_is_a_catalog_error_like_regions(self, tmp_path: Path) -> None:
        with pytest.raises(CatalogError):
            _load_with(tmp_path, _set("models.resnet50.format", "keras"))


class TestInvalidCatalog:
    def test_unknown_field(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.triton.max_batch", 8))
        assert "field 'models.resnet50.triton.max_batch': expected no such field" in message
        assert "'max_batch_size'" in message

    def test_missing_field(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _delete("models.resnet50.serving"))
        assert message.endswith(
            "field 'models.resnet50.serving': expected a value (one of ['gpu', 'cpu']); "
            "the field is missing"
        )

    def test_missing_version_field(self, tmp_path: Path) -> None:
        def change(document: dict[str, Any]) -> None:
            del document["models"]["resnet50"]["versions"][1]["produced_by"]

        message = _error(tmp_path, change)
        assert "field 'models.resnet50.versions.1.produced_by': expected a value" in message

    def test_wrong_type(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.triton.max_batch_size", "32"))
        assert message.endswith(
            "field 'models.resnet50.triton.max_batch_size': expected a positive integer, got '32'"
        )

    def test_wrong_shape_type(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.inputs.0.shape", [3, 224.5, 224]))
        assert "field 'models.resnet50.inputs[0].shape': expected a non-empty list" in message
        assert message.endswith("got [3, 224.5, 224]")

    def test_unknown_format(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.format", "safetensors"))
        assert message.endswith(
            "field 'models.resnet50.format': expected one of "
            "['onnx', 'python', 'tensorrt_plan', 'torchscript'], got 'safetensors'"
        )

    def test_unknown_gpu_class(self, tmp_path: Path) -> None:
        def change(document: dict[str, Any]) -> None:
            profiles = document["models"]["resnet50"]["throughput_profiles"]
            profiles["v100"] = profiles["t4"]

        message = _error(tmp_path, change)
        assert "field 'models.resnet50.throughput_profiles': expected GPU classes from" in message
        assert message.endswith("got 'v100'")

    def test_inferentia_is_not_a_gpu_class(self, tmp_path: Path) -> None:
        def change(document: dict[str, Any]) -> None:
            profiles = document["models"]["resnet50"]["throughput_profiles"]
            profiles["inferentia2"] = profiles["t4"]

        assert _error(tmp_path, change).endswith("got 'inferentia2'")

    @pytest.mark.parametrize("sha", ["B71342B1" + "0" * 56, "abc123", "g" * 64, 12345], ids=str)
    def test_bad_sha256(self, tmp_path: Path, sha: object) -> None:
        message = _error(tmp_path, _set("models.resnet50.versions.1.sha256", sha))
        assert "field 'models.resnet50.versions.1.sha256': expected 64 lowercase hex" in message
        assert message.endswith(f"got {sha!r}")

    def test_active_version_not_among_versions(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.active", 2))
        assert message.endswith(
            "field 'models.resnet50.active': expected a version listed under versions [1], got 2"
        )

    def test_version_numbers_are_positive_integers(self, tmp_path: Path) -> None:
        def change(document: dict[str, Any]) -> None:
            versions = document["models"]["resnet50"]["versions"]
            versions["v2"] = versions[1]

        assert _error(tmp_path, change).endswith(
            "field 'models.resnet50.versions': expected version numbers that are positive "
            "integers, got 'v2'"
        )

    def test_fallback_must_be_a_cpu_model(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50-lite.serving", "gpu"))
        # resnet50-lite turned gpu now needs profiles; give it resnet50's to reach the check.
        assert "resnet50-lite.throughput_profiles" in message

        def change(document: dict[str, Any]) -> None:
            models = document["models"]
            models["resnet50-lite"]["serving"] = "gpu"
            models["resnet50-lite"]["throughput_profiles"] = models["resnet50"][
                "throughput_profiles"
            ]

        message = _error(tmp_path, change)
        assert message.endswith(
            "field 'models.resnet50.fallback': expected a cpu model of this catalog [], "
            "got 'resnet50-lite'"
        )

    def test_fallback_must_exist(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.fallback", "rules"))
        assert message.endswith(
            "field 'models.resnet50.fallback': expected a cpu model of this catalog "
            "['resnet50-lite'], got 'rules'"
        )

    def test_fallback_must_have_the_same_inputs(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50-lite.inputs.0.shape", [3, 112, 112]))
        assert message.endswith(
            "field 'models.resnet50.fallback': expected a model with the same inputs and "
            "outputs as resnet50, got 'resnet50-lite with inputs input FP32 [3, 112, 112] "
            "and outputs probabilities FP32 [1000]'"
        )

    def test_fallback_must_have_the_same_outputs(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50-lite.outputs.0.name", "scores"))
        assert "field 'models.resnet50.fallback'" in message
        assert "outputs scores FP32 [1000]" in message

    def test_preferred_batch_size_above_max_batch_size(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.triton.preferred_batch_sizes", [8, 64]))
        assert message.endswith(
            "field 'models.resnet50.triton.preferred_batch_sizes': expected batch sizes at "
            "most max_batch_size (32), got [8, 64]"
        )

    def test_preferred_batch_sizes_must_increase(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.triton.preferred_batch_sizes", [16, 8]))
        assert "expected a non-empty, increasing list of positive integers, got [16, 8]" in message

    def test_empty_profile(self, tmp_path: Path) -> None:
        message = _error(
            tmp_path, _set("models.resnet50.throughput_profiles.t4.batch_latency_ms", {})
        )
        assert message.endswith(
            "field 'models.resnet50.throughput_profiles.t4.batch_latency_ms': expected a "
            "non-empty mapping of batch size -> milliseconds per batch, got {}"
        )

    def test_gpu_model_without_profiles(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _delete("models.resnet50.throughput_profiles"))
        assert "field 'models.resnet50.throughput_profiles': expected at least one GPU class" in (
            message
        )

    @pytest.mark.parametrize(
        "points",
        [{1: 0.7, 8: 0.6}, {1: 0.7, 8: 0.7}, {8: 1.8, 1: 0.7}],
        ids=["faster", "flat", "unordered"],
    )
    def test_non_increasing_profile(self, tmp_path: Path, points: dict[int, float]) -> None:
        field = "models.resnet50.throughput_profiles.t4.batch_latency_ms"
        message = _error(tmp_path, _set(field, points))
        assert message.endswith(
            f"field '{field}': expected batch sizes in increasing order with increasing "
            f"latency, got {points!r}"
        )

    def test_profile_batch_above_max_batch_size(self, tmp_path: Path) -> None:
        field = "models.resnet50.throughput_profiles.t4.batch_latency_ms"
        message = _error(tmp_path, _set(field, {1: 0.7, 64: 9.0}))
        assert message.endswith("expected batch sizes from 1 to max_batch_size (32), got 64")

    def test_missing_source(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _delete("models.resnet50.throughput_profiles.a100.source"))
        assert "field 'models.resnet50.throughput_profiles.a100.source': expected a value" in (
            message
        )

    def test_blank_source(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.throughput_profiles.a100.source", " "))
        assert message.endswith(
            "field 'models.resnet50.throughput_profiles.a100.source': expected a non-empty "
            "citation: MLPerf round and system, or our measurement and how, got ' '"
        )

    def test_unknown_datatype(self, tmp_path: Path) -> None:
        message = _error(tmp_path, _set("models.resnet50.inputs.0.datatype", "FLOAT"))
        assert "field 'models.resnet50.inputs[0].datatype': expected one of [" in message

    def test_not_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "models.yaml"
        path.write_text("models: [unclosed\n", encoding="utf-8")
        with pytest.raises(ModelCatalogError, match=re.escape(f"{path}: field '(document)'")):
            load_model_catalog(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ModelCatalogError, match="expected a readable file"):
            load_model_catalog(tmp_path / "absent.yaml")


def test_shipped_catalog_checksums_are_real_hex() -> None:
    for model in load_model_catalog():
        for version in model.versions:
            assert len(bytes.fromhex(version.sha256)) == hashlib.sha256().digest_size

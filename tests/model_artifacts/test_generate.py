"""The generated models: the committed resnet50-lite is real, reproducible and catalogued."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from model_artifacts.catalog import load_model_catalog
from model_artifacts.generate import main, model_bytes
from model_artifacts.triton_config import render_config

REPOSITORY = Path(__file__).resolve().parents[2] / "model_artifacts" / "repository"
LITE_DIR = REPOSITORY / "resnet50-lite"
LITE_FILE = LITE_DIR / "1" / "model.onnx"


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def test_committed_lite_model_returns_1000_probabilities_summing_to_one() -> None:
    session = _session(LITE_FILE.read_bytes())
    images = np.random.default_rng(0).random((4, 3, 224, 224), dtype=np.float32)
    (probabilities,) = session.run(["probabilities"], {"input": images})
    assert probabilities.shape == (4, 1000)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # Different images give different answers: the head is not a constant.
    assert not np.allclose(probabilities[0], probabilities[1])


def test_session_io_matches_the_catalog() -> None:
    lite = load_model_catalog().get("resnet50-lite")
    session = _session(LITE_FILE.read_bytes())
    (model_input,) = session.get_inputs()
    (model_output,) = session.get_outputs()
    assert (model_input.name, model_input.shape[1:]) == (lite.inputs[0].name, [3, 224, 224])
    assert (model_output.name, model_output.shape[1:]) == (lite.outputs[0].name, [1000])


def test_generator_reproduces_the_committed_bytes_and_catalog_checksum() -> None:
    committed = LITE_FILE.read_bytes()
    assert model_bytes("resnet50-lite", 1) == committed
    recorded = load_model_catalog().get("resnet50-lite").version(1)
    assert (hashlib.sha256(committed).hexdigest(), len(committed)) == (
        recorded.sha256,
        recorded.size_bytes,
    )


def test_another_seed_gives_other_weights() -> None:
    assert model_bytes("resnet50-lite", 2) != model_bytes("resnet50-lite", 1)


def test_committed_config_is_the_rendering_of_the_catalog() -> None:
    lite = load_model_catalog().get("resnet50-lite")
    assert (LITE_DIR / "config.pbtxt").read_text(encoding="utf-8") == render_config(lite)
    assert sorted(p.relative_to(LITE_DIR).as_posix() for p in LITE_DIR.rglob("*")) == [
        "1",
        "1/model.onnx",
        "config.pbtxt",
    ]


def test_resnet50_generation_matches_the_catalog_checksum() -> None:
    """About 3 s: builds the 100 MB ResNet-50 v1.5 graph in memory, never on disk."""
    data = model_bytes("resnet50", 50)
    recorded = load_model_catalog().get("resnet50").version(1)
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (recorded.sha256, recorded.size_bytes)
    session = _session(data)
    (probabilities,) = session.run(None, {"input": np.zeros((1, 3, 224, 224), np.float32)})
    assert probabilities.shape == (1, 1000)


def test_cli_writes_a_triton_directory_and_verifies(tmp_path: Path) -> None:
    assert main(["resnet50-lite", "--seed", "1", "--out", str(tmp_path), "--verify"]) == 0
    assert (tmp_path / "resnet50-lite" / "1" / "model.onnx").read_bytes() == LITE_FILE.read_bytes()


def test_cli_verify_refuses_a_wrong_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["resnet50-lite", "--seed", "3", "--out", str(tmp_path), "--verify"]) == 1
    assert "but " in capsys.readouterr().err

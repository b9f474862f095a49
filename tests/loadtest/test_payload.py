"""The load test's request builder, checked with the gateway's own KServe v2 parser.

Proves that what ``loadtest/payload.py`` sends for each catalog model is a request the gateway
accepts (names, datatypes, shapes, batch, both encodings) and that the served path is read
back from real gateway responses; does not run Locust (not installed in the main venv) or
measure anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from gateway.config import TensorSpec
from gateway.kserve import HEADER_LENGTH, encode_response, parse_infer_request
from loadtest.payload import (
    PayloadError,
    binary_body,
    build_request,
    json_body,
    load_model,
    served_path,
)
from model_artifacts.catalog import load_model_catalog

LOADTEST = Path(__file__).resolve().parents[2] / "loadtest"
CATALOG = load_model_catalog()


def _gateway_specs(model: str) -> tuple[list[TensorSpec], int]:
    spec = next(m for m in CATALOG if m.name == model)
    return [
        TensorSpec(t.name, t.datatype, t.shape) for t in spec.inputs
    ], spec.triton.max_batch_size


@pytest.mark.parametrize("model", [m.name for m in CATALOG])
@pytest.mark.parametrize("encode", [json_body, binary_body])
def test_every_catalog_model_gets_a_request_the_gateway_accepts(model: str, encode: object) -> None:
    specs, max_batch = _gateway_specs(model)
    request = build_request(load_model(model), batch_size=4, request_id="lt-1")
    body, headers = encode(request)  # type: ignore[operator]
    parsed = parse_infer_request(body, headers.get(HEADER_LENGTH), specs, max_batch)
    assert parsed.id == "lt-1"
    assert parsed.batch_size == 4
    assert [(t.name, t.datatype, t.shape) for t in parsed.inputs] == [
        (s.name, s.datatype, (4, *s.shape)) for s in specs
    ]
    assert parsed.parameters == {"personalise": False}
    assert np.isfinite(parsed.inputs[0].array()).all()


def test_the_default_model_is_the_catalogs_first_gpu_model_with_its_input_signature() -> None:
    model = load_model()
    first_gpu = next(m for m in CATALOG if m.serving == "gpu")
    assert model.name == first_gpu.name
    assert model.infer_path == f"/v2/models/{first_gpu.name}/infer"
    request = build_request(model)
    (tensor,) = request["inputs"]
    assert tensor["name"] == "input"
    assert tensor["datatype"] == "FP32"
    assert tensor["shape"] == [1, 3, 224, 224]
    assert len(tensor["data"]) == 3 * 224 * 224


def test_personalised_requests_say_so() -> None:
    request = build_request(load_model(), personalise=True)
    assert request["parameters"] == {"personalise": True}


def test_unknown_models_and_bad_batches_are_refused() -> None:
    with pytest.raises(PayloadError, match=r"no model 'bert'; models: \["):
        load_model("bert")
    with pytest.raises(PayloadError, match="batch_size must be at least 1"):
        build_request(load_model(), batch_size=0)


@pytest.mark.parametrize("binary", [False, True])
def test_served_path_is_read_from_gateway_responses(binary: bool) -> None:
    header = {"model_name": "resnet50", "parameters": {"path": "cpu-fallback", "region": "x"}}
    probabilities = np.zeros((1, 1000), dtype=np.float32)
    body, headers = encode_response(header, [("probabilities", probabilities, binary)])
    assert (HEADER_LENGTH in headers) is binary
    assert served_path(body, headers) == "cpu-fallback"
    assert served_path(b"<html>bad gateway</html>", {}) == "unknown"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_load_test_imports_nothing_from_the_iac_code() -> None:
    iac = {"stacks", "components", "regions", "meshctl", "policies", "pulumi", "pulumi_aws"}
    assert not _imports(LOADTEST / "locustfile.py") & iac
    assert _imports(LOADTEST / "locustfile.py") >= {"locust", "payload"}
    # The builder needs only the standard library and PyYAML, so it imports without Locust.
    assert _imports(LOADTEST / "payload.py") <= {
        "__future__",
        "json",
        "math",
        "os",
        "struct",
        "collections",
        "dataclasses",
        "pathlib",
        "typing",
        "yaml",
    }


def test_locust_is_pinned_for_the_load_generator_only() -> None:
    pins = (LOADTEST / "requirements.txt").read_text().split()
    assert "locust==2.47.0" in pins
    main = (LOADTEST.parent / "requirements.txt").read_text().lower()
    assert "locust" not in main

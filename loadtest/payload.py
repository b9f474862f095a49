"""KServe v2 inference requests shaped from the model catalog, for the Locust load test.

Plain Python and PyYAML only: importable without Locust and without the repository's IaC
code, so the load generator can run on any machine that has the two files and the catalog.
The catalog (model_artifacts/models.yaml) gives each model's input tensors without the batch
dimension; a request prepends the batch size.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CATALOG_ENV = "LOADTEST_CATALOG"
DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "model_artifacts" / "models.yaml"
HEADER_LENGTH = "inference-header-content-length"
"""Triton's binary tensor extension: the JSON header's length, binary tensors after it."""

_STRUCT = {
    "BOOL": "?",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
"""KServe v2 datatypes sent, with their ``struct`` codes (little-endian, as the wire wants)."""
_FLOATS = frozenset({"FP16", "FP32", "FP64"})
# Few distinct short values keep a JSON body small (a 224x224 image is 150,528 numbers).
_FLOAT_CYCLE = (0.0, 0.25, 0.5, 0.75)


class PayloadError(ValueError):
    """The catalog cannot describe a request (unknown model, unsupported datatype)."""


@dataclass(frozen=True)
class TensorShape:
    name: str
    datatype: str
    shape: tuple[int, ...]
    """Without the batch dimension; -1 (any size) is sent as 1."""

    def dims(self, batch_size: int) -> list[int]:
        return [batch_size, *(1 if d == -1 else d for d in self.shape)]


@dataclass(frozen=True)
class ModelShape:
    name: str
    inputs: tuple[TensorShape, ...]
    outputs: tuple[str, ...]

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{self.name}/infer"


def catalog_path() -> Path:
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


def load_model(name: str | None = None, path: Path | None = None) -> ModelShape:
    """``name`` from the catalog; default: its first GPU-served model."""
    source = path or catalog_path()
    models = (yaml.safe_load(source.read_text(encoding="utf-8")) or {}).get("models") or {}
    if name is None:
        name = next((n for n, m in models.items() if m.get("serving") == "gpu"), None)
    if name not in models:
        raise PayloadError(f"{source}: no model {name!r}; models: {sorted(models)}")
    body = models[name]
    return ModelShape(
        name=str(name),
        inputs=tuple(_tensor(t, source) for t in body.get("inputs") or ()),
        outputs=tuple(str(t["name"]) for t in body.get("outputs") or ()),
    )


def _tensor(raw: Mapping[str, Any], source: Path) -> TensorShape:
    datatype = str(raw["datatype"])
    if datatype not in _STRUCT:
        raise PayloadError(f"{source}: input {raw['name']!r} has datatype {datatype}, not sent")
    return TensorShape(str(raw["name"]), datatype, tuple(int(d) for d in raw["shape"]))


def build_request(
    model: ModelShape,
    batch_size: int = 1,
    *,
    request_id: str | None = None,
    personalise: bool = False,
) -> dict[str, Any]:
    """A KServe v2 JSON request: every input with row-major ``data`` for its shape.

    ``personalise`` asks the gateway for the signed-in user's features; off for anonymous
    traffic, which any region may serve."""
    if batch_size < 1:
        raise PayloadError(f"batch_size must be at least 1, got {batch_size}")
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": tensor.dims(batch_size),
                "data": _values(tensor.datatype, math.prod(tensor.dims(batch_size))),
            }
            for tensor in model.inputs
        ],
        "parameters": {"personalise": personalise},
    }
    if request_id is not None:
        request["id"] = request_id
    return request


def _values(datatype: str, count: int) -> list[Any]:
    if datatype == "BOOL":
        return [i % 2 == 1 for i in range(count)]
    if datatype in _FLOATS:
        return [_FLOAT_CYCLE[i % len(_FLOAT_CYCLE)] for i in range(count)]
    return [i % 100 for i in range(count)]  # fits every integer type, signed or not


def json_body(request: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The request as one JSON document."""
    body = json.dumps(request, separators=(",", ":")).encode()
    return body, {"content-type": "application/json"}


def binary_body(request: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The same request with each input as raw little-endian bytes after the JSON header
    (Triton's binary tensor extension): neither side encodes or parses numbers, so at high
    rates the load generator measures the mesh rather than its own JSON encoder."""
    header_inputs, blobs = [], []
    for tensor in request["inputs"]:
        data = tensor["data"]
        blob = struct.pack(f"<{len(data)}{_STRUCT[tensor['datatype']]}", *data)
        blobs.append(blob)
        described = {k: v for k, v in tensor.items() if k != "data"}
        header_inputs.append({**described, "parameters": {"binary_data_size": len(blob)}})
    header = json.dumps({**request, "inputs": header_inputs}, separators=(",", ":")).encode()
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
    return header + b"".join(blobs), headers


def served_path(body: bytes, headers: Mapping[str, str]) -> str:
    """Which path answered (``gpu``, ``cpu-fallback``, ``rule-based``), from the response's
    ``parameters.path``; ``unknown`` when the gateway did not say."""
    length = next((v for k, v in headers.items() if k.lower() == HEADER_LENGTH.lower()), None)
    document = body[: int(length)] if length else body
    try:
        parameters = json.loads(document).get("parameters") or {}
    except (ValueError, AttributeError):
        return "unknown"
    return str(parameters.get("path") or "unknown")

"""KServe v2 (Open Inference Protocol) codec, with Triton's binary tensor data extension.

A [1,3,224,224] FP32 image is 602 KB as raw bytes and ~1.5 MB as JSON numbers. With the
binary extension (``Inference-Header-Content-Length`` + ``binary_data_size``) the gateway
never turns the tensor into Python objects: it checks the header, slices the bytes and
forwards them. JSON ``data`` is still accepted, and converted once with numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.config import TensorSpec

HEADER_LENGTH = "inference-header-content-length"
BINARY_CONTENT_TYPE = "application/octet-stream"
JSON_CONTENT_TYPE = "application/json"

NUMPY_TYPES: Mapping[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
KSERVE_TYPES = {dtype: name for name, dtype in NUMPY_TYPES.items()}


class ProtocolError(ValueError):
    """The request does not follow the protocol or the model's signature (answered with 400)."""


@dataclass(frozen=True)
class Tensor:
    """A tensor kept as little-endian row-major bytes, the wire format of both sides."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    raw: bytes | memoryview

    def array(self) -> np.ndarray:
        """A zero-copy numpy view of the bytes."""
        return np.frombuffer(self.raw, dtype=NUMPY_TYPES[self.datatype]).reshape(self.shape)


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request."""

    id: str | None
    inputs: tuple[Tensor, ...]
    parameters: Mapping[str, Any]
    requested_outputs: tuple[str, ...] | None
    binary_outputs: frozenset[str] = field(default_factory=frozenset)
    binary_all: bool = False

    @property
    def batch_size(self) -> int:
        """The leading dimension shared by every input."""
        return self.inputs[0].shape[0]

    def wants_binary(self, name: str) -> bool:
        """Whether the client asked for ``name`` as binary data."""
        return self.binary_all or name in self.binary_outputs


def split_body(
    body: bytes | bytearray, header_length: str | None
) -> tuple[bytes | memoryview, memoryview]:
    """Splits a body into its JSON header and binary tail (empty without the extension)."""
    view = memoryview(body)
    if header_length is None:
        return view, view[len(view) :]
    try:
        length = int(header_length)
    except ValueError:
        raise ProtocolError(
            f"Inference-Header-Content-Length must be an integer, got {header_length!r}"
        ) from None
    if not 0 < length <= len(view):
        raise ProtocolError(
            f"Inference-Header-Content-Length {length} does not fit a body of {len(view)} bytes"
        )
    return view[:length], view[length:]


def load_header(header: bytes | memoryview) -> dict[str, Any]:
    """Parses the JSON header, insisting on an object."""
    try:
        document = json.loads(bytes(header))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ProtocolError("request body must be a JSON object")
    return document


def parse_infer_request(
    body: bytes | bytearray,
    header_length: str | None,
    specs: Sequence[TensorSpec],
    max_batch_size: int,
) -> InferRequest:
    """Parses and validates a request against the model's input signature."""
    header, binary = split_body(body, header_length)
    document = load_header(header)
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    by_name = {spec.name: spec for spec in specs}
    inputs: list[Tensor] = []
    offset = 0
    for index, raw in enumerate(raw_inputs):
        tensor, offset = _parse_input(raw, index, by_name, binary, offset, max_batch_size)
        inputs.append(tensor)
    if offset != len(binary):
        raise ProtocolError(f"{len(binary) - offset} bytes of binary data belong to no input")
    _check_complete(inputs, specs)
    return InferRequest(
        id=_optional_str(document.get("id"), "id"),
        inputs=tuple(inputs),
        parameters=_parameters(document.get("parameters"), "parameters"),
        **_requested_outputs(document),
    )


def _parse_input(
    raw: Any,
    index: int,
    specs: Mapping[str, TensorSpec],
    binary: memoryview,
    offset: int,
    max_batch_size: int,
) -> tuple[Tensor, int]:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where} must be an object")
    name = raw.get("name")
    spec = specs.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ProtocolError(f"{where}.name {name!r} is not an input of this model {sorted(specs)}")
    if raw.get("datatype") != spec.datatype:
        raise ProtocolError(
            f"input {name!r}: datatype must be {spec.datatype}, got {raw.get('datatype')!r}"
        )
    shape = _checked_shape(raw.get("shape"), spec, max_batch_size)
    dtype = NUMPY_TYPES[spec.datatype]
    expected = math.prod(shape) * dtype.itemsize
    size = _parameters(raw.get("parameters"), f"{where}.parameters").get("binary_data_size")
    if size is not None:
        if size != expected:
            raise ProtocolError(
                f"input {name!r}: binary_data_size {size} != {expected} bytes "
                f"for shape {list(shape)}"
            )
        if offset + expected > len(binary):
            raise ProtocolError(f"input {name!r}: the body ends before its {expected} bytes")
        end = offset + expected
        return Tensor(spec.name, spec.datatype, shape, binary[offset:end]), end
    data = _json_data(raw.get("data"), spec.name, shape, dtype)
    return Tensor(spec.name, spec.datatype, shape, data), offset


def _checked_shape(raw: Any, spec: TensorSpec, max_batch_size: int) -> tuple[int, ...]:
    wanted = ["batch", *spec.shape]
    if not isinstance(raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in raw
    ):
        raise ProtocolError(f"input {spec.name!r}: shape must be a list of integers, got {raw!r}")
    fits = len(raw) == len(wanted) and all(
        want in (-1, got) for want, got in zip(spec.shape, raw[1:], strict=True)
    )
    if not fits or any(d <= 0 for d in raw):
        raise ProtocolError(f"input {spec.name!r}: shape must be {wanted}, got {raw}")
    if raw[0] > max_batch_size:
        raise ProtocolError(
            f"input {spec.name!r}: batch {raw[0]} exceeds max_batch_size {max_batch_size}"
        )
    return tuple(raw)


def _json_data(data: Any, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> bytes:
    if not isinstance(data, list):
        raise ProtocolError(f"input {name!r}: needs 'data' (a list) or binary_data_size")
    try:
        array = np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"input {name!r}: data is not a list of numbers ({exc})") from None
    if array.size != math.prod(shape):
        raise ProtocolError(f"input {name!r}: {array.size} values do not fill shape {list(shape)}")
    return array.tobytes()


def _check_complete(inputs: Sequence[Tensor], specs: Sequence[TensorSpec]) -> None:
    names = [tensor.name for tensor in inputs]
    missing = sorted({spec.name for spec in specs} - set(names))
    if missing or len(set(names)) != len(names):
        raise ProtocolError(f"inputs must name each of {[s.name for s in specs]} once, got {names}")
    if len({tensor.shape[0] for tensor in inputs}) != 1:
        raise ProtocolError("all inputs must share the same batch size")


def _parameters(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProtocolError(f"{where} must be an object")
    return raw


def _optional_str(raw: Any, where: str) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ProtocolError(f"{where} must be a string")
    return raw


def _requested_outputs(document: Mapping[str, Any]) -> dict[str, Any]:
    raw = document.get("outputs")
    binary_all = bool(
        _parameters(document.get("parameters"), "parameters").get("binary_data_output")
    )
    if raw is None:
        return {"requested_outputs": None, "binary_all": binary_all}
    if not isinstance(raw, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in raw
    ):
        raise ProtocolError("'outputs' must be a list of objects with a 'name'")
    binary = frozenset(
        o["name"]
        for o in raw
        if _parameters(o.get("parameters"), "outputs[].parameters").get("binary_data")
    )
    return {
        "requested_outputs": tuple(o["name"] for o in raw),
        "binary_outputs": binary,
        "binary_all": binary_all,
    }


Buffer = bytes | memoryview


def encode_request(
    inputs: Sequence[Tensor], binary_outputs: Sequence[str], request_id: str | None = None
) -> tuple[list[Buffer], dict[str, str]]:
    """An outbound request: binary inputs, binary outputs asked for.

    Returns the body as parts (the JSON header, then each tensor's bytes as received) so
    the image is written to the socket without another 600 KB copy.
    """
    header: dict[str, Any] = {
        "inputs": [
            {
                "name": t.name,
                "datatype": t.datatype,
                "shape": list(t.shape),
                "parameters": {"binary_data_size": len(t.raw)},
            }
            for t in inputs
        ],
        "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in binary_outputs],
    }
    if request_id is not None:
        header["id"] = request_id
    encoded = json.dumps(header, separators=(",", ":")).encode()
    parts: list[Buffer] = [encoded, *(t.raw for t in inputs)]
    return parts, {HEADER_LENGTH: str(len(encoded)), "content-type": BINARY_CONTENT_TYPE}


def decode_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """A backend's response as arrays by output name (zero-copy for binary outputs)."""
    header, binary = split_body(body, header_length)
    document = load_header(header)
    outputs = document.get("outputs")
    if not isinstance(outputs, list):
        raise ProtocolError("response has no 'outputs' list")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for raw in outputs:
        arrays[raw["name"]], offset = _decode_output(raw, binary, offset)
    return arrays


def _decode_output(
    raw: Mapping[str, Any], binary: memoryview, offset: int
) -> tuple[np.ndarray, int]:
    try:
        dtype = NUMPY_TYPES[raw["datatype"]]
        shape = tuple(int(d) for d in raw["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed output in response: {exc}") from None
    size = _parameters(raw.get("parameters"), "outputs[].parameters").get("binary_data_size")
    if size is None:
        return np.asarray(raw.get("data"), dtype=dtype).reshape(shape), offset
    if size != math.prod(shape) * dtype.itemsize or offset + size > len(binary):
        raise ProtocolError(f"output {raw['name']!r}: binary_data_size {size} does not fit")
    return np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape), offset + size


def encode_response(
    header: Mapping[str, Any], outputs: Sequence[tuple[str, np.ndarray, bool]]
) -> tuple[bytes, dict[str, str]]:
    """A response document; each output is ``(name, array, as_binary)``."""
    encoded_outputs = []
    blobs = []
    for name, array, as_binary in outputs:
        entry: dict[str, Any] = {
            "name": name,
            "datatype": KSERVE_TYPES[array.dtype.newbyteorder("<")],
            "shape": list(array.shape),
        }
        if as_binary:
            blob = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.reshape(-1).tolist()
        encoded_outputs.append(entry)
    document = json.dumps({**header, "outputs": encoded_outputs}, separators=(",", ":")).encode()
    if not blobs:
        return document, {"content-type": JSON_CONTENT_TYPE}
    body = b"".join([document, *blobs])
    return body, {HEADER_LENGTH: str(len(document)), "content-type": BINARY_CONTENT_TYPE}


def error_body(message: str) -> bytes:
    """The protocol's error document."""
    return json.dumps({"error": message}).encode()

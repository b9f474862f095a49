"""The model catalog: ``model_artifacts/models.yaml``.

What the mesh serves: per model its format, inputs and outputs, Triton settings, the
published versions with their checksums, the active version and the throughput profile
per GPU class that the capacity planner sizes the fleet with.

Loading validates the whole file and fails with a message that names the file, the dotted
field and what was expected, before any resource is declared (the same contract as
``regions/catalog.py``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from regions.catalog import CatalogError
from regions.instance_types import GPU_CLASSES

CATALOG_FILE = Path(__file__).resolve().parent / "models.yaml"
CATALOG_FILE_ENV = "INFERENCE_MESH_MODEL_CATALOG"
"""Environment variable that points the stacks and meshctl at another model catalog."""

FORMATS: dict[str, str] = {
    "onnx": "model.onnx",
    "tensorrt_plan": "model.plan",
    "torchscript": "model.pt",
    "python": "model.py",
}
"""Supported formats and the file name Triton's backend loads from a version directory."""

SERVING: tuple[str, ...] = ("gpu", "cpu")
DATATYPES: frozenset[str] = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    | {"FP16", "FP32", "FP64", "BF16", "BYTES"}
)
"""KServe v2 tensor datatypes."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_MODEL_FIELDS: dict[str, str] = {
    "format": f"one of {sorted(FORMATS)}",
    "serving": f"one of {list(SERVING)}",
    "active": "a version number listed under versions",
    "fallback": "the name of a cpu model in this catalog with the same inputs and outputs",
    "inputs": "a non-empty list of tensors {name, datatype, shape}",
    "outputs": "a non-empty list of tensors {name, datatype, shape}",
    "triton": "a mapping {max_batch_size, preferred_batch_sizes, max_queue_delay_us, "
    "instance_count}",
    "versions": "a non-empty mapping of version number -> {sha256, size_bytes, produced_by}",
    "throughput_profiles": f"a mapping of GPU class ({sorted(GPU_CLASSES)}) -> "
    "{source, batch_latency_ms}",
}
_OPTIONAL_MODEL_FIELDS = frozenset({"fallback", "throughput_profiles"})
_TENSOR_FIELDS = {
    "name": "a tensor name",
    "datatype": f"a KServe v2 datatype, one of {sorted(DATATYPES)}",
    "shape": "a non-empty list of positive integers or -1 (without the batch dimension)",
}
_TRITON_FIELDS = {
    "max_batch_size": "a positive integer",
    "preferred_batch_sizes": "a non-empty, increasing list of positive integers",
    "max_queue_delay_us": "a non-negative integer (microseconds)",
    "instance_count": "a positive integer",
}
_VERSION_FIELDS = {
    "sha256": "64 lowercase hex digits (the sha256 of the model file)",
    "size_bytes": "a positive integer",
    "produced_by": "a non-empty description of how the file is produced (the exact command)",
}
_PROFILE_FIELDS = {
    "source": "a non-empty citation: MLPerf round and system, or our measurement and how",
    "batch_latency_ms": "a non-empty mapping of batch size -> milliseconds per batch",
}


class ModelCatalogError(CatalogError):
    """The model catalog is invalid; the message names the file and the dotted field."""

    def __init__(self, file: str | Path, field: str, expected: str, got: object = None):
        super().__init__(file, field, expected, got)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]
    """Without the batch dimension; -1 is a variable dimension."""


@dataclass(frozen=True)
class TritonSettings:
    max_batch_size: int
    preferred_batch_sizes: tuple[int, ...]
    max_queue_delay_us: int
    instance_count: int


@dataclass(frozen=True)
class ModelVersion:
    version: int
    sha256: str
    size_bytes: int
    produced_by: str


@dataclass(frozen=True)
class ThroughputProfile:
    gpu_class: str
    source: str
    points: tuple[tuple[int, float], ...]
    """(batch size, milliseconds for one batch on one GPU), batch sizes increasing."""

    @property
    def batch_latency_ms(self) -> dict[int, float]:
        return dict(self.points)

    def throughput(self, batch_size: int) -> float:
        """Samples per second at ``batch_size`` (one of the profiled sizes)."""
        return batch_size * 1000.0 / self.batch_latency_ms[batch_size]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    format: str
    serving: str
    active: int
    fallback: str | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    triton: TritonSettings
    versions: tuple[ModelVersion, ...]
    throughput_profiles: tuple[ThroughputProfile, ...]
    source_file: str = ""

    @property
    def model_file(self) -> str:
        """The file name inside a Triton version directory (``model.onnx`` for onnx)."""
        return FORMATS[self.format]

    def version(self, number: int) -> ModelVersion:
        for version in self.versions:
            if version.version == number:
                return version
        raise KeyError(
            f"model {self.name!r} has no version {number} in {self.source_file}: "
            f"expected one of {[v.version for v in self.versions]}"
        )

    def profile(self, gpu_class: str) -> ThroughputProfile:
        for profile in self.throughput_profiles:
            if profile.gpu_class == gpu_class:
                return profile
        raise KeyError(
            f"model {self.name!r} has no throughput profile for {gpu_class!r}: "
            f"expected one of {[p.gpu_class for p in self.throughput_profiles]}"
        )


@dataclass(frozen=True)
class ModelCatalog:
    models: tuple[ModelSpec, ...]
    path: str = ""

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def get(self, name: str) -> ModelSpec:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(
            f"model {name!r} is not in the catalog {self.path or CATALOG_FILE}: "
            f"expected one of {list(self.names)}"
        )


def default_catalog_file() -> Path:
    return Path(os.environ.get(CATALOG_FILE_ENV) or CATALOG_FILE)


def load_model_catalog(path: str | Path | None = None) -> ModelCatalog:
    """Load and validate ``path`` (default: ``model_artifacts/models.yaml``)."""
    file = Path(path) if path is not None else default_catalog_file()
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelCatalogError(file, "(document)", "a readable file", exc.strerror) from exc
    except yaml.YAMLError as exc:
        raise ModelCatalogError(file, "(document)", "valid YAML", str(exc).splitlines()[0]) from exc
    return parse_model_catalog(document, file)


def parse_model_catalog(document: Any, path: str | Path) -> ModelCatalog:
    """Validate a whole catalog document; ``path`` names it in errors."""
    top = _mapping(document, "(document)", "a mapping with the single key 'models'", path)
    _check_fields(top, {"models": "a mapping of model name -> model"}, frozenset(), "", path)
    models = _mapping(top["models"], "models", "a non-empty mapping of model name -> model", path)
    if not models:
        raise ModelCatalogError(path, "models", "at least one model", models)
    specs = [parse_model(name, body, path) for name, body in models.items()]
    by_name = {s.name: s for s in specs}
    for spec in specs:
        _check_fallback(spec, by_name, path)
    return ModelCatalog(tuple(sorted(specs, key=lambda s: s.name)), str(path))


def parse_model(name: Any, body: Any, path: str | Path) -> ModelSpec:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelCatalogError(
            path, "models", "model names of lowercase letters, digits and '-'", name
        )
    where = f"models.{name}"
    body = _mapping(body, where, "a mapping of model fields", path)
    _check_fields(body, _MODEL_FIELDS, _OPTIONAL_MODEL_FIELDS, where, path)
    serving = _choice(body["serving"], SERVING, f"{where}.serving", path)
    triton = _triton(body["triton"], f"{where}.triton", path)
    versions = _versions(body["versions"], f"{where}.versions", path)
    active = body["active"]
    if active not in {v.version for v in versions} or isinstance(active, bool):
        listed = sorted(v.version for v in versions)
        raise ModelCatalogError(
            path, f"{where}.active", f"a version listed under versions {listed}", active
        )
    profiles = _profiles(body.get("throughput_profiles"), triton, serving, where, path)
    fallback = body.get("fallback")
    if fallback is not None and not isinstance(fallback, str):
        raise ModelCatalogError(path, f"{where}.fallback", _MODEL_FIELDS["fallback"], fallback)
    return ModelSpec(
        name=name,
        format=_choice(body["format"], tuple(sorted(FORMATS)), f"{where}.format", path),
        serving=serving,
        active=int(active),
        fallback=fallback,
        inputs=_tensors(body["inputs"], f"{where}.inputs", path),
        outputs=_tensors(body["outputs"], f"{where}.outputs", path),
        triton=triton,
        versions=versions,
        throughput_profiles=profiles,
        source_file=str(path),
    )


def _check_fallback(spec: ModelSpec, by_name: Mapping[str, ModelSpec], path: str | Path) -> None:
    if spec.fallback is None:
        return
    field = f"models.{spec.name}.fallback"
    target = by_name.get(spec.fallback)
    if target is None or target.serving != "cpu" or target.name == spec.name:
        cpu_models = sorted(n for n, m in by_name.items() if m.serving == "cpu")
        raise ModelCatalogError(
            path, field, f"a cpu model of this catalog {cpu_models}", spec.fallback
        )
    if (target.inputs, target.outputs) != (spec.inputs, spec.outputs):
        raise ModelCatalogError(
            path,
            field,
            f"a model with the same inputs and outputs as {spec.name}",
            f"{target.name} with inputs {_describe(target.inputs)} "
            f"and outputs {_describe(target.outputs)}",
        )


def _describe(tensors: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{t.name} {t.datatype} {list(t.shape)}" for t in tensors)


def _tensors(value: Any, where: str, path: str | Path) -> tuple[TensorSpec, ...]:
    if not isinstance(value, list) or not value:
        raise ModelCatalogError(
            path, where, "a non-empty list of tensors {name, datatype, shape}", value
        )
    tensors = []
    for index, raw in enumerate(value):
        field = f"{where}[{index}]"
        item = _mapping(raw, field, "a tensor {name, datatype, shape}", path)
        _check_fields(item, _TENSOR_FIELDS, frozenset(), field, path)
        name = item["name"]
        if not isinstance(name, str) or not name:
            raise ModelCatalogError(path, f"{field}.name", _TENSOR_FIELDS["name"], name)
        shape = item["shape"]
        if (
            not isinstance(shape, list)
            or not shape
            or not all(_is_int(d) and (d > 0 or d == -1) for d in shape)
        ):
            raise ModelCatalogError(path, f"{field}.shape", _TENSOR_FIELDS["shape"], shape)
        datatype = _choice(item["datatype"], tuple(sorted(DATATYPES)), f"{field}.datatype", path)
        tensors.append(TensorSpec(name, datatype, tuple(shape)))
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise ModelCatalogError(path, where, "tensor names listed once", names)
    return tuple(tensors)


def _triton(value: Any, where: str, path: str | Path) -> TritonSettings:
    body = _mapping(value, where, _MODEL_FIELDS["triton"], path)
    _check_fields(body, _TRITON_FIELDS, frozenset(), where, path)
    max_batch = _positive_int(body["max_batch_size"], f"{where}.max_batch_size", path)
    preferred = body["preferred_batch_sizes"]
    if (
        not isinstance(preferred, list)
        or not preferred
        or not all(_is_int(b) and b > 0 for b in preferred)
        or any(a >= b for a, b in itertools.pairwise(preferred))
    ):
        raise ModelCatalogError(
            path,
            f"{where}.preferred_batch_sizes",
            _TRITON_FIELDS["preferred_batch_sizes"],
            preferred,
        )
    if preferred[-1] > max_batch:
        raise ModelCatalogError(
            path,
            f"{where}.preferred_batch_sizes",
            f"batch sizes at most max_batch_size ({max_batch})",
            preferred,
        )
    delay = body["max_queue_delay_us"]
    if not _is_int(delay) or delay < 0:
        raise ModelCatalogError(
            path, f"{where}.max_queue_delay_us", _TRITON_FIELDS["max_queue_delay_us"], delay
        )
    return TritonSettings(
        max_batch_size=max_batch,
        preferred_batch_sizes=tuple(preferred),
        max_queue_delay_us=delay,
        instance_count=_positive_int(body["instance_count"], f"{where}.instance_count", path),
    )


def _versions(value: Any, where: str, path: str | Path) -> tuple[ModelVersion, ...]:
    body = _mapping(value, where, _MODEL_FIELDS["versions"], path)
    if not body:
        raise ModelCatalogError(path, where, _MODEL_FIELDS["versions"], body)
    versions = []
    for number, raw in body.items():
        # Triton loads numbered version directories only, so versions are positive integers.
        if not _is_int(number) or number < 1:
            raise ModelCatalogError(
                path, where, "version numbers that are positive integers", number
            )
        field = f"{where}.{number}"
        item = _mapping(raw, field, "a mapping {sha256, size_bytes, produced_by}", path)
        _check_fields(item, _VERSION_FIELDS, frozenset(), field, path)
        sha = item["sha256"]
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise ModelCatalogError(path, f"{field}.sha256", _VERSION_FIELDS["sha256"], sha)
        produced_by = item["produced_by"]
        if not isinstance(produced_by, str) or not produced_by.strip():
            raise ModelCatalogError(
                path, f"{field}.produced_by", _VERSION_FIELDS["produced_by"], produced_by
            )
        size = _positive_int(item["size_bytes"], f"{field}.size_bytes", path)
        versions.append(ModelVersion(number, sha, size, produced_by.strip()))
    return tuple(sorted(versions, key=lambda v: v.version))


def _profiles(
    value: Any, triton: TritonSettings, serving: str, model: str, path: str | Path
) -> tuple[ThroughputProfile, ...]:
    where = f"{model}.throughput_profiles"
    if value is None:
        value = {}
    body = _mapping(value, where, _MODEL_FIELDS["throughput_profiles"], path)
    if serving == "gpu" and not body:
        raise ModelCatalogError(
            path,
            where,
            "at least one GPU class profile for a gpu model (the planner sizes by it)",
            body,
        )
    if serving == "cpu" and body:
        raise ModelCatalogError(path, where, "no GPU profiles for a cpu model", sorted(body))
    profiles = []
    for gpu_class, item in body.items():
        if gpu_class not in GPU_CLASSES:
            raise ModelCatalogError(
                path, where, f"GPU classes from {sorted(GPU_CLASSES)}", gpu_class
            )
        profiles.append(_profile(gpu_class, item, triton, f"{where}.{gpu_class}", path))
    return tuple(sorted(profiles, key=lambda p: p.gpu_class))


def _profile(
    gpu_class: str, value: Any, triton: TritonSettings, where: str, path: str | Path
) -> ThroughputProfile:
    body = _mapping(value, where, "a mapping {source, batch_latency_ms}", path)
    _check_fields(body, _PROFILE_FIELDS, frozenset(), where, path)
    source = body["source"]
    if not isinstance(source, str) or not source.strip():
        raise ModelCatalogError(path, f"{where}.source", _PROFILE_FIELDS["source"], source)
    field = f"{where}.batch_latency_ms"
    points = _mapping(body["batch_latency_ms"], field, _PROFILE_FIELDS["batch_latency_ms"], path)
    if not points:
        raise ModelCatalogError(path, field, _PROFILE_FIELDS["batch_latency_ms"], points)
    for batch, latency in points.items():
        if not _is_int(batch) or not 1 <= batch <= triton.max_batch_size:
            raise ModelCatalogError(
                path,
                field,
                f"batch sizes from 1 to max_batch_size ({triton.max_batch_size})",
                batch,
            )
        if isinstance(latency, bool) or not isinstance(latency, int | float) or latency <= 0:
            raise ModelCatalogError(
                path, f"{field}.{batch}", "a positive number of milliseconds", latency
            )
    pairs = sorted((int(b), float(ms)) for b, ms in points.items())
    # A bigger batch never finishes sooner; a profile that says so is a typo.
    if list(points) != [b for b, _ in pairs] or any(
        a[1] >= b[1] for a, b in itertools.pairwise(pairs)
    ):
        raise ModelCatalogError(
            path, field, "batch sizes in increasing order with increasing latency", dict(points)
        )
    return ThroughputProfile(gpu_class, source.strip(), tuple(pairs))


def _check_fields(
    body: Mapping[Any, Any],
    allowed: Mapping[str, str],
    optional: frozenset[str],
    where: str,
    path: str | Path,
) -> None:
    prefix = f"{where}." if where else ""
    unknown = sorted(str(k) for k in set(body) - set(allowed))
    if unknown:
        raise ModelCatalogError(
            path, f"{prefix}{unknown[0]}", f"no such field; allowed fields are {sorted(allowed)}"
        )
    missing = [f for f in allowed if f not in body and f not in optional]
    if missing:
        raise ModelCatalogError(
            path, f"{prefix}{missing[0]}", f"a value ({allowed[missing[0]]}); the field is missing"
        )


def _mapping(value: Any, where: str, expected: str, path: str | Path) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ModelCatalogError(path, where, expected, value)
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str, path: str | Path) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ModelCatalogError(path, where, f"one of {list(allowed)}", value)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any, where: str, path: str | Path) -> int:
    if not _is_int(value) or value < 1:
        raise ModelCatalogError(path, where, "a positive integer", value)
    return int(value)

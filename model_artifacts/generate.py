"""Generate the catalog's ONNX models deterministically, as Triton model directories.

    python -m model_artifacts.generate resnet50-lite --seed 1 --out model_artifacts/repository
    python -m model_artifacts.generate resnet50 --seed 50 --out /tmp/models --verify

writes ``OUT/<name>/config.pbtxt`` (rendered from models.yaml) and
``OUT/<name>/<version>/model.onnx``. Weights are random numbers from a seeded numpy
generator and serialization is deterministic, so the same seed gives the same bytes and the
sha256 recorded in models.yaml can be checked by anyone. The weights are not trained: the
models exercise the real graph, file sizes and serving path, not accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model_artifacts.catalog import ModelCatalog, ModelSpec, load_model_catalog
from model_artifacts.triton_config import render_config

OPSET = 17
IR_VERSION = 8
"""Pinned, so a newer onnx package does not change the bytes (or the sha256)."""
PRODUCER = "inference-mesh model_artifacts.generate"
NUM_CLASSES = 1000
IMAGE_SHAPE = (3, 224, 224)
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
"""ResNet-50: bottleneck width and block count per stage (He et al. 2015, table 1)."""


class _Graph:
    """Collects nodes and seeded initializers; names are stable so the bytes are too."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: tuple[int, ...], fan_in: int) -> str:
        # He-uniform keeps activations in range through 50 layers of untrained weights.
        bound = np.float32(np.sqrt(6.0 / fan_in))
        values = (self.rng.random(shape, dtype=np.float32) * 2 - 1) * bound
        return self.constant(name, values)

    def constant(self, name: str, values: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def model(self, name: str, output: str) -> onnx.ModelProto:
        batch: list[str | int | None] = ["batch", *IMAGE_SHAPE]
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, batch)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", NUM_CLASSES])],
            self.initializers,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            producer_version="1",
            ir_version=IR_VERSION,
        )
        onnx.checker.check_model(model)
        return model


def _conv_bn(g: _Graph, x: str, name: str, c_in: int, c_out: int, kernel: int, stride: int) -> str:
    w = g.weight(f"{name}.weight", (c_out, c_in, kernel, kernel), c_in * kernel * kernel)
    pad = kernel // 2
    y = g.node("Conv", [x, w], f"{name}.conv", strides=[stride] * 2, pads=[pad] * 4)
    gamma = g.constant(f"{name}.bn.gamma", g.rng.uniform(0.2, 0.5, c_out))
    beta = g.constant(f"{name}.bn.beta", np.zeros(c_out))
    mean = g.constant(f"{name}.bn.mean", np.zeros(c_out))
    var = g.constant(f"{name}.bn.var", np.ones(c_out))
    return g.node("BatchNormalization", [y, gamma, beta, mean, var], f"{name}.bn")


def _bottleneck(g: _Graph, x: str, name: str, c_in: int, width: int, stride: int) -> str:
    # v1.5: the stride sits on the 3x3 convolution, not the first 1x1 (MLPerf's ResNet-50).
    y = g.node("Relu", [_conv_bn(g, x, f"{name}.a", c_in, width, 1, 1)], f"{name}.a.relu")
    y = g.node("Relu", [_conv_bn(g, y, f"{name}.b", width, width, 3, stride)], f"{name}.b.relu")
    y = _conv_bn(g, y, f"{name}.c", width, width * 4, 1, 1)
    shortcut = x
    if stride != 1 or c_in != width * 4:
        shortcut = _conv_bn(g, x, f"{name}.down", c_in, width * 4, 1, stride)
    return g.node("Relu", [g.node("Add", [y, shortcut], f"{name}.add")], f"{name}.out")


def _classifier(g: _Graph, x: str, features: int) -> str:
    pooled = g.node("Flatten", [g.node("GlobalAveragePool", [x], "pool")], "flatten")
    w = g.weight("fc.weight", (NUM_CLASSES, features), features)
    b = g.constant("fc.bias", np.zeros(NUM_CLASSES))
    logits = g.node("Gemm", [pooled, w, b], "fc", transB=1)
    return g.node("Softmax", [logits], "probabilities", axis=1)


def resnet50(seed: int) -> onnx.ModelProto:
    """ResNet-50 v1.5, 25.6 M parameters, input ``input`` [N,3,224,224]."""
    g = _Graph(seed)
    x = g.node("Relu", [_conv_bn(g, "input", "stem", 3, 64, 7, 2)], "stem.relu")
    x = g.node("MaxPool", [x], "stem.pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    c_in = 64
    for stage, (width, blocks) in enumerate(RESNET50_STAGES, start=1):
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _bottleneck(g, x, f"layer{stage}.{block}", c_in, width, stride)
            c_in = width * 4
    return g.model("resnet50", _classifier(g, x, c_in))


def resnet50_lite(seed: int) -> onnx.ModelProto:
    """The CPU fallback: same input and output as resnet50, a linear head on mean colour."""
    g = _Graph(seed)
    return g.model("resnet50-lite", _classifier(g, "input", IMAGE_SHAPE[0]))


BUILDERS: dict[str, Callable[[int], onnx.ModelProto]] = {
    "resnet50": resnet50,
    "resnet50-lite": resnet50_lite,
}


def model_bytes(name: str, seed: int) -> bytes:
    return BUILDERS[name](seed).SerializeToString(deterministic=True)


def write_model_directory(model: ModelSpec, seed: int, out: Path, version: int) -> Path:
    """Writes ``out/<name>/config.pbtxt`` and ``out/<name>/<version>/model.onnx``."""
    model_dir = out / model.name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(render_config(model), encoding="utf-8")
    model_file = model_dir / str(version) / model.model_file
    model_file.write_bytes(model_bytes(model.name, seed))
    return model_file


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(catalog: ModelCatalog, name: str, version: int, sha256: str, size: int) -> str | None:
    recorded = catalog.get(name).version(version)
    if (recorded.sha256, recorded.size_bytes) == (sha256, size):
        return None
    return (
        f"{name} version {version}: generated sha256 {sha256} ({size} bytes), "
        f"but {catalog.path} records {recorded.sha256} ({recorded.size_bytes} bytes)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_artifacts.generate")
    parser.add_argument("model", choices=sorted(BUILDERS))
    parser.add_argument("--seed", type=int, required=True, help="seed of the random weights")
    parser.add_argument("--out", type=Path, required=True, help="Triton model repository root")
    parser.add_argument("--version", type=int, default=1, help="version directory (default 1)")
    parser.add_argument(
        "--verify", action="store_true", help="fail unless sha256 and size match models.yaml"
    )
    args = parser.parse_args(argv)
    catalog = load_model_catalog()
    model_file = write_model_directory(catalog.get(args.model), args.seed, args.out, args.version)
    sha256, size = sha256_file(model_file), model_file.stat().st_size
    print(f"{model_file}: sha256 {sha256}, {size} bytes")
    problem = _verify(catalog, args.model, args.version, sha256, size) if args.verify else None
    if problem:
        print(f"generate: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

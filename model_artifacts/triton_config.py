"""Render a Triton ``config.pbtxt`` from a catalog entry, so the catalog stays the one source
of batch sizes, queue delay and tensor shapes (the committed files are golden copies)."""

from __future__ import annotations

from model_artifacts.catalog import ModelSpec, TensorSpec

_BACKEND_LINE: dict[str, str] = {
    "onnx": 'backend: "onnxruntime"',
    "tensorrt_plan": 'platform: "tensorrt_plan"',
    "torchscript": 'backend: "pytorch"',
    "python": 'backend: "python"',
}
_INSTANCE_KIND = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}


def triton_datatype(datatype: str) -> str:
    """KServe v2 ``FP32`` -> Triton ``TYPE_FP32``; Triton calls ``BYTES`` ``TYPE_STRING``."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def render_config(model: ModelSpec) -> str:
    triton = model.triton
    preferred = ", ".join(str(b) for b in triton.preferred_batch_sizes)
    return "\n".join(
        [
            f'name: "{model.name}"',
            _BACKEND_LINE[model.format],
            f"max_batch_size: {triton.max_batch_size}",
            _tensors("input", model.inputs),
            _tensors("output", model.outputs),
            "dynamic_batching {",
            f"  preferred_batch_size: [ {preferred} ]",
            f"  max_queue_delay_microseconds: {triton.max_queue_delay_us}",
            "}",
            "instance_group [",
            "  {",
            f"    count: {triton.instance_count}",
            f"    kind: {_INSTANCE_KIND[model.serving]}",
            "  }",
            "]",
            "",
        ]
    )


def _tensors(kind: str, tensors: tuple[TensorSpec, ...]) -> str:
    blocks = []
    for tensor in tensors:
        dims = ", ".join(str(d) for d in tensor.shape)
        blocks.append(
            "  {\n"
            f'    name: "{tensor.name}"\n'
            f"    data_type: {triton_datatype(tensor.datatype)}\n"
            f"    dims: [ {dims} ]\n"
            "  }"
        )
    return f"{kind} [\n" + ",\n".join(blocks) + "\n]"

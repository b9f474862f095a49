"""Throughput profiles derived from published MLPerf figures, so models.yaml is reproducible.

Planning model (shared reference figures.md section 6): one batch of ``b`` samples takes
``s(b) = s0 + k * b`` on one GPU. Two published numbers fix the line:

- the MLPerf **Offline** per-GPU throughput is the batch ceiling, so ``k = 1 / Offline``;
- the MLPerf **Server** per-GPU throughput (p99 within the 15 ms bound) is taken as what one
  GPU sustains at our ``max_batch_size`` ``B``, so ``s(B) = B / Server`` and
  ``s0 = s(B) - k * B``.

Anchoring the Server figure at ``B`` is our assumption, not a measurement; the batch-1
latencies it yields are optimistic. The figures are NVIDIA INT8 TensorRT results: a ceiling
for the FP32 ONNX model we serve. Run ``python -m model_artifacts.profiles`` to print the
YAML block that ``models.yaml`` carries; a test checks the two agree.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

PROFILE_BATCH_SIZES: tuple[int, ...] = (1, 8, 16, 32)
ANCHOR_BATCH = 32
"""Our resnet50 ``triton.max_batch_size``: the batch at which Server throughput is assumed."""

_RESULTS = (
    "mlcommons/inference_results_v<round> closed/NVIDIA/results/<system>/resnet50/"
    "<Scenario>/performance/run_1/mlperf_log_summary.txt"
)


@dataclass(frozen=True)
class MlperfResnet50:
    gpu_class: str
    gpu: str
    citation: str
    """MLPerf round and system of each figure, and which are derived (÷ 8)."""
    server: float
    offline: float
    proxy: str = ""
    """Non-empty when the figure is for a different GPU standing in for the class."""


# Per-GPU ResNet-50 v1.5 figures, shared reference figures.md section 1.2.
MLPERF_RESNET50: tuple[MlperfResnet50, ...] = (
    MlperfResnet50(
        "t4",
        "T4",
        "v0.7 T4x8_TRT: Server 5,563 and Offline 6,112 samples/s (derived /8)",
        5563,
        6112,
    ),
    MlperfResnet50(
        "a10g",
        "A10 PCIe",
        "v1.1 A10x8_TRT: Server 11,002 and Offline 13,775 samples/s (derived /8)",
        11002,
        13775,
        proxy="A10 PCIe is the proxy for AWS A10G (g5): no published A10G figure found",
    ),
    MlperfResnet50(
        "l4", "L4", "v3.1 L4x1_TRT: Server 12,204 and Offline 12,882 samples/s", 12204, 12882
    ),
    MlperfResnet50(
        "a100",
        "A100-SXM-80GB",
        "v3.0 DGX-A100_A100-SXM-80GBx8_TRT: Server 37,504 samples/s (derived /8); "
        "v3.0 DGX-A100_A100-SXM-80GBx1_TRT: Offline 42,379 samples/s",
        37504,
        42379,
    ),
    MlperfResnet50(
        "h100",
        "H100-SXM-80GB",
        "v4.0 DGX-H100_H100-SXM-80GBx1_TRT: Server 72,977 and Offline 88,714 samples/s",
        72977,
        88714,
    ),
    MlperfResnet50(
        "h200",
        "H200-SXM-141GB",
        "v4.1 H200-SXM-141GBx8_TRT: Server 79,029 and Offline 94,620 samples/s (derived /8)",
        79029,
        94620,
    ),
)
"""l40s and inferentia2 are absent on purpose: no published ResNet-50 figure found."""


def batch_latency_ms(figure: MlperfResnet50, batch_sizes: tuple[int, ...]) -> dict[int, float]:
    """``s(b) = s0 + k * b`` in milliseconds, rounded to 0.1 microseconds."""
    k = 1000.0 / figure.offline
    s0 = ANCHOR_BATCH * 1000.0 / figure.server - k * ANCHOR_BATCH
    return {b: round(s0 + k * b, 4) for b in batch_sizes}


def source_text(figure: MlperfResnet50) -> str:
    k = 1000.0 / figure.offline
    s0 = ANCHOR_BATCH * 1000.0 / figure.server - k * ANCHOR_BATCH
    proxy = f"proxy: {figure.proxy}. " if figure.proxy else ""
    return (
        f"derived from MLPerf Inference ResNet-50 closed, NVIDIA {figure.gpu} INT8 TensorRT "
        f"({figure.citation}; {_RESULTS}). {proxy}"
        f"Derivation (planning model s(b) = s0 + k*b): k = 1/Offline = {k:.5f} ms; "
        f"s({ANCHOR_BATCH}) = {ANCHOR_BATCH}/Server, so s0 = {s0:.5f} ms (assumes the Server "
        f"rate is reached at batch {ANCHOR_BATCH}). A ceiling for our FP32 ONNX model; "
        "not measured by us."
    )


def profiles_yaml(figures: tuple[MlperfResnet50, ...] = MLPERF_RESNET50) -> str:
    lines = ["throughput_profiles:"]
    for figure in figures:
        latencies = batch_latency_ms(figure, PROFILE_BATCH_SIZES)
        lines.append(f"  {figure.gpu_class}:")
        wrapped = textwrap.wrap(
            source_text(figure), 90, break_on_hyphens=False, break_long_words=False
        )
        lines.append("    source: >-")
        lines.extend(f"      {line}" for line in wrapped)
        points = ", ".join(f"{b}: {ms}" for b, ms in latencies.items())
        lines.append(f"    batch_latency_ms: {{{points}}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(profiles_yaml(), end="")

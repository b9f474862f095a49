"""PNG charts of a simulation: e2e latency percentiles and replicas over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt

from capacity.simulator import SimulationResult, expand


def write_plots(result: SimulationResult, directory: str | Path, slo_ms: float) -> list[Path]:
    """Write ``<name>-latency.png`` and ``<name>-replicas.png``; returns their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    minutes = expand(result.timeline.t_s) / 60.0
    latency = out / f"{result.name}-latency.png"
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    for region, values in result.timeline.p99_ms.items():
        top.plot(minutes, expand(values), label=region)
    for region, values in result.timeline.p50_ms.items():
        bottom.plot(minutes, expand(values), label=region)
    top.axhline(slo_ms, color="red", linestyle="--", label=f"SLO {slo_ms:g} ms")
    top.set_ylabel("e2e p99 (ms)")
    bottom.set_ylabel("e2e p50 (ms)")
    bottom.set_xlabel("time (min)")
    top.legend(fontsize="small", ncol=4)
    top.set_title(f"{result.name}: end-to-end latency per reporting interval")
    figure.tight_layout()
    figure.savefig(latency, dpi=100)
    plt.close(figure)
    replicas = out / f"{result.name}-replicas.png"
    figure, axis = plt.subplots(figsize=(11, 4))
    for region, counts in result.timeline.replicas.items():
        axis.step(minutes, expand(counts), where="post", label=region)
    axis.set_xlabel("time (min)")
    axis.set_ylabel("GPU replicas")
    axis.set_title(f"{result.name}: replicas per region")
    axis.legend(fontsize="small", ncol=3)
    figure.tight_layout()
    figure.savefig(replicas, dpi=100)
    plt.close(figure)
    return [latency, replicas]

"""Simulator throughput: simulated requests per second on one core, steady scenario.

Prints figures; asserts nothing. Usage: python bench/sim_bench.py [SIMULATED_SECONDS]
Target (issue 7): at least 5 million simulated requests per second.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.latency import load_latency  # noqa: E402
from capacity.planner import load_shipped_plan  # noqa: E402
from capacity.profiles import load_shipped_profiles  # noqa: E402
from capacity.scenario import build_simulation, load_scenario  # noqa: E402
from capacity.simulator import simulate  # noqa: E402

REPEATS = 3


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    scenario = replace(load_scenario(ROOT / "scenarios" / "steady.yaml"), duration_s=seconds)
    spec = build_simulation(
        scenario, load_shipped_plan("prod"), load_shipped_profiles(), load_latency()
    )
    best_cpu = best_wall = float("inf")
    requests = 0
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = simulate(spec)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        requests = result.simulated_requests
    p99 = result.total.latency_ms["e2e"].p99
    print(f"steady scenario, {seconds:g} s simulated at 100k req/s: {requests:,} requests")
    print(f"best of {REPEATS}: wall {best_wall:.2f} s, cpu {best_cpu:.2f} s")
    print(f"simulated requests per second (wall): {requests / best_wall / 1e6:.2f} M")
    print(f"simulated requests per second (cpu):  {requests / best_cpu / 1e6:.2f} M")
    print(f"global e2e p99: {p99:.1f} ms (target >= 5 M req/s)")


if __name__ == "__main__":
    main()

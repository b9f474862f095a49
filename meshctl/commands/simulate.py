"""``meshctl simulate``: run a scenario against the planned fleet and report latency."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from capacity.errors import CapacityDataError
from capacity.latency import check_latency_covers, load_latency
from capacity.planner import DEFAULT_SLO_P99_MS, PlanError, load_shipped_plan
from capacity.profiles import load_shipped_profiles
from capacity.scenario import Scenario, build_simulation, load_scenario
from capacity.simulator import METRICS, RegionReport, SimulationResult, simulate
from meshctl.output import add_json_argument, print_json, print_table, progress
from regions.catalog import CatalogError, load_catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a scenario (demand, failures, dials) against the planned fleet",
        description="Discrete-event simulation of the mesh: users routed to the nearest "
        "healthy region of their jurisdiction, dynamic batching on GPU replicas, autoscaling "
        "on queue depth, scripted failures. Reports p50/p95/p99 of network, queue, compute "
        "and end-to-end latency, rejected and timed-out requests, GPU-hours and cost.",
    )
    parser.add_argument("scenario", type=Path, help="scenario file (scenarios/*.yaml)")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write PNG charts to DIR")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run every clock of the scenario this many times faster (< 1 shortens it)",
    )
    parser.add_argument("--duration", type=float, help="override the simulated seconds")
    parser.add_argument(
        "--slo-ms", type=float, default=DEFAULT_SLO_P99_MS, help="the global p99 SLO (ms)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the global e2e p99 misses the SLO"
    )
    add_json_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        scenario = _scenario(args)
        catalog = load_catalog()
        latency = load_latency()
        check_latency_covers(latency, catalog)
        plan = load_shipped_plan(scenario.environment)
        spec = build_simulation(scenario, plan, load_shipped_profiles(), latency)
    except (CapacityDataError, CatalogError, PlanError, ValueError) as exc:
        print(f"meshctl simulate: {exc}", file=sys.stderr)
        return 2
    with progress(not args.json) as bar:
        task = bar.add_task(f"simulating {scenario.name}", total=round(spec.duration_s))
        result = simulate(spec, progress=lambda t: bar.update(task, completed=round(t)))
    plots = [str(p) for p in _plots(result, args.plot, args.slo_ms)] if args.plot else []
    met = result.total.latency_ms["e2e"].p99 <= args.slo_ms
    if args.json:
        print_json(result_as_dict(result, args.slo_ms, plots))
    else:
        print_result(result, args.slo_ms, plots)
    return 1 if args.check and not met else 0


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.time_scale <= 0:
        raise ValueError(f"--time-scale must be > 0, got {args.time_scale}")
    scenario = load_scenario(args.scenario)
    if args.time_scale != 1.0:
        scenario = scenario.time_scaled(args.time_scale)
    if args.duration is not None:
        if args.duration <= 0:
            raise ValueError(f"--duration must be > 0, got {args.duration}")
        scenario = replace(scenario, duration_s=args.duration)
    return scenario


def _plots(result: SimulationResult, directory: Path, slo_ms: float) -> list[Path]:
    from capacity.plots import write_plots  # noqa: PLC0415 - matplotlib only when asked

    return write_plots(result, directory, slo_ms)


def result_as_dict(result: SimulationResult, slo_ms: float, plots: list[str]) -> dict[str, object]:
    return {
        "scenario": result.name,
        "duration_s": result.duration_s,
        "slo_p99_ms": slo_ms,
        "slo_met": result.total.latency_ms["e2e"].p99 <= slo_ms,
        "global": _report_dict(result.total),
        "regions": {name: _report_dict(r) for name, r in result.regions.items()},
        "plots": plots,
    }


def _report_dict(report: RegionReport) -> dict[str, object]:
    return {
        "arrived": report.arrived,
        "completed": report.completed,
        "rejected": report.rejected,
        "timed_out": report.timed_out,
        "gpu_hours": round(report.gpu_hours, 4),
        "cost": round(report.cost, 4),
        "latency_ms": {
            metric: {k: round(v, 3) for k, v in vars(report.latency_ms[metric]).items()}
            for metric in METRICS
        },
    }


def print_result(result: SimulationResult, slo_ms: float, plots: list[str]) -> None:
    rows = []
    for report in [*result.regions.values(), result.total]:
        lat = report.latency_ms
        e2e = lat["e2e"]
        rows.append(
            [
                report.region,
                f"{report.arrived:,}",
                f"{report.rejected:,}",
                f"{report.timed_out:,}",
                f"{e2e.p50:.1f}",
                f"{e2e.p95:.1f}",
                f"{e2e.p99:.1f}",
                f"{lat['network'].p99:.1f}",
                f"{lat['queue'].p99:.2f}",
                f"{lat['compute'].p99:.2f}",
                f"{report.gpu_hours:.2f}",
                f"{report.cost:.2f}",
            ]
        )
    print_table(
        f"Simulation {result.name}: {result.duration_s:g} s simulated, latency in ms",
        [
            "region",
            "requests",
            "rejected",
            "timed out",
            "e2e p50",
            "e2e p95",
            "e2e p99",
            "net p99",
            "queue p99",
            "compute p99",
            "GPU-h",
            "cost $",
        ],
        rows,
    )
    p99 = result.total.latency_ms["e2e"].p99
    verdict = "meets" if p99 <= slo_ms else "MISSES"
    print(f"global e2e p99 {p99:.1f} ms {verdict} the {slo_ms:g} ms SLO")
    for path in plots:
        print(f"wrote {path}")

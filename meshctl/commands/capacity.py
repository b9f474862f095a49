"""``meshctl capacity``: the fleet plan (GPUs, KEDA bounds, cost) per region."""

from __future__ import annotations

import argparse
import sys

from capacity.errors import CapacityDataError
from capacity.planner import FleetPlan, PlanError, load_shipped_plan, plan_as_dict
from meshctl.output import add_json_argument, print_json, print_table
from regions.catalog import CatalogError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "capacity",
        help="size the GPU fleet per region and compare GPU, inf2 and CPU serving cost",
        description="Plan the fleet from the region catalog, the model's throughput profiles, "
        "the price table and the environment's global peak: per region the cheapest instance "
        "type meeting the p99 SLO, steady GPUs, the failover reserve, KEDA min/max and cost. "
        "The stacks read the same plan (capacity.planner.load_shipped_plan).",
    )
    parser.add_argument("--env", default="prod", help="environment (capacity/demand.yaml)")
    add_json_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        plan = load_shipped_plan(args.env)
    except (CapacityDataError, CatalogError, PlanError) as exc:
        print(f"meshctl capacity: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(plan_as_dict(plan))
    else:
        print_plan(plan)
    return 0


def print_plan(plan: FleetPlan) -> None:
    print_table(
        f"Fleet plan: {plan.environment}, {plan.model}, global peak "
        f"{plan.global_peak_rps:,.0f} req/s, p99 SLO {plan.slo_p99_ms:g} ms end to end",
        [
            "region",
            "juris.",
            "instance",
            "peak req/s",
            "budget ms",
            "steady",
            "reserve",
            "GPU limit",
            "KEDA min/max/target",
            "failover from",
            "$/h",
            "$/M inf.",
        ],
        [
            [
                r.region,
                r.jurisdiction,
                r.instance_type,
                f"{r.demand_rps:,.0f}",
                f"{r.budget_ms:.0f}",
                r.steady_gpus,
                r.failover_reserve_gpus,
                r.gpu_limit,
                f"{r.min_replicas}/{r.max_replicas}/{r.queue_target_per_replica}",
                r.failover_from or "-",
                f"{r.hourly_cost:.2f}",
                f"{r.cost_per_million:.4f}",
            ]
            for r in plan.regions.values()
        ],
    )
    print(
        f"total: {plan.total_gpus} GPUs, ${plan.hourly_cost:.2f}/h provisioned "
        f"(${plan.steady_hourly_cost:.2f}/h for the steady peak alone)"
    )
    print_table(
        "Serving cost at each region's steady peak: GPU vs Inferentia2 vs CPU",
        [
            "region",
            "kind",
            "instance",
            "model",
            "$/instance-h",
            "spot $/instance-h",
            "instances",
            "$/h",
            "$/M inf.",
            "note",
        ],
        [
            [
                region,
                o.kind,
                o.instance_type,
                o.model,
                _money(o.price_per_hour, 4),
                _spot(o.spot_price_per_hour),
                "-" if o.instances is None else o.instances,
                _money(o.hourly_cost, 2),
                _money(o.cost_per_million, 4),
                o.note,
            ]
            for region, options in plan.comparisons.items()
            for o in options
        ],
    )


def _spot(value: tuple[float, float] | None) -> str:
    return "n/a" if value is None else f"{value[0]:.4f}-{value[1]:.4f}"


def _money(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"

"""``meshctl plan``: every stack evaluated offline in Pulumi's mock engine."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from meshctl.output import add_json_argument, print_json, progress
from meshctl.plan_engine import PlanRun, StackResult, discover_stacks, plan_stacks, write_plan
from stacks.settings import STACKS_DIR

DEFAULT_OUT = Path("build/plans")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="evaluate stacks offline (mock engine) and write plan files",
        description="Evaluate stack programs in Pulumi's mock engine: no Pulumi CLI, no "
        "credentials, no network. Writes one <stack>.json per stack and summary.md.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--stack", action="append", metavar="NAME", help="plan this stack (repeatable)"
    )
    scope.add_argument("--all", action="store_true", help="plan every stack in stacks/ (default)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"plan directory ({DEFAULT_OUT})"
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, default=None, help="region catalog directory")
    parser.add_argument("--jobs", type=int, default=None, help="parallel stack processes (cores)")
    add_json_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    stacks = args.stack or discover_stacks(args.stacks_dir)
    with progress(not args.json) as bar:
        task = bar.add_task("planning stacks", total=len(stacks))
        run = plan_stacks(
            stacks,
            args.stacks_dir,
            args.catalog,
            args.jobs,
            on_done=lambda _r: bar.advance(task),
        )
    for result in run.results.values():
        if result.document is not None:
            write_plan(result.document, args.out)
    summary = summarize(run)
    write_report(summary, args.out)
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    for stack in run.failed:
        print(f"meshctl plan: {run.results[stack].error}", file=sys.stderr)
    return 1 if run.failed else 0


def summarize(run: PlanRun) -> dict[str, Any]:
    return {
        "stacks": {stack: _stack_summary(result) for stack, result in sorted(run.results.items())},
        "failed": sorted(run.failed),
    }


def _stack_summary(result: StackResult) -> dict[str, Any]:
    if result.document is None:
        return {"ok": False, "error": result.error}
    resources = result.document["resources"]
    return {
        "ok": True,
        "seconds": round(result.seconds, 2),
        "resources": len(resources),
        "byType": dict(sorted(Counter(r["type"] for r in resources).items())),
        "outputs": result.document["outputs"],
    }


def print_summary(summary: dict[str, Any]) -> None:
    for stack, info in summary["stacks"].items():
        if not info["ok"]:
            print(f"✗ {stack}: {info['error']}")
            continue
        print(f"✓ {stack}: {info['resources']} resources ({info['seconds']} s)")
        for kind, count in info["byType"].items():
            print(f"    {count:4d}  {kind}")
        print("    outputs: " + ", ".join(sorted(info["outputs"])))
    total = sum(i.get("resources", 0) for i in summary["stacks"].values())
    print(f"{len(summary['stacks'])} stacks, {total} resources, {len(summary['failed'])} failed")


def write_report(summary: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Offline plan", "", "| stack | status | resources |", "|---|---|---|"]
    for stack, info in summary["stacks"].items():
        status = "ok" if info["ok"] else f"failed: {info['error']}"
        lines.append(f"| {stack} | {status} | {info.get('resources', '-')} |")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

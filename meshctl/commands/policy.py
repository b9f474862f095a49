"""``meshctl policy check PLAN.json...``: the CrossGuard pack's rules over offline plans;
``meshctl policy list``: the rules themselves.

Exit codes of ``check``: 0 no mandatory violation (advisory findings are shown), 1 one or more
mandatory violations, 2 a plan or config file (or the region catalog) could not be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from meshctl.output import add_json_argument, print_json, print_table
from regions.catalog import CatalogError

if TYPE_CHECKING:
    from policies.offline import Finding, Report

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("policy", help="check plans against the policy pack")
    actions = parser.add_subparsers(dest="policy", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="run the pack's rules over plan files written by `meshctl plan`",
        description="Run every rule of policies/ (the CrossGuard pack) over offline plan "
        "files. Findings are grouped by stack and rule; any mandatory violation exits 1.",
    )
    check.add_argument(
        "plans",
        nargs="+",
        type=Path,
        metavar="PLAN",
        help="plan files (<stack>.json), or directories of them",
    )
    check.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="policy config JSON, the format of `pulumi preview --policy-pack-config`",
    )
    check.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the report as Markdown"
    )
    add_json_argument(check)
    check.set_defaults(handler=run_check)
    listing = actions.add_parser(
        "list", help="list the pack's rules: domain, scope, level, the checks they mirror"
    )
    listing.add_argument(
        "--markdown", action="store_true", help="print the Markdown table of policies/README.md"
    )
    add_json_argument(listing)
    listing.set_defaults(handler=run_list)


def run_check(args: argparse.Namespace) -> int:
    try:
        report = _check(args.plans, args.config)
    except CatalogError as exc:  # a bad plan or config file too (PolicyInputError)
        print(f"meshctl policy check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not report.stacks:
        print("meshctl policy check: no plan files among the given paths", file=sys.stderr)
        return EXIT_USAGE
    if args.markdown:
        args.markdown.write_text(markdown(report), encoding="utf-8")
    if args.json:
        print_json(report.to_dict())
    else:
        _print(report)
    return EXIT_VIOLATIONS if report.mandatory else EXIT_CLEAN


def run_list(args: argparse.Namespace) -> int:
    from policies.offline import rule_rows, rules_markdown  # noqa: PLC0415

    if args.json:
        print_json(rule_rows())
    elif args.markdown:
        print(rules_markdown(), end="")
    else:
        columns = ["rule", "domain", "scope", "level", "mirrors"]
        print_table(
            "Policy pack inference-mesh", columns, [[r[c] for c in columns] for r in rule_rows()]
        )
    return EXIT_CLEAN


def _check(plans: list[Path], config_file: Path | None) -> Report:
    # Imported here: the pack pulls in the Pulumi SDKs, which other commands do not need,
    # and reads the region catalog, whose errors this command reports.
    from policies.offline import PackConfig, check_files, load_config  # noqa: PLC0415

    config = load_config(config_file) if config_file else PackConfig()
    return check_files(plans, config)


def _print(report: Report) -> None:
    for stack, rules in report.grouped().items():
        if not rules:
            print(f"✓ {stack}")
            continue
        print_table(
            f"✗ {stack}" if any(_blocks(found) for found in rules.values()) else f"! {stack}",
            ["rule", "level", "resource", "message"],
            [
                (rule, f.level, (f.urn or "(stack)").rsplit("::", 1)[-1], f.message)
                for rule, found in rules.items()
                for f in found
            ],
        )
    print(_verdict(report))


def _blocks(findings: list[Finding]) -> bool:
    return any(f.level == "mandatory" for f in findings)


def _verdict(report: Report) -> str:
    return (
        f"{len(report.stacks)} stack(s): {len(report.mandatory)} mandatory violation(s), "
        f"{len(report.advisory)} advisory finding(s)"
    )


def markdown(report: Report) -> str:
    """The report for a pull-request comment: one row per stack, then every finding."""
    lines = ["## Policy check", "", _verdict(report), "", "| stack | mandatory | advisory |"]
    lines.append("|---|---|---|")
    for stack, rules in report.grouped().items():
        found = [f for group in rules.values() for f in group]
        mandatory = sum(f.level == "mandatory" for f in found)
        lines.append(f"| {stack} | {mandatory} | {len(found) - mandatory} |")
    for stack, rules in report.grouped().items():
        for rule, found in rules.items():
            lines += ["", f"### {stack}: `{rule}` ({found[0].level})", ""]
            lines += [f"- {f.message}" for f in found]
    return "\n".join(lines) + "\n"

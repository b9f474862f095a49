"""``meshctl audit residency``: report personal data outside its allowed regions.

Exit codes: 0 clean, 1 one or more findings, 2 the scan could not read something (and found
nothing), or bad input. An incomplete scan is never reported as clean.
"""

from __future__ import annotations

import argparse
import sys

from meshctl.aws import AwsClients, add_aws_arguments
from meshctl.output import add_json_argument, print_json, print_table, progress
from meshctl.residency_audit import AuditReport, audit_residency
from regions.catalog import CatalogError, is_region_name, load_catalog
from regions.residency import load_policy

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="audit a live account against the mesh's rules")
    audits = parser.add_subparsers(dest="audit", metavar="AUDIT", required=True)
    residency = audits.add_parser(
        "residency",
        help="find personal data outside its jurisdiction (RES-001..RES-005)",
        description="Scan S3, DynamoDB, Kinesis and SQS for resources tagged "
        "data-classification=personal and report every residency breach.",
    )
    residency.add_argument(
        "--regions",
        nargs="+",
        metavar="REGION",
        help="regions to scan (default: every catalog region; S3 buckets are then checked in "
        "every region, since bucket listing is global). Regions outside the catalog may be "
        "given, to look for stray data.",
    )
    add_json_argument(residency)
    add_aws_arguments(residency)
    residency.set_defaults(handler=run_residency)


def run_residency(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog()
        policy = load_policy(catalog)
    except CatalogError as exc:
        print(f"meshctl audit residency: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    bad = [r for r in args.regions or [] if not is_region_name(r)]
    if bad:
        print(
            f"meshctl audit residency: --regions: expected AWS region names such as "
            f"eu-west-1, got {bad}",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    regions = tuple(args.regions or catalog.names)
    clients = AwsClients.from_args(args)
    with progress(enabled=not args.json) as bar:
        task = bar.add_task("scanning", total=1 + 3 * len(regions))
        report = audit_residency(
            clients.client,
            regions,
            catalog,
            policy,
            all_bucket_regions=not args.regions,
            on_step=lambda step: bar.update(task, advance=1, description=step),
        )
    _print(report, as_json=args.json)
    if report.findings:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if report.errors else EXIT_CLEAN


def _print(report: AuditReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    if report.findings:
        print_table(
            "Residency findings",
            ["rule", "resource", "region", "jurisdiction", "message"],
            [(f.rule, f.resource, f.region, f.jurisdiction, f.message) for f in report.findings],
        )
    if report.errors:
        print_table(
            "Could not check",
            ["service", "resource", "region", "error"],
            [(e.service, e.resource, e.region, e.message) for e in report.errors],
        )
    verdict = (
        f"{len(report.findings)} finding(s)"
        if report.findings
        else "incomplete: see errors above"
        if report.errors
        else "clean"
    )
    print(
        f"{len(report.personal_resources)} personal-data resource(s) in "
        f"{len(report.regions)} region(s): {verdict}"
    )

"""``meshctl gdpr erase|export``: a data subject's erasure and access requests, per region.

Exit codes: 0 done, 1 erase incomplete (something could not be deleted: see the receipt),
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from features.events import validate_user_id
from features.gdpr import erase_user, export_user
from meshctl.aws import AwsClients, add_aws_arguments
from meshctl.output import add_json_argument, print_json, print_table
from regions.catalog import CatalogError, load_catalog
from stacks import naming

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("gdpr", help="erase or export one user's personal data")
    actions = parser.add_subparsers(dest="gdpr", metavar="ACTION", required=True)
    erase = actions.add_parser(
        "erase",
        help="delete a user's features and every version of their raw events in a region",
    )
    _common_arguments(erase)
    erase.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )
    add_json_argument(erase)
    erase.set_defaults(handler=run_erase)
    export = actions.add_parser(
        "export", help="print everything held about a user in a region, as JSON"
    )
    _common_arguments(export)
    export.add_argument(
        "--json",
        action="store_true",
        help="accepted for symmetry with erase: export always prints JSON",
    )
    export.add_argument(
        "--out", metavar="FILE", help="write the export to FILE (mode 0600) instead of stdout"
    )
    export.set_defaults(handler=run_export)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-id", required=True, help="the data subject's user_id")
    parser.add_argument("--region", required=True, help="a catalog region, e.g. eu-west-1")
    parser.add_argument(
        "--env", default="prod", choices=naming.ENVIRONMENTS, help="environment (default: prod)"
    )
    add_aws_arguments(parser)


def run_erase(args: argparse.Namespace) -> int:
    targets = _targets(args)
    if targets is None:
        return EXIT_USAGE
    receipt = erase_user(args.user_id, dry_run=args.dry_run, **targets)
    if args.json:
        print_json(receipt.to_dict())
    else:
        _print_receipt(receipt.to_dict())
    return EXIT_OK if receipt.complete else EXIT_INCOMPLETE


def run_export(args: argparse.Namespace) -> int:
    targets = _targets(args)
    if targets is None:
        return EXIT_USAGE
    document = export_user(args.user_id, **targets)
    if args.out is None:
        print_json(document)
        return EXIT_OK
    # The export is personal data: readable by the operator only.
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True, default=str)
    print(f"wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def _targets(args: argparse.Namespace) -> dict[str, Any] | None:
    """Region-pinned clients and physical names, or None after printing why not."""
    try:
        load_catalog().get(args.region)
    except (KeyError, CatalogError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"meshctl gdpr: --region: {message}", file=sys.stderr)
        return None
    try:
        validate_user_id(args.user_id)
    except ValueError as exc:
        print(f"meshctl gdpr: --user-id: {exc}", file=sys.stderr)
        return None
    clients = AwsClients.from_args(args)
    return {
        "region": args.region,
        "table": naming.feature_table(args.env, args.region),
        "bucket": naming.offline_feature_bucket(args.env, args.region),
        "dynamodb": clients.client("dynamodb", args.region),
        "s3": clients.client("s3", args.region),
    }


def _print_receipt(receipt: dict[str, Any]) -> None:
    verb = "would delete" if receipt["dry_run"] else "deleted"
    items = receipt["online_items"]
    versions = receipt["object_versions"]
    print_table(
        f"Erasure receipt: user {receipt['user_id']} in {receipt['region']} ({verb})",
        ["store", "resource", "key", "version id"],
        [("online", receipt["table"], f"user_id={i['user_id']}", "-") for i in items]
        + [
            (
                "offline",
                receipt["bucket"],
                v["key"],
                v["version_id"] + (" (delete marker)" if v["is_delete_marker"] else ""),
            )
            for v in versions
        ],
    )
    for problem in receipt["errors"]:
        print(f"error: {problem}", file=sys.stderr)
    for left in receipt["remaining"]:
        print(f"still present: {left['key']} version {left['version_id']}", file=sys.stderr)
    print(f"{verb} {len(items)} online item(s) and {len(versions)} object version(s)")
    for note in receipt["not_covered"]:
        print(f"note: {note}")

"""``meshctl traffic status | drain REGION | restore REGION | shift REGION PERCENT``.

Steers new connections between the regions of a jurisdiction through Global Accelerator
traffic dials (``meshctl.traffic``). Every change waits until the accelerator has deployed it
and prints the accelerator's regions before and after.

Exit codes: 0 done, 1 refused (draining the last serving region of a jurisdiction), 2 bad
input or an AWS error, 3 the change was submitted but not deployed within --timeout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from meshctl.aws import GLOBAL_ACCELERATOR_API_REGION, AwsClients, add_aws_arguments
from meshctl.output import add_json_argument, print_json, print_table
from meshctl.traffic import (
    DEFAULT_TIMEOUT_S,
    Change,
    DeployTimeoutError,
    DrainRefusedError,
    Mesh,
    RegionState,
    TrafficError,
    check_percent,
    configured_dials,
    discover,
    set_dial,
)
from regions.catalog import CatalogError, load_catalog
from stacks import naming

EXIT_OK, EXIT_REFUSED, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3
COLUMNS = ("region", "jurisdiction", "accelerator", "dial %", "endpoint health", "serving")

SLEEP: Callable[[float], None] = time.sleep
"""How the wait sleeps between polls; tests replace it."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "traffic", help="show and steer Global Accelerator traffic between regions"
    )
    actions = parser.add_subparsers(dest="traffic", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="each region's accelerator, dial and health")
    _common(status, changes=False)
    status.set_defaults(handler=run_status)
    drain = actions.add_parser(
        "drain",
        help="send no new connections to REGION (dial 0); refused for the last "
        "serving region of a jurisdiction",
    )
    _region(drain)
    _common(drain)
    drain.set_defaults(handler=run_change, action="drain")
    restore = actions.add_parser(
        "restore", help="return REGION to its configured dial (stack file), or 100"
    )
    _region(restore)
    _common(restore)
    restore.set_defaults(handler=run_change, action="restore")
    shift = actions.add_parser("shift", help="set REGION's dial to PERCENT (0 counts as a drain)")
    _region(shift)
    shift.add_argument("percent", metavar="PERCENT", type=_percent, help="0 to 100")
    _common(shift)
    shift.set_defaults(handler=run_change, action="shift")


def _region(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("region", metavar="REGION", help="a catalog region, e.g. eu-west-1")


def _common(parser: argparse.ArgumentParser, *, changes: bool = True) -> None:
    parser.add_argument(
        "--env", default="prod", choices=naming.ENVIRONMENTS, help="environment (default: prod)"
    )
    if changes:
        parser.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT_S,
            metavar="SECONDS",
            help=f"how long to wait for DEPLOYED (default: {DEFAULT_TIMEOUT_S:g})",
        )
    add_json_argument(parser)
    add_aws_arguments(parser)


def _percent(text: str) -> float:
    try:
        return check_percent(float(text))
    except (ValueError, TrafficError) as exc:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 100, got {text!r}") from exc


def run_status(args: argparse.Namespace) -> int:
    try:
        mesh = _discover(args, _client(args))
    except (TrafficError, BotoCoreError) as exc:
        return _fail(args, str(exc), EXIT_ERROR)
    if args.json:
        print_json(mesh.to_dict())
    else:
        _table(f"Traffic: {args.env}", mesh.regions)
    _warn(mesh)
    return EXIT_OK


def run_change(args: argparse.Namespace) -> int:
    try:
        client = _client(args)
        mesh = _discover(args, client)
        _warn(mesh)
        target = _target(args)
        if not args.json:
            before = mesh.of_accelerator(mesh.get(args.region).accelerator)
            _table(f"Before: {args.action} {args.region}", before)
        change = set_dial(
            client,
            mesh,
            args.region,
            target,
            action=args.action,
            sleep=SLEEP,
            timeout_s=args.timeout,
        )
    except DrainRefusedError as exc:
        return _fail(args, f"refused: {exc}", EXIT_REFUSED)
    except DeployTimeoutError as exc:
        return _fail(args, str(exc), EXIT_TIMEOUT)
    except TrafficError as exc:
        return _fail(args, str(exc), EXIT_ERROR)
    except (ClientError, BotoCoreError) as exc:
        return _fail(args, f"changing {args.region} failed: {exc}", EXIT_ERROR)
    _print_change(args, change)
    return EXIT_OK


def _target(args: argparse.Namespace) -> float:
    if args.action == "drain":
        return 0.0
    if args.action == "shift":
        return float(args.percent)
    return configured_dials(args.env).dial(args.region)


def _client(args: argparse.Namespace) -> Any:
    # The GA API is served from us-west-2 only, whatever the profile's default region.
    return AwsClients.from_args(args).client("globalaccelerator", GLOBAL_ACCELERATOR_API_REGION)


def _discover(args: argparse.Namespace, client: Any) -> Mesh:
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        raise TrafficError(str(exc)) from None
    region = getattr(args, "region", None)
    if region is not None and region not in catalog.names:
        raise TrafficError(f"REGION must be a catalog region {list(catalog.names)}, got {region!r}")
    try:
        return discover(client, args.env, catalog)
    except (ClientError, BotoCoreError) as exc:
        raise TrafficError(f"reading the {args.env} accelerators failed: {exc}") from None


def _print_change(args: argparse.Namespace, change: Change) -> None:
    if args.json:
        print_json(change.to_dict())
        return
    _table(f"After: {change.action} {change.region}", change.after)
    verb = "deployed" if change.changed else "already at"
    print(
        f"{change.region}: dial {change.target:g}% {verb}"
        + (f" (waited {change.waited_s:g} s)" if change.changed else "")
    )


def _table(title: str, states: Sequence[RegionState]) -> None:
    print_table(
        title,
        COLUMNS,
        [
            (
                s.region,
                s.jurisdiction,
                s.accelerator,
                f"{s.traffic_dial:g}",
                ",".join(s.health) or "no endpoints",
                "yes" if s.serving else "no",
            )
            for s in states
        ],
    )


def _warn(mesh: Mesh) -> None:
    for warning in mesh.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"meshctl traffic {args.traffic}: {message}", file=sys.stderr)
    return code

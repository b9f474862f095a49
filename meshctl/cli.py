"""``meshctl``: the operator CLI. Each command group lives in its own module.

A command module exposes ``register(subparsers)``, which adds its parser and sets
``handler`` (a function taking the parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Command modules, in the order they appear in --help. Adding a command = one line here.
COMMAND_MODULES: tuple[str, ...] = (
    "meshctl.commands.plan",
    "meshctl.commands.policy",
    "meshctl.commands.models",
    "meshctl.commands.gdpr",
    "meshctl.commands.audit",
    "meshctl.commands.preflight",
    "meshctl.commands.capacity",
    "meshctl.commands.simulate",
    "meshctl.commands.traffic",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshctl",
        description="Operate the inference mesh: plan offline, check policy, publish models, "
        "audit residency, steer traffic, size capacity.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("meshctl: interrupted", file=sys.stderr)
        return 130

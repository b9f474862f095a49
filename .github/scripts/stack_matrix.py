"""The CI matrix of Pulumi stacks, read from the stack files: one entry per
``stacks/Pulumi.<stack>.yaml``, so a new region is previewed and deployed without editing a
workflow.

Standard library only: it runs before the repository's dependencies are installed.

    python .github/scripts/stack_matrix.py [--kind all|regional|global] [--environment ENV]
        [--github-output NAME]

prints ``{"include": [{"stack", "environment", "kind", "region"}, ...]}``; with
``--github-output`` it also appends ``NAME=<json>`` to the file named by ``$GITHUB_OUTPUT``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
GLOBAL_SUFFIX = "-global"
_REGION = re.compile(r"^\s*aws:region:\s*[\"']?([a-z0-9-]+)", re.MULTILINE)


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def entry(stack: str, stacks_dir: Path = STACKS_DIR) -> dict[str, str]:
    text = (stacks_dir / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    region = _REGION.search(text)
    if region is None:
        raise SystemExit(f"stacks/Pulumi.{stack}.yaml: field 'aws:region': expected a region")
    return {
        "stack": stack,
        "environment": stack.split("-", 1)[0],
        "kind": "global" if stack.endswith(GLOBAL_SUFFIX) else "regional",
        "region": region.group(1),
    }


def matrix(kind: str = "all", environment: str = "all", stacks_dir: Path = STACKS_DIR) -> dict:
    entries = [entry(s, stacks_dir) for s in stack_names(stacks_dir)]
    return {
        "include": [
            e
            for e in entries
            if kind in ("all", e["kind"]) and environment in ("all", e["environment"])
        ]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("all", "regional", "global"), default="all")
    parser.add_argument("--environment", default="all", help="dev, prod ... (default: all)")
    parser.add_argument("--github-output", metavar="NAME", help="also write NAME=<json>")
    args = parser.parse_args(argv)
    document = json.dumps(matrix(args.kind, args.environment), separators=(",", ":"))
    print(document)
    if args.github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
            output.write(f"{args.github_output}={document}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

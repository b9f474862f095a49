"""Gateway image delivery for ``.github/workflows/deploy.yml``: where CI pushes the image, and
waiting until ECR replication has copied it to every region, so no node is ever told to pull
an image its region does not have yet.

    python .github/scripts/wait_for_image.py targets [--github-output NAME]
        The image job's matrix: one entry per environment that has regional stack files,
        {"include": [{"environment", "region", "repository"}]}: the catalog's primary region
        (the source of ECR replication) and ``inference-mesh/<env>/gateway``.

    python .github/scripts/wait_for_image.py wait --environment ENV --digest sha256:...
        [--timeout SECONDS] [--interval SECONDS] [--endpoint-url URL]
        Polls ``ecr.describe_images`` for the digest in every catalog region until all have
        it; exits 1 naming the regions that still lack it when the timeout passes (or the
        region whose ECR refuses the call), 2 on bad input.

Runs from the repository's virtualenv (boto3, and the region catalog's YAML).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from regions.catalog import RegionCatalog, load_catalog  # noqa: E402
from stacks import naming  # noqa: E402

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_TIMEOUT_S = 900.0
"""ECR replication usually completes within minutes (AWS documents no SLA); 15 minutes is
generous without stalling a deploy for long when replication is broken."""
DEFAULT_INTERVAL_S = 10.0


class ImageNotReplicatedError(RuntimeError):
    """The image is not in every region within the timeout; the message names the regions."""


class RegistryError(RuntimeError):
    """ECR answered with something waiting cannot cure (no permission, no network)."""


@dataclass(frozen=True)
class RegionState:
    region: str
    present: bool
    reason: str
    """Why not present: ``image not found``, ``repository not found`` or an AWS error."""


def image_targets(catalog: RegionCatalog, stacks_dir: Path) -> dict[str, Any]:
    """Where CI pushes the gateway image: the primary region's repository, per environment
    that has regional stacks."""
    environments = sorted(
        {
            naming.parse_stack_name(p.name[len("Pulumi.") : -len(".yaml")])[0]
            for p in stacks_dir.glob("Pulumi.*.yaml")
            if not p.name.endswith(f"-{naming.GLOBAL}.yaml")
        }
    )
    primary = catalog.primary.region
    return {
        "include": [
            {
                "environment": environment,
                "region": primary,
                "repository": naming.gateway_repository(environment),
            }
            for environment in environments
        ]
    }


def region_state(client: Any, region: str, repository: str, digest: str) -> RegionState:
    """Whether ``repository`` in ``region`` holds the image ``digest``. Not found (image or
    repository: replication creates a missing repository) means "not yet"; any other
    answer raises ``RegistryError`` naming the region."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        found = client.describe_images(
            repositoryName=repository, imageIds=[{"imageDigest": digest}]
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ImageNotFoundException":
            return RegionState(region, False, "image not found")
        if code == "RepositoryNotFoundException":
            return RegionState(region, False, f"repository {repository} not found")
        raise RegistryError(f"{region}: ecr describe-images failed: {exc}") from exc
    except BotoCoreError as exc:
        raise RegistryError(f"{region}: ecr describe-images failed: {exc}") from exc
    details = found.get("imageDetails", [])
    if any(d.get("imageDigest") == digest for d in details):
        return RegionState(region, True, "")
    return RegionState(region, False, "image not found")


def wait_for_image(
    clients: Mapping[str, Any],
    repository: str,
    digest: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    interval_s: float = DEFAULT_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] = print,
) -> None:
    """Polls every region's ECR (``clients``: region -> ecr client) until each holds the
    image ``digest`` in ``repository``; raises ``ImageNotReplicatedError`` naming the regions
    still without it once ``timeout_s`` has passed. Other AWS errors (no permission, no
    network) raise ``RegistryError`` at once: waiting would not cure them."""
    if not DIGEST.match(digest):
        raise ValueError(f"digest must be sha256:<64 lowercase hex>, got {digest!r}")
    started = clock()
    deadline = started + timeout_s
    pending = dict(sorted(clients.items()))
    states: dict[str, RegionState] = {}
    while True:
        for region, client in list(pending.items()):
            state = region_state(client, region, repository, digest)
            states[region] = state
            if state.present:
                del pending[region]
                log(f"{region}: {repository}@{digest} present after {clock() - started:.0f} s")
        if not pending:
            return
        now = clock()
        if now >= deadline:
            missing = "; ".join(f"{r} ({states[r].reason})" for r in pending)
            raise ImageNotReplicatedError(
                f"{repository}@{digest} has not replicated to every region after "
                f"{timeout_s:.0f} s: missing in {missing}. Check the primary registry's "
                "replication configuration (the global stack) and the ECR replication status "
                "of those regions; the regional deploys did not start"
            )
        log(f"waiting for {', '.join(pending)} ({now - started:.0f} s of {timeout_s:.0f} s)")
        sleep(max(0.0, min(interval_s, deadline - now)))


def ecr_clients(regions: Sequence[str], endpoint_url: str | None = None) -> dict[str, Any]:
    import boto3  # noqa: PLC0415

    return {
        region: boto3.client("ecr", region_name=region, endpoint_url=endpoint_url)
        for region in regions
    }


def _write_output(name: str, document: dict[str, Any]) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as output:
        output.write(f"{name}={json.dumps(document, separators=(',', ':'))}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    targets = commands.add_parser("targets", help="the image job's matrix")
    targets.add_argument("--github-output", metavar="NAME", help="also write NAME=<json>")
    wait = commands.add_parser("wait", help="wait until every region has the image")
    wait.add_argument("--environment", required=True, choices=naming.ENVIRONMENTS)
    wait.add_argument("--digest", required=True, help="sha256:<64 hex>, as pushed")
    wait.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    wait.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_S, help="seconds")
    wait.add_argument("--endpoint-url", default=None, help="an ECR endpoint (tests: moto)")
    args = parser.parse_args(argv)
    catalog = load_catalog()
    if args.command == "targets":
        document = image_targets(catalog, REPO_ROOT / "stacks")
        print(json.dumps(document, separators=(",", ":")))
        if args.github_output:
            _write_output(args.github_output, document)
        return 0
    if not DIGEST.match(args.digest):
        print(
            f"wait_for_image: --digest must be sha256:<64 lowercase hex>, got {args.digest!r}",
            file=sys.stderr,
        )
        return 2
    repository = naming.gateway_repository(args.environment)
    regions = [spec.region for spec in catalog]
    try:
        wait_for_image(
            ecr_clients(regions, args.endpoint_url),
            repository,
            args.digest,
            timeout_s=args.timeout,
            interval_s=args.interval,
        )
    except (ImageNotReplicatedError, RegistryError) as exc:
        print(f"wait_for_image: {exc}", file=sys.stderr)
        return 1
    print(f"{repository}@{args.digest} is in every region: {', '.join(regions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

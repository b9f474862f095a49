"""``meshctl models``: publish model versions, see where they have replicated, move the pointer.

    meshctl models publish NAME VERSION PATH   upload a Triton model directory to the primary
    meshctl models status NAME [VERSION]       per region: present, complete, replication lag
    meshctl models promote NAME VERSION        point serving at VERSION in every region
    meshctl models rollback NAME               point serving back at the previous version

Exit codes: 0 done (status: complete everywhere), 1 refused (or status: incomplete
somewhere), 2 bad input or AWS unreachable. Bucket layout and guarantees:
model_artifacts/README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)

from components.serving_plan import rollout_restart_command
from meshctl.aws import AwsClients, add_aws_arguments
from meshctl.output import add_json_argument, print_json, print_table, progress
from model_artifacts.catalog import ModelSpec, load_model_catalog
from model_artifacts.registry import (
    ArtifactStore,
    MissingBucketError,
    ModelStatus,
    Pointer,
    PublishResult,
    RegistryError,
    TransferSettings,
    VersionStatus,
    artifact_store,
    check_model_file,
    collect_model_directory,
    model_status,
    promote,
    publish,
    rollback,
)
from regions.catalog import CatalogError, load_catalog
from stacks.naming import ENVIRONMENTS, cluster_name

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT = 0, 1, 2
MiB = 1 << 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="publish, inspect, promote and roll back models")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    _publish_parser(commands)
    status = _common(commands.add_parser("status", help="where a version is present and complete"))
    status.add_argument("version", type=int, nargs="?", help="default: every published version")
    _verify_argument(status)
    status.set_defaults(handler=lambda a: _run(a, _status))
    promote_parser = _common(
        commands.add_parser("promote", help="make VERSION active in every region")
    )
    promote_parser.add_argument("version", type=int)
    _verify_argument(promote_parser)
    promote_parser.set_defaults(handler=lambda a: _run(a, _promote))
    rollback_parser = _common(
        commands.add_parser("rollback", help="make the previous version active again")
    )
    _verify_argument(rollback_parser)
    rollback_parser.set_defaults(handler=lambda a: _run(a, _rollback))


def _publish_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = _common(
        commands.add_parser(
            "publish",
            help="upload a Triton model directory as VERSION",
            description="Upload PATH (config.pbtxt plus VERSION/) to the primary artifact "
            "bucket in parallel, read every object back to check its sha256, then write the "
            "manifest that makes the version visible. Refuses existing versions.",
        )
    )
    parser.add_argument("version", type=int, help="Triton version number (a directory of PATH)")
    parser.add_argument("path", type=Path, help="the model directory holding config.pbtxt")
    defaults = TransferSettings()
    parser.add_argument(
        "--part-size-mib", type=int, default=defaults.part_size // MiB, help="multipart part size"
    )
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="parallel requests"
    )
    parser.set_defaults(handler=lambda a: _run(a, _publish))


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("name", help="model name from the model catalog")
    parser.add_argument("--env", choices=ENVIRONMENTS, default="prod", help="environment (prod)")
    parser.add_argument("--models", type=Path, default=None, help="model catalog file")
    parser.add_argument("--catalog", type=Path, default=None, help="region catalog directory")
    add_json_argument(parser)
    add_aws_arguments(parser)
    return parser


def _verify_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-content",
        action="store_true",
        help="download every object and recompute its sha256 (default: size and sha256 "
        "metadata against the manifest)",
    )


Action = Callable[[argparse.Namespace, ModelSpec, ArtifactStore], int]


def _run(args: argparse.Namespace, action: Action) -> int:
    """Shared set-up and the mapping of every failure to a message and an exit code."""
    command = f"meshctl models {args.models_command}"
    try:
        catalog = load_model_catalog(args.models)
        model = catalog.get(args.name)
        store = _store(args)
    except KeyError as exc:  # an unknown model: the message lists the known ones
        print(f"{command}: {exc.args[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CatalogError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return action(args, model, store)
    except MissingBucketError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RegistryError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (BotoCoreError, ClientError) as exc:
        print(f"{command}: AWS call failed: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _store(args: argparse.Namespace) -> ArtifactStore:
    clients = AwsClients.from_args(args)
    # Enough pooled connections for every parallel part; otherwise urllib3 drops and reopens.
    config = Config(
        retries={"max_attempts": 8, "mode": "adaptive"},
        max_pool_connections=max(10, getattr(args, "concurrency", 10) + 2),
    )

    def s3_client(region: str) -> Any:
        return clients.session.client(
            "s3", region_name=region, endpoint_url=clients.endpoint_url, config=config
        )

    return artifact_store(args.env, load_catalog(args.catalog), s3_client)


def _publish(args: argparse.Namespace, model: ModelSpec, store: ArtifactStore) -> int:
    files = collect_model_directory(args.path, model.name, args.version)
    model_path = f"{args.version}/{model.model_file}"
    recorded = next((v for v in model.versions if v.version == args.version), None)
    if recorded is not None:
        check_model_file(files, model_path, recorded.sha256)
    else:
        local = next((f for f in files if f.path == model_path), None)
        detail = f"sha256: {local.sha256}, size_bytes: {local.size}" if local else "its sha256"
        print(
            f"note: {model.name} version {args.version} is not in the model catalog; add it "
            f"to models.yaml ({detail}) so the catalog lists what is served",
            file=sys.stderr,
        )
    total = sum(f.size for f in files)
    settings = TransferSettings(args.part_size_mib * MiB, args.concurrency)
    with progress(enabled=not args.json) as bar:
        tasks = {
            "upload": bar.add_task(f"uploading to {store.primary.bucket}", total=total),
            "verify": bar.add_task("verifying sha256", total=total),
        }
        result = publish(
            store.primary,
            model.name,
            args.version,
            files,
            settings=settings,
            progress=lambda phase, n: bar.advance(tasks[phase], n),
        )
    _print_published(result, as_json=args.json)
    return EXIT_OK


def _print_published(result: PublishResult, *, as_json: bool) -> None:
    manifest = result.manifest
    mib = manifest.total_bytes / MiB
    document = {
        "model": manifest.model,
        "version": manifest.version,
        "bucket": result.target.bucket,
        "region": result.target.region,
        "published_at": manifest.published_at,
        "files": [vars(f) for f in manifest.files],
        "upload_seconds": round(result.upload_seconds, 3),
        "verify_seconds": round(result.verify_seconds, 3),
    }
    if as_json:
        print_json(document)
        return
    rate = mib / max(result.upload_seconds, 1e-3)
    print(
        f"published {manifest.model} version {manifest.version} to "
        f"{result.target.url()} ({len(manifest.files)} files, {_size(manifest.total_bytes)}): "
        f"upload {result.upload_seconds:.1f} s ({rate:.1f} MiB/s), sha256 read-back "
        f"{result.verify_seconds:.1f} s; replication carries it to the other regions"
    )


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB"


def _status(args: argparse.Namespace, model: ModelSpec, store: ArtifactStore) -> int:
    status = model_status(store, model.name, args.version, verify_content=args.verify_content)
    if args.json:
        print_json(_status_document(status))
    else:
        _print_status(status, model)
    if args.version is None:
        return EXIT_OK
    return EXIT_OK if status.versions[0].complete_everywhere else EXIT_REFUSED


def _status_document(status: ModelStatus) -> dict[str, Any]:
    return {
        "model": status.model,
        "active": dict(status.active),
        "versions": [
            {
                "version": v.version,
                "published_at": v.published_at,
                "complete_everywhere": v.complete_everywhere,
                "regions": [
                    {
                        "region": r.region,
                        "bucket": r.bucket,
                        "primary": r.is_primary,
                        "present": r.present,
                        "complete": r.complete,
                        "objects_present": r.objects_present,
                        "objects_expected": r.objects_expected,
                        "lag_seconds": r.lag_seconds,
                        "behind_seconds": r.behind_seconds,
                        "replication_status": dict(r.replication_status),
                        "problems": list(r.problems),
                    }
                    for r in v.regions
                ],
            }
            for v in status.versions
        ],
    }


def _print_status(status: ModelStatus, model: ModelSpec) -> None:
    active = dict(status.active)
    if not status.versions:
        print(f"{model.name}: no version published")
    for version in status.versions:
        _print_version(version, active)
    print(
        f"{model.name}: catalog active version {model.active}; pointer per region: "
        + ", ".join(f"{r}={v if v is not None else 'none'}" for r, v in status.active)
    )


def _print_version(version: VersionStatus, active: dict[str, int | None]) -> None:
    verdict = (
        "complete in every region"
        if version.complete_everywhere
        else f"incomplete in {', '.join(version.incomplete_regions)}"
    )
    print_table(
        f"{version.model} version {version.version}: {verdict}",
        ["region", "present", "complete", "objects", "lag", "replication", "active", "problems"],
        [
            (
                r.region,
                "yes" if r.present else "no",
                "yes" if r.complete else "no",
                f"{r.objects_present}/{r.objects_expected}",
                r.lag_text,
                ", ".join(f"{k} {n}" for k, n in r.replication_status) or "-",
                active.get(r.region) if active.get(r.region) is not None else "none",
                "; ".join(r.problems) or "-",
            )
            for r in version.regions
        ],
    )


def _promote(args: argparse.Namespace, model: ModelSpec, store: ArtifactStore) -> int:
    pointer = promote(store, model.name, args.version, verify_content=args.verify_content)
    _print_pointer("promoted", pointer, model, args.env, store, as_json=args.json)
    return EXIT_OK


def _rollback(args: argparse.Namespace, model: ModelSpec, store: ArtifactStore) -> int:
    pointer = rollback(store, model.name, verify_content=args.verify_content)
    _print_pointer("rolled back", pointer, model, args.env, store, as_json=args.json)
    return EXIT_OK


def rollout_commands(model: ModelSpec, environment: str, regions: list[str]) -> dict[str, str]:
    """Region -> the command that makes its Triton pods load the moved pointer (they read it
    when they start). Contexts are named after the clusters: ``aws eks update-kubeconfig
    --region <region> --name <cluster> --alias <cluster>``."""
    return {
        region: rollout_restart_command(model, cluster_name(environment, region))
        for region in regions
    }


def _print_pointer(
    what: str,
    pointer: Pointer,
    model: ModelSpec,
    environment: str,
    store: ArtifactStore,
    *,
    as_json: bool,
) -> None:
    regions = [t.region for t in store.regions]
    rollout = rollout_commands(model, environment, regions)
    if as_json:
        print_json(
            {
                "model": pointer.model,
                "active": pointer.active,
                "previous": pointer.previous,
                "history": list(pointer.history),
                "regions": regions,
                "rollout": rollout,
            }
        )
        return
    previous = pointer.previous if pointer.previous is not None else "none"
    print(
        f"{what} {pointer.model}: active version {pointer.active} (previous {previous}) "
        f"in {', '.join(regions)}"
    )
    print(
        "Triton reads the pointer when a pod starts: roll it out in each region (kube "
        "contexts named after the clusters, aws eks update-kubeconfig --name <cluster> "
        "--alias <cluster>):"
    )
    for command in rollout.values():
        print(f"  {command}")

"""Stand-ins for a local moto server: the buckets the stack would create, and replication.

moto stores replication configurations but never copies an object, so tests and the README
walkthrough copy objects themselves. Both commands refuse any endpoint that is not on this
machine: they are never a way to touch a real account.

    python -m model_artifacts.registry.local create-buckets --env dev --endpoint-url URL
    python -m model_artifacts.registry.local replicate resnet50-lite 1 --env dev \
        --endpoint-url URL [--skip eu-west-1:1/model.onnx]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

import boto3  # type: ignore[import-untyped, unused-ignore]

from model_artifacts.registry.layout import version_prefix
from model_artifacts.registry.store import ArtifactStore, artifact_store
from regions.catalog import load_catalog
from stacks.naming import ENVIRONMENTS

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def local_store(environment: str, endpoint_url: str) -> ArtifactStore:
    if urlparse(endpoint_url).hostname not in _LOCAL_HOSTS:
        raise ValueError(f"--endpoint-url must be a local moto server, got {endpoint_url!r}")

    def s3_client(region: str) -> Any:
        return boto3.client("s3", region_name=region, endpoint_url=endpoint_url)

    return artifact_store(environment, load_catalog(), s3_client)


def create_buckets(store: ArtifactStore) -> None:
    """Versioned, as the stack creates them (replication requires versioning)."""
    for target in store.regions:
        location = (
            {}
            if target.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": target.region}}
        )
        target.s3.create_bucket(Bucket=target.bucket, **location)
        target.s3.put_bucket_versioning(
            Bucket=target.bucket, VersioningConfiguration={"Status": "Enabled"}
        )


def replicate(
    store: ArtifactStore,
    model: str,
    version: int,
    *,
    regions: Iterable[str] | None = None,
    skip: Iterable[tuple[str, str]] = (),
) -> int:
    """Copy a version's objects from the primary; ``skip``: (region, path) not arrived yet.

    ``copy_object`` keeps user metadata (the sha256) as S3 replication does; unlike S3
    replication it gives the copy a new LastModified, which is what status reads as lag.
    """
    prefix = version_prefix(model, version)
    listed = store.primary.s3.list_objects_v2(Bucket=store.primary.bucket, Prefix=prefix)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    missing = set(skip)
    wanted = set(regions) if regions is not None else None
    copied = 0
    for target in store.replicas:
        if wanted is not None and target.region not in wanted:
            continue
        for key in keys:
            if (target.region, key[len(prefix) :]) in missing:
                continue
            source = {"Bucket": store.primary.bucket, "Key": key}
            target.s3.copy_object(Bucket=target.bucket, Key=key, CopySource=source)
            copied += 1
    return copied


def _skip(value: str) -> tuple[str, str]:
    region, _, path = value.partition(":")
    if not path:
        raise argparse.ArgumentTypeError(f"expected REGION:PATH, got {value!r}")
    return region, path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_artifacts.registry.local")
    parser.add_argument("action", choices=["create-buckets", "replicate"])
    parser.add_argument("model", nargs="?")
    parser.add_argument("version", nargs="?", type=int)
    parser.add_argument("--env", choices=ENVIRONMENTS, default="dev")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--regions", nargs="+", help="replicate to these regions only")
    parser.add_argument("--skip", type=_skip, action="append", default=[], metavar="REGION:PATH")
    args = parser.parse_args(argv)
    store = local_store(args.env, args.endpoint_url)
    if args.action == "create-buckets":
        create_buckets(store)
        print(f"created {len(store.regions)} versioned buckets: {store.primary.bucket}, ...")
        return 0
    if args.model is None or args.version is None:
        parser.error("replicate needs MODEL VERSION")
    copied = replicate(store, args.model, args.version, regions=args.regions, skip=args.skip)
    print(f"copied {copied} objects of {args.model} version {args.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Following references between resources of one stack (and into referenced stacks).

Stack rules see outputs, where a child resource names its parent by value: a bucket
configuration carries the bucket's name, a flow log its VPC's id, a listener its
accelerator's ARN. These helpers join on those values instead of guessing from logical names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies import facts
from policies.props import bucket_name, get, is_list, text
from policies.rule import ResourceView, StackView
from policies.tokens import (
    ACCELERATOR,
    FLOW_LOG,
    LOAD_BALANCERS,
    S3_BUCKETS,
    S3_LOGGING,
    STACK_REFERENCE,
)

LB_LOG_KINDS = ("accessLogs", "connectionLogs")


def bucket_ids(bucket: ResourceView) -> set[str]:
    """The values other resources use to name this bucket: its name and its id."""
    return {v for v in (text(bucket.props.get("bucket")), text(bucket.props.get("id"))) if v}


def buckets(stack: StackView) -> list[ResourceView]:
    return stack.of_type(*S3_BUCKETS)


def attached_to_buckets(stack: StackView, types: frozenset[str]) -> dict[str, list[ResourceView]]:
    """Bucket name -> the configuration resources of ``types`` naming it."""
    found: dict[str, list[ResourceView]] = {}
    for config in stack.of_type(*types):
        found.setdefault(bucket_name(config.props.get("bucket")), []).append(config)
    return found


def configs_of(
    bucket: ResourceView, attached: Mapping[str, list[ResourceView]]
) -> list[ResourceView]:
    return [c for name in bucket_ids(bucket) for c in attached.get(name, [])]


def find_bucket(stack: StackView, reference: Any) -> ResourceView | None:
    name = bucket_name(reference)
    return next((b for b in buckets(stack) if name and name in bucket_ids(b)), None)


def log_destinations(stack: StackView) -> set[str]:
    """Buckets that receive logs: S3 access-log targets, VPC and accelerator flow-log
    buckets, load balancer access- and connection-log buckets."""
    names = {bucket_name(c.props.get("targetBucket")) for c in stack.of_type(*S3_LOGGING)}
    for balancer in stack.of_type(*LOAD_BALANCERS):
        names |= {text(get(balancer.props, kind, "bucket")) for kind in LB_LOG_KINDS}
    for flow_log in stack.of_type(FLOW_LOG):
        if text(flow_log.props.get("logDestinationType")) == "s3":
            names.add(bucket_name(text(flow_log.props.get("logDestination")).split("/")[0]))
    for accelerator in stack.of_type(ACCELERATOR):
        names.add(text(get(accelerator.props, "attributes", "flowLogsS3Bucket")))
    return names - {""}


def referenced_stacks(stack: StackView) -> list[Mapping[str, Any]]:
    """The exported outputs of every stack this one reads through a StackReference."""
    outputs = [get(r.props, "outputs") for r in stack.of_type(STACK_REFERENCE)]
    return [o for o in outputs if isinstance(o, Mapping)]


def _values(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _values(item)
    elif is_list(value):
        for item in value:
            yield from _values(item)
    elif isinstance(value, str):
        yield value


def bucket_region(stack: StackView, reference: Any) -> str | None:
    """Where the bucket named by ``reference`` (name or ARN) lives.

    A bucket of this stack knows its region; a bucket exported by a referenced regional
    stack lives in that stack's ``region``; failing both, the catalog region its name
    carries (every regional name embeds the region, stacks/naming.py)."""
    bucket = find_bucket(stack, reference)
    if bucket is not None:
        return bucket.region
    name = bucket_name(reference)
    for outputs in referenced_stacks(stack):
        if any(bucket_name(v) == name for v in _values(outputs)):
            region = outputs.get("region")
            if isinstance(region, str):
                return region
    embedded = [r for r in facts.catalog().names if f"-{r}-" in f"-{name}-"]
    return max(embedded, key=len) if embedded else None

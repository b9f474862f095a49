"""Following references between resources of one stack (and into referenced stacks).

Stack rules see outputs, where a child resource names its parent by value: a bucket
configuration carries the bucket's name, a flow log its VPC's id, a listener its
accelerator's ARN. These helpers join on those values instead of guessing from logical names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies import facts
from policies.props import bucket_name, get, strings, text
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


def identifiers(view: ResourceView, *fields: str) -> set[str]:
    """The non-empty values of ``fields``: what other resources name ``view`` by (its ARN,
    id, name...)."""
    return {text(view.props.get(f)) for f in fields} - {""}


def bucket_ids(bucket: ResourceView) -> set[str]:
    """The values other resources use to name this bucket: its name and its id."""
    return identifiers(bucket, "bucket", "id")


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


def buckets_with(
    stack: StackView, types: frozenset[str]
) -> list[tuple[ResourceView, list[ResourceView]]]:
    """Every bucket of the stack with the configuration resources of ``types`` naming it."""
    attached = attached_to_buckets(stack, types)
    return [(bucket, configs_of(bucket, attached)) for bucket in buckets(stack)]


def find_bucket(stack: StackView, reference: Any) -> ResourceView | None:
    name = bucket_name(reference)
    return next((b for b in buckets(stack) if name and name in bucket_ids(b)), None)


def access_log_targets(stack: StackView) -> set[str]:
    """Buckets that S3 server access logging delivers to."""
    return {bucket_name(c.props.get("targetBucket")) for c in stack.of_type(*S3_LOGGING)}


def flow_log_bucket(flow_log: ResourceView) -> str | None:
    """The bucket a VPC flow log delivers to (``arn:aws:s3:::name/prefix``); ``None`` when
    it delivers to CloudWatch Logs."""
    if text(flow_log.props.get("logDestinationType")) != "s3":
        return None
    return bucket_name(text(flow_log.props.get("logDestination")).split("/")[0])


def accelerator_log_bucket(accelerator: ResourceView) -> str:
    """The bucket an accelerator writes its flow logs to; empty when it names none."""
    return text(get(accelerator.props, "attributes", "flowLogsS3Bucket"))


def log_destinations(stack: StackView) -> set[str]:
    """Buckets that receive logs: S3 access-log targets, VPC and accelerator flow-log
    buckets, load balancer access- and connection-log buckets."""
    names = access_log_targets(stack)
    for balancer in stack.of_type(*LOAD_BALANCERS):
        names |= {text(get(balancer.props, kind, "bucket")) for kind in LB_LOG_KINDS}
    for flow_log in stack.of_type(FLOW_LOG):
        bucket = flow_log_bucket(flow_log)
        if bucket is not None:
            names.add(bucket)
    for accelerator in stack.of_type(ACCELERATOR):
        names.add(accelerator_log_bucket(accelerator))
    return names - {""}


def referenced_stacks(stack: StackView) -> list[Mapping[str, Any]]:
    """The exported outputs of every stack this one reads through a StackReference."""
    outputs = [get(r.props, "outputs") for r in stack.of_type(STACK_REFERENCE)]
    return [o for o in outputs if isinstance(o, Mapping)]


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
        if any(bucket_name(v) == name for _, v in strings(outputs)):
            region = outputs.get("region")
            if isinstance(region, str):
                return region
    embedded = [r for r in facts.catalog().names if f"-{r}-" in f"-{name}-"]
    return max(embedded, key=len) if embedded else None

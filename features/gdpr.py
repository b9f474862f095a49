"""GDPR erasure (Art. 17) and access/portability export (Art. 15, 20) for one user in one region.

Library for ``meshctl gdpr``: callers pass region-pinned boto3 clients and physical names.
What the mesh holds about a user in a region: the online item (key ``user_id``) and every
version of every object under ``raw-events/user_id=<id>/`` in the offline bucket.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from features.events import raw_events_prefix, validate_user_id

DELETE_BATCH = 1000
"""DeleteObjects takes at most 1000 keys per call."""
VERIFY_PASSES = 3
"""The feature Lambda may write a new object while we erase: list and delete again until the
prefix is empty, a few times, then report what is left."""

NOT_COVERED = (
    "point-in-time-recovery backups of the feature table keep the deleted item until they age "
    "out of the recovery window",
    "malformed events in the dead-letter queue are kept until the queue's retention expires",
    "events still in the event stream's retention can be counted again if the stream is replayed",
)


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    is_delete_marker: bool = False
    is_latest: bool = False


@dataclass
class ErasureReceipt:
    user_id: str
    region: str
    table: str
    bucket: str
    dry_run: bool
    online_items: list[dict[str, str]] = field(default_factory=list)
    """Keys of the deleted online items (at most one: the table is keyed by user_id)."""
    object_versions: list[ObjectVersion] = field(default_factory=list)
    """Every deleted object version and delete marker."""
    remaining: list[ObjectVersion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    not_covered: tuple[str, ...] = NOT_COVERED

    @property
    def complete(self) -> bool:
        return not self.errors and not self.remaining

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["complete"] = self.complete
        return document


def erase_user(
    user_id: str,
    *,
    region: str,
    table: str,
    bucket: str,
    dynamodb: Any,
    s3: Any,
    dry_run: bool = False,
) -> ErasureReceipt:
    """Delete the user's online item and every version of their raw events; say what went."""
    validate_user_id(user_id)
    receipt = ErasureReceipt(user_id, region, table, bucket, dry_run)
    _erase_online(receipt, dynamodb)
    prefix = raw_events_prefix(user_id)
    if dry_run:
        receipt.object_versions = list_versions(s3, bucket, prefix)
        return receipt
    for _ in range(VERIFY_PASSES):
        versions = list_versions(s3, bucket, prefix)
        if not versions:
            break
        receipt.object_versions.extend(_delete_versions(s3, bucket, versions, receipt.errors))
    receipt.remaining = list_versions(s3, bucket, prefix)
    return receipt


def export_user(
    user_id: str, *, region: str, table: str, bucket: str, dynamodb: Any, s3: Any
) -> dict[str, Any]:
    """Everything held about the user in the region, as a JSON-serialisable document."""
    validate_user_id(user_id)
    response = dynamodb.get_item(
        TableName=table, Key={"user_id": {"S": user_id}}, ConsistentRead=True
    )
    item = response.get("Item")
    objects = [
        _export_object(s3, bucket, version)
        for version in list_versions(s3, bucket, raw_events_prefix(user_id))
        if not version.is_delete_marker
    ]
    return {
        "user_id": user_id,
        "region": region,
        "online_store": {"table": table, "item": None if item is None else plain_item(item)},
        "offline_store": {"bucket": bucket, "objects": objects},
    }


def list_versions(s3: Any, bucket: str, prefix: str) -> list[ObjectVersion]:
    """Every object version and delete marker under ``prefix``."""
    found: list[ObjectVersion] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []):
            found.append(ObjectVersion(entry["Key"], entry["VersionId"], False, entry["IsLatest"]))
        for entry in page.get("DeleteMarkers", []):
            found.append(ObjectVersion(entry["Key"], entry["VersionId"], True, entry["IsLatest"]))
    return found


def plain_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values (numbers stay exact: ints, else decimal strings)."""
    return {name: _plain(value) for name, value in item.items()}


def _erase_online(receipt: ErasureReceipt, dynamodb: Any) -> None:
    key = {"user_id": {"S": receipt.user_id}}
    if receipt.dry_run:
        response = dynamodb.get_item(TableName=receipt.table, Key=key, ConsistentRead=True)
        if "Item" in response:
            receipt.online_items.append({"user_id": receipt.user_id})
        return
    response = dynamodb.delete_item(TableName=receipt.table, Key=key, ReturnValues="ALL_OLD")
    if response.get("Attributes"):
        receipt.online_items.append({"user_id": receipt.user_id})


def _delete_versions(
    s3: Any, bucket: str, versions: list[ObjectVersion], errors: list[str]
) -> list[ObjectVersion]:
    by_id = {(v.key, v.version_id): v for v in versions}
    deleted: list[ObjectVersion] = []
    for start in range(0, len(versions), DELETE_BATCH):
        chunk = versions[start : start + DELETE_BATCH]
        response = s3.delete_objects(
            Bucket=bucket,
            Delete={
                "Objects": [{"Key": v.key, "VersionId": v.version_id} for v in chunk],
                "Quiet": False,
            },
        )
        # The receipt lists what S3 says it deleted, not what we asked for.
        for entry in response.get("Deleted", []):
            found = by_id.get((entry["Key"], entry.get("VersionId", "")))
            if found is not None:
                deleted.append(found)
        for entry in response.get("Errors", []):
            errors.append(
                f"s3://{bucket}/{entry.get('Key')} version {entry.get('VersionId')}: "
                f"{entry.get('Code')}: {entry.get('Message')}"
            )
    return deleted


def _export_object(s3: Any, bucket: str, version: ObjectVersion) -> dict[str, Any]:
    response = s3.get_object(Bucket=bucket, Key=version.key, VersionId=version.version_id)
    events: list[Any] = []
    unparsed: list[str] = []
    for line in response["Body"].read().decode("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            unparsed.append(line)  # still the user's data: export it as text
    document: dict[str, Any] = {
        "key": version.key,
        "version_id": version.version_id,
        "is_latest": version.is_latest,
        "last_modified": str(response.get("LastModified", "")),
        "events": events,
    }
    if unparsed:
        document["unparsed_lines"] = unparsed
    return document


def _plain(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "N":
        return int(inner) if inner.lstrip("-").isdigit() else inner
    if kind == "NULL":
        return None
    return sorted(inner) if kind in {"SS", "NS", "BS"} else inner  # S, B, BOOL as they are

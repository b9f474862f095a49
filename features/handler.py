"""The feature computation Lambda: a Kinesis batch in, online features and raw events out.

Deployed as Lambda code (standard library + boto3). Entry point: ``features.handler.handler``.
The event source mapping must enable ``ReportBatchItemFailures``: the function returns the
sequence numbers of the records that truly failed, so Lambda retries from the lowest of them
and good records before it are not reprocessed; those after it are replayed and deduplicated
(see ``features.compute``).

Per user, in this order:
1. read the item (consistent read) and fold the user's events into its window state;
2. archive the newly counted events to the offline bucket (before the item, so a crash between
   the two cannot lose raw events: the retry finds them uncounted and writes the same key);
3. write the item conditionally on the revision read in step 1; on a conflict (a concurrent
   batch or an erase) start again from step 1.

Malformed records go to the dead-letter queue with the reason and do not fail the batch.
Logs carry counts, reasons and sequence numbers, never event contents (personal data).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from features.compute import Applied, apply_events, compute_features
from features.events import MalformedEventError, UserEvent, parse_kinesis_record, raw_event_key
from features.store import decode_item, encode_item, item_key

LOG = logging.getLogger("features")
LOG.setLevel(logging.INFO)

ENV_TABLE = "FEATURE_TABLE"
ENV_BUCKET = "OFFLINE_BUCKET"
ENV_QUEUE = "DEAD_LETTER_QUEUE_URL"
ENV_TTL_DAYS = "FEATURE_TTL_DAYS"
DEFAULT_TTL_DAYS = 30
MAX_WRITE_ATTEMPTS = 5
SQS_BATCH = 10
MAX_DEAD_LETTER_DATA = 192 * 1024
"""Kinesis records reach 1 MiB; an SQS message is at most 256 KiB with the envelope."""


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or invalid."""


class WriteConflictError(RuntimeError):
    """The item kept changing under us (a hot user or an erase in progress)."""


@dataclass(frozen=True)
class Settings:
    table: str
    bucket: str
    queue_url: str
    ttl_seconds: int = DEFAULT_TTL_DAYS * 86400

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if env is None else env
        missing = [k for k in (ENV_TABLE, ENV_BUCKET, ENV_QUEUE) if not env.get(k)]
        if missing:
            raise ConfigurationError(f"environment variables {missing} must be set")
        ttl_days = env.get(ENV_TTL_DAYS, str(DEFAULT_TTL_DAYS))
        if not ttl_days.isdigit() or int(ttl_days) < 1:
            raise ConfigurationError(
                f"{ENV_TTL_DAYS} must be a whole number of days >= 1, got {ttl_days!r}"
            )
        return cls(env[ENV_TABLE], env[ENV_BUCKET], env[ENV_QUEUE], int(ttl_days) * 86400)


@dataclass
class Deps:
    settings: Settings
    dynamodb: Any
    s3: Any
    sqs: Any


@dataclass
class _Parsed:
    good: list[tuple[UserEvent, str]] = field(default_factory=list)
    malformed: list[tuple[dict[str, Any], str]] = field(default_factory=list)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point."""
    return process_batch(event.get("Records", []), _deps_from_env(), time.time())


@cache
def _deps_from_env() -> Deps:
    # Built once per execution environment: clients are reused across invocations.
    settings = Settings.from_env()
    return Deps(settings, boto3.client("dynamodb"), boto3.client("s3"), boto3.client("sqs"))


def process_batch(records: Sequence[dict[str, Any]], deps: Deps, now: float) -> dict[str, Any]:
    """Process one batch; return the partial batch response."""
    parsed = _parse(records, now)
    failed = _send_dead_letters(parsed.malformed, deps)
    by_user: dict[str, list[tuple[UserEvent, str]]] = defaultdict(list)
    for user_event, sequence in parsed.good:
        by_user[user_event.user_id].append((user_event, sequence))
    for user_id, items in by_user.items():
        try:
            _update_user(user_id, [e for e, _ in items], deps, now)
        except Exception:
            # One user's failure must not lose the rest of the batch: report its records
            # for retry and carry on (Lambda retries from the lowest reported sequence).
            LOG.exception("feature update failed for %d records", len(items))
            failed.extend(sequence for _, sequence in items)
    LOG.info(
        json.dumps(
            {"records": len(records), "malformed": len(parsed.malformed), "failed": len(failed)}
        )
    )
    return {"batchItemFailures": [{"itemIdentifier": s} for s in _ordered(failed)]}


def _parse(records: Sequence[dict[str, Any]], now: float) -> _Parsed:
    parsed = _Parsed()
    for record in records:
        sequence = str(record.get("kinesis", {}).get("sequenceNumber", ""))
        try:
            parsed.good.append((parse_kinesis_record(record, now), sequence))
        except MalformedEventError as exc:
            parsed.malformed.append((record, exc.reason))
    return parsed


def _update_user(user_id: str, events: list[UserEvent], deps: Deps, now: float) -> None:
    table = deps.settings.table
    for _ in range(MAX_WRITE_ATTEMPTS):
        response = deps.dynamodb.get_item(
            TableName=table, Key=item_key(user_id), ConsistentRead=True
        )
        state, revision = decode_item(response.get("Item"))
        applied: Applied[UserEvent] = apply_events(state, events, now)
        _archive(user_id, [*applied.accepted, *applied.too_old], deps)
        if not applied.accepted:
            return  # a replay, or only events too old to count: the item stays as it is
        item = encode_item(
            user_id,
            applied.state,
            compute_features(applied.state, now),
            now,
            deps.settings.ttl_seconds,
            revision + 1,
        )
        if _put_if_unchanged(deps.dynamodb, table, item, revision):
            return
    raise WriteConflictError(f"item changed {MAX_WRITE_ATTEMPTS} times while being updated")


def _put_if_unchanged(dynamodb: Any, table: str, item: dict[str, Any], revision: int) -> bool:
    condition: dict[str, Any] = (
        {"ConditionExpression": "attribute_not_exists(user_id)"}
        if revision == 0
        else {
            "ConditionExpression": "revision = :revision",
            "ExpressionAttributeValues": {":revision": {"N": str(revision)}},
        }
    )
    try:
        dynamodb.put_item(TableName=table, Item=item, **condition)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _archive(user_id: str, events: Sequence[UserEvent], deps: Deps) -> None:
    by_day: dict[str, list[UserEvent]] = defaultdict(list)
    for event in events:
        by_day[datetime.fromtimestamp(event.ts, UTC).strftime("%Y/%m/%d")].append(event)
    for day, day_events in sorted(by_day.items()):
        ordered = sorted(day_events, key=lambda e: (e.ts, e.event_id))
        body = "".join(
            json.dumps(e.raw, sort_keys=True, separators=(",", ":")) + "\n" for e in ordered
        )
        deps.s3.put_object(
            Bucket=deps.settings.bucket,
            Key=raw_event_key(user_id, day, ordered),
            Body=body.encode("utf-8"),
            ContentType="application/x-ndjson",
        )


def dead_letter_body(record: dict[str, Any], reason: str) -> str:
    """What an operator needs to find, fix or replay a malformed record."""
    kinesis = record.get("kinesis", {})
    data = str(kinesis.get("data", ""))
    return json.dumps(
        {
            "reason": reason,
            "eventSourceARN": record.get("eventSourceARN"),
            "eventID": record.get("eventID"),
            "sequenceNumber": kinesis.get("sequenceNumber"),
            "partitionKey": kinesis.get("partitionKey"),
            "approximateArrivalTimestamp": kinesis.get("approximateArrivalTimestamp"),
            "data": data[:MAX_DEAD_LETTER_DATA],
            "dataTruncated": len(data) > MAX_DEAD_LETTER_DATA,
        },
        sort_keys=True,
    )


def _send_dead_letters(malformed: list[tuple[dict[str, Any], str]], deps: Deps) -> list[str]:
    """Send malformed records to the queue; return the sequence numbers that could not be sent."""
    failed: list[str] = []
    for start in range(0, len(malformed), SQS_BATCH):
        chunk = malformed[start : start + SQS_BATCH]
        entries = [
            {"Id": str(i), "MessageBody": dead_letter_body(record, reason)}
            for i, (record, reason) in enumerate(chunk)
        ]
        sequences = [str(r.get("kinesis", {}).get("sequenceNumber", "")) for r, _ in chunk]
        try:
            response = deps.sqs.send_message_batch(
                QueueUrl=deps.settings.queue_url, Entries=entries
            )
        except (ClientError, BotoCoreError):
            LOG.exception("dead-letter queue unavailable for %d records", len(chunk))
            failed.extend(sequences)
            continue
        failed.extend(sequences[int(f["Id"])] for f in response.get("Failed", []))
    return failed


def _ordered(sequences: list[str]) -> list[str]:
    # Kinesis sequence numbers are decimal strings of varying length: compare as integers.
    return sorted(set(sequences), key=lambda s: int(s) if s.isdigit() else -1)

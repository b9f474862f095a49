"""Raw user events (docs/contracts.md): parsing and validation of Kinesis records.

Standard library only: this module ships in the feature Lambda and is used by meshctl.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EVENT_TYPES = frozenset({"view", "click"})
RAW_PREFIX = "raw-events"
MAX_ID_LENGTH = 128
MAX_CLOCK_SKEW_SECONDS = 300
"""Producers' clocks drift; an event further in the future than this is a broken producer."""

# A user id becomes an S3 key segment (raw-events/user_id=<id>/), so anything that could
# escape that prefix (a slash, "..") or confuse tooling (control characters) is rejected.
_USER_ID = re.compile(r"[A-Za-z0-9._:@+=-]+")


class MalformedEventError(ValueError):
    """A record that can never be processed; ``reason`` says why (goes to the dead letters)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UserEvent:
    event_id: str
    user_id: str
    ts: float
    type: str
    class_id: int
    raw: dict[str, Any]
    """The event as the producer sent it (archived verbatim in the offline store)."""


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is safe to use as a key and an S3 prefix segment."""
    if (
        not isinstance(user_id, str)
        or not 0 < len(user_id) <= MAX_ID_LENGTH
        or not _USER_ID.fullmatch(user_id)
        or user_id in {".", ".."}
    ):
        raise ValueError(
            f"user_id must be 1-{MAX_ID_LENGTH} characters from A-Z a-z 0-9 . _ : @ + = - "
            f"(not '.' or '..'), got {user_id!r}"
        )
    return user_id


def decode_kinesis_data(data: str) -> dict[str, Any]:
    """The JSON object inside a Lambda Kinesis record's base64 ``data``."""
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedEventError("data is not base64-encoded UTF-8") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedEventError(f"data is not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(document, dict):
        raise MalformedEventError(f"event must be a JSON object, got {type(document).__name__}")
    return document


def parse_event(document: dict[str, Any], now: float) -> UserEvent:
    """Validate one event against the contract; raise ``MalformedEventError`` naming the field."""
    event_id = document.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        raise MalformedEventError(f"event_id must be a string of 1-{MAX_ID_LENGTH} characters")
    try:
        user_id = validate_user_id(document.get("user_id"))
    except ValueError as exc:
        raise MalformedEventError(str(exc)) from None
    ts = document.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        raise MalformedEventError("ts must be a positive number of epoch seconds")
    if ts > now + MAX_CLOCK_SKEW_SECONDS:
        raise MalformedEventError(
            f"ts is {ts - now:.0f} s in the future (more than {MAX_CLOCK_SKEW_SECONDS} s)"
        )
    event_type = document.get("type")
    if event_type not in EVENT_TYPES:
        raise MalformedEventError(f"type must be one of {sorted(EVENT_TYPES)}")
    class_id = document.get("class_id")
    if isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0:
        raise MalformedEventError("class_id must be a non-negative integer")
    return UserEvent(event_id, user_id, float(ts), str(event_type), class_id, document)


def parse_kinesis_record(record: dict[str, Any], now: float) -> UserEvent:
    """One record of a Lambda Kinesis event (``record["kinesis"]["data"]``)."""
    data = record.get("kinesis", {}).get("data")
    if not isinstance(data, str):
        raise MalformedEventError("record has no kinesis.data")
    return parse_event(decode_kinesis_data(data), now)


def raw_event_key(user_id: str, day: str, events: Sequence[UserEvent]) -> str:
    """``raw-events/user_id=<id>/<yyyy>/<mm>/<dd>/<batch>.jsonl``; ``day`` is ``yyyy/mm/dd``.

    The batch name is a hash of the event ids, so writing the same events again (a retry after
    a crash) overwrites the same key instead of adding a copy.
    """
    ids = "\n".join(sorted(e.event_id for e in events)).encode("utf-8")
    batch = hashlib.sha256(ids).hexdigest()[:20]
    return f"{RAW_PREFIX}/user_id={user_id}/{day}/{batch}.jsonl"


def raw_events_prefix(user_id: str) -> str:
    """Every raw event of a user lives under this prefix (the trailing slash matters)."""
    return f"{RAW_PREFIX}/user_id={user_id}/"

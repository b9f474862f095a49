"""Event parsing against the contract, and the online item codec (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.compute import Features, Limits, WindowState, apply_events, compute_features
from features.events import (
    MalformedEventError,
    parse_kinesis_record,
    raw_event_key,
    raw_events_prefix,
    validate_user_id,
)
from features.store import decode_item, encode_item

NOW = 1_800_000_000.0
GOOD = {"event_id": "e-1", "user_id": "u-1", "ts": NOW - 10, "type": "click", "class_id": 7}


def _record(payload: Any, raw: bytes | None = None) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps(payload).encode()
    return {"kinesis": {"data": base64.b64encode(data).decode(), "sequenceNumber": "1"}}


def test_good_record_parses_and_keeps_the_raw_event() -> None:
    event = parse_kinesis_record(_record({**GOOD, "extra": "kept"}), NOW)
    assert (event.event_id, event.user_id, event.ts, event.type, event.class_id) == (
        "e-1",
        "u-1",
        NOW - 10,
        "click",
        7,
    )
    assert event.raw["extra"] == "kept"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": ""}, "event_id must be a string"),
        ({"event_id": 5}, "event_id must be a string"),
        ({"user_id": "a/b"}, "user_id must be"),
        ({"user_id": ".."}, "user_id must be"),
        ({"user_id": None}, "user_id must be"),
        ({"ts": "yesterday"}, "ts must be a positive number"),
        ({"ts": True}, "ts must be a positive number"),
        ({"ts": -1}, "ts must be a positive number"),
        ({"ts": NOW + 3600}, "ts is 3600 s in the future"),
        ({"type": "purchase"}, "type must be one of ['click', 'view']"),
        ({"class_id": 1.5}, "class_id must be a non-negative integer"),
        ({"class_id": -1}, "class_id must be a non-negative integer"),
    ],
)
def test_each_contract_field_is_checked(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedEventError) as info:
        parse_kinesis_record(_record({**GOOD, **change}), NOW)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"kinesis": {"data": "%%%"}}, "not base64"),
        (_record(None, raw=b"\xff\xfe"), "not base64-encoded UTF-8"),
        (_record(None, raw=b"{not json"), "data is not JSON"),
        (_record([1, 2]), "event must be a JSON object, got list"),
        ({"kinesis": {}}, "record has no kinesis.data"),
    ],
)
def test_undecodable_records(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedEventError, match=reason):
        parse_kinesis_record(record, NOW)


def test_user_id_rules_keep_keys_inside_the_user_prefix() -> None:
    assert validate_user_id("user.name+tag@example.com") == "user.name+tag@example.com"
    for bad in ["", "a b", "a/b", "x" * 129, "..", "tab\t", "newline\n"]:
        with pytest.raises(ValueError, match="user_id must be"):
            validate_user_id(bad)
    assert raw_events_prefix("u1") == "raw-events/user_id=u1/"
    assert not "raw-events/user_id=u10/x".startswith(raw_events_prefix("u1"))


def test_raw_event_key_is_content_addressed() -> None:
    a = parse_kinesis_record(_record(GOOD), NOW)
    b = parse_kinesis_record(_record({**GOOD, "event_id": "e-2"}), NOW)
    key = raw_event_key("u-1", "2027/01/15", [a, b])
    assert key.startswith("raw-events/user_id=u-1/2027/01/15/")
    assert key.endswith(".jsonl")
    assert key == raw_event_key("u-1", "2027/01/15", [b, a])
    assert key != raw_event_key("u-1", "2027/01/15", [a])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(int(NOW) - 8 * 86400, int(NOW)), st.integers(0, 50)),
        max_size=30,
    )
)
def test_item_round_trip_preserves_state(raw: list[tuple[int, int]]) -> None:
    class Ev:
        def __init__(self, i: int, ts: int, class_id: int):
            self.event_id, self.ts, self.class_id = f"e{i}", float(ts), class_id

    limits = Limits(max_seen=10)
    state = apply_events(
        WindowState(), [Ev(i, ts, c) for i, (ts, c) in enumerate(raw)], NOW, limits
    ).state
    features = compute_features(state, NOW, limits)
    item = encode_item("u-1", state, features, NOW, ttl_seconds=86400, revision=3)
    assert decode_item(item) == (state, 3)
    assert json.loads(json.dumps(item)) == item  # plain JSON-able attribute values


def test_item_matches_the_contract() -> None:
    features = Features(
        events_1h=1, events_24h=2, events_7d=3, last_event_at=int(NOW), top_classes=(4, 2)
    )
    item = encode_item("u-1", WindowState(), features, NOW, ttl_seconds=60, revision=1)
    assert item["user_id"] == {"S": "u-1"}
    assert item["features"] == {
        "M": {
            "events_1h": {"N": "1"},
            "events_24h": {"N": "2"},
            "events_7d": {"N": "3"},
            "last_event_at": {"N": str(int(NOW))},
        }
    }
    assert item["top_classes"] == {"L": [{"N": "4"}, {"N": "2"}]}
    assert item["updated_at"] == {"N": str(int(NOW))}
    assert item["expires_at"] == {"N": str(int(NOW) + 60)}


def test_missing_item_decodes_to_empty_state() -> None:
    assert decode_item(None) == (WindowState(), 0)
    assert decode_item({"user_id": {"S": "u"}, "revision": {"N": "4"}}) == (WindowState(), 4)

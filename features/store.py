"""The online item (docs/contracts.md) in DynamoDB's attribute-value format, both ways.

Pure, so the codec is tested without AWS. Besides the contract attributes the item carries
``window_state`` (what the next batch folds into) and ``revision`` (optimistic locking).
"""

from __future__ import annotations

from typing import Any

from features.compute import Features, WindowState

Item = dict[str, Any]
"""A DynamoDB item as the low-level client sends and returns it ({"S": ...}, {"N": ...})."""


def item_key(user_id: str) -> Item:
    return {"user_id": {"S": user_id}}


def encode_item(
    user_id: str,
    state: WindowState,
    features: Features,
    now: float,
    ttl_seconds: int,
    revision: int,
) -> Item:
    feature_map = {
        "events_1h": _n(features.events_1h),
        "events_24h": _n(features.events_24h),
        "events_7d": _n(features.events_7d),
    }
    if features.last_event_at is not None:
        feature_map["last_event_at"] = _n(features.last_event_at)
    return {
        "user_id": {"S": user_id},
        "features": {"M": feature_map},
        "top_classes": {"L": [_n(c) for c in features.top_classes]},
        "updated_at": _n(int(now)),
        "expires_at": _n(int(now) + ttl_seconds),
        "window_state": {"M": _encode_state(state)},
        "revision": _n(revision),
    }


def decode_item(item: Item | None) -> tuple[WindowState, int]:
    """The window state and revision of a stored item; an empty state for a missing item."""
    if not item:
        return WindowState(), 0
    revision = int(item.get("revision", {}).get("N", "0"))
    raw = item.get("window_state", {}).get("M")
    if raw is None:
        return WindowState(), revision
    floor = raw.get("seen_floor", {}).get("N")
    last = raw.get("last_event_at", {}).get("N")
    return (
        WindowState(
            minutes=_int_map(raw.get("minutes")),
            hour_totals=_int_map(raw.get("hour_totals")),
            hour_classes={
                int(hour): _int_map(counts)
                for hour, counts in raw.get("hour_classes", {}).get("M", {}).items()
            },
            seen={key: int(ts["N"]) for key, ts in raw.get("seen", {}).get("M", {}).items()},
            seen_floor=None if floor is None else int(floor),
            last_event_at=None if last is None else int(last),
        ),
        revision,
    )


def _encode_state(state: WindowState) -> Item:
    encoded: Item = {
        "minutes": _map(state.minutes),
        "hour_totals": _map(state.hour_totals),
        "hour_classes": {"M": {str(h): _map(c) for h, c in state.hour_classes.items()}},
        "seen": {"M": {key: _n(ts) for key, ts in state.seen.items()}},
    }
    if state.seen_floor is not None:
        encoded["seen_floor"] = _n(state.seen_floor)
    if state.last_event_at is not None:
        encoded["last_event_at"] = _n(state.last_event_at)
    return encoded


def _n(value: int) -> dict[str, str]:
    return {"N": str(int(value))}


def _map(counts: Any) -> Item:
    return {"M": {str(k): _n(v) for k, v in counts.items()}}


def _int_map(attribute: Item | None) -> dict[int, int]:
    return {int(k): int(v["N"]) for k, v in (attribute or {}).get("M", {}).items()}

"""Pure feature math: fold user events into windowed state and read features from it.

No I/O and no clock: callers pass ``now``. The state is what the online item stores between
batches, and it is bounded whatever a user does:

- ``minutes``: event counts per minute for the last hour (at most 60 buckets);
- ``hour_totals`` / ``hour_classes``: counts per hour for the last 7 days (at most 168
  buckets), per class capped at ``Limits.max_classes_per_hour`` (totals stay exact);
- ``seen``: a short hash of each counted event id with its timestamp, for idempotence.

Idempotence. Kinesis delivers at least once: Lambda retries every record after a failed one,
and producers retry ``PutRecords``. So a replayed event must not count twice. Its id is looked
up in ``seen`` before it is counted. Events older than the 7-day window change no feature, so
``seen`` only keeps ids inside the window, and at most ``Limits.max_seen`` of them (the item
must stay well under DynamoDB's 400 KB). When the cap evicts ids, ``seen_floor`` records the
newest evicted timestamp and any later event at or before it is treated as already counted:
for very heavy users a genuinely new but late event may then be left out of the features (it
is still archived offline), but no event is ever counted twice. Idempotence holds for every
input; splitting a batch gives the same result as long as nothing was evicted.

Windows are whole buckets ending with the bucket that contains ``now``: ``events_1h`` counts
the last 60 minute buckets, ``events_24h`` the last 24 hour buckets and ``events_7d`` the last
168 hour buckets. A minute bucket inside the last hour lies in an hour bucket inside the last
day, so ``events_1h <= events_24h <= events_7d`` always.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

MINUTE = 60
HOUR = 3600
WINDOW_MINUTES = 60
WINDOW_24H_HOURS = 24
HORIZON_HOURS = 7 * 24


class EventLike(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def ts(self) -> float: ...
    @property
    def class_id(self) -> int: ...


E = TypeVar("E", bound=EventLike)


@dataclass(frozen=True)
class Limits:
    max_seen: int = 2000
    """Event ids remembered per user for deduplication (about 25 bytes each in the item)."""
    max_classes_per_hour: int = 32
    """Classes counted per hour bucket; the rarest beyond this are dropped from top_classes."""
    top_classes: int = 5


@dataclass(frozen=True)
class WindowState:
    minutes: Mapping[int, int] = field(default_factory=dict)
    hour_totals: Mapping[int, int] = field(default_factory=dict)
    hour_classes: Mapping[int, Mapping[int, int]] = field(default_factory=dict)
    seen: Mapping[str, int] = field(default_factory=dict)
    seen_floor: int | None = None
    last_event_at: int | None = None


@dataclass(frozen=True)
class Features:
    events_1h: int
    events_24h: int
    events_7d: int
    last_event_at: int | None
    top_classes: tuple[int, ...]


@dataclass(frozen=True)
class Applied(Generic[E]):
    state: WindowState
    accepted: tuple[E, ...]
    """Counted now for the first time (these go to the offline store)."""
    too_old: tuple[E, ...]
    """Older than the 7-day window: they change no feature (archived all the same)."""
    duplicates: tuple[E, ...]
    """Already counted (a replay), or possibly counted (at or before ``seen_floor``)."""


def dedupe_key(event_id: str) -> str:
    """64-bit hash of an event id: fixed size in the item whatever the producer's ids look like."""
    return hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).hexdigest()


def bucket_start(ts: float, size: int) -> int:
    return int(ts) // size * size


def in_horizon(ts: float, now: float) -> bool:
    """Inside the 7-day window as of ``now`` (the longest window; nothing older matters)."""
    return bucket_start(ts, HOUR) >= bucket_start(now, HOUR) - (HORIZON_HOURS - 1) * HOUR


def apply_events(
    state: WindowState, events: Iterable[E], now: float, limits: Limits = Limits()
) -> Applied[E]:
    """Fold ``events`` into ``state`` as of ``now``; replayed events change nothing."""
    minutes = dict(state.minutes)
    totals = dict(state.hour_totals)
    classes = {hour: dict(counts) for hour, counts in state.hour_classes.items()}
    seen = dict(state.seen)
    last = state.last_event_at
    accepted: list[E] = []
    too_old: list[E] = []
    duplicates: list[E] = []
    # Sorted so that the same events in any order give the same state.
    for event in sorted(events, key=lambda e: (e.ts, e.event_id)):
        ts = int(event.ts)
        key = dedupe_key(event.event_id)
        if not in_horizon(ts, now):
            too_old.append(event)
        elif key in seen or (state.seen_floor is not None and ts <= state.seen_floor):
            duplicates.append(event)
        else:
            seen[key] = ts
            _increment(minutes, bucket_start(ts, MINUTE))
            hour = bucket_start(ts, HOUR)
            _increment(totals, hour)
            _increment(classes.setdefault(hour, {}), event.class_id)
            last = ts if last is None else max(last, ts)
            accepted.append(event)
    pruned = _prune(minutes, totals, classes, seen, state.seen_floor, now)
    bounded = _bound(pruned, limits)
    return Applied(
        WindowState(
            bounded.minutes,
            bounded.hour_totals,
            bounded.hour_classes,
            bounded.seen,
            bounded.seen_floor,
            last,
        ),
        tuple(accepted),
        tuple(too_old),
        tuple(duplicates),
    )


def compute_features(state: WindowState, now: float, limits: Limits = Limits()) -> Features:
    """The features serving reads, as of ``now``."""
    minute_floor = bucket_start(now, MINUTE) - (WINDOW_MINUTES - 1) * MINUTE
    day_floor = bucket_start(now, HOUR) - (WINDOW_24H_HOURS - 1) * HOUR
    horizon_floor = bucket_start(now, HOUR) - (HORIZON_HOURS - 1) * HOUR
    class_counts: dict[int, int] = {}
    for hour, counts in state.hour_classes.items():
        if hour >= horizon_floor:
            for class_id, count in counts.items():
                class_counts[class_id] = class_counts.get(class_id, 0) + count
    ranked = sorted(class_counts.items(), key=lambda item: (-item[1], item[0]))
    return Features(
        events_1h=sum(n for start, n in state.minutes.items() if start >= minute_floor),
        events_24h=sum(n for start, n in state.hour_totals.items() if start >= day_floor),
        events_7d=sum(n for start, n in state.hour_totals.items() if start >= horizon_floor),
        last_event_at=state.last_event_at,
        top_classes=tuple(class_id for class_id, _ in ranked[: limits.top_classes]),
    )


def _increment(counts: dict[int, int], key: int) -> None:
    counts[key] = counts.get(key, 0) + 1


def _prune(
    minutes: dict[int, int],
    totals: dict[int, int],
    classes: dict[int, dict[int, int]],
    seen: dict[str, int],
    seen_floor: int | None,
    now: float,
) -> WindowState:
    minute_floor = bucket_start(now, MINUTE) - (WINDOW_MINUTES - 1) * MINUTE
    hour_floor = bucket_start(now, HOUR) - (HORIZON_HOURS - 1) * HOUR
    return WindowState(
        minutes={m: n for m, n in minutes.items() if m >= minute_floor},
        hour_totals={h: n for h, n in totals.items() if h >= hour_floor},
        hour_classes={h: c for h, c in classes.items() if h >= hour_floor},
        seen={k: ts for k, ts in seen.items() if in_horizon(ts, now)},
        # An old floor guards nothing: events that old are ignored as too old anyway.
        seen_floor=seen_floor if seen_floor is not None and in_horizon(seen_floor, now) else None,
    )


def _bound(state: WindowState, limits: Limits) -> WindowState:
    seen = dict(state.seen)
    floor = state.seen_floor
    if len(seen) > limits.max_seen:
        oldest_first = sorted(seen.items(), key=lambda item: (item[1], item[0]))
        evicted = oldest_first[: len(seen) - limits.max_seen]
        for key, _ in evicted:
            del seen[key]
        newest_evicted = max(ts for _, ts in evicted)
        floor = newest_evicted if floor is None else max(floor, newest_evicted)
    classes = {
        hour: dict(
            sorted(counts.items(), key=lambda item: (-item[1], item[0]))[
                : limits.max_classes_per_hour
            ]
        )
        for hour, counts in state.hour_classes.items()
    }
    return WindowState(state.minutes, state.hour_totals, classes, seen, floor)

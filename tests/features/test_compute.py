"""Pure feature math: windows, idempotence, bounds (property-based where the domain is numeric)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from features.compute import (
    HOUR,
    MINUTE,
    Limits,
    WindowState,
    apply_events,
    bucket_start,
    compute_features,
    dedupe_key,
)

NOW = 1_800_000_000  # a fixed "now": the math takes time as an argument
DAY = 24 * HOUR


@dataclass(frozen=True)
class Ev:
    event_id: str
    ts: float
    class_id: int


# Distinct events from 9 days before NOW (some too old to count) to 4 minutes after (clock
# skew). A replay re-sends the very same event, so duplicates are drawn from these lists,
# never made up with the same id and other contents.
events_strategy = st.lists(
    st.builds(
        Ev,
        event_id=st.text(alphabet="abcdef0123456789", min_size=1, max_size=6),
        ts=st.integers(NOW - 9 * DAY, NOW + 240).map(float),
        class_id=st.integers(0, 6),
    ),
    max_size=30,
    unique_by=lambda e: e.event_id,
)
later = st.integers(0, 10 * DAY)
SMALL = Limits(max_seen=8, max_classes_per_hour=2, top_classes=3)


def _oracle(events: list[Ev], now: float) -> tuple[int, int, int]:
    """Counts by brute force over distinct event ids with the documented bucket windows."""
    distinct = {
        e.event_id: e for e in sorted(events, key=lambda e: (e.ts, e.event_id), reverse=True)
    }

    def count(size: int, buckets: int) -> int:
        floor = bucket_start(now, size) - (buckets - 1) * size
        return sum(1 for e in distinct.values() if bucket_start(e.ts, size) >= floor)

    horizon = count(HOUR, 168)
    # Events outside the 7-day horizon are never counted, even in a bucket of a shorter window.
    in_horizon = [
        e
        for e in distinct.values()
        if bucket_start(e.ts, HOUR) >= bucket_start(now, HOUR) - 167 * HOUR
    ]
    minute_floor = bucket_start(now, MINUTE) - 59 * MINUTE
    day_floor = bucket_start(now, HOUR) - 23 * HOUR
    return (
        sum(1 for e in in_horizon if bucket_start(e.ts, MINUTE) >= minute_floor),
        sum(1 for e in in_horizon if bucket_start(e.ts, HOUR) >= day_floor),
        horizon,
    )


@settings(max_examples=100, deadline=None)
@given(events_strategy)
def test_counts_match_brute_force_when_no_cap_is_hit(events: list[Ev]) -> None:
    applied = apply_events(WindowState(), events, NOW)
    features = compute_features(applied.state, NOW)
    assert (features.events_1h, features.events_24h, features.events_7d) == _oracle(events, NOW)


@settings(max_examples=100, deadline=None)
@given(events_strategy, st.data())
def test_applying_the_same_events_again_changes_nothing(
    first: list[Ev], data: st.DataObject
) -> None:
    # Under small caps too: eviction must never let an event count twice.
    state = apply_events(WindowState(), first, NOW, SMALL).state
    again = apply_events(state, first, NOW, SMALL)
    assert again.state == state
    assert again.accepted == ()
    # A replay of any subset of what was applied, in any order and repeated, changes nothing.
    replay = data.draw(st.lists(st.sampled_from(first))) if first else []
    assert apply_events(state, replay, NOW, SMALL).state == state


@settings(max_examples=100, deadline=None)
@given(events_strategy, later)
def test_replay_at_a_later_time_counts_nothing_new(events: list[Ev], delay: int) -> None:
    applied = apply_events(WindowState(), events, NOW, SMALL)
    later_now = NOW + delay
    replayed = apply_events(applied.state, events, later_now, SMALL)
    assert replayed.accepted == ()
    pruned_only = apply_events(applied.state, [], later_now, SMALL)
    assert replayed.state == pruned_only.state


@settings(max_examples=100, deadline=None)
@given(events_strategy, events_strategy, later)
def test_windows_are_monotonic(first: list[Ev], second: list[Ev], delay: int) -> None:
    second = [e for e in second if e.event_id not in {x.event_id for x in first}] + first[1::2]
    state = apply_events(WindowState(), first, NOW, SMALL).state
    state = apply_events(state, second, NOW + delay // 2, SMALL).state
    features = compute_features(state, NOW + delay, SMALL)
    assert 0 <= features.events_1h <= features.events_24h <= features.events_7d


@settings(max_examples=100, deadline=None)
@given(events_strategy, events_strategy)
def test_split_batches_equal_one_batch_while_nothing_is_evicted(a: list[Ev], b: list[Ev]) -> None:
    b = [e for e in b if e.event_id not in {x.event_id for x in a}] + a[::2]  # replays of a
    together = apply_events(WindowState(), a + b, NOW).state
    split = apply_events(apply_events(WindowState(), a, NOW).state, b, NOW).state
    assert split == together
    assert apply_events(WindowState(), list(reversed(a + b)), NOW).state == together


@settings(max_examples=100, deadline=None)
@given(events_strategy, events_strategy, later)
def test_state_stays_bounded_and_never_double_counts(a: list[Ev], b: list[Ev], delay: int) -> None:
    b = [e for e in b if e.event_id not in {x.event_id for x in a}]
    state = apply_events(WindowState(), a, NOW, SMALL).state
    state = apply_events(state, a + b, NOW + delay, SMALL).state
    assert len(state.seen) <= SMALL.max_seen
    assert all(len(c) <= SMALL.max_classes_per_hour for c in state.hour_classes.values())
    assert len(state.minutes) <= 60
    assert len(state.hour_totals) <= 168
    features = compute_features(state, NOW + delay, SMALL)
    distinct_ids = {e.event_id for e in a + b}
    assert features.events_7d <= len(distinct_ids)
    assert len(features.top_classes) <= SMALL.top_classes


def test_windows_by_example() -> None:
    events = [
        Ev("now", NOW, 1),
        Ev("30m", NOW - 30 * MINUTE, 1),
        Ev("2h", NOW - 2 * HOUR, 2),
        Ev("3d", NOW - 3 * DAY, 3),
        Ev("8d", NOW - 8 * DAY, 3),
    ]
    applied = apply_events(WindowState(), events, NOW)
    features = compute_features(applied.state, NOW)
    assert (features.events_1h, features.events_24h, features.events_7d) == (2, 3, 4)
    assert features.top_classes == (1, 2, 3)  # most first, ties by class id
    assert features.last_event_at == NOW
    assert [e.event_id for e in applied.too_old] == ["8d"]
    # An hour later the two recent events leave the 1h window; nothing else moves.
    features = compute_features(applied.state, NOW + HOUR + MINUTE)
    assert (features.events_1h, features.events_24h, features.events_7d) == (0, 3, 4)


def test_duplicate_ids_in_one_batch_count_once() -> None:
    applied = apply_events(WindowState(), [Ev("a", NOW, 1), Ev("a", NOW - 5, 1)], NOW)
    assert compute_features(applied.state, NOW).events_1h == 1
    assert len(applied.duplicates) == 1


def test_eviction_sets_a_floor_that_drops_older_late_events() -> None:
    limits = Limits(max_seen=2)
    state = apply_events(
        WindowState(),
        [Ev("a", NOW - 30, 1), Ev("b", NOW - 20, 1), Ev("c", NOW - 10, 1)],
        NOW,
        limits,
    ).state
    assert set(state.seen) == {dedupe_key("b"), dedupe_key("c")}
    assert state.seen_floor == NOW - 30
    late = apply_events(
        state,
        [Ev("a", NOW - 30, 1), Ev("new-but-late", NOW - 40, 1), Ev("d", NOW - 5, 1)],
        NOW,
        limits,
    )
    assert [e.event_id for e in late.duplicates] == ["new-but-late", "a"]
    assert [e.event_id for e in late.accepted] == ["d"]
    assert compute_features(late.state, NOW, limits).events_1h == 4


def test_class_counts_are_capped_per_hour_but_totals_stay_exact() -> None:
    limits = Limits(max_classes_per_hour=2, top_classes=5)
    events = [Ev(f"e{i}", NOW, class_id) for i, class_id in enumerate([1, 1, 1, 2, 2, 3, 4])]
    features = compute_features(apply_events(WindowState(), events, NOW, limits).state, NOW, limits)
    assert features.events_1h == 7
    assert features.top_classes == (1, 2)

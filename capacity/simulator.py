"""A discrete-event simulation of the mesh, vectorised with numpy.

Users in areas send Poisson traffic (rate shaped by a demand profile) to the nearest
healthy region of their jurisdiction (residency: never elsewhere). Each region is one
central queue served by GPU replicas with Triton-style dynamic batching: a free replica
takes up to ``max_batch_size`` queued requests once ``batch_target`` have arrived or the
oldest has waited ``max_queue_delay``; a batch of ``b`` takes the profile's ``s(b)``.
Replicas scale on queue depth (requests waiting or in a batch, per replica) with a
provisioning delay. Regions fail and recover, traffic dials change, demand ramps.

How it stays fast: arrivals are generated per (region, time chunk) in one vectorised
draw (sorted uniforms from exponential spacings, mapped through the inverse cumulative
demand); the only Python loop runs once per *batch*, not per request, on plain floats;
per-request latencies are then rebuilt with ``np.repeat`` and binned into log-spaced
histograms (0.1% relative resolution) for the percentiles.

Every generated request ends exactly once as completed, rejected (no healthy region in
its jurisdiction) or timed out (queue wait over the timeout, sent to a region during
failure detection, or queued / in a batch when its region failed).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
import numpy.typing as npt

from capacity.latency import UserArea, nearest_region

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ServiceKind = Literal["profile", "exponential", "deterministic"]
METRICS: tuple[str, ...] = ("network", "queue", "compute", "e2e")
QUANTILES: tuple[float, ...] = (0.50, 0.95, 0.99)
_HIST_FLOOR_MS = 1e-3
_HIST_GROWTH = 1.002
_HIST_BINS = int(math.log(1e7 / _HIST_FLOOR_MS) / math.log(_HIST_GROWTH)) + 2
_LOG_GROWTH = math.log(_HIST_GROWTH)
_CHUNK_REQUESTS = 300_000
"""Requests generated per segment: bounds memory (arrays plus a Python float list for the
batch loop) whatever the scenario's length or reporting interval."""


# -- specification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceModel:
    """How long a batch takes. ``profile``: ``batch_ms[b]``; ``exponential`` and
    ``deterministic``: ``mean_ms`` per request with batching off (max batch 1), for
    checking against queueing theory."""

    kind: ServiceKind
    max_batch_size: int
    max_queue_delay_ms: float = 0.0
    batch_target: int = 1
    batch_ms: tuple[float, ...] = ()
    mean_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.kind != "profile" and self.max_batch_size != 1:
            raise ValueError(f"{self.kind} service needs batching off (max_batch_size 1)")
        if self.kind == "profile" and len(self.batch_ms) < self.max_batch_size + 1:
            raise ValueError("profile service needs batch_ms[b] for b = 0..max_batch_size")
        if self.kind != "profile" and self.mean_ms <= 0:
            raise ValueError(f"{self.kind} service needs mean_ms > 0")


@dataclass(frozen=True)
class RegionFleet:
    region: str
    jurisdiction: str
    service: ServiceModel
    initial_replicas: int
    min_replicas: int
    max_replicas: int
    gpu_price_per_hour: float = 0.0
    instance_type: str = ""
    queue_target: float = 24.0
    """Autoscaler target: requests waiting or in a batch per replica (the plan's KEDA one)."""


@dataclass(frozen=True)
class Autoscaling:
    """KEDA/HPA on queue depth: desired = ceil(outstanding / target), held for the
    scale-down window before shrinking; new replicas serve after the provisioning delay."""

    enabled: bool = False
    interval_s: float = 15.0
    provisioning_delay_s: float = 84.0
    """figures.md 7: Karpenter + KEDA cold start to first inference, measured."""
    target_per_replica: float | None = None
    """Overrides every region's ``queue_target`` when set."""
    scale_down_window_s: float = 300.0


@dataclass(frozen=True)
class Event:
    at_s: float
    kind: Literal["fail", "recover", "dial"]
    region: str
    percent: float = 100.0


@dataclass(frozen=True)
class SimulationSpec:
    name: str
    duration_s: float
    global_rps: float
    areas: tuple[UserArea, ...]
    regions: tuple[RegionFleet, ...]
    demand_profile: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    """(time s, demand multiplier) points, linear in between, flat after the last."""
    events: tuple[Event, ...] = ()
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    timeout_ms: float = 1000.0
    failover_detection_s: float = 0.0
    interval_s: float = 10.0
    seed: int = 0


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    mean: float


@dataclass(frozen=True)
class RegionReport:
    region: str
    arrived: int
    completed: int
    rejected: int
    timed_out: int
    latency_ms: dict[str, Percentiles]
    gpu_hours: float
    cost: float


@dataclass(frozen=True)
class Timeline:
    """Per reporting interval: end time, replicas per region, e2e p50/p99 per region."""

    t_s: tuple[float, ...]
    replicas: dict[str, tuple[int, ...]]
    p50_ms: dict[str, tuple[float, ...]]
    p99_ms: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class SimulationResult:
    name: str
    duration_s: float
    regions: dict[str, RegionReport]
    total: RegionReport
    timeline: Timeline
    trace: dict[str, IntArray] | None = None
    """With ``trace=True``: request ids per outcome (completed, rejected, timed_out)."""

    @property
    def simulated_requests(self) -> int:
        return self.total.arrived


# -- histograms ------------------------------------------------------------------------------


class _Histograms:
    """Log-spaced latency histograms per metric; 0.1% relative resolution."""

    def __init__(self) -> None:
        self.counts = {m: np.zeros(_HIST_BINS, dtype=np.int64) for m in METRICS}
        self.sums = dict.fromkeys(METRICS, 0.0)

    def add(self, metric: str, values_ms: FloatArray) -> None:
        if values_ms.size == 0:
            return
        self.counts[metric] += np.bincount(_bin_index(values_ms), minlength=_HIST_BINS)
        self.sums[metric] += float(values_ms.sum())

    def add_weighted(self, metric: str, values_ms: FloatArray, counts: IntArray) -> None:
        """``counts[i]`` requests took ``values_ms[i]`` (compute time per batch)."""
        if values_ms.size == 0:
            return
        self.counts[metric] += np.bincount(
            _bin_index(values_ms), weights=counts, minlength=_HIST_BINS
        ).astype(np.int64)
        self.sums[metric] += float((values_ms * counts).sum())

    def add_constant(self, metric: str, value_ms: FloatArray, counts: IntArray) -> None:
        """``counts[i]`` requests of value ``value_ms[i]`` (network latency per area)."""
        np.add.at(self.counts[metric], _bin_index(value_ms), counts)
        self.sums[metric] += float((value_ms * counts).sum())

    def merge(self, other: _Histograms) -> None:
        for m in METRICS:
            self.counts[m] += other.counts[m]
            self.sums[m] += other.sums[m]

    def percentiles(self, metric: str) -> Percentiles:
        counts = self.counts[metric]
        total = int(counts.sum())
        if total == 0:
            return Percentiles(math.nan, math.nan, math.nan, math.nan)
        p50, p95, p99 = _hist_quantiles(counts, QUANTILES)
        return Percentiles(p50, p95, p99, self.sums[metric] / total)


def _hist_quantiles(counts: IntArray, quantiles: Sequence[float]) -> list[float]:
    total = int(counts.sum())
    if total == 0:
        return [math.nan for _ in quantiles]
    cumulative = np.cumsum(counts)
    return [_bin_value(int(np.searchsorted(cumulative, q * total))) for q in quantiles]


def _bin_index(values_ms: FloatArray) -> IntArray:
    # float32 halves the cost of the log; its 1e-7 relative error is far below the bins'.
    # Values under the floor land in bin 0 (reported as 0 ms).
    clipped = np.maximum(values_ms.astype(np.float32), np.float32(_HIST_FLOOR_MS * 0.999))
    index = np.log(clipped * np.float32(1.0 / _HIST_FLOOR_MS))
    index *= np.float32(1.0 / _LOG_GROWTH)
    bins = index.astype(np.int64)  # truncation == floor here: index > -1
    bins += index >= 0
    return np.minimum(bins, _HIST_BINS - 1)


def _bin_value(index: int) -> float:
    if index <= 0:
        return 0.0
    return float(_HIST_FLOOR_MS * _HIST_GROWTH ** (index - 0.5))


# -- per-region state ------------------------------------------------------------------------


@dataclass
class _Pending:
    """Requests of one region: arrival time (s), area index, request id."""

    t: FloatArray
    area: IntArray
    ids: IntArray

    @staticmethod
    def empty() -> _Pending:
        return _Pending(np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.t.size)

    def take(self, index: IntArray | slice) -> _Pending:
        # ids are only kept when tracing; otherwise the array stays empty.
        ids = self.ids[index] if self.ids.size else self.ids
        return _Pending(self.t[index], self.area[index], ids)

    @staticmethod
    def join(*parts: _Pending) -> _Pending:
        kept = [p for p in parts if len(p)]
        if not kept:
            return _Pending.empty()
        if len(kept) == 1:
            return kept[0]
        return _Pending(
            np.concatenate([p.t for p in kept]),
            np.concatenate([p.area for p in kept]),
            np.concatenate([p.ids for p in kept]),
        )


@dataclass
class _Served:
    """Requests already in a batch: start and done times (s)."""

    req: _Pending
    start: FloatArray
    done: FloatArray

    @staticmethod
    def empty() -> _Served:
        return _Served(_Pending.empty(), np.empty(0), np.empty(0))

    def split(self, t: float) -> tuple[_Served, _Served]:
        """(finished by ``t``, still running at ``t``)."""
        running = np.flatnonzero(self.done > t)
        if running.size == 0:
            return self, _Served.empty()
        first = int(running[0])
        if running.size == self.done.size - first:
            # The usual case: only the last batches are still running.
            return self.take(slice(0, first)), self.take(slice(first, None))
        finished = np.flatnonzero(self.done <= t)
        return self.take(finished), self.take(running)

    def take(self, index: IntArray | slice) -> _Served:
        return _Served(self.req.take(index), self.start[index], self.done[index])

    @staticmethod
    def join(a: _Served, b: _Served) -> _Served:
        return _Served(
            _Pending.join(a.req, b.req),
            np.concatenate([a.start, b.start]),
            np.concatenate([a.done, b.done]),
        )


@dataclass
class _Batches:
    """What the batch loop decided in one segment: per batch its first request index,
    size, start and done time; ranges of requests that timed out; where it stopped."""

    heads: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    dones: list[float] = field(default_factory=list)
    expired: list[tuple[int, int]] = field(default_factory=list)
    head: int = 0


@dataclass
class _RegionState:
    fleet: RegionFleet
    rtt_ms: FloatArray
    """Round trip per area index to this region."""
    free: list[float] = field(default_factory=list)
    """Heap of the times each replica is next free (provisioning ones included)."""
    up: bool = True
    queue: _Pending = field(default_factory=_Pending.empty)
    running: _Served = field(default_factory=_Served.empty)
    desired_log: list[tuple[float, int]] = field(default_factory=list)
    replica_seconds: float = 0.0
    replicas_since: float = 0.0
    hist: _Histograms = field(default_factory=_Histograms)
    arrived: int = 0
    completed: int = 0
    rejected: int = 0
    timed_out: int = 0
    batch_log: list[tuple[float, float, int]] = field(default_factory=list)
    """(start, done, size) of the last batches, to count requests in service at a tick."""

    @property
    def replicas(self) -> int:
        return len(self.free)

    def set_replicas(self, now: float, free: list[float]) -> None:
        self.replica_seconds += self.replicas * (now - self.replicas_since)
        self.replicas_since = now
        self.free = free
        heapq.heapify(self.free)


# -- the simulation --------------------------------------------------------------------------


class _Simulation:
    def __init__(self, spec: SimulationSpec, trace: bool) -> None:
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.trace = trace
        self.outcomes: dict[str, list[IntArray]] = {
            "completed": [],
            "rejected": [],
            "timed_out": [],
        }
        self.next_id = 0
        self.jurisdiction_of = {r.region: r.jurisdiction for r in spec.regions}
        self.states = {
            r.region: _RegionState(
                r,
                np.array(
                    [
                        a.round_trip_ms(r.region) if r.region in a.one_way_ms else 0.0
                        for a in spec.areas
                    ]
                ),
            )
            for r in spec.regions
        }
        for state in self.states.values():
            state.set_replicas(0.0, [0.0] * state.fleet.initial_replicas)
        self.routing_up = {r.region: True for r in spec.regions}
        self.dials = {r.region: 100.0 for r in spec.regions}
        self._cumulative_demand_grid()
        self.next_tick = spec.autoscaling.interval_s
        self.timeline_t: list[float] = []
        self.timeline_replicas: dict[str, list[int]] = {r: [] for r in self.states}
        self.timeline_p50: dict[str, list[float]] = {r: [] for r in self.states}
        self.timeline_p99: dict[str, list[float]] = {r: [] for r in self.states}
        self.last_e2e = {r: np.zeros(_HIST_BINS, dtype=np.int64) for r in self.states}

    # ---- demand ----

    def _cumulative_demand_grid(self) -> None:
        points = sorted(self.spec.demand_profile)
        times = [p[0] for p in points]
        self.profile_t = np.array(times)
        self.profile_m = np.array([p[1] for p in points])
        end = max(self.spec.duration_s, times[-1]) + 1.0
        grid = np.unique(np.concatenate([np.arange(0.0, end + 1.0, 1.0), times, [end]]))
        factor = np.interp(grid, times, [p[1] for p in points])
        steps = np.diff(grid) * (factor[1:] + factor[:-1]) / 2.0
        self.grid_t = grid
        self.grid_m = np.concatenate([[0.0], np.cumsum(steps)])

    def _demand(self, t: float) -> float:
        return float(np.interp(t, self.grid_t, self.grid_m))

    # ---- routing ----

    def _routes(self) -> list[list[tuple[str | None, float]]]:
        """Per area: (destination, fraction) pairs. Destination ``None`` = rejected; a
        region that is down but still routed to (failure not yet detected) times out."""
        healthy = [r for r, up in self.routing_up.items() if up]
        routes: list[list[tuple[str | None, float]]] = []
        for area in self.spec.areas:
            first = nearest_region(area, healthy, self.jurisdiction_of)
            if first is None:
                routes.append([(None, 1.0)])
                continue
            dial = self.dials[first] / 100.0
            alternative = nearest_region(
                area, [r for r in healthy if r != first], self.jurisdiction_of
            )
            if dial >= 1.0 or alternative is None:
                routes.append([(first, 1.0)])
            else:
                routes.append([(first, dial), (alternative, 1.0 - dial)])
        return routes

    # ---- arrivals ----

    def _arrivals(self, t0: float, t1: float) -> dict[str | None, _Pending]:
        m0, m1 = self._demand(t0), self._demand(t1)
        rates: dict[str | None, list[tuple[int, float]]] = {}
        for index, (area, route) in enumerate(zip(self.spec.areas, self._routes(), strict=True)):
            for destination, fraction in route:
                rate = self.spec.global_rps * area.demand_share * fraction
                if rate > 0:
                    rates.setdefault(destination, []).append((index, rate))
        flat = (t0, t1) if self._is_flat(t0, t1) else None
        return {dest: self._draw(parts, m0, m1, flat) for dest, parts in rates.items()}

    def _is_flat(self, t0: float, t1: float) -> bool:
        """Demand constant over [t0, t1]: arrival times map linearly, no interpolation."""
        inside = (self.profile_t > t0) & (self.profile_t < t1)
        return not inside.any() and self._factor(t0) == self._factor(t1)

    def _factor(self, t: float) -> float:
        return float(np.interp(t, self.profile_t, self.profile_m))

    def _draw(
        self,
        parts: list[tuple[int, float]],
        m0: float,
        m1: float,
        flat: tuple[float, float] | None,
    ) -> _Pending:
        total_rate = sum(rate for _, rate in parts)
        count = int(self.rng.poisson(total_rate * (m1 - m0)))
        if count == 0:
            return _Pending.empty()
        spacings = self.rng.exponential(size=count + 1)
        uniform = np.cumsum(spacings[:-1])
        uniform *= 1.0 / spacings.sum()
        if flat is not None:
            times = flat[0] + uniform * (flat[1] - flat[0])
        else:
            times = np.interp(m0 + uniform * (m1 - m0), self.grid_m, self.grid_t)
        if len(parts) == 1:
            areas = np.full(count, parts[0][0], dtype=np.int64)
        else:
            weights = np.cumsum([rate for _, rate in parts]) / total_rate
            picks = np.searchsorted(weights, self.rng.random(count), side="right")
            areas = np.array([i for i, _ in parts], dtype=np.int64)[
                np.minimum(picks, len(parts) - 1)
            ]
        ids = (
            np.arange(self.next_id, self.next_id + count, dtype=np.int64)
            if self.trace
            else np.empty(0, dtype=np.int64)
        )
        self.next_id += count
        return _Pending(times, areas, ids)

    # ---- outcomes ----

    def _record(self, outcome: str, ids: IntArray) -> None:
        if self.trace and ids.size:
            self.outcomes[outcome].append(ids.copy())

    def _time_out(self, state: _RegionState, requests: _Pending) -> None:
        state.timed_out += len(requests)
        self._record("timed_out", requests.ids)

    def _finish(self, state: _RegionState, served: _Served, *, compute: bool = True) -> None:
        """Count ``served`` as completed and bin its latencies. ``compute=False`` when the
        caller has already binned compute time per batch (one value per batch, cheaper)."""
        if not len(served.req):
            return
        queue_ms = (served.start - served.req.t) * 1000.0
        e2e = state.rtt_ms[served.req.area] + (served.done - served.req.t) * 1000.0
        per_area = np.bincount(served.req.area, minlength=state.rtt_ms.size)
        state.hist.add_constant("network", state.rtt_ms, per_area)
        state.hist.add("queue", queue_ms)
        if compute:
            state.hist.add("compute", (served.done - served.start) * 1000.0)
        state.hist.add("e2e", e2e)
        state.completed += len(served.req)
        self._record("completed", served.req.ids)

    # ---- one region, one segment ----

    def _serve(self, state: _RegionState, t1: float, *, scale: bool = True) -> None:
        """Run the batcher up to ``t1``, then settle what it decided."""
        pending = state.queue
        times = pending.t.tolist()
        scale = scale and self.spec.autoscaling.enabled
        batches = _Batches()
        next_tick = self._batch_loop(
            state, times, t1, self.next_tick if scale else math.inf, batches
        )
        if scale:
            self._ticks(state, t1, times, batches.head, next_tick, batches)
        self._settle(state, pending, batches, t1)

    def _batch_loop(
        self,
        state: _RegionState,
        times: list[float],
        t1: float,
        next_tick: float,
        out: _Batches,
    ) -> float:
        """The per-batch loop (the simulation's only Python loop): plain floats and lists,
        one iteration per batch. Returns the next autoscaler tick."""
        service = state.fleet.service
        count = len(times)
        timeout, delay, largest, target = self._batching(service)
        table = [ms / 1000.0 for ms in service.batch_ms] if service.kind == "profile" else []
        draws = self._service_draws(service, count)  # batching off: one draw per batch
        free = state.free
        heads, sizes, starts, dones = out.heads, out.sizes, out.starts, out.dones
        head = 0
        while head < count and free:
            ready = free[0]
            first = times[head]
            start = ready if ready > first else first
            if start - first > timeout:
                cut = bisect.bisect_left(times, start - timeout, head)
                out.expired.append((head, cut))
                head = cut
                if head >= count:
                    break
                first = times[head]
                start = ready if ready > first else first
            formed = math.inf
            if delay > 0.0:
                # Triton: wait for the batch target, or until the oldest has waited delay.
                fill = head + target - 1
                formed = times[fill] if fill < count else math.inf
                wait_until = formed if formed < first + delay else first + delay
                start = wait_until if wait_until > start else start
            if start >= t1:
                break
            if start >= next_tick:
                next_tick = self._ticks(state, start, times, head, next_tick, out)
                free = state.free
                continue
            if start == formed or largest == 1:
                end = head + target  # formed on the target-th arrival: exactly target
            else:
                limit = head + largest
                end = bisect.bisect_right(times, start, head, limit if limit < count else count)
            finish = start + (table[end - head] if table else draws[len(heads)])
            heapq.heapreplace(free, finish)
            heads.append(head)
            sizes.append(end - head)
            starts.append(start)
            dones.append(finish)
            head = end
        out.head = head
        return next_tick

    def _batching(self, service: ServiceModel) -> tuple[float, float, int, int]:
        """(timeout s, batcher delay s, max batch, batch target) for the loop."""
        largest = service.max_batch_size
        return (
            self.spec.timeout_ms / 1000.0,
            service.max_queue_delay_ms / 1000.0,
            largest,
            min(service.batch_target, largest),
        )

    def _service_draws(self, service: ServiceModel, count: int) -> list[float]:
        if service.kind == "exponential":
            return (self.rng.exponential(service.mean_ms / 1000.0, size=count)).tolist()
        if service.kind == "deterministic":
            return [service.mean_ms / 1000.0] * count
        return []

    def _settle(self, state: _RegionState, pending: _Pending, out: _Batches, t1: float) -> None:
        """Turn the loop's batch records into per-request outcomes (vectorised).

        Batches still running at ``t1`` are held back (a failure at ``t1`` loses them);
        the rest complete now. Nothing here copies the segment's requests more than once.
        """
        for lo, hi in out.expired:
            self._time_out(state, pending.take(slice(lo, hi)))
        carried, state.running = state.running.split(t1)
        self._finish(state, carried)
        if out.heads:
            self._settle_batches(state, pending, out, t1)
        state.queue = pending.take(slice(out.head, None))

    def _settle_batches(
        self, state: _RegionState, pending: _Pending, out: _Batches, t1: float
    ) -> None:
        size = np.array(out.sizes, dtype=np.int64)
        starts = np.array(out.starts)
        dones = np.array(out.dones)
        count = int(size.sum())
        index: IntArray | slice
        if not out.expired and out.heads[0] == 0:
            index = slice(0, count)  # no time-outs: the batches are back to back
        else:
            first = np.array(out.heads, dtype=np.int64) - np.cumsum(size) + size
            index = np.repeat(first, size) + np.arange(count, dtype=np.int64)
        served = _Served(pending.take(index), np.repeat(starts, size), np.repeat(dones, size))
        done, running = served.split(t1)
        finished = dones <= t1
        state.hist.add_weighted("compute", (dones - starts)[finished] * 1000.0, size[finished])
        self._finish(state, done, compute=False)
        state.running = _Served.join(state.running, running)
        keep = max(4 * state.replicas, 16)
        recent = list(zip(out.starts[-keep:], out.dones[-keep:], out.sizes[-keep:], strict=True))
        state.batch_log = (state.batch_log + recent)[-keep:]

    # ---- autoscaling ----

    def _ticks(
        self,
        state: _RegionState,
        until: float,
        times: list[float],
        head: int,
        tick: float,
        recent: _Batches,
    ) -> float:
        """Evaluate every autoscaler tick up to ``until``; returns the next tick time."""
        scaling = self.spec.autoscaling
        while tick <= until:
            waiting = bisect.bisect_right(times, tick, head) - head
            in_batch = _in_batch(tick, recent, state.batch_log, state.replicas)
            target = scaling.target_per_replica or state.fleet.queue_target
            desired = math.ceil((waiting + in_batch) / target)
            self._scale(state, tick, desired)
            tick += scaling.interval_s
        return tick

    def _scale(self, state: _RegionState, now: float, desired: int) -> None:
        fleet = state.fleet
        scaling = self.spec.autoscaling
        desired = min(max(desired, fleet.min_replicas), fleet.max_replicas)
        state.desired_log = [
            (t, d) for t, d in state.desired_log if t > now - scaling.scale_down_window_s
        ]
        state.desired_log.append((now, desired))
        if not state.up:
            return
        current = state.replicas
        if desired > current:
            ready = now + scaling.provisioning_delay_s
            state.set_replicas(now, [*state.free, *([ready] * (desired - current))])
            return
        hold = max(d for _, d in state.desired_log)
        if hold < current:
            state.set_replicas(now, sorted(state.free)[:hold])

    # ---- events ----

    def _fail(self, region: str, now: float) -> None:
        state = self.states[region]
        state.up = False
        self._time_out(state, state.queue)
        self._time_out(state, state.running.req)
        state.queue, state.running = _Pending.empty(), _Served.empty()
        state.batch_log = []
        state.set_replicas(now, [])

    def _route(self, region: str, up: bool, _now: float) -> None:
        """Global Accelerator notices the region's health (after the detection delay)."""
        self.routing_up[region] = up

    def _dial(self, region: str, percent: float, _now: float) -> None:
        self.dials[region] = percent

    def _recover(self, region: str, now: float) -> None:
        state = self.states[region]
        state.up = True
        state.set_replicas(now, [now] * state.fleet.initial_replicas)

    # ---- driver ----

    def _boundaries(self) -> list[tuple[float, list[Callable[[float], None]]]]:
        """Segment boundaries: reporting intervals plus every state change."""
        actions: dict[float, list[Callable[[float], None]]] = {}
        detect = self.spec.failover_detection_s

        def add(t: float, action: Callable[[float], None]) -> None:
            if 0.0 <= t < self.spec.duration_s:
                actions.setdefault(t, []).append(action)

        for event in sorted(self.spec.events, key=lambda e: e.at_s):
            region = event.region
            if event.kind == "fail":
                add(event.at_s, partial(self._fail, region))
                add(event.at_s + detect, partial(self._route, region, False))
            elif event.kind == "recover":
                add(event.at_s, partial(self._recover, region))
                add(event.at_s + detect, partial(self._route, region, True))
            else:
                add(event.at_s, partial(self._dial, region, event.percent))
        edges = set(np.arange(0.0, self.spec.duration_s, self.spec.interval_s).tolist())
        edges |= set(np.arange(0.0, self.spec.duration_s, self._chunk_s()).tolist())
        edges |= set(actions)
        return [(t, actions.get(t, [])) for t in sorted(edges)]

    def _chunk_s(self) -> float:
        """Segment length that keeps about ``_CHUNK_REQUESTS`` requests in memory at once."""
        peak = self.spec.global_rps * max(m for _, m in self.spec.demand_profile)
        if peak <= 0:
            return self.spec.interval_s
        return min(self.spec.interval_s, max(0.01, _CHUNK_REQUESTS / peak))

    def run(self, progress: Callable[[float], None] | None = None) -> SimulationResult:
        boundaries = self._boundaries()
        ends = [t for t, _ in boundaries[1:]] + [self.spec.duration_s]
        next_report = self.spec.interval_s
        for (t0, actions), t1 in zip(boundaries, ends, strict=True):
            for action in actions:
                action(t0)
            self._segment(t0, t1)
            if t1 >= next_report - 1e-9 or t1 >= self.spec.duration_s:
                self._report(t1)
                next_report = t1 + self.spec.interval_s
            if progress is not None:
                progress(t1)
        return self._result()

    def _segment(self, t0: float, t1: float) -> None:
        arrivals = self._arrivals(t0, t1)
        for destination, requests in arrivals.items():
            if destination is None:
                self._reject(requests)
                continue
            state = self.states[destination]
            state.arrived += len(requests)
            if not state.up:
                self._time_out(state, requests)
                continue
            state.queue = _Pending.join(state.queue, requests)
        for state in self.states.values():
            if state.up:
                self._serve(state, t1)
        if self.spec.autoscaling.enabled:
            while self.next_tick <= t1:
                self.next_tick += self.spec.autoscaling.interval_s

    def _reject(self, requests: _Pending) -> None:
        by_area = np.bincount(requests.area, minlength=len(self.spec.areas))
        for index, count in enumerate(by_area.tolist()):
            if count:
                # Attribute the rejection to the region the area is normally served by.
                area = self.spec.areas[index]
                home = nearest_region(area, list(self.states), self.jurisdiction_of)
                state = self.states[home] if home else next(iter(self.states.values()))
                state.arrived += count
                state.rejected += count
        self._record("rejected", requests.ids)

    def _report(self, now: float) -> None:
        self.timeline_t.append(now)
        for region, state in self.states.items():
            self.timeline_replicas[region].append(state.replicas)
            counts = state.hist.counts["e2e"]
            p50, p99 = _hist_quantiles(counts - self.last_e2e[region], (0.50, 0.99))
            self.last_e2e[region] = counts.copy()
            self.timeline_p50[region].append(p50)
            self.timeline_p99[region].append(p99)

    def _result(self) -> SimulationResult:
        end = self.spec.duration_s
        reports = {}
        total_hist = _Histograms()
        for region, state in self.states.items():
            # Nothing new arrives after the end; what is queued or running still finishes.
            state.set_replicas(end, state.free)
            if state.up:
                self._serve(state, math.inf, scale=False)
            self._finish(state, state.running)
            state.running = _Served.empty()
            self._time_out(state, state.queue)
            state.queue = _Pending.empty()
            reports[region] = self._region_report(region, state, state.hist)
            total_hist.merge(state.hist)
        total = _sum_reports(reports, total_hist)
        timeline = Timeline(
            tuple(self.timeline_t),
            {r: tuple(v) for r, v in self.timeline_replicas.items()},
            {r: tuple(v) for r, v in self.timeline_p50.items()},
            {r: tuple(v) for r, v in self.timeline_p99.items()},
        )
        trace = None
        if self.trace:
            trace = {
                k: np.concatenate(v) if v else np.empty(0, dtype=np.int64)
                for k, v in self.outcomes.items()
            }
            trace["generated"] = np.arange(self.next_id, dtype=np.int64)
        return SimulationResult(self.spec.name, end, reports, total, timeline, trace)

    @staticmethod
    def _region_report(region: str, state: _RegionState, hist: _Histograms) -> RegionReport:
        gpu_hours = state.replica_seconds / 3600.0
        return RegionReport(
            region,
            state.arrived,
            state.completed,
            state.rejected,
            state.timed_out,
            {m: hist.percentiles(m) for m in METRICS},
            gpu_hours,
            gpu_hours * state.fleet.gpu_price_per_hour,
        )


def _in_batch(
    tick: float, recent: _Batches, older: list[tuple[float, float, int]], replicas: int
) -> int:
    """Requests inside a running batch at ``tick``: each replica runs at most one batch,
    so only the last ``replicas`` batches (this segment's, then earlier ones) can count."""
    starts, dones, sizes = recent.starts, recent.dones, recent.sizes
    total = 0
    look = replicas + 1
    for i in range(len(starts) - 1, max(-1, len(starts) - 1 - look), -1):
        if starts[i] <= tick < dones[i]:
            total += sizes[i]
    if len(starts) < look:
        total += sum(n for start, done, n in older[-look:] if start <= tick < done)
    return total


def _sum_reports(reports: dict[str, RegionReport], hist: _Histograms) -> RegionReport:
    values = list(reports.values())
    return RegionReport(
        "global",
        sum(r.arrived for r in values),
        sum(r.completed for r in values),
        sum(r.rejected for r in values),
        sum(r.timed_out for r in values),
        {m: hist.percentiles(m) for m in METRICS},
        sum(r.gpu_hours for r in values),
        sum(r.cost for r in values),
    )


def simulate(
    spec: SimulationSpec,
    *,
    trace: bool = False,
    progress: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Run ``spec``; ``trace`` keeps every request id per outcome (small runs only)."""
    _validate(spec)
    return _Simulation(spec, trace).run(progress)


def _validate(spec: SimulationSpec) -> None:
    names = [r.region for r in spec.regions]
    if len(set(names)) != len(names):
        raise ValueError(f"simulation {spec.name!r}: each region once, got {names}")
    for event in spec.events:
        if event.region not in names:
            raise ValueError(
                f"simulation {spec.name!r}: event region {event.region!r} is not one of {names}"
            )
    if spec.duration_s <= 0 or spec.global_rps < 0 or spec.interval_s <= 0:
        raise ValueError(f"simulation {spec.name!r}: duration, rate and interval must be > 0")


def single_queue_spec(
    *,
    arrival_rps: float,
    servers: int,
    service: ServiceModel,
    duration_s: float,
    seed: int = 0,
    timeout_ms: float = 1e9,
    interval_s: float | None = None,
) -> SimulationSpec:
    """One region, one user area at zero distance: the shape queueing theory describes."""
    area = UserArea("local", "US", "r1", 1.0, {"r1": 0.0})
    fleet = RegionFleet("r1", "US", service, servers, servers, servers)
    return SimulationSpec(
        name="single-queue",
        duration_s=duration_s,
        global_rps=arrival_rps,
        areas=(area,),
        regions=(fleet,),
        timeout_ms=timeout_ms,
        interval_s=interval_s or duration_s,
        seed=seed,
    )


def expand(values: Sequence[float]) -> FloatArray:
    """A float array view of a sequence (plotting helper)."""
    return np.asarray(values, dtype=np.float64)

"""A circuit breaker per backend: closed, open, half-open.

Closed: calls go through; ``failure_threshold`` consecutive failures open it. Open: calls are
refused without touching the backend, so a dead GPU pool costs nothing but the fallback.
After ``open_seconds`` it half-opens and lets ``half_open_probes`` calls through at once;
that many successes close it, any failure opens it again for another full period.

Single-threaded by design: it lives on the gateway's event loop, so no lock.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from gateway.config import BreakerSettings


class BreakerState(enum.Enum):
    """States, with the numeric value exported as the ``gateway_breaker_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


StateListener = Callable[[str, BreakerState, BreakerState], None]


class CircuitBreaker:
    """Every ``allow()`` that returns True must be followed by exactly one ``record_*``."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose period ran out reads as open until asked)."""
        return self._state

    def allow(self) -> bool:
        """Whether a call may go to the backend now."""
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._settings.open_seconds:
                return False
            self._transition(BreakerState.HALF_OPEN)
        if self._probes_in_flight >= self._settings.half_open_probes:
            return False
        self._probes_in_flight += 1
        return True

    def record_success(self) -> None:
        """The allowed call succeeded."""
        if self._state is BreakerState.HALF_OPEN:
            self._release_probe()
            self._probe_successes += 1
            if self._probe_successes >= self._settings.half_open_probes:
                self._transition(BreakerState.CLOSED)
        self._failures = 0

    def record_failure(self) -> None:
        """The allowed call failed or timed out."""
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if (
            self._state is BreakerState.CLOSED
            and self._failures >= self._settings.failure_threshold
        ):
            self._open()

    def record_abandoned(self) -> None:
        """The allowed call ended without a verdict (the client went away): free its slot."""
        if self._state is BreakerState.HALF_OPEN:
            self._release_probe()

    def _release_probe(self) -> None:
        # A call allowed in an earlier half-open period may finish in this one: never go below 0.
        self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN)

    def _transition(self, state: BreakerState) -> None:
        previous, self._state = self._state, state
        self._failures = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
        if self._on_change is not None and previous is not state:
            self._on_change(self.name, previous, state)

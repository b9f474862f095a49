"""KServe v2 HTTP backends (Triton), each behind a circuit breaker and a concurrency bound.

The bound is a bulkhead, not a queue: when a backend already has ``max_concurrency`` calls
in flight the request moves on to the next link of the chain at once, so a slow GPU pool
holds at most that many of the gateway's requests hostage instead of all of them.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence

import numpy as np

from gateway.breaker import CircuitBreaker
from gateway.config import BackendSettings, TensorSpec
from gateway.http1 import Body, ConnectionPool
from gateway.kserve import HEADER_LENGTH, decode_response

WARM_UP_TIMEOUT_S = 2.0
HTTP_OK = 200


class CallOutcome(enum.Enum):
    """How one backend attempt ended; a metric label."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    BUSY = "busy"
    OPEN = "open"
    NO_BUDGET = "no_budget"
    """The request's deadline had passed before this link's turn: not tried."""


class BackendUnavailable(Exception):  # noqa: N818 - a condition, not a bug
    """The backend did not answer usefully; ``outcome`` says why."""

    def __init__(self, outcome: CallOutcome, detail: str = "") -> None:
        super().__init__(f"{outcome.value}: {detail}" if detail else outcome.value)
        self.outcome = outcome


class KServeBackend:
    """One backend endpoint (a Triton service) reached over KServe v2 HTTP."""

    def __init__(self, settings: BackendSettings, breaker: CircuitBreaker) -> None:
        self.settings = settings
        self.breaker = breaker
        # The bulkhead bounds calls in flight, so it also bounds this pool's connections.
        self._pool = ConnectionPool(settings.url, max_idle=settings.max_concurrency)
        self._inflight = 0

    @property
    def name(self) -> str:
        """The backend's name in the config."""
        return self.settings.name

    async def infer(
        self,
        model: str,
        body: Body,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        expected: Sequence[TensorSpec],
        batch_size: int,
    ) -> dict[str, np.ndarray]:
        """The model's outputs, or ``BackendUnavailable``; feeds the breaker either way."""
        if self._inflight >= self.settings.max_concurrency:
            raise BackendUnavailable(CallOutcome.BUSY)
        if not self.breaker.allow():
            raise BackendUnavailable(CallOutcome.OPEN)
        self._inflight += 1
        try:
            outputs = await self._call(model, body, headers, timeout_s)
            _check_outputs(outputs, expected, batch_size)
        except TimeoutError:
            self.breaker.record_failure()
            raise BackendUnavailable(
                CallOutcome.TIMEOUT, f"no answer in {timeout_s:.3f}s"
            ) from None
        except asyncio.CancelledError:
            self.breaker.record_abandoned()
            raise
        except Exception as exc:  # connection refused/reset, 5xx, garbage: all mean "not now"
            self.breaker.record_failure()
            raise BackendUnavailable(CallOutcome.ERROR, str(exc) or type(exc).__name__) from exc
        else:
            self.breaker.record_success()
            return outputs
        finally:
            self._inflight -= 1

    async def warm_up(self) -> bool:
        """Opens a connection and exercises the client once before traffic arrives.

        The client's first request pays for lazy imports and a TCP connect (tens of ms on a
        busy node), enough to time out and count against the breaker. False if unreachable.
        """
        try:
            async with asyncio.timeout(WARM_UP_TIMEOUT_S):
                response = await self._pool.request("GET", "/v2/health/ready")
        except (TimeoutError, OSError, ValueError):
            return False
        return response.status == HTTP_OK

    async def close(self) -> None:
        """Closes idle connections."""
        await self._pool.close()

    async def _call(
        self, model: str, body: Body, headers: Mapping[str, str], timeout_s: float
    ) -> dict[str, np.ndarray]:
        async with asyncio.timeout(timeout_s):
            response = await self._pool.request("POST", f"/v2/models/{model}/infer", body, headers)
        if response.status != HTTP_OK:
            raise RuntimeError(f"HTTP {response.status}: {response.text[:200]}")
        return decode_response(response.body, response.headers.get(HEADER_LENGTH))


def _check_outputs(
    outputs: Mapping[str, np.ndarray], expected: Sequence[TensorSpec], batch_size: int
) -> None:
    for spec in expected:
        array = outputs.get(spec.name)
        wanted = (batch_size, *spec.shape)
        if array is None:
            raise ValueError(f"output {spec.name!r} missing from the backend's answer")
        fits = len(array.shape) == len(wanted) and all(
            w in (-1, g) for w, g in zip(wanted, array.shape, strict=True)
        )
        if not fits:
            raise ValueError(
                f"output {spec.name!r} has shape {list(array.shape)}, not {list(wanted)}"
            )

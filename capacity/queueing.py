"""Closed forms (M/M/c, M/D/1) and the batching capacity model the planner sizes with.

The closed forms are shared reference figures.md section 6 and exist to check the
simulator; the batching model is a planning approximation, checked by the simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from capacity.profiles import BatchProfile, ServingModel

DEFAULT_QUANTILE = 0.99
DEFAULT_MAX_UTILIZATION = 0.95
"""Cap on planned load / peak batch throughput: the profiles are MLPerf ceilings
(figures.md 1.2), so the last 5% is kept as a guard against them being optimistic."""


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in M/M/c (Wolfram ``ErlangC``).

    Computed through the Erlang B recursion, which stays finite for hundreds of servers.
    """
    if offered_load >= servers:
        return 1.0
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    rho = offered_load / servers
    return blocking / (1.0 - rho * (1.0 - blocking))


def mmc_wait_quantile(servers: int, arrival_rate: float, service_rate: float, p: float) -> float:
    """``Wq,p = ln(C / (1 - p)) / (c*mu - lambda)`` when ``C > 1 - p``, else 0."""
    c_prob = erlang_c(servers, arrival_rate / service_rate)
    if c_prob <= 1.0 - p:
        return 0.0
    return math.log(c_prob / (1.0 - p)) / (servers * service_rate - arrival_rate)


def mmc_mean_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    return erlang_c(servers, arrival_rate / service_rate) / (servers * service_rate - arrival_rate)


def md1_mean_wait(arrival_rate: float, service_time: float) -> float:
    """Pollaczek-Khinchine for deterministic service: ``rho * s / (2 * (1 - rho))``."""
    rho = arrival_rate * service_time
    if rho >= 1:
        return math.inf
    return rho * service_time / (2.0 * (1.0 - rho))


@dataclass(frozen=True)
class BatchingCapacity:
    """What one accelerator running ``model`` with ``profile`` can do."""

    model: ServingModel
    profile: BatchProfile

    @property
    def full_batch_ms(self) -> float:
        return self.profile.latency_ms(self.model.max_batch_size)

    @property
    def peak_rps(self) -> float:
        """Throughput with every batch full: the best any SLO can get from one replica."""
        return self.profile.throughput(self.model.max_batch_size)

    def p99_ms(self, replicas: int, rps: float, quantile: float = DEFAULT_QUANTILE) -> float:
        """Upper estimate of the p99 of queue + compute at Poisson rate ``rps``.

        Batch formation waits at most the batcher's delay; a request then waits for an
        in-flight full batch and runs in a full batch; on top, the queue that Poisson
        bursts build, from the heavy-traffic (diffusion) approximation: exponential with
        rate ``2 * (capacity - rps) / rps`` requests. Every term is non-decreasing in ``rps``,
        so the replicas it asks for never fall when demand rises.
        """
        capacity = replicas * self.peak_rps
        if rps >= capacity:
            return math.inf
        slack = capacity - rps
        backlog = math.log(1.0 / (1.0 - quantile)) * rps / (2.0 * slack)
        queue_ms = 1000.0 * backlog / capacity
        return self.model.max_queue_delay_ms + 2.0 * self.full_batch_ms + queue_ms

    def replicas_for(
        self,
        rps: float,
        budget_ms: float,
        max_utilization: float = DEFAULT_MAX_UTILIZATION,
    ) -> int | None:
        """Fewest replicas whose p99 fits ``budget_ms`` at ``rps``; ``None`` if none can."""
        if self.model.max_queue_delay_ms + 2.0 * self.full_batch_ms >= budget_ms:
            return None
        replicas = max(1, math.ceil(rps / (max_utilization * self.peak_rps)))
        while self.p99_ms(replicas, rps) > budget_ms:
            replicas += 1
        return replicas

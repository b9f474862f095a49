"""The simulator against queueing theory (shared reference figures.md section 6).

Proves the queue, the servers and the percentile machinery agree with closed forms for
Poisson arrivals; does not prove the batching model matches a real Triton server.
"""

from __future__ import annotations

import numpy as np
import pytest

from capacity.queueing import erlang_c, md1_mean_wait, mmc_mean_wait, mmc_wait_quantile
from capacity.simulator import (
    Event,
    RegionFleet,
    ServiceModel,
    SimulationSpec,
    simulate,
    single_queue_spec,
)
from tests.capacity.fixtures import small_profiles

MU = 100.0  # requests/s per server: 10 ms mean service


@pytest.mark.parametrize(
    ("servers", "c_prob", "mean_ms", "p99_ms"),
    [
        (8, 0.635, 6.35, 41.5),
        (9, 0.385, 1.92, 18.3),
        (10, 0.222, 0.74, 10.3),
        (12, 0.063, 0.13, 3.7),
    ],
)
def test_erlang_c_matches_the_worked_example(
    servers: int, c_prob: float, mean_ms: float, p99_ms: float
) -> None:
    assert erlang_c(servers, 7.0) == pytest.approx(c_prob, abs=0.001)
    assert 1000 * mmc_mean_wait(servers, 700.0, MU) == pytest.approx(mean_ms, abs=0.01)
    assert 1000 * mmc_wait_quantile(servers, 700.0, MU, 0.99) == pytest.approx(p99_ms, abs=0.1)


@pytest.mark.parametrize(("servers", "arrivals"), [(9, 700.0), (10, 700.0), (4, 280.0)])
def test_mmc_p99_queue_wait_within_5_percent_of_erlang_c(servers: int, arrivals: float) -> None:
    service = ServiceModel("exponential", 1, mean_ms=1000.0 / MU)
    spec = single_queue_spec(
        arrival_rps=arrivals,
        servers=servers,
        service=service,
        duration_s=600_000 / arrivals,
        seed=servers,
    )
    result = simulate(spec)
    expected = 1000 * mmc_wait_quantile(servers, arrivals, MU, 0.99)
    assert result.total.latency_ms["queue"].p99 == pytest.approx(expected, rel=0.05)
    assert result.total.latency_ms["compute"].mean == pytest.approx(10.0, rel=0.02)


def test_md1_mean_wait_matches_pollaczek_khinchine() -> None:
    service = ServiceModel("deterministic", 1, mean_ms=10.0)
    spec = single_queue_spec(arrival_rps=70.0, servers=1, service=service, duration_s=6000, seed=3)
    result = simulate(spec)
    expected = 1000 * md1_mean_wait(70.0, 0.010)
    assert result.total.latency_ms["queue"].mean == pytest.approx(expected, rel=0.05)
    assert result.total.latency_ms["compute"].p99 == pytest.approx(10.0, rel=0.002)


def test_an_overloaded_queue_fails_the_closed_form() -> None:
    """The comparison can fail: at 1.2x capacity waits grow without bound."""
    service = ServiceModel("exponential", 1, mean_ms=10.0)
    spec = single_queue_spec(arrival_rps=1200.0, servers=10, service=service, duration_s=60, seed=1)
    result = simulate(spec)
    assert result.total.latency_ms["queue"].p99 > 1000.0


def test_batches_never_exceed_the_max_batch_and_wait_at_most_the_delay() -> None:
    model = small_profiles().model
    table = model.profiles["l4"].table_ms(model.max_batch_size)
    service = ServiceModel(
        "profile", model.max_batch_size, max_queue_delay_ms=1.0, batch_target=8, batch_ms=table
    )
    # Light load: batches form on the 1 ms delay; compute is s(b) for b <= 8.
    light = simulate(
        single_queue_spec(arrival_rps=500.0, servers=2, service=service, duration_s=200, seed=5)
    )
    assert light.total.latency_ms["queue"].p99 <= 1.0 + 1e-3
    assert table[1] * 0.999 <= light.total.latency_ms["compute"].p50 <= table[8]
    # Heavy load: near the 2 x 8 / 3 ms = 5,333/s ceiling, batches fill up to 8.
    heavy = simulate(
        single_queue_spec(arrival_rps=5000.0, servers=2, service=service, duration_s=60, seed=6)
    )
    assert heavy.total.latency_ms["compute"].p50 == pytest.approx(table[8], rel=0.01)


def test_conservation_every_request_ends_exactly_once() -> None:
    """Failures, detection delay, a dial, timeouts and rejections in one run."""
    from capacity.latency import UserArea

    model = small_profiles().model
    table = model.profiles["l4"].table_ms(model.max_batch_size)
    service = ServiceModel("profile", 8, max_queue_delay_ms=1.0, batch_target=8, batch_ms=table)
    areas = (
        UserArea("east", "US", "a", 0.5, {"a": 5.0, "b": 30.0, "c": 90.0}),
        UserArea("west", "US", "b", 0.3, {"a": 30.0, "b": 5.0, "c": 90.0}),
        UserArea("tokyo", "JP", "c", 0.2, {"a": 90.0, "b": 90.0, "c": 5.0}),
    )
    regions = (
        RegionFleet("a", "US", service, 2, 2, 2),
        RegionFleet("b", "US", service, 1, 1, 1),  # overloaded when a fails: timeouts
        RegionFleet("c", "JP", service, 1, 1, 1),
    )
    spec = SimulationSpec(
        name="conservation",
        duration_s=20.0,
        global_rps=4000.0,
        areas=areas,
        regions=regions,
        events=(
            Event(3.0, "dial", "a", 40.0),
            Event(5.0, "fail", "a"),
            Event(8.0, "fail", "c"),
            Event(12.0, "recover", "a"),
            Event(15.0, "recover", "c"),
        ),
        failover_detection_s=1.0,
        timeout_ms=50.0,
        interval_s=2.0,
        seed=11,
    )
    result = simulate(spec, trace=True)
    trace = result.trace
    assert trace is not None
    outcomes = np.concatenate([trace["completed"], trace["rejected"], trace["timed_out"]])
    assert outcomes.size == trace["generated"].size == result.total.arrived
    assert np.array_equal(np.sort(outcomes), trace["generated"])  # each id exactly once
    assert result.total.rejected > 0  # JP users while c was down: never served elsewhere
    assert result.total.timed_out > 0
    for report in [*result.regions.values(), result.total]:
        assert report.arrived == report.completed + report.rejected + report.timed_out

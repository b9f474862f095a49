"""The fallback chain, circuit breakers and admission control, with real failures.

A killed backend refuses connections (errors); a SIGSTOPped one accepts them and never
answers (timeouts); SIGCONT brings it back. Proves the gateway's reaction, not Triton's.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from gateway import devstack
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import GatewayHandle, outputs_of, parameters_of

OPEN, CLOSED = 2.0, 0.0
POPULAR = [1, 2, 3, 4, 5, 6, 7, 8]


def _fragile(threshold: int = 2, open_seconds: float = 0.5, timeout_ms: int = 300) -> dict:
    return {
        "backends": {
            "gpu": {
                "timeout_ms": timeout_ms,
                "breaker": {"failure_threshold": threshold, "open_seconds": open_seconds},
            }
        }
    }


def _paths(gateway: GatewayHandle, count: int) -> list[str]:
    responses = [gateway.infer() for _ in range(count)]
    assert [r.status_code for r in responses] == [200] * count, responses[-1].text
    return [parameters_of(r)["path"] for r in responses]


def test_primary_failing_opens_its_breaker_and_the_cpu_path_answers(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    gateway = gateway_factory(
        flaky_primary.url, healthy_backend.url, overrides=_fragile(open_seconds=60)
    )
    assert _paths(gateway, 1) == ["gpu"]
    flaky_primary.process.kill()
    flaky_primary.process.wait(timeout=10)

    assert _paths(gateway, 4) == ["cpu-fallback"] * 4

    assert gateway.metric("gateway_breaker_state", backend="gpu") == OPEN
    assert gateway.metric("gateway_backend_calls_total", backend="gpu", outcome="error") == 2
    assert gateway.metric("gateway_backend_calls_total", backend="gpu", outcome="open") == 2


def test_primary_timing_out_opens_its_breaker_and_the_cpu_path_answers(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    gateway = gateway_factory(
        flaky_primary.url, healthy_backend.url, overrides=_fragile(open_seconds=60)
    )
    flaky_primary.process.send_signal(signal.SIGSTOP)

    assert _paths(gateway, 3) == ["cpu-fallback"] * 3

    assert gateway.metric("gateway_breaker_state", backend="gpu") == OPEN
    assert gateway.metric("gateway_backend_calls_total", backend="gpu", outcome="timeout") == 2


def test_breaker_half_opens_and_closes_when_the_primary_recovers(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    gateway = gateway_factory(flaky_primary.url, healthy_backend.url, overrides=_fragile())
    flaky_primary.process.send_signal(signal.SIGSTOP)
    assert _paths(gateway, 2) == ["cpu-fallback"] * 2
    assert gateway.metric("gateway_breaker_state", backend="gpu") == OPEN

    flaky_primary.process.send_signal(signal.SIGCONT)
    time.sleep(0.6)  # open_seconds is 0.5

    assert _paths(gateway, 2) == ["gpu", "gpu"]
    assert gateway.metric("gateway_breaker_state", backend="gpu") == CLOSED
    transitions = [
        gateway.metric("gateway_breaker_transitions_total", backend="gpu", to=state)
        for state in ("open", "half_open", "closed")
    ]
    assert transitions == [1, 1, 1]


def test_failed_probe_opens_the_breaker_again(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    gateway = gateway_factory(flaky_primary.url, healthy_backend.url, overrides=_fragile())
    flaky_primary.process.send_signal(signal.SIGSTOP)
    assert _paths(gateway, 2) == ["cpu-fallback"] * 2
    time.sleep(0.6)

    assert _paths(gateway, 1) == ["cpu-fallback"]  # the probe, timed out

    assert gateway.metric("gateway_breaker_state", backend="gpu") == OPEN
    assert gateway.metric("gateway_breaker_transitions_total", backend="gpu", to="open") == 2


def test_both_backends_down_gives_the_rule_based_answer_never_a_5xx(
    gateway_factory: GatewayFactory, eu_table: Callable[..., None]
) -> None:
    nowhere = f"http://127.0.0.1:{devstack.free_port()}"
    gateway = gateway_factory(nowhere, nowhere)
    eu_table("ivan", [900, 3])

    anonymous = [gateway.infer() for _ in range(6)]
    personal = gateway.infer(token=gateway.token("ivan", "EU"))

    assert {r.status_code for r in anonymous} == {200}
    assert {parameters_of(r)["path"] for r in anonymous} == {"rule-based"}
    assert outputs_of(anonymous[-1])["top_classes"].tolist() == [POPULAR[:5]]
    assert parameters_of(personal)["path"] == "rule-based"
    assert parameters_of(personal)["personalised"] is True
    assert outputs_of(personal)["top_classes"].tolist() == [[900, 3, 1, 2, 4]]


def test_rule_based_answer_omits_model_outputs_but_keeps_the_batch(
    gateway_factory: GatewayFactory,
) -> None:
    nowhere = f"http://127.0.0.1:{devstack.free_port()}"
    gateway = gateway_factory(nowhere, nowhere)
    image = np.zeros((3, *devstack.INPUT_SHAPE), dtype=np.float32)

    response = gateway.infer(image, outputs=("probabilities", "top_classes"))

    assert response.status_code == 200
    assert set(outputs_of(response)) == {"top_classes"}
    assert outputs_of(response)["top_classes"].shape == (3, 5)


def test_burst_beyond_the_concurrency_bound_gets_429s_and_drops_nothing(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    # Every admitted request waits out the stopped primary's timeout, so they overlap.
    overrides = _fragile(threshold=1000, timeout_ms=500)
    overrides["server"] = {"max_inflight": 3, "retry_after_s": 2}
    gateway = gateway_factory(flaky_primary.url, healthy_backend.url, overrides=overrides)
    flaky_primary.process.send_signal(signal.SIGSTOP)
    burst = 24

    with ThreadPoolExecutor(burst) as pool:
        responses = list(pool.map(lambda _: gateway.infer(), range(burst)))

    codes = [r.status_code for r in responses]
    assert len(responses) == burst
    assert set(codes) <= {200, 429}
    assert 3 <= codes.count(200) < burst
    rejected = [r for r in responses if r.status_code == 429]
    assert {r.headers["retry-after"] for r in rejected} == {"2"}
    assert "concurrency limit" in rejected[0].json()["error"]
    assert gateway.metric("gateway_rejected_total", reason="overload") == len(rejected)


def test_backend_concurrency_bound_moves_excess_to_the_next_link(
    gateway_factory: GatewayFactory,
    flaky_primary: devstack.Service,
    healthy_backend: devstack.Service,
) -> None:
    overrides = _fragile(threshold=1000, timeout_ms=600)
    overrides["backends"]["gpu"]["max_concurrency"] = 1
    gateway = gateway_factory(flaky_primary.url, healthy_backend.url, overrides=overrides)
    flaky_primary.process.send_signal(signal.SIGSTOP)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: gateway.infer(), range(4)))

    assert [r.status_code for r in responses] == [200] * 4
    assert gateway.metric("gateway_backend_calls_total", backend="gpu", outcome="busy") >= 1


def test_client_gets_json_errors_not_connection_resets_when_the_body_is_huge(
    gateway_factory: GatewayFactory, healthy_backend: devstack.Service
) -> None:
    gateway = gateway_factory(
        healthy_backend.url, healthy_backend.url, overrides={"server": {"max_body_bytes": 1000}}
    )

    response = httpx.post(
        gateway.url + "/v2/models/resnet50/infer", content=b"x" * 5000, timeout=30, trust_env=False
    )

    assert response.status_code == 413

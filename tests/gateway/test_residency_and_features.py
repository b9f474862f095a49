"""The gateway process against moto and the onnxruntime backend: residency and features.

Proves: who gets personal features where, that the table is (or is not) read, and what a
caller sees. Does not prove DynamoDB's own behaviour (moto stands in for it).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import numpy as np

from gateway import devstack
from tests.gateway.conftest import EU_REGION, US_ENDPOINT, GatewayFactory
from tests.gateway.support import INFER, GatewayHandle, an_image, outputs_of, parameters_of

TABLE = devstack.feature_table_name("test", EU_REGION)


def _favourite(gateway: GatewayHandle, image: np.ndarray) -> tuple[int, list[int]]:
    """A class the model ranks below first that a 10x boost must lift to first place."""
    anonymous = gateway.infer(image, outputs=("top_classes", "probabilities"))
    assert anonymous.status_code == 200, anonymous.text
    outputs = outputs_of(anonymous)
    ranked = [int(c) for c in outputs["top_classes"][0]]
    probabilities = outputs["probabilities"][0]
    liftable = [c for c in ranked[1:] if probabilities[c] * 11 > probabilities[ranked[0]]]
    assert liftable, "the model's top-5 is too peaked for the test's boost"
    return liftable[-1], ranked


def test_personalised_request_in_home_region_reads_the_users_features(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    image = an_image(seed=3)
    favourite, anonymous_ranking = _favourite(eu_gateway, image)
    eu_table("alice", [favourite], events_7d=100)

    response = eu_gateway.infer(image, token=eu_gateway.token("alice", "EU"))

    assert response.status_code == 200, response.text
    assert parameters_of(response)["personalised"] is True
    assert parameters_of(response)["path"] == "gpu"
    ranking = [int(c) for c in outputs_of(response)["top_classes"][0]]
    assert ranking[0] == favourite != anonymous_ranking[0]
    reads = eu_gateway.spy.reads("alice")
    assert [(r.table, r.region) for r in reads] == [(TABLE, EU_REGION)]


def test_second_request_is_served_from_the_cache(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    eu_table("bruno", [1, 2])
    token = eu_gateway.token("bruno", "EU")

    first = eu_gateway.infer(token=token)
    second = eu_gateway.infer(token=token)

    assert first.status_code == second.status_code == 200
    assert parameters_of(second)["personalised"] is True
    assert len(eu_gateway.spy.reads("bruno")) == 1
    assert eu_gateway.metric("gateway_feature_cache_total", result="hit") >= 1


def test_user_from_another_jurisdiction_is_redirected_without_a_feature_read(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    eu_table("carla", [5])  # even a same-named item here must not be read for her
    redirects_before = eu_gateway.metric(
        "gateway_residency_redirects_total", home_jurisdiction="US"
    )

    response = eu_gateway.infer(token=eu_gateway.token("carla", "US"))

    assert response.status_code == 307
    assert response.headers["location"] == US_ENDPOINT + INFER
    assert "home jurisdiction" in response.json()["error"]
    assert eu_gateway.spy.reads() == []
    redirects = eu_gateway.metric("gateway_residency_redirects_total", home_jurisdiction="US")
    assert redirects == redirects_before + 1


def test_traveller_who_allows_anonymous_gets_the_non_personalised_answer(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    eu_table("dario", [5])

    response = eu_gateway.infer(token=eu_gateway.token("dario", "US"), allow_anonymous=True)

    assert response.status_code == 200, response.text
    assert parameters_of(response)["personalised"] is False
    assert eu_gateway.spy.reads() == []


def test_home_user_opting_out_of_personalisation_is_not_read(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    eu_table("erin", [5])

    response = eu_gateway.infer(token=eu_gateway.token("erin", "EU"), personalise=False)

    assert response.status_code == 200
    assert parameters_of(response)["personalised"] is False
    assert eu_gateway.spy.reads() == []


def test_anonymous_request_is_served_in_any_region(
    gateway_factory: GatewayFactory, healthy_backend: devstack.Service
) -> None:
    us_gateway = gateway_factory(
        healthy_backend.url, healthy_backend.url, region="us-east-1", jurisdiction="US"
    )

    response = us_gateway.infer()

    assert response.status_code == 200
    assert parameters_of(response) | {"request_id": None} == {
        "path": "gpu",
        "personalised": False,
        "region": "us-east-1",
        "request_id": None,
    }
    assert us_gateway.spy.reads() == []


def test_unknown_user_degrades_to_default_features(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    response = eu_gateway.infer(token=eu_gateway.token("nobody", "EU"))

    assert response.status_code == 200
    assert parameters_of(response)["personalised"] is False
    assert len(eu_gateway.spy.reads("nobody")) == 1
    assert eu_gateway.metric("gateway_feature_reads_total", outcome="not_found") >= 1


def test_active_user_is_refreshed_in_the_background_not_on_the_request_path(
    gateway_factory: GatewayFactory,
    healthy_backend: devstack.Service,
    eu_table: Callable[..., None],
) -> None:
    ttl_s, refresh_after = 4.0, 0.5
    gateway = gateway_factory(
        healthy_backend.url,
        healthy_backend.url,
        overrides={"features": {"cache_ttl_s": ttl_s, "cache_refresh_after": refresh_after}},
    )
    image = an_image(seed=3)
    first_favourite, ranking = _favourite(gateway, image)
    second_favourite = next(c for c in ranking[1:] if c != first_favourite)
    eu_table("hana", [first_favourite], events_7d=100)
    token = gateway.token("hana", "EU")

    def top_class() -> int:
        response = gateway.infer(image, token=token)
        assert response.status_code == 200, response.text
        assert parameters_of(response)["personalised"] is True
        return int(outputs_of(response)["top_classes"][0][0])

    started = time.monotonic()
    assert top_class() == first_favourite
    eu_table("hana", [second_favourite], events_7d=100)
    time.sleep(ttl_s * refresh_after + 0.2 - (time.monotonic() - started))
    # Past the refresh point: still the cached features, and one read in the background.
    assert top_class() == first_favourite
    deadline = started + ttl_s - 0.5
    while top_class() != second_favourite:
        assert time.monotonic() < deadline, "the background re-read never landed"
        time.sleep(0.05)
    assert len(gateway.spy.reads("hana")) == 2
    assert gateway.metric("gateway_feature_cache_total", result="refresh") == 1
    assert gateway.metric("gateway_feature_cache_total", result="miss") == 1


def test_slow_feature_store_degrades_to_defaults_within_the_deadline(
    gateway_factory: GatewayFactory,
    healthy_backend: devstack.Service,
    eu_table: Callable[..., None],
) -> None:
    gateway = gateway_factory(
        healthy_backend.url, healthy_backend.url, overrides={"features": {"timeout_ms": 200}}
    )
    eu_table("frank", [5])
    gateway.spy.delay_s = 2.0
    try:
        response = gateway.infer(token=gateway.token("frank", "EU"))
    finally:
        gateway.spy.delay_s = 0.0

    assert response.status_code == 200
    assert parameters_of(response)["personalised"] is False
    assert parameters_of(response)["path"] == "gpu"
    assert gateway.metric("gateway_feature_reads_total", outcome="timeout") == 1


def test_unreachable_feature_store_degrades_to_defaults(
    gateway_factory: GatewayFactory, healthy_backend: devstack.Service
) -> None:
    dead = f"http://127.0.0.1:{devstack.free_port()}"
    gateway = gateway_factory(
        healthy_backend.url, healthy_backend.url, overrides={"features": {"endpoint_url": dead}}
    )

    response = gateway.infer(token=gateway.token("gina", "EU"))

    assert response.status_code == 200
    assert parameters_of(response)["personalised"] is False
    assert gateway.metric("gateway_feature_reads_total", outcome="error") == 1


def test_request_log_has_the_request_id_and_no_personal_data(
    eu_gateway: GatewayHandle, eu_table: Callable[..., None]
) -> None:
    eu_table("hanna-secret-id", [5])
    token = eu_gateway.token("hanna-secret-id", "EU")

    response = eu_gateway.infer(token=token, headers={"X-Request-Id": "req-log-check-1"})

    assert response.headers["x-request-id"] == "req-log-check-1"
    assert "backend;dur=" in response.headers["server-timing"]
    # The access log is written just after the answer is sent, so the client can be first.
    deadline = time.monotonic() + 5
    while "req-log-check-1" not in (log := eu_gateway.service.log()):
        assert time.monotonic() < deadline, "no access log line for the request"
        time.sleep(0.01)
    lines = [json.loads(line) for line in log.splitlines() if "req-log-check-1" in line]
    assert len(lines) == 1
    assert lines[0]["personalised"] is True
    assert lines[0]["path"] == "gpu"
    assert "hanna-secret-id" not in log
    assert token not in log


def test_gateway_stops_cleanly_on_sigterm(
    gateway_factory: GatewayFactory, healthy_backend: devstack.Service
) -> None:
    gateway = gateway_factory(healthy_backend.url, healthy_backend.url)
    gateway.service.process.send_signal(signal.SIGTERM)

    # uvicorn shuts down gracefully, then re-raises the signal for the supervisor to see.
    assert gateway.service.process.wait(timeout=15) == -signal.SIGTERM
    assert "Application shutdown complete." in gateway.service.log()

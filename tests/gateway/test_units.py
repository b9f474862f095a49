"""Pure logic without processes: breaker, ranking, codec, cache, feature items, residency."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given
from hypothesis import strategies as st

from gateway.breaker import BreakerState, CircuitBreaker
from gateway.config import AuthSettings, BreakerSettings, TensorSpec
from gateway.features import DEFAULT_FEATURES, TTLCache, UserFeatures, parse_item
from gateway.kserve import (
    ProtocolError,
    Tensor,
    decode_response,
    encode_request,
    encode_response,
    parse_infer_request,
)
from gateway.ranking import rule_based, top_k
from gateway.residency import Action, AuthError, Identity, IdentityResolver, decide


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, **settings: float) -> tuple[CircuitBreaker, list[str]]:
    changes: list[str] = []
    breaker = CircuitBreaker(
        "gpu",
        BreakerSettings(**{"failure_threshold": 3, "open_seconds": 10, **settings}),  # type: ignore[arg-type]
        clock=clock,
        on_change=lambda _, old, new: changes.append(f"{old.name}->{new.name}"),
    )
    return breaker, changes


def test_breaker_opens_after_consecutive_failures_only() -> None:
    breaker, _ = _breaker(Clock())
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        assert breaker.allow()
        breaker.record_failure() if outcome == "fail" else breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_breaker_half_opens_after_the_period_and_closes_on_success() -> None:
    clock = Clock()
    breaker, changes = _breaker(clock, failure_threshold=1)
    breaker.allow()
    breaker.record_failure()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one probe at a time
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert changes == ["CLOSED->OPEN", "OPEN->HALF_OPEN", "HALF_OPEN->CLOSED"]


def test_failed_probe_reopens_for_a_full_period() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock, failure_threshold=1)
    breaker.allow()
    breaker.record_failure()
    clock.now = 10
    breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 19.9
    assert not breaker.allow()
    clock.now = 20
    assert breaker.allow()


def test_abandoned_probe_frees_its_slot() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock, failure_threshold=1)
    breaker.allow()
    breaker.record_failure()
    clock.now = 10
    assert breaker.allow()
    breaker.record_abandoned()
    assert breaker.allow()


def test_several_probes_must_all_succeed_to_close() -> None:
    clock = Clock()
    breaker, _ = _breaker(clock, failure_threshold=1, half_open_probes=2)
    breaker.allow()
    breaker.record_failure()
    clock.now = 10
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_top_k_without_features_is_the_models_order() -> None:
    scores = np.array([[0.1, 0.5, 0.2, 0.15, 0.05], [0.3, 0.3, 0.1, 0.2, 0.1]], dtype=np.float32)

    classes, values = top_k(scores, k=3, candidate_k=5)

    assert classes.tolist() == [[1, 2, 3], [0, 1, 3]]  # the tie goes to the lower class id
    np.testing.assert_allclose(values, [[0.5, 0.2, 0.15], [0.3, 0.3, 0.2]])


def test_personal_rerank_lifts_a_favourite_within_the_candidates_only() -> None:
    scores = np.array([[0.40, 0.30, 0.20, 0.06, 0.04]], dtype=np.float32)
    fan = UserFeatures(counts={"events_7d": 50}, top_classes=(2, 4))

    classes, values = top_k(scores, k=3, candidate_k=3, features=fan, boost=1.0, saturation=50)

    # 2 is doubled (0.40) and wins the tie with 0; 4 is outside the 3 candidates.
    assert classes.tolist() == [[0, 2, 1]]
    np.testing.assert_allclose(values, [[0.40, 0.40, 0.30]])


def test_personal_boost_scales_with_activity() -> None:
    scores = np.array([[0.40, 0.30]], dtype=np.float32)
    casual = UserFeatures(counts={"events_7d": 5}, top_classes=(1,))
    regular = UserFeatures(counts={"events_7d": 500}, top_classes=(1,))

    assert top_k(scores, 2, 2, casual, boost=1.0, saturation=50)[0].tolist() == [[0, 1]]
    assert top_k(scores, 2, 2, regular, boost=1.0, saturation=50)[0].tolist() == [[1, 0]]


@given(
    st.lists(st.floats(0, 1, width=32), min_size=1, max_size=50),
    st.integers(1, 10),
    st.lists(st.integers(0, 60), max_size=5),
)
def test_top_k_is_always_a_sorted_subset_of_the_candidates(
    row: list[float], k: int, favourites: list[int]
) -> None:
    scores = np.array([row], dtype=np.float32)
    features = UserFeatures(counts={"events_7d": 10}, top_classes=tuple(favourites))

    classes, values = top_k(scores, k, candidate_k=k + 2, features=features)

    assert classes.shape == values.shape == (1, min(k, len(row)))
    assert len(set(classes[0].tolist())) == classes.shape[1]
    assert list(values[0]) == sorted(values[0], reverse=True)
    model_order = np.argsort(-scores[0], kind="stable")[: k + 2]
    assert set(classes[0].tolist()) <= {
        int(c) for c in np.flatnonzero(scores[0] >= scores[0][model_order[-1]])
    }


def test_rule_based_puts_the_users_classes_before_popular_ones() -> None:
    user = UserFeatures(counts={}, top_classes=(9, 2))

    classes, scores = rule_based(2, 4, user, popular=[1, 2, 3, 4])

    assert classes.tolist() == [[9, 2, 1, 3]] * 2
    np.testing.assert_allclose(scores[0], [1, 1 / 2, 1 / 3, 1 / 4])
    assert rule_based(1, 3, None, popular=[5, 6, 7, 8])[0].tolist() == [[5, 6, 7]]
    assert rule_based(1, 3, None, popular=[])[0].shape == (1, 0)


SPEC = (TensorSpec("input", "FP32", (2, 3)),)


def _binary(header: dict, payload: bytes) -> tuple[bytes, str]:
    encoded = json.dumps(header).encode()
    return encoded + payload, str(len(encoded))


def test_binary_input_is_passed_through_without_decoding() -> None:
    data = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    body, length = _binary(
        {
            "id": "r1",
            "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [2, 2, 3],
                 "parameters": {"binary_data_size": data.nbytes}}
            ],
            "outputs": [{"name": "p", "parameters": {"binary_data": True}}, {"name": "q"}],
            "parameters": {"personalise": False},
        },
        data.tobytes(),
    )  # fmt: skip

    request = parse_infer_request(body, length, SPEC, max_batch_size=4)

    assert request.id == "r1"
    assert request.batch_size == 2
    assert bytes(request.inputs[0].raw) == data.tobytes()
    np.testing.assert_array_equal(request.inputs[0].array(), data)
    assert request.requested_outputs == ("p", "q")
    assert request.wants_binary("p")
    assert not request.wants_binary("q")
    assert request.parameters == {"personalise": False}


def test_json_data_nested_or_flat_becomes_the_same_bytes() -> None:
    nested = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": [1, 2, 3],
                "data": [[[1, 2, 3], [4, 5, 6]]],
            }
        ]
    }
    flat = {
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "data": [1, 2, 3, 4, 5, 6]}
        ]
    }

    a = parse_infer_request(json.dumps(nested).encode(), None, SPEC, 4)
    b = parse_infer_request(json.dumps(flat).encode(), None, SPEC, 4)

    assert (
        bytes(a.inputs[0].raw) == bytes(b.inputs[0].raw) == np.arange(1, 7, dtype="<f4").tobytes()
    )


@pytest.mark.parametrize(
    ("header", "payload", "message"),
    [
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "parameters": {"binary_data_size": 24}}]},
         b"\0" * 28, "4 bytes of binary data belong to no input"),
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "parameters": {"binary_data_size": 20}}]},
         b"\0" * 20, "binary_data_size 20 != 24 bytes"),
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2, True]}]}, b"", "list of integers"),
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [0, 2, 3], "data": []}]}, b"", "shape must be"),
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "data": [0] * 6}] * 2}, b"",
         "once"),
        ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2, 3], "data": [0] * 6}], "id": 5}, b"",
         "id must be a string"),
    ],
)  # fmt: skip
def test_protocol_errors_say_what_is_wrong(header: dict, payload: bytes, message: str) -> None:
    body, length = _binary(header, payload)

    with pytest.raises(ProtocolError, match=message):
        parse_infer_request(body, length, SPEC, 4)


def test_outbound_request_and_response_round_trip() -> None:
    data = np.ones((1, 2, 3), dtype=np.float32)
    parts, headers = encode_request(
        [Tensor("input", "FP32", (1, 2, 3), data.tobytes())], ["p"], "id-1"
    )
    body = b"".join(parts)
    assert bytes(parts[-1]) == data.tobytes()  # the tensor is passed on as it came
    parsed = parse_infer_request(body, headers["inference-header-content-length"], SPEC, 4)
    assert parsed.id == "id-1"
    assert parsed.wants_binary("p")

    probabilities = np.array([[0.25, 0.75]], dtype=np.float32)
    answer, answer_headers = encode_response(
        {"model_name": "m"},
        [("p", probabilities, True), ("k", np.array([[1]], dtype=np.int64), False)],
    )
    outputs = decode_response(answer, answer_headers.get("inference-header-content-length"))
    np.testing.assert_array_equal(outputs["p"], probabilities)
    assert outputs["k"].dtype == np.int64
    assert outputs["k"].tolist() == [[1]]


def test_ttl_cache_expires_and_evicts_the_least_recently_used() -> None:
    clock = Clock()
    cache = TTLCache(size=2, ttl_s=10, clock=clock)
    a, b, c = (UserFeatures(top_classes=(i,)) for i in range(3))
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c)
    assert cache.get("b") is None
    assert cache.get("a") is a
    assert cache.get("c") is c
    clock.now = 10
    assert cache.get("a") is None
    assert len(cache) == 1


def test_ttl_cache_asks_one_caller_to_refresh_an_ageing_entry() -> None:
    clock = Clock()
    cache = TTLCache(size=4, ttl_s=10, clock=clock, refresh_after=0.8)
    old, new = UserFeatures(top_classes=(1,)), UserFeatures(top_classes=(2,))
    cache.put("a", old)
    clock.now = 7.9
    assert cache.lookup("a") == (old, False)
    clock.now = 8.0
    assert cache.lookup("a") == (old, True)  # served, and this caller re-reads
    assert cache.lookup("a") == (old, False)  # the re-read is already claimed
    clock.now = 9.0
    cache.put("a", new)  # the re-read lands: a fresh TTL and refresh point
    assert cache.lookup("a") == (new, False)
    clock.now = 16.9
    assert cache.lookup("a") == (new, False)
    clock.now = 17.0
    assert cache.lookup("a") == (new, True)


def test_a_refresh_that_could_not_start_is_offered_to_the_next_lookup() -> None:
    clock = Clock()
    cache = TTLCache(size=4, ttl_s=10, clock=clock, refresh_after=0.5)
    cache.put("a", UserFeatures(top_classes=(1,)))
    clock.now = 5
    assert cache.lookup("a")[1] is True
    cache.reopen_refresh("a")  # e.g. the read pool was full
    assert cache.lookup("a")[1] is True
    assert cache.lookup("a")[1] is False


def test_ttl_cache_spreads_refresh_points_by_its_jitter() -> None:
    clock = Clock()
    draws = iter([0.0, 1.0, 0.5])
    cache = TTLCache(
        size=4, ttl_s=10, clock=clock, refresh_after=0.8, jitter=0.25, uniform=lambda: next(draws)
    )
    for key in "abc":
        cache.put(key, UserFeatures(top_classes=(1,)))
    # refresh points: 8 * (1 - 0.25 * draw) = 8.0, 6.0 and 7.0
    clock.now = 5.99
    assert [cache.lookup(k)[1] for k in "abc"] == [False, False, False]
    clock.now = 6.0
    assert [cache.lookup(k)[1] for k in "abc"] == [False, True, False]
    clock.now = 7.0
    assert [cache.lookup(k)[1] for k in "abc"] == [False, False, True]
    clock.now = 8.0
    assert [cache.lookup(k)[1] for k in "abc"] == [True, False, False]


def test_ttl_cache_never_serves_past_the_ttl_even_if_no_refresh_landed() -> None:
    clock = Clock()
    cache = TTLCache(size=4, ttl_s=10, clock=clock, refresh_after=0.5)
    cache.put("a", UserFeatures(top_classes=(1,)))
    clock.now = 6
    assert cache.lookup("a")[1] is True  # the re-read is lost: the store never answers
    clock.now = 10
    assert cache.lookup("a") == (None, False)


def test_ttl_cache_without_refresh_ahead_never_asks() -> None:
    clock = Clock()
    cache = TTLCache(size=4, ttl_s=10, clock=clock)
    cache.put("a", UserFeatures(top_classes=(1,)))
    clock.now = 9.99
    assert cache.lookup("a")[1] is False
    with pytest.raises(ValueError, match="refresh_after"):
        TTLCache(size=4, ttl_s=10, refresh_after=0)


def test_feature_item_parsing_follows_the_contract() -> None:
    now = time.time()
    item = {
        "user_id": {"S": "u"},
        "features": {"M": {"events_7d": {"N": "12"}, "bogus": {"S": "x"}}},
        "top_classes": {"L": [{"N": "5"}, {"N": "-1"}, {"S": "7"}, {"N": "9"}]},
        "expires_at": {"N": str(now + 60)},
    }

    features = parse_item(item, now)

    assert features == UserFeatures(counts={"events_7d": 12.0}, top_classes=(5, 9))
    assert parse_item({**item, "expires_at": {"N": str(now - 1)}}, now) is None
    assert parse_item({"user_id": {"S": "u"}}, now) == DEFAULT_FEATURES


def _auth(algorithm: str, key: object, **edge: str) -> AuthSettings:
    return AuthSettings(
        algorithm=algorithm,
        key=key,
        jurisdiction_claim="jurisdiction",
        issuer="https://id.example.test",
        audience="inference",
        leeway_s=0,
        edge_user_header=edge.get("user"),
        edge_jurisdiction_header=edge.get("jurisdiction"),
    )


def _token(private_key: object, algorithm: str, **claims: object) -> str:
    body = {
        "sub": "ulla",
        "jurisdiction": "EU",
        "iss": "https://id.example.test",
        "aud": "inference",
        "exp": int(time.time()) + 60,
        **claims,
    }
    return jwt.encode(body, private_key, algorithm=algorithm)  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_asymmetric_tokens_verify_with_the_public_key_only(algorithm: str) -> None:
    make = (
        ed25519.Ed25519PrivateKey.generate
        if algorithm == "EdDSA"
        else (lambda: ec.generate_private_key(ec.SECP256R1()))
    )
    signer, other = make(), make()
    resolver = IdentityResolver(_auth(algorithm, signer.public_key()))

    identity = resolver.resolve({"authorization": f"Bearer {_token(signer, algorithm)}"})

    assert identity == Identity("ulla", "EU")
    with pytest.raises(AuthError, match="does not verify"):
        resolver.resolve({"authorization": f"Bearer {_token(other, algorithm)}"})
    with pytest.raises(AuthError, match="token rejected"):
        resolver.resolve({"authorization": f"Bearer {_token(signer, algorithm, aud='billing')}"})


def test_edge_headers_count_only_when_configured() -> None:
    headers = {"x-edge-user": "vera", "x-edge-jurisdiction": "US"}

    trusting = IdentityResolver(
        _auth("HS256", b"k" * 32, user="x-edge-user", jurisdiction="x-edge-jurisdiction")
    )
    wary = IdentityResolver(_auth("HS256", b"k" * 32))

    assert trusting.resolve(headers) == Identity("vera", "US")
    assert wary.resolve(headers) is None


def test_decide_covers_every_combination() -> None:
    endpoints = {"US": "https://us.example.test"}

    def verdict(identity: Identity | None, **parameters: object) -> Action:
        return decide(
            identity, parameters, local_jurisdiction="EU", home_endpoints=endpoints, path="/p"
        ).action

    local, traveller = Identity("a", "EU"), Identity("b", "US")
    assert verdict(None) is Action.ANONYMOUS
    assert verdict(local) is Action.PERSONAL
    assert verdict(local, personalise=False) is Action.ANONYMOUS
    assert verdict(traveller) is Action.REDIRECT
    assert verdict(traveller, allow_anonymous=True) is Action.ANONYMOUS
    redirect = decide(traveller, {}, local_jurisdiction="EU", home_endpoints=endpoints, path="/p")
    assert redirect.location == "https://us.example.test/p"
    assert redirect.home == "US"


def test_uvicorn_still_reads_the_body_high_water_mark_the_gateway_raises() -> None:
    # gateway.__main__ raises a module constant of uvicorn's; an upgrade that stops reading
    # it would silently bring back body reads in 64 KiB rounds (bench/gateway_bench.py).
    from uvicorn.protocols.http import h11_impl, httptools_impl

    from gateway.__main__ import BODY_HIGH_WATER_BYTES, _raise_body_high_water_mark

    readers: dict[ModuleType, Callable[..., Any]] = {
        httptools_impl: httptools_impl.HttpToolsProtocol.on_body,
        h11_impl: h11_impl.H11Protocol.handle_events,
    }
    previous = {module: module.HIGH_WATER_LIMIT for module in readers}
    try:
        _raise_body_high_water_mark()
        for module, reader in readers.items():
            assert "HIGH_WATER_LIMIT" in inspect.getsource(reader)
            assert module.HIGH_WATER_LIMIT == BODY_HIGH_WATER_BYTES
            assert previous[module] < BODY_HIGH_WATER_BYTES
    finally:
        for module, value in previous.items():
            module.HIGH_WATER_LIMIT = value  # type: ignore[attr-defined]

"""KServe v2 on the outside: real predictions, metadata, health, and clear 4xx answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import numpy as np
import onnxruntime
import pytest

from gateway import devstack
from tests.gateway.support import INFER, GatewayHandle, an_image, outputs_of, parameters_of


def _onnx_probabilities(model: Path, image: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"input": image})[0])


def test_binary_request_gets_the_models_real_prediction(
    eu_gateway: GatewayHandle, lite_model: Path
) -> None:
    image = an_image(seed=11, batch=2)

    response = eu_gateway.infer(
        image, outputs=("probabilities", "top_classes", "top_scores"), binary_data_output=True
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    outputs = outputs_of(response)
    expected = _onnx_probabilities(lite_model, image)
    np.testing.assert_allclose(outputs["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert outputs["top_classes"].tolist() == np.argsort(-expected, axis=1)[:, :5].tolist()
    np.testing.assert_allclose(
        outputs["top_scores"], np.sort(expected, axis=1)[:, ::-1][:, :5], rtol=1e-5
    )


def test_json_request_is_accepted_and_answered_in_json(
    eu_gateway: GatewayHandle, lite_model: Path
) -> None:
    image = an_image(seed=12)
    document = {
        "id": "json-1",
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": [1, 3, 224, 224],
                "data": image.ravel().tolist(),
            }
        ],
        "outputs": [{"name": "top_classes"}],
    }

    response = eu_gateway.post(json.dumps(document).encode(), {"Content-Type": "application/json"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "json-1"
    assert body["model_name"] == "resnet50"
    assert [o["name"] for o in body["outputs"]] == ["top_classes"]
    expected = np.argsort(-_onnx_probabilities(lite_model, image), axis=1)[:, :5]
    assert body["outputs"][0]["data"] == expected.ravel().tolist()
    assert body["parameters"]["path"] == "gpu"


def test_health_metadata_and_metrics(eu_gateway: GatewayHandle) -> None:
    def get(path: str) -> httpx.Response:
        return httpx.get(eu_gateway.url + path, timeout=10, trust_env=False)

    assert get("/v2/health/live").status_code == 200
    assert get("/v2/health/ready").json() == {"ready": True}
    metadata = get("/v2/models/resnet50").json()
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert {o["name"] for o in metadata["outputs"]} == {
        "probabilities",
        "top_classes",
        "top_scores",
    }
    assert get("/v2/models/resnet50/ready").status_code == 200
    assert get("/v2/models/nope").status_code == 404
    eu_gateway.infer()
    metrics = httpx.get(eu_gateway.metrics_url + "/metrics", timeout=10, trust_env=False)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    for family in (
        "gateway_request_duration_seconds_bucket",
        "gateway_stage_duration_seconds_bucket",
        "gateway_requests_total",
        "gateway_breaker_state",
    ):
        assert family in metrics.text


def test_metrics_are_not_on_the_port_the_load_balancer_forwards(eu_gateway: GatewayHandle) -> None:
    # The NLB forwards server.port: /metrics there would publish the gateway's internals.
    public = httpx.get(eu_gateway.url + "/metrics", timeout=10, trust_env=False)
    assert public.status_code == 404
    assert "gateway_requests_total" not in public.text
    metrics_port = eu_gateway.config["server"]["metrics_port"]
    assert metrics_port != eu_gateway.config["server"]["port"]
    assert eu_gateway.metrics_url == f"http://127.0.0.1:{metrics_port}"
    # The metrics listener serves metrics only: no inference, no health there.
    for path in ("/v2/health/ready", "/v2/models/resnet50"):
        answer = httpx.get(eu_gateway.metrics_url + path, timeout=10, trust_env=False)
        assert answer.status_code == 404, path


def _binary(header: dict, payload: bytes) -> tuple[bytes, dict[str, str]]:
    encoded = json.dumps(header).encode()
    return encoded + payload, {"Inference-Header-Content-Length": str(len(encoded))}


IMAGE_BYTES = an_image().tobytes()
GOOD_INPUT = {
    "name": "input",
    "datatype": "FP32",
    "shape": [1, 3, 224, 224],
    "parameters": {"binary_data_size": len(IMAGE_BYTES)},
}

MALFORMED = {
    "bad json": (b"{not json", {}, 400, "not valid JSON"),
    "not an object": (b"[1, 2]", {}, 400, "must be a JSON object"),
    "no inputs": (b'{"inputs": []}', {}, 400, "'inputs' must be a non-empty list"),
    "wrong input name": (
        *_binary({"inputs": [{**GOOD_INPUT, "name": "image"}]}, IMAGE_BYTES), 400, "'image' is not an input"
    ),
    "wrong shape": (
        *_binary({"inputs": [{**GOOD_INPUT, "shape": [1, 3, 224]}]}, IMAGE_BYTES), 400, "shape must be"
    ),
    "wrong datatype": (
        *_binary({"inputs": [{**GOOD_INPUT, "datatype": "FP16"}]}, IMAGE_BYTES), 400, "datatype must be FP32"
    ),
    "batch too large": (
        *_binary({"inputs": [{**GOOD_INPUT, "shape": [9, 3, 224, 224]}]}, IMAGE_BYTES), 400, "max_batch_size"
    ),
    "size mismatch": (
        *_binary({"inputs": [GOOD_INPUT]}, IMAGE_BYTES[:-4]), 400, "body ends before"
    ),
    "json data too short": (
        json.dumps({"inputs": [{**GOOD_INPUT, "parameters": {}, "data": [1.0, 2.0]}]}).encode(),
        {}, 400, "do not fill shape",
    ),
    "json data not numbers": (
        json.dumps({"inputs": [{**GOOD_INPUT, "parameters": {}, "data": ["a"]}]}).encode(),
        {}, 400, "not a list of numbers",
    ),
    "unknown output": (
        *_binary({"inputs": [GOOD_INPUT], "outputs": [{"name": "logits"}]}, IMAGE_BYTES), 400, "unknown outputs"
    ),
    "bad header length": (b"{}", {"Inference-Header-Content-Length": "x"}, 400, "must be an integer"),
    "bad personalise flag": (
        *_binary({"inputs": [GOOD_INPUT], "parameters": {"personalise": "yes"}}, IMAGE_BYTES),
        400, "personalise must be true or false",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_gets_a_4xx_with_a_clear_message(
    eu_gateway: GatewayHandle, case: str
) -> None:
    body, headers, status, message = MALFORMED[case]

    response = eu_gateway.post(body, headers)

    assert response.status_code == status
    assert message in response.json()["error"]


def test_unknown_model_is_404(eu_gateway: GatewayHandle) -> None:
    body, headers = devstack.binary_request(an_image())

    response = eu_gateway.post(body, headers, path="/v2/models/gpt-9/infer")

    assert response.status_code == 404
    assert "'gpt-9' (version None) is not served here" in response.json()["error"]
    # A client-chosen name never becomes a metric label (unbounded cardinality).
    assert eu_gateway.metric("gateway_requests_total", model="_unknown", code="404") >= 1
    assert eu_gateway.metric("gateway_requests_total", model="gpt-9") == 0


def _claims(**changes: object) -> dict[str, object]:
    return {"sub": "julia", "jurisdiction": "EU", "exp": int(time.time()) + 600, **changes}


@pytest.mark.parametrize(
    ("name", "make_token", "message"),
    [
        ("expired", lambda s: jwt.encode(_claims(exp=int(time.time()) - 60), s), "expired"),
        ("forged", lambda s: jwt.encode(_claims(), b"an-attacker-secret-of-32-bytes!!"), "does not verify"),
        ("unsigned", lambda s: jwt.encode(_claims(), None, algorithm="none"), "must be signed with HS256"),
        ("no jurisdiction", lambda s: jwt.encode({"sub": "j", "exp": int(time.time()) + 60}, s), "'jurisdiction'"),
        ("bad jurisdiction", lambda s: jwt.encode(_claims(jurisdiction="europe"), s), "no valid jurisdiction"),
        ("garbage", lambda s: "not.a.jwt", "not a well-formed JWT"),
    ],
)  # fmt: skip
def test_bad_token_gets_401_and_no_feature_read(
    eu_gateway: GatewayHandle, name: str, make_token: object, message: str
) -> None:
    token = make_token(eu_gateway.secret)  # type: ignore[operator]

    response = eu_gateway.infer(token=token)

    assert response.status_code == 401, name
    assert message in response.json()["error"]
    assert eu_gateway.spy.reads() == []


def test_non_bearer_authorization_is_401(eu_gateway: GatewayHandle) -> None:
    response = eu_gateway.infer(headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]


def test_jurisdiction_without_endpoint_is_421_unless_anonymous_is_allowed(
    eu_gateway: GatewayHandle,
) -> None:
    token = eu_gateway.token("kim", "JP")

    refused = eu_gateway.infer(token=token)
    anonymous = eu_gateway.infer(token=token, allow_anonymous=True)

    assert refused.status_code == 421
    assert "JP has no endpoint" in refused.json()["error"]
    assert anonymous.status_code == 200
    assert parameters_of(anonymous)["personalised"] is False


def test_versioned_route_serves_the_configured_version_only(eu_gateway: GatewayHandle) -> None:
    body, headers = devstack.binary_request(an_image())

    served = eu_gateway.post(body, headers, path="/v2/models/resnet50/versions/1/infer")
    missing = eu_gateway.post(body, headers, path="/v2/models/resnet50/versions/7/infer")

    assert served.status_code == 200
    assert missing.status_code == 404
    assert INFER.startswith("/v2/models/resnet50")

"""Traces (in-process, in-memory exporter), the local backend, and the `make gateway` stack."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import devstack
from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from tests.gateway.conftest import gateway_document
from tests.gateway.support import INFER, GatewayHandle, an_image

REPO_ROOT = Path(__file__).resolve().parents[2]


def _config(backend: devstack.Service, aws_endpoint: str, secret_file: Path) -> GatewayConfig:
    document = gateway_document(
        port=1,
        gpu_url=backend.url,
        cpu_url=backend.url,
        aws_endpoint=aws_endpoint,
        secret_file=secret_file,
    )
    return parse_config(document, {})


def _infer_in_process(app: Any, extra_headers: dict[str, str]) -> httpx.Response:
    """One inference request through the ASGI app in this process, lifespan included."""
    body, headers = devstack.binary_request(an_image())
    headers.update(extra_headers)

    async def call() -> httpx.Response:
        async with app.app.router.lifespan_context(app.app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.post(INFER, content=body, headers=headers)

    return asyncio.run(call())


def test_a_span_per_stage_under_the_request_span(
    healthy_backend: devstack.Service,
    aws_endpoint: str,
    eu_table: Callable[..., None],
    tmp_path: Path,
) -> None:
    secret = devstack.write_secret(tmp_path / "secret")
    eu_table("lena", [3])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(
        _config(healthy_backend, aws_endpoint, tmp_path / "secret"), tracer_provider=provider
    )
    token = devstack.mint_token(secret, "lena", "EU")

    response = _infer_in_process(app, {"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    spans = {span.name: span for span in exporter.get_finished_spans()}
    root = spans.pop("gateway.infer")
    assert set(spans) == {"parse", "residency", "features", "backend.gpu", "postprocess", "encode"}
    assert {span.parent.span_id for span in spans.values() if span.parent} == {root.context.span_id}
    assert root.attributes is not None
    assert root.attributes["gateway.path"] == "gpu"
    assert spans["features"].attributes == {"features.source": "store"}
    assert "lena" not in json.dumps(
        [dict(s.attributes or {}) for s in exporter.get_finished_spans()]
    )


def test_local_backend_serves_kserve_metadata_and_rejects_unknown_models(
    healthy_backend: devstack.Service,
) -> None:
    metadata = httpx.get(f"{healthy_backend.url}/v2/models/{devstack.LITE_MODEL}", trust_env=False)
    unknown = httpx.post(
        f"{healthy_backend.url}/v2/models/nope/infer", content=b"{}", trust_env=False
    )

    assert metadata.status_code == 200
    assert metadata.json()["inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}
    ]
    assert metadata.json()["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 1000]}
    ]
    assert unknown.status_code == 404


@pytest.mark.timeout(120)
def test_make_gateway_stack_answers_a_real_request_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.devstack", "--port", str(devstack.free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        printed = _read_until(process, "Ctrl-C stops everything.")
        gateway_url = re.search(r"^gateway\s+(http://127\.0\.0\.1:\d+)", printed, re.MULTILINE)
        request_file = re.search(r"--data-binary @(\S+)", printed)
        token = re.search(r"Authorization: Bearer ([\w.-]+)'", printed)
        length = re.search(r"Inference-Header-Content-Length: (\d+)", printed)
        assert gateway_url, printed
        assert request_file, printed
        assert token, printed
        assert length, printed
        request = {
            "url": f"{gateway_url.group(1)}{INFER}",
            "content": Path(request_file.group(1)).read_bytes(),
            "headers": {
                "Inference-Header-Content-Length": length.group(1),
                "Authorization": f"Bearer {token.group(1)}",
            },
        }
        # The demo keeps production budgets (features within the 50 ms SLO); on a loaded
        # machine moto can miss the first one, and its late answer still fills the cache.
        answers = [httpx.post(**request, timeout=30, trust_env=False) for _ in range(5)]
        assert {a.status_code for a in answers} == {200}, answers[0].text
        assert any(a.json()["parameters"]["personalised"] for a in answers)
        # The printed metrics command reads the metrics listener, not the inference port.
        metrics_url = re.search(r"curl -s (http://127\.0\.0\.1:\d+)/metrics", printed)
        assert metrics_url, printed
        assert metrics_url.group(1) != gateway_url.group(1)
        scraped = httpx.get(f"{metrics_url.group(1)}/metrics", timeout=10, trust_env=False)
        assert "gateway_requests_total" in scraped.text
        public = httpx.get(f"{gateway_url.group(1)}/metrics", timeout=10, trust_env=False)
        assert public.status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway_url.group(1)}/v2/health/live", timeout=5, trust_env=False)


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("devstack exited early:\n" + "".join(lines))


def test_a_bug_in_the_handler_is_a_json_500_not_a_dropped_connection(
    healthy_backend: devstack.Service,
    aws_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Inference requests bypass Starlette's ServerErrorMiddleware (gateway/app.py), so the
    # fast path must answer a bug itself, like the middleware would.
    from gateway.app import Gateway

    async def broken(self: Gateway, request: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Gateway, "answer", broken)
    devstack.write_secret(tmp_path / "secret")
    app = create_app(_config(healthy_backend, aws_endpoint, tmp_path / "secret"))

    response = _infer_in_process(app, {"x-request-id": "req-42"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42"
    assert response.json() == {"error": "internal error"}


def test_inference_paths_answer_other_methods_with_405(eu_gateway: GatewayHandle) -> None:
    for path in (INFER, INFER.replace("/infer", "/versions/1/infer")):
        response = httpx.get(eu_gateway.url + path, timeout=10, trust_env=False)
        assert response.status_code == 405, path
        assert response.headers["allow"] == "POST"
        assert response.json() == {"error": "inference is POST only"}

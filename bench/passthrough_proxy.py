"""The control for bench/gateway_bench.py --control: a pass-through with no logic at all.

    .venv/bin/python bench/passthrough_proxy.py GATEWAY_CONFIG

Same server stack as the gateway (uvicorn, uvloop, httptools, the direct-body protocol) and
the same backend client (gateway/http1.py), but no parsing, residency, features, breakers,
ranking, metrics or logs: it forwards the request's binary tensor to the
GPU backend and returns the backend's answer, with the same ``Server-Timing`` stages the
bench reads. Its overhead is the floor the harness itself puts under any gateway.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from starlette.requests import Request

from gateway.__main__ import _raise_body_high_water_mark
from gateway.config import load_config
from gateway.direct_body import ProtocolFactory, direct_body
from gateway.http1 import ConnectionPool


def make_app(backend_url: str, model: str) -> Any:
    """The ASGI app: health answers and a forwarding /infer."""
    pools: list[ConnectionPool] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] != "POST":
            await _answer(send, b'{"ready": true}', "application/json", "")
            return
        started = time.perf_counter()
        direct = direct_body(scope)
        body = await (Request(scope, receive).body() if direct is None else direct)
        headers = dict(scope["headers"])
        tensor = memoryview(body)[int(headers[b"inference-header-content-length"]) :]
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "FP32",
                        "shape": [1, 3, 224, 224],
                        "parameters": {"binary_data_size": len(tensor)},
                    }
                ],
                "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
            }
        ).encode()
        if not pools:
            pools.append(ConnectionPool(backend_url, 64))
        called = time.perf_counter()
        answer = await pools[0].request(
            "POST",
            f"/v2/models/{model}/infer",
            [header, tensor],
            {"inference-header-content-length": str(len(header))},
        )
        done = time.perf_counter()
        timing = (
            f"backend;dur={(done - called) * 1000:.3f}, total;dur={(done - started) * 1000:.3f}"
        )
        await _answer(send, answer.body, "application/octet-stream", timing)

    return app


async def _answer(send: Any, body: bytes, content_type: str, timing: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    if timing:
        headers.append((b"server-timing", timing.encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    """Serves on the gateway config's port, forwarding to its GPU backend."""
    config = load_config(sys.argv[1])
    primary = next(iter(config.models.values())).primary
    _raise_body_high_water_mark()
    uvicorn.run(
        make_app(config.backends[primary.backend].url, primary.model),
        host="127.0.0.1",
        port=config.server.port,
        log_level="warning",
        access_log=False,
        http=ProtocolFactory(config.server.max_body_bytes).for_uvicorn,
    )


if __name__ == "__main__":
    main()

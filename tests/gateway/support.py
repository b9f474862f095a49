"""Helpers for the gateway tests: a recording proxy in front of moto, a gateway handle."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from gateway import devstack

INFER = f"/v2/models/{devstack.PRIMARY_MODEL}/infer"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@dataclass(frozen=True)
class StoreCall:
    """One DynamoDB API call that went through the spy."""

    operation: str
    table: str
    region: str
    user_id: str | None


class DynamoSpy:
    """An HTTP proxy in front of moto recording every DynamoDB call (operation, table, key).

    It is how the tests observe the table's access from outside the gateway, and it can
    delay answers to play a slow store.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.calls: list[StoreCall] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the gateway should send its DynamoDB calls."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DynamoSpy:
        """Serves in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def reads(self, user_id: str | None = None) -> list[StoreCall]:
        """GetItem calls, optionally only for one user."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.operation == "GetItem" and (user_id is None or c.user_id == user_id)
            ]

    def clear(self) -> None:
        """Forgets the calls seen so far."""
        with self._lock:
            self.calls.clear()

    def _record(self, headers: Mapping[str, str], body: bytes) -> None:
        target = headers.get("X-Amz-Target", "")
        document = json.loads(body or b"{}")
        credential = re.search(r"Credential=[^/]+/\d+/([^/]+)/", headers.get("Authorization", ""))
        with self._lock:
            self.calls.append(
                StoreCall(
                    operation=target.rpartition(".")[2],
                    table=document.get("TableName", ""),
                    region=credential.group(1) if credential else "",
                    user_id=document.get("Key", {}).get("user_id", {}).get("S"),
                )
            )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        spy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                spy._record(self.headers, body)
                if spy.delay_s:
                    time.sleep(spy.delay_s)
                connection = http.client.HTTPConnection(
                    spy.upstream.hostname, spy.upstream.port, timeout=10
                )
                connection.request("POST", self.path, body, dict(self.headers.items()))
                answer = connection.getresponse()
                payload = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                connection.close()

            def log_message(self, *_: Any) -> None:
                return

        return Handler


@dataclass
class GatewayHandle:
    """A running gateway process and what a test needs to talk to it."""

    service: devstack.Service
    secret: bytes
    spy: DynamoSpy
    config: dict[str, Any]

    @property
    def url(self) -> str:
        """Base URL."""
        return self.service.url

    def token(self, user_id: str, jurisdiction: str, ttl_s: int = 600) -> str:
        """A valid token for ``user_id``."""
        return devstack.mint_token(self.secret, user_id, jurisdiction, ttl_s)

    def infer(
        self,
        image: np.ndarray | None = None,
        *,
        token: str | None = None,
        outputs: tuple[str, ...] = ("top_classes", "top_scores"),
        headers: Mapping[str, str] | None = None,
        **parameters: Any,
    ) -> httpx.Response:
        """One binary-extension inference request."""
        body, extra = devstack.binary_request(
            image if image is not None else an_image(), outputs, **parameters
        )
        if token is not None:
            extra["Authorization"] = f"Bearer {token}"
        return self.post(body, {**extra, **(headers or {})})

    def post(self, body: bytes, headers: Mapping[str, str], path: str = INFER) -> httpx.Response:
        """A raw POST (no redirects followed)."""
        return httpx.post(
            self.url + path, content=body, headers=dict(headers), timeout=30, trust_env=False
        )

    @property
    def metrics_url(self) -> str:
        """The Prometheus listener (``server.metrics_port``), apart from ``url``."""
        return devstack.metrics_url(self.config)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent)."""
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=10) as response:
            text = response.read().decode()
        wanted = {f'{k}="{v}"' for k, v in labels.items()}
        for line in text.splitlines():
            sample, _, value = line.rpartition(" ")
            metric, _, label_text = sample.partition("{")
            if metric == name and wanted <= set(label_text.rstrip("}").split(",")) - {""}:
                return float(value)
        return 0.0


def an_image(seed: int = 0, batch: int = 1) -> np.ndarray:
    """A random [batch,3,224,224] FP32 image."""
    return np.random.default_rng(seed).random((batch, *devstack.INPUT_SHAPE), dtype=np.float32)


def outputs_of(response: httpx.Response) -> dict[str, np.ndarray]:
    """A JSON or binary KServe v2 response's outputs as arrays."""
    from gateway.kserve import HEADER_LENGTH, decode_response

    return decode_response(response.content, response.headers.get(HEADER_LENGTH))


def parameters_of(response: httpx.Response) -> dict[str, Any]:
    """The response's KServe ``parameters`` (from the JSON header part)."""
    length = response.headers.get("inference-header-content-length")
    header = response.content[: int(length)] if length else response.content
    return dict(json.loads(header)["parameters"])

"""Locust load test of one deployed inference endpoint over KServe v2 (Triton's HTTP/REST
inference protocol), through the gateway: ``POST /v2/models/<model>/infer``.

Run it against a jurisdiction's entry point (``--host https://eu.inference.example.com``);
see loadtest/README.md. Each response is reported under the name of the path that served
it (``/v2/models/resnet50/infer [gpu]``, ``[cpu-fallback]``, ``[rule-based]``), which the
gateway returns in ``parameters.path``, so p50/p99 are per serving path as well as overall.

Options (each also an environment variable):
  --model / LOADTEST_MODEL            catalog model (default: the first GPU model)
  --batch-size / LOADTEST_BATCH_SIZE  images per request (default 1)
  --encoding / LOADTEST_ENCODING      json (default) or binary (Triton binary extension)
  --user-rps / LOADTEST_USER_RPS      requests per second per user; 0: back to back
  LOADTEST_TOKEN                      bearer token; when set, requests ask for personalisation
  LOADTEST_CATALOG                    another models.yaml

The request is built once per process from model_artifacts/models.yaml (``payload.py``);
this file imports nothing from the IaC code, so a load generator needs only loadtest/ and the
catalog.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from locust import HttpUser, constant, constant_throughput, events, task

# Locust puts this file's directory first on sys.path when it loads it.
from payload import (  # type: ignore[import-not-found]
    binary_body,
    build_request,
    json_body,
    load_model,
    served_path,
)

TOKEN_ENV = "LOADTEST_TOKEN"  # noqa: S105 (the variable's name, not a secret)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--model", default="", env_var="LOADTEST_MODEL", help="catalog model")
    parser.add_argument(
        "--batch-size", type=int, default=1, env_var="LOADTEST_BATCH_SIZE", help="batch size"
    )
    parser.add_argument(
        "--encoding",
        choices=("json", "binary"),
        default="json",
        env_var="LOADTEST_ENCODING",
        help="request body: KServe v2 JSON, or Triton's binary tensor extension",
    )
    parser.add_argument(
        "--user-rps",
        type=float,
        default=0.0,
        env_var="LOADTEST_USER_RPS",
        help="requests per second per user (0: as fast as answers come back)",
    )


@cache
def _request(
    model: str, batch_size: int, encoding: str, personalise: bool
) -> tuple[str, bytes, dict[str, str]]:
    # Built once per process: a 224x224 FP32 image is ~150k numbers, too many to encode
    # per request without the generator itself becoming the bottleneck.
    shape = load_model(model or None)
    request = build_request(shape, batch_size, personalise=personalise)
    body, headers = (binary_body if encoding == "binary" else json_body)(request)
    return shape.infer_path, body, headers


class InferenceUser(HttpUser):
    """One client sending the same inference request again and again."""

    _pace: Callable[[Any], float]

    def on_start(self) -> None:
        options = self.environment.parsed_options
        token = os.environ.get(TOKEN_ENV, "")
        self.path, self.body, headers = _request(
            options.model, options.batch_size, options.encoding, bool(token)
        )
        self.headers = {**headers, **({"authorization": f"Bearer {token}"} if token else {})}
        rate = options.user_rps
        self._pace = constant_throughput(rate) if rate > 0 else constant(0)

    def wait_time(self) -> float:
        return self._pace(self)

    @task
    def infer(self) -> None:
        with self.client.post(
            self.path,
            data=self.body,
            headers=self.headers,
            name=self.path,
            catch_response=True,
            # A 307 means the token's user lives in another jurisdiction: report it rather
            # than follow it, or the numbers would mix two entry points.
            allow_redirects=False,
        ) as response:
            if response.status_code == 307:
                response.request_meta["name"] = f"{self.path} [redirect]"
                response.failure(
                    f"redirected to {response.headers.get('location')}: point --host at the "
                    "user's home endpoint"
                )
            elif response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            else:
                path = served_path(response.content, response.headers)
                response.request_meta["name"] = f"{self.path} [{path}]"
                response.success()

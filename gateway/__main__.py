"""``python -m gateway --config FILE``: validate the config, then serve.

Two listeners in one process and event loop: inference and health on ``server.port`` (what
the load balancer forwards), Prometheus ``/metrics`` on ``server.metrics_port``. A bad config
exits with status 2 and the list of problems before anything listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http import h11_impl, httptools_impl

from gateway.app import create_app, create_metrics_app
from gateway.config import CONFIG_PATH_ENV, ConfigError, GatewayConfig, load_config
from gateway.direct_body import ProtocolFactory
from gateway.observability import Metrics, configure_logging
from gateway.runtime import tune_for_latency


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", default=os.environ.get(CONFIG_PATH_ENV), help="YAML/JSON file")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    args = parser.parse_args(argv)
    if not args.config:
        parser.error(f"--config (or ${CONFIG_PATH_ENV}) is required")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check:
        print(f"config ok: {len(config.models)} model(s), region {config.region}")
        return 0
    configure_logging(config.observability.log_level)
    tune_for_latency()
    serve(config)
    return 0


class _MetricsServer(uvicorn.Server):
    """The metrics listener leaves signals to the inference server, which stops it last."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


BODY_HIGH_WATER_BYTES = 1 << 20
"""Request body uvicorn buffers before it stops reading the socket (its default is 64 KiB)."""


def _raise_body_high_water_mark() -> None:
    # uvicorn stops reading a connection once 64 KiB of body wait for the app, and resumes
    # only when the app asks for more: a 602 KB image tensor then arrives in ten rounds
    # through the event loop, each queued behind every other request's work (most of the
    # gateway's tail latency at 500 req/s). uvicorn has no setting for it; the bound stays
    # per connection, and far below server.max_body_bytes, which the handler reads anyway.
    httptools_impl.HIGH_WATER_LIMIT = BODY_HIGH_WATER_BYTES
    h11_impl.HIGH_WATER_LIMIT = BODY_HIGH_WATER_BYTES


def serve(config: GatewayConfig) -> None:
    """Runs both listeners until the inference server stops (SIGTERM, SIGINT)."""
    _raise_body_high_water_mark()
    metrics = Metrics()
    common: dict[str, Any] = {
        "host": config.server.host,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        # The NLB forwards TCP and adds no X-Forwarded-* headers; trusting them would only
        # let clients spoof their address in the logs.
        "proxy_headers": False,
        # uvloop and httptools are used when installed (see README), h11 otherwise.
        "loop": "auto",
        "http": "auto",
    }
    direct_bodies = ProtocolFactory(
        config.server.max_body_bytes, config.server.direct_body_budget_bytes
    )
    public = uvicorn.Server(
        uvicorn.Config(
            create_app(config, metrics=metrics),
            port=config.server.port,
            **{**common, "http": direct_bodies.for_uvicorn},
        )
    )
    exporter = _MetricsServer(
        uvicorn.Config(
            create_metrics_app(metrics),
            port=config.server.metrics_port,
            lifespan="off",
            **common,
        )
    )
    # As uvicorn.run: after a graceful stop on SIGINT the re-raised interrupt ends the run.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=public.config.get_loop_factory()) as runner,
    ):
        runner.run(_serve_both(public, exporter))


async def _serve_both(public: uvicorn.Server, exporter: uvicorn.Server) -> None:
    metrics_task = asyncio.create_task(exporter.serve())
    try:
        await public.serve()
    finally:
        # Scrapes continue while in-flight requests drain; the exporter stops last.
        exporter.should_exit = True
        await metrics_task


if __name__ == "__main__":
    sys.exit(main())

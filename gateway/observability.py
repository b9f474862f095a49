"""Metrics (Prometheus), traces (OpenTelemetry) and structured JSON logs.

Logs carry a request id, the model, the path taken and timings; never a user id, a token,
a feature value or a client address (personal data stays in its store).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.breaker import BreakerState
from gateway.config import ObservabilitySettings

# Sub-millisecond buckets: the gateway's own stages are measured in tens of microseconds.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Metrics:
    """The gateway's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gateway_requests", "Answered inference requests by path taken",
            ["model", "path", "personalised", "code"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "gateway_request_duration_seconds", "Gateway handler time, end to end",
            ["model", "path"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.stage_seconds = Histogram(
            "gateway_stage_duration_seconds", "Time per request stage",
            ["stage"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.backend_calls = Counter(
            "gateway_backend_calls", "Backend attempts by outcome (see CallOutcome)",
            ["backend", "outcome"], registry=r,
        )  # fmt: skip
        self.breaker_state = Gauge(
            "gateway_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["backend"], registry=r,
        )  # fmt: skip
        self.breaker_transitions = Counter(
            "gateway_breaker_transitions", "Breaker state changes", ["backend", "to"], registry=r
        )
        self.feature_cache = Counter(
            "gateway_feature_cache",
            "Feature cache lookups (hit, miss) and background re-reads (refresh)",
            ["result"],
            registry=r,
        )
        self.feature_reads = Counter(
            "gateway_feature_reads", "Feature outcomes (cache, store, not_found, timeout, ...)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.redirects = Counter(
            "gateway_residency_redirects", "Requests sent to the user's home jurisdiction",
            ["home_jurisdiction"], registry=r,
        )  # fmt: skip
        self.rejected = Counter(
            "gateway_rejected",
            "Requests refused before any work (overload)",
            ["reason"],
            registry=r,
        )
        self.client_errors = Counter(
            "gateway_client_errors", "4xx answers by reason", ["reason"], registry=r
        )
        self.inflight = Gauge("gateway_inflight_requests", "Requests being handled", registry=r)
        self._stages: dict[str, Histogram] = {}

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Records a stage's duration (label children cached: this runs ~8 times a request)."""
        child = self._stages.get(stage)
        if child is None:
            child = self._stages[stage] = self.stage_seconds.labels(stage)
        child.observe(seconds)

    def breaker_changed(self, backend: str, _old: BreakerState, new: BreakerState) -> None:
        """Listener for ``CircuitBreaker(on_change=...)``."""
        self.breaker_state.labels(backend).set(new.value)
        self.breaker_transitions.labels(backend, new.name.lower()).inc()


class Spans:
    """Opens a span per stage, or nothing at all when tracing is off.

    Off means no OpenTelemetry call on the request path: even the no-op tracer's context
    handling costs ~10 us a span, and a request has seven.
    """

    _OFF = contextlib.nullcontext(trace.INVALID_SPAN)

    def __init__(self, tracer: trace.Tracer | None) -> None:
        self._tracer = tracer

    def __call__(self, name: str) -> AbstractContextManager[trace.Span]:
        """``with spans("stage") as span:``; the span may be a non-recording one."""
        if self._tracer is None:
            return self._OFF
        return self._tracer.start_as_current_span(name)


def build_tracer(settings: ObservabilitySettings) -> tuple[Spans, TracerProvider | None]:
    """Spans per the config; ``none`` (the test setting) records nothing."""
    if settings.tracing_exporter == "none":
        return Spans(None), None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    return Spans(provider.get_tracer("gateway")), provider


def _exporter(settings: ObservabilitySettings) -> SpanExporter:
    if settings.tracing_exporter == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    try:
        # Optional: only images that export over OTLP install the exporter.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:  # pragma: no cover - depends on the image
        raise RuntimeError(
            "observability.tracing_exporter is otlp but opentelemetry-exporter-otlp-proto-grpc "
            "is not installed"
        ) from exc
    return OTLPSpanExporter(endpoint=settings.otlp_endpoint)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"fields": {...}}`` adds keys."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update(getattr(record, "fields", {}))
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return json.dumps(document, separators=(",", ":"), default=str)


def configure_logging(level: str) -> None:
    """Routes the gateway's and uvicorn's loggers to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The access log records client addresses: personal data, and our own log has the rest.
    logging.getLogger("uvicorn.access").disabled = True
    # Fields the JSON lines never show, so no record pays for collecting them (the logging
    # HOWTO's "Optimization" section): the caller's frame, thread and process details.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # httpx logs every backend call at INFO: the request log already says which path served.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class Stopwatch:
    """Stage timings of one request, in seconds, in the order they ran."""

    __slots__ = ("_start", "stages")

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.stages: dict[str, float] = {}

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self._start

    def add(self, stage: str, seconds: float) -> None:
        """Adds time to ``stage`` (a stage may run more than once, e.g. two backends)."""
        self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def server_timing(self) -> str:
        """The ``Server-Timing`` header value, durations in milliseconds."""
        parts = [f"{name};dur={seconds * 1000:.3f}" for name, seconds in self.stages.items()]
        parts.append(f"total;dur={self.elapsed() * 1000:.3f}")
        return ", ".join(parts)

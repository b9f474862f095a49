"""The HTTP surface: KServe v2 routes, admission control, residency, errors; and metrics.

``create_app(config)`` builds the inference application (``server.port``, what the load
balancer forwards); ``create_metrics_app(metrics)`` the Prometheus one (``server.metrics_port``,
scraped inside the cluster): ``/metrics`` is never on the inference port. The clients (HTTP
pool, DynamoDB, tracer) are created in the inference app's lifespan, so importing this module
or building the apps does no I/O.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.backends import KServeBackend
from gateway.breaker import CircuitBreaker
from gateway.config import GatewayConfig, ModelSettings
from gateway.direct_body import direct_body
from gateway.features import FeatureStore, make_dynamodb_client
from gateway.kserve import (
    HEADER_LENGTH,
    InferRequest,
    ProtocolError,
    encode_response,
    error_body,
    parse_infer_request,
)
from gateway.observability import Metrics, Spans, Stopwatch, build_tracer
from gateway.pipeline import Answer, Pipeline
from gateway.residency import Action, AuthError, IdentityResolver, ResidencyError, decide

LOG = logging.getLogger("gateway.access")
LIFECYCLE = logging.getLogger("gateway")
REQUEST_ID = re.compile(r"^[\w.:-]{1,64}$")
DERIVED_OUTPUTS = ("top_classes", "top_scores")
UNKNOWN_MODEL = "_unknown"
JSON = "application/json"


class ClientError(Exception):
    """A 4xx answer with a message meant for the client."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass
class Reply:
    """What the access log and the metrics need to know about an answer."""

    response: Response
    path: str = "none"
    personalised: bool = False
    feature_source: str = "none"


class Gateway:
    """Per-process state and the request handlers."""

    def __init__(self, config: GatewayConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.resolver = IdentityResolver(config.auth)
        self.spans = Spans(None)
        self.pipeline: Pipeline | None = None
        self._inflight = 0

    async def answer(self, request: Request) -> tuple[Response, Callable[[], None]]:
        """``POST /v2/models/{name}/infer``: the response, and the accounting (metrics,
        access log) to run once it is sent."""
        watch = Stopwatch()
        request_id = _request_id(request.headers.get("x-request-id"))
        name = request.path_params["name"]
        if self._inflight >= self.config.server.max_inflight:
            return await self._reject(request, request_id), _nothing
        self._inflight += 1
        self.metrics.inflight.inc()
        try:
            reply = await self._infer_traced(request, name, request_id, watch)
        finally:
            self._inflight -= 1
            self.metrics.inflight.dec()
        return reply.response, lambda: self._account(name, request_id, reply, watch)

    async def _infer_traced(
        self, request: Request, name: str, request_id: str, watch: Stopwatch
    ) -> Reply:
        with self.spans("gateway.infer") as span:
            span.set_attribute("gateway.request_id", request_id)
            span.set_attribute("gateway.model", name)
            try:
                reply = await self._serve(request, name, request_id, watch)
            except ClientError as exc:
                self.metrics.client_errors.labels(exc.reason).inc()
                reply = Reply(_error(exc.status, str(exc), request_id))
            span.set_attribute("gateway.path", reply.path)
            span.set_attribute("http.status_code", reply.response.status_code)
        return reply

    async def _serve(self, request: Request, name: str, request_id: str, watch: Stopwatch) -> Reply:
        model = self.config.models.get(name)
        version = request.path_params.get("version")
        if model is None or (version is not None and version != model.version):
            await self._body(request)
            raise ClientError(
                404,
                "unknown_model",
                f"model {name!r} (version {version}) is not served here; "
                f"models: {sorted(self.config.models)}",
            )
        parsed = await self._parse(request, model, watch)
        with self._stage("residency", watch):
            action, location, user_id = self._residency(request, parsed)
        if action is Action.REDIRECT:
            return Reply(_redirect(location, request_id), path="redirect")
        assert self.pipeline is not None, "the lifespan has not run"
        answer = await self.pipeline.run(model, parsed, user_id, watch, request_id)
        with self._stage("encode", watch):
            response = _answer_response(
                model, parsed, answer, request_id, self.config.region, watch
            )
        source = answer.feature_source.value if answer.feature_source else "none"
        return Reply(response, answer.path, answer.personalised, source)

    async def _parse(
        self, request: Request, model: ModelSettings, watch: Stopwatch
    ) -> InferRequest:
        start = time.perf_counter()
        body = await self._body(request)
        watch.add("receive", time.perf_counter() - start)
        with self._stage("parse", watch):
            try:
                parsed = parse_infer_request(
                    body, request.headers.get(HEADER_LENGTH), model.inputs, model.max_batch_size
                )
            except ProtocolError as exc:
                raise ClientError(400, "bad_request", str(exc)) from None
            _check_requested_outputs(model, parsed)
        return parsed

    def _residency(self, request: Request, parsed: InferRequest) -> tuple[Action, str, str | None]:
        """The action, the redirect location, and the user whose features may be read here."""
        try:
            identity = self.resolver.resolve(request.headers)
            decision = decide(
                identity,
                parsed.parameters,
                local_jurisdiction=self.config.jurisdiction,
                home_endpoints=self.config.home_endpoints,
                path=request.scope["path"],
            )
        except AuthError as exc:
            raise ClientError(401, "unauthenticated", str(exc)) from None
        except ResidencyError as exc:
            raise ClientError(421, "no_home_endpoint", str(exc)) from None
        except ProtocolError as exc:
            raise ClientError(400, "bad_request", str(exc)) from None
        if decision.action is Action.REDIRECT:
            self.metrics.redirects.labels(decision.home or "unknown").inc()
            return decision.action, decision.location or "", None
        if decision.action is Action.PERSONAL and identity is not None:
            return decision.action, "", identity.user_id
        return decision.action, "", None

    async def _body(self, request: Request) -> bytes | bytearray:
        """The whole body, or a 413 as soon as it is known to exceed ``max_body_bytes``."""
        limit = self.config.server.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ClientError(413, "too_large", f"request body over {limit} bytes")
        direct = direct_body(request.scope)
        if direct is not None:
            return await direct
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ClientError(413, "too_large", f"request body over {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _stage(self, stage: str, watch: Stopwatch) -> _Stage:
        return _Stage(stage, watch, self.metrics, self.spans)

    async def _reject(self, request: Request, request_id: str) -> Response:
        # Read the body first: answering while the client still uploads makes its TCP stack
        # see a reset instead of the 429.
        try:
            await self._body(request)
        except ClientError as exc:
            return _error(exc.status, str(exc), request_id)
        self.metrics.rejected.labels("overload").inc()
        response = _error(429, "the gateway is at its concurrency limit; retry later", request_id)
        response.headers["retry-after"] = str(self.config.server.retry_after_s)
        return response

    def _account(self, name: str, request_id: str, reply: Reply, watch: Stopwatch) -> None:
        # Model names come from the URL: only configured ones become label values.
        model = name if name in self.config.models else UNKNOWN_MODEL
        total = watch.elapsed()
        code = reply.response.status_code
        personalised = "true" if reply.personalised else "false"
        self.metrics.requests.labels(model, reply.path, personalised, str(code)).inc()
        self.metrics.request_seconds.labels(model, reply.path).observe(total)
        LOG.info(
            "infer",
            extra={
                "fields": {
                    "request_id": request_id,
                    "model": model,
                    "status": code,
                    "path": reply.path,
                    "personalised": reply.personalised,
                    "features": reply.feature_source,
                    "region": self.config.region,
                    "ms": round(total * 1000, 3),
                    "stages_ms": {k: round(v * 1000, 3) for k, v in watch.stages.items()},
                }
            },
        )


class _Stage:
    """Times a synchronous stage into the stopwatch, the histogram and a span."""

    __slots__ = ("_metrics", "_span", "_spans", "_stage", "_start", "_watch")

    def __init__(self, stage: str, watch: Stopwatch, metrics: Metrics, spans: Spans) -> None:
        self._stage, self._watch, self._metrics, self._spans = stage, watch, metrics, spans

    def __enter__(self) -> None:
        self._span = self._spans(self._stage)
        self._span.__enter__()
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._span.__exit__(*exc)  # type: ignore[arg-type]
        self._watch.add(self._stage, elapsed)
        self._metrics.observe_stage(self._stage, elapsed)


def _check_requested_outputs(model: ModelSettings, parsed: InferRequest) -> None:
    if parsed.requested_outputs is None:
        return
    known = {spec.name for spec in model.outputs} | set(DERIVED_OUTPUTS)
    unknown = sorted(set(parsed.requested_outputs) - known)
    if unknown:
        raise ClientError(
            400, "bad_request", f"unknown outputs {unknown}; this model has {sorted(known)}"
        )


def _answer_response(
    model: ModelSettings,
    parsed: InferRequest,
    answer: Answer,
    request_id: str,
    region: str,
    watch: Stopwatch,
) -> Response:
    available: dict[str, np.ndarray] = {
        **answer.model_outputs,
        "top_classes": answer.classes,
        "top_scores": answer.scores,
    }
    wanted = parsed.requested_outputs or (*[o.name for o in model.outputs], *DERIVED_OUTPUTS)
    outputs = [(n, available[n], parsed.wants_binary(n)) for n in wanted if n in available]
    header: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "parameters": {
            "path": answer.path,
            "personalised": answer.personalised,
            "region": region,
            "request_id": request_id,
        },
    }
    if parsed.id is not None:
        header["id"] = parsed.id
    body, headers = encode_response(header, outputs)
    headers["x-request-id"] = request_id
    headers["server-timing"] = watch.server_timing()
    return Response(body, headers=headers)


def _request_id(supplied: str | None) -> str:
    if supplied is not None and REQUEST_ID.match(supplied):
        return supplied
    return f"{_PROCESS_ID}-{next(_SEQUENCE):x}"


# Generated ids: a random per-process prefix and a counter. Unique across replicas without
# a system call per request (uuid4 reads the OS's random source every time).
_PROCESS_ID = uuid.uuid4().hex[:16]
_SEQUENCE = itertools.count(1)


def _error(status: int, message: str, request_id: str) -> Response:
    return Response(
        error_body(message),
        status_code=status,
        media_type=JSON,
        headers={"x-request-id": request_id},
    )


def _redirect(location: str, request_id: str) -> Response:
    # 307 keeps the method and the body: the client re-sends the same inference request.
    body = json.dumps(
        {
            "error": "personal features are served in the user's home jurisdiction",
            "location": location,
        }
    )
    return Response(
        body,
        status_code=307,
        media_type=JSON,
        headers={"location": location, "x-request-id": request_id},
    )


def _json(document: Mapping[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status, media_type=JSON)


def create_app(
    config: GatewayConfig,
    *,
    tracer_provider: TracerProvider | None = None,
    metrics: Metrics | None = None,
) -> _InferenceFastPath:
    """The gateway as an ASGI application: inference and health, no metrics route.

    Traces go where ``config.observability`` says, unless ``tracer_provider`` is given (an
    embedding process that owns its provider, or a test with an in-memory exporter).
    ``metrics`` is the registry ``create_metrics_app`` exposes; a fresh one when omitted.
    """
    metrics = Metrics() if metrics is None else metrics
    gateway = Gateway(config, metrics)

    async def live(_: Request) -> Response:
        return _json({"live": True})

    async def ready(_: Request) -> Response:
        # Ready as soon as the clients exist: the rule-based path answers even with every
        # backend down, so a backend outage must not take the gateway out of the NLB.
        is_ready = gateway.pipeline is not None
        return _json({"ready": is_ready}, 200 if is_ready else 503)

    async def server_metadata(_: Request) -> Response:
        return _json(
            {"name": "inference-gateway", "version": "1", "extensions": ["binary_tensor_data"]}
        )

    async def model_metadata(request: Request) -> Response:
        model = config.models.get(request.path_params["name"])
        if model is None:
            return Response(
                error_body(f"model {request.path_params['name']!r} is not served here"),
                404,
                media_type=JSON,
            )
        return _json(_metadata(model))

    async def model_ready(request: Request) -> Response:
        known = request.path_params["name"] in config.models
        return _json({"name": request.path_params["name"], "ready": known}, 200 if known else 404)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with _started(config, gateway, tracer_provider):
            yield

    # Inference is served by _InferenceFastPath, in front of these.
    routes = [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route("/v2/models/{name}", model_metadata),
        Route("/v2/models/{name}/versions/{version}", model_metadata),
        Route("/v2/models/{name}/ready", model_ready),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, max_body_size=config.server.max_body_bytes)
    return _InferenceFastPath(app, gateway)


INFER_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer$")


class _InferenceFastPath:
    """Serves the inference paths itself and hands everything else to Starlette.

    Why: at 500 req/s Starlette's middleware and router cost about a tenth of the gateway's
    CPU per request, and that CPU is queueing delay for the next request. The handler does
    what the middleware did for it: the body limit (``Gateway._body``) and a JSON 500 for a
    bug instead of a dropped connection.
    """

    def __init__(self, app: Starlette, gateway: Gateway) -> None:
        self.app = app
        self._gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INFER_PATH.match(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            refusal = Response(
                error_body("inference is POST only"), 405, {"allow": "POST"}, media_type=JSON
            )
            await refusal(scope, receive, send)
            return
        scope["path_params"] = {k: v for k, v in match.groupdict().items() if v is not None}
        request = Request(scope, receive)
        account = _nothing
        try:
            response, account = await self._gateway.answer(request)
        except ClientDisconnect:
            return  # nobody to answer
        except Exception:
            LIFECYCLE.exception("unhandled error serving %s", scope["path"])
            response = _error(
                500, "internal error", _request_id(request.headers.get("x-request-id"))
            )
        # The client has its answer before the metrics and the access log are written.
        await response(scope, receive, send)
        account()


def _nothing() -> None:
    """No accounting: a request the admission control turned away counts itself."""


def create_metrics_app(metrics: Metrics) -> Starlette:
    """``GET /metrics`` (Prometheus text format) and nothing else, for ``server.metrics_port``.

    A listener of its own keeps the metrics off the port the load balancer forwards; it
    shares the process and event loop with the inference app, so it reports that app's
    registry and goes away with it."""

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", prometheus)])


@asynccontextmanager
async def _started(
    config: GatewayConfig, gateway: Gateway, external: TracerProvider | None
) -> AsyncIterator[None]:
    metrics = gateway.metrics
    if external is not None:
        spans, provider = Spans(external.get_tracer("gateway")), None
    else:
        spans, provider = build_tracer(config.observability)
    features = FeatureStore(config.features, make_dynamodb_client(config.features))
    backends = {}
    for name, settings in config.backends.items():
        breaker = CircuitBreaker(name, settings.breaker, on_change=metrics.breaker_changed)
        metrics.breaker_state.labels(name).set(breaker.state.value)
        backends[name] = KServeBackend(settings, breaker)
    await _warm_up(features, list(backends.values()), config)
    gateway.spans = spans
    gateway.pipeline = Pipeline(backends, features, metrics, spans, config.slo_ms / 1000.0)
    try:
        yield
    finally:
        gateway.pipeline = None
        for backend in backends.values():
            await backend.close()
        features.close()
        if provider is not None:
            provider.shutdown()


async def _warm_up(
    features: FeatureStore, backends: Sequence[KServeBackend], config: GatewayConfig
) -> None:
    # Failures are only logged: the gateway serves degraded answers rather than not at all.
    results = await asyncio.gather(features.warm_up(), *(b.warm_up() for b in backends))
    if not results[0]:
        LIFECYCLE.warning("feature table %s not reachable at start", config.features.table)
    for backend, ok in zip(backends, results[1:], strict=True):
        if not ok:
            LIFECYCLE.warning(
                "backend %s (%s) not ready at start", backend.name, backend.settings.url
            )


def _metadata(model: ModelSettings) -> dict[str, Any]:
    def tensors(specs: Any) -> list[dict[str, Any]]:
        return [{"name": s.name, "datatype": s.datatype, "shape": [-1, *s.shape]} for s in specs]

    derived = [
        {"name": "top_classes", "datatype": "INT64", "shape": [-1, model.top_k]},
        {"name": "top_scores", "datatype": "FP32", "shape": [-1, model.top_k]},
    ]
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "inference-gateway",
        "inputs": tensors(model.inputs),
        "outputs": [*tensors(model.outputs), *derived],
        "parameters": {"max_batch_size": model.max_batch_size},
    }

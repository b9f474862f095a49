"""One inference, within its deadline: features, the fallback chain, post-processing.

The feature read and the model call are independent, so they run concurrently: a cache
miss costs nothing when the model is slower than the store. The chain is GPU model, then
the CPU backend's lighter model, then the rule-based answer computed here, which always
succeeds: a request that got this far is never answered with a 5xx.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gateway.backends import BackendUnavailable, CallOutcome, KServeBackend
from gateway.config import ModelRoute, ModelSettings
from gateway.features import FeatureSource, FeatureStore, UserFeatures
from gateway.http1 import Body
from gateway.kserve import InferRequest, encode_request
from gateway.observability import Metrics, Spans, Stopwatch
from gateway.ranking import rule_based, top_k

LOG = logging.getLogger("gateway.pipeline")
PATH_PRIMARY = "gpu"
PATH_FALLBACK = "cpu-fallback"
PATH_RULES = "rule-based"


@dataclass(frozen=True)
class Answer:
    """What served the request and what it produced."""

    path: str
    personalised: bool
    feature_source: FeatureSource | None
    classes: np.ndarray
    scores: np.ndarray
    model_outputs: Mapping[str, np.ndarray] = field(default_factory=dict)


FeatureResult = tuple[UserFeatures, FeatureSource]


class Pipeline:
    """Runs requests against the configured backends and feature store."""

    def __init__(
        self,
        backends: Mapping[str, KServeBackend],
        features: FeatureStore,
        metrics: Metrics,
        spans: Spans,
        slo_s: float,
    ) -> None:
        self._backends = backends
        self._features = features
        self._metrics = metrics
        self._spans = spans
        self._slo_s = slo_s

    async def run(
        self,
        model: ModelSettings,
        request: InferRequest,
        user_id: str | None,
        watch: Stopwatch,
        request_id: str,
    ) -> Answer:
        """Serves ``request``; ``user_id`` is set only when personal data may be used here."""
        deadline = time.monotonic() + self._slo_s - watch.elapsed()
        pending = self._start_features(user_id, deadline, watch)
        try:
            path, outputs = await self._call_chain(model, request, deadline, watch, request_id)
        except BaseException:
            if isinstance(pending, asyncio.Task):
                pending.cancel()
            raise
        features, source = await _settle(pending)
        start = time.perf_counter()
        with self._spans("postprocess"):
            answer = _postprocess(model, request.batch_size, path, outputs, features, source)
        elapsed = time.perf_counter() - start
        watch.add("postprocess", elapsed)
        self._metrics.observe_stage("postprocess", elapsed)
        return answer

    def _start_features(
        self, user_id: str | None, deadline: float, watch: Stopwatch
    ) -> FeatureResult | asyncio.Task[FeatureResult] | None:
        if user_id is None:
            return None
        hit, refreshing = self._features.cached(user_id)
        self._metrics.feature_cache.labels("hit" if hit is not None else "miss").inc()
        if refreshing:
            self._metrics.feature_cache.labels("refresh").inc()
        if hit is not None:
            self._metrics.feature_reads.labels(FeatureSource.CACHE.value).inc()
            return hit, FeatureSource.CACHE
        return asyncio.create_task(self._read_features(user_id, deadline, watch))

    async def _read_features(
        self, user_id: str, deadline: float, watch: Stopwatch
    ) -> FeatureResult:
        start = time.perf_counter()
        with self._spans("features") as span:
            features, source = await self._features.fetch(user_id, deadline - time.monotonic())
            span.set_attribute("features.source", source.value)
        watch.add("features", time.perf_counter() - start)
        self._metrics.observe_stage("features", time.perf_counter() - start)
        self._metrics.feature_reads.labels(source.value).inc()
        return features, source

    async def _call_chain(
        self,
        model: ModelSettings,
        request: InferRequest,
        deadline: float,
        watch: Stopwatch,
        request_id: str,
    ) -> tuple[str, Mapping[str, np.ndarray] | None]:
        links = [(PATH_PRIMARY, model.primary), (PATH_FALLBACK, model.fallback)]
        body, headers = encode_request(request.inputs, [o.name for o in model.outputs], request_id)
        for path, route in links:
            if route is None:
                continue
            outputs = await self._attempt(
                path, route, model, request, body, headers, deadline, watch
            )
            if outputs is not None:
                return path, outputs
        return PATH_RULES, None

    async def _attempt(
        self,
        path: str,
        route: ModelRoute,
        model: ModelSettings,
        request: InferRequest,
        body: Body,
        headers: Mapping[str, str],
        deadline: float,
        watch: Stopwatch,
    ) -> Mapping[str, np.ndarray] | None:
        backend = self._backends[route.backend]
        timeout_s = min(backend.settings.timeout_ms / 1000.0, deadline - time.monotonic())
        if timeout_s <= 0:
            self._metrics.backend_calls.labels(backend.name, CallOutcome.NO_BUDGET.value).inc()
            return None
        start = time.perf_counter()
        with self._spans(f"backend.{path}") as span:
            span.set_attribute("backend.name", backend.name)
            try:
                outputs = await backend.infer(
                    route.model, body, headers, timeout_s=timeout_s,
                    expected=model.outputs, batch_size=request.batch_size,
                )  # fmt: skip
                outcome = CallOutcome.OK
            except BackendUnavailable as exc:
                outputs, outcome = None, exc.outcome
                LOG.debug("backend %s unavailable: %s", backend.name, exc)
            span.set_attribute("backend.outcome", outcome.value)
        elapsed = time.perf_counter() - start
        if outcome not in (CallOutcome.BUSY, CallOutcome.OPEN):
            watch.add("backend", elapsed)
        self._metrics.observe_stage(f"backend_{path}", elapsed)
        self._metrics.backend_calls.labels(backend.name, outcome.value).inc()
        return outputs


async def _settle(
    pending: FeatureResult | asyncio.Task[FeatureResult] | None,
) -> tuple[UserFeatures | None, FeatureSource | None]:
    if pending is None:
        return None, None
    if isinstance(pending, asyncio.Task):
        return await pending
    return pending


def _postprocess(
    model: ModelSettings,
    batch_size: int,
    path: str,
    outputs: Mapping[str, np.ndarray] | None,
    features: UserFeatures | None,
    source: FeatureSource | None,
) -> Answer:
    personal = features if features is not None and not features.is_default else None
    if outputs is None:
        classes, scores = rule_based(batch_size, model.top_k, personal, model.popular_classes)
    else:
        classes, scores = top_k(
            outputs[model.scores_output], model.top_k, model.candidate_k, personal,
            boost=model.personal_boost, saturation=model.activity_saturation,
        )  # fmt: skip
    return Answer(
        path=path,
        personalised=personal is not None,
        feature_source=source,
        classes=classes,
        scores=scores,
        model_outputs=outputs or {},
    )

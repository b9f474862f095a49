"""Gateway configuration: one YAML/JSON file plus ``GATEWAY__*`` environment overrides.

Everything is validated on start. All problems are collected and reported together, each
naming the field (``backends.gpu.timeout_ms``), the bad value and what was expected, so a
broken deployment fails at boot with one readable message instead of at the first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ENV_PREFIX = "GATEWAY__"
CONFIG_PATH_ENV = "GATEWAY_CONFIG"
JURISDICTION_PATTERN = re.compile(r"^[A-Z]{2,3}$")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")
DATATYPES = ("BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64")
ALGORITHMS = ("EdDSA", "ES256", "HS256")
EXPORTERS = ("none", "console", "otlp")
MIN_HS256_SECRET_BYTES = 32
DEFAULT_METRICS_PORT = 9102
MAX_PORT = 65535

TracingExporter = Literal["none", "console", "otlp"]


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class TensorSpec:
    """One KServe v2 tensor; ``shape`` excludes the batch dimension, -1 means any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class BreakerSettings:
    """Circuit breaker thresholds for one backend."""

    failure_threshold: int = 5
    """Consecutive failures (errors or timeouts) that open the breaker."""
    open_seconds: float = 5.0
    """How long the breaker stays open before letting probes through (half-open)."""
    half_open_probes: int = 1
    """Probe calls allowed at once while half-open; that many successes close it."""


@dataclass(frozen=True)
class BackendSettings:
    """A KServe v2 HTTP backend (Triton)."""

    name: str
    url: str
    timeout_ms: float
    max_concurrency: int
    breaker: BreakerSettings


@dataclass(frozen=True)
class ModelRoute:
    """Which backend serves a model, and under which name there."""

    backend: str
    model: str


@dataclass(frozen=True)
class ModelSettings:
    """A model the gateway serves, with its chain and post-processing knobs."""

    name: str
    version: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    scores_output: str
    primary: ModelRoute
    fallback: ModelRoute | None
    max_batch_size: int
    top_k: int
    candidate_k: int
    personal_boost: float
    activity_saturation: float
    popular_classes: tuple[int, ...]


@dataclass(frozen=True)
class AuthSettings:
    """How a request's user and home jurisdiction are established."""

    algorithm: str
    key: Any
    """The verification key: a public key object (EdDSA, ES256) or the HS256 secret bytes."""
    jurisdiction_claim: str
    issuer: str | None
    audience: str | None
    leeway_s: float
    edge_user_header: str | None
    edge_jurisdiction_header: str | None


@dataclass(frozen=True)
class FeatureSettings:
    """This region's online feature store (DynamoDB) and the in-process cache in front."""

    table: str
    aws_region: str
    endpoint_url: str | None
    timeout_ms: float
    cache_ttl_s: float
    cache_size: int
    max_workers: int
    cache_refresh_after: float = 0.8
    """Fraction of the TTL after which a hit also starts a background re-read."""


@dataclass(frozen=True)
class ServerSettings:
    """Listeners and admission control."""

    host: str
    port: int
    """The inference listener (KServe v2 and health): what the load balancer forwards to."""
    metrics_port: int
    """Prometheus ``/metrics``, on the same host but never on ``port``: the load balancer
    forwards ``port`` only, so metrics stay inside the cluster."""
    max_inflight: int
    retry_after_s: int
    max_body_bytes: int
    direct_body_budget_bytes: int
    """Bytes of bodies read straight into their buffer while they arrive, in all (0: none)."""


@dataclass(frozen=True)
class ObservabilitySettings:
    """Traces and logs."""

    tracing_exporter: TracingExporter
    otlp_endpoint: str | None
    service_name: str
    log_level: str


@dataclass(frozen=True)
class GatewayConfig:
    """The whole, validated gateway configuration."""

    region: str
    jurisdiction: str
    slo_ms: float
    home_endpoints: Mapping[str, str]
    auth: AuthSettings
    features: FeatureSettings
    backends: Mapping[str, BackendSettings]
    models: Mapping[str, ModelSettings]
    server: ServerSettings
    observability: ObservabilitySettings


_MISSING: Any = object()


class _Node:
    """A cursor into the raw document that records typed reads and their errors."""

    def __init__(self, data: object, path: str, errors: list[str]) -> None:
        self.data = data if isinstance(data, Mapping) else {}
        self.path = path
        self.errors = errors
        if not isinstance(data, Mapping) and data is not None:
            self._fail("", f"expected a mapping, got {data!r}")

    def _field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path and key else self.path or key

    def _fail(self, key: str, message: str) -> None:
        self.errors.append(f"{self._field(key) or '<root>'}: {message}")

    def _get(self, key: str, default: Any, expected: str) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                self._fail(key, f"is required ({expected})")
            return _MISSING if default is _MISSING else default
        return value

    def child(self, key: str, *, required: bool = True) -> _Node:
        raw = self._get(key, _MISSING if required else {}, "a mapping")
        return _Node({} if raw is _MISSING else raw, self._field(key), self.errors)

    def string(
        self, key: str, default: Any = _MISSING, *, pattern: re.Pattern[str] | None = None
    ) -> Any:
        value = self._get(key, default, "a string")
        if value is _MISSING or value is default:
            return "" if value is _MISSING else value
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            shape = f"matching {pattern.pattern}" if pattern is not None else ""
            self._fail(key, f"expected a string {shape}, got {value!r}".replace("  ", " "))
            return ""
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.string(key, default)
        if value and value not in allowed:
            self._fail(key, f"must be one of {list(allowed)}, got {value!r}")
        return cast(str, value)

    def url(self, key: str, default: Any = _MISSING) -> Any:
        value = self.string(key, default)
        if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
            self._fail(key, f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if isinstance(value, str) else value

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int = 1) -> int:
        value = self._get(key, default, f"an integer >= {minimum}")
        if value is _MISSING:
            return minimum
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._fail(key, f"expected an integer >= {minimum}, got {value!r}")
            return minimum
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float = 0.0) -> float:
        value = self._get(key, default, f"a number > {minimum}")
        if value is _MISSING:
            return minimum + 1.0
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
            self._fail(key, f"expected a number > {minimum}, got {value!r}")
            return minimum + 1.0
        return float(value)

    def items(self, key: str, *, required: bool = True) -> list[tuple[str, _Node | Any]]:
        raw = self._get(key, _MISSING if required else {}, "a non-empty mapping")
        if raw is _MISSING:
            return []
        if not isinstance(raw, Mapping) or (required and not raw):
            self._fail(key, f"expected a non-empty mapping, got {raw!r}")
            return []
        return [(str(k), v) for k, v in raw.items()]

    def sequence(self, key: str, default: Any = _MISSING) -> list[Any]:
        raw = self._get(key, default, "a list")
        if raw is _MISSING:
            return []
        if not isinstance(raw, list):
            self._fail(key, f"expected a list, got {raw!r}")
            return []
        return raw


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Reads, overrides from ``env`` (default ``os.environ``) and validates the config."""
    env = os.environ if env is None else env
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read gateway config {source}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"gateway config {source}: expected a mapping at the top level")
    apply_env_overrides(document, env)
    return parse_config(document, env, origin=str(source))


def apply_env_overrides(document: dict[str, Any], env: Mapping[str, str]) -> None:
    """``GATEWAY__FEATURES__ENDPOINT_URL=http://...`` sets ``features.endpoint_url``.

    Values are parsed as YAML scalars, so numbers and booleans keep their type.
    """
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not keys:
            continue
        node = document
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {'.'.join(keys)} does not lead to a mapping")
        node[keys[-1]] = yaml.safe_load(raw) if raw != "" else None


def parse_config(
    document: Mapping[str, Any], env: Mapping[str, str], *, origin: str = "<config>"
) -> GatewayConfig:
    """Validates a raw document; raises ``ConfigError`` listing every problem."""
    errors: list[str] = []
    root = _Node(document, "", errors)
    backends = _backends(root, errors)
    config = GatewayConfig(
        region=root.string("region", pattern=re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")),
        jurisdiction=root.string("jurisdiction", pattern=JURISDICTION_PATTERN),
        slo_ms=root.number("slo_ms"),
        home_endpoints=_home_endpoints(root),
        auth=_auth(root.child("auth"), env),
        features=_features(root.child("features")),
        backends=backends,
        models=_models(root, backends, errors),
        server=_server(root.child("server", required=False)),
        observability=_observability(root.child("observability", required=False)),
    )
    if errors:
        listing = "\n".join(f"  - {error}" for error in errors)
        raise ConfigError(f"invalid gateway config {origin}:\n{listing}")
    return config


def _home_endpoints(root: _Node) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for code, value in root.items("home_endpoints"):
        field = f"home_endpoints.{code}"
        if not JURISDICTION_PATTERN.match(code):
            root.errors.append(f"{field}: jurisdiction codes are 2-3 capital letters")
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            root.errors.append(f"{field}: expected an http(s) URL, got {value!r}")
            continue
        endpoints[code] = value.rstrip("/")
    return endpoints


def _auth(node: _Node, env: Mapping[str, str]) -> AuthSettings:
    algorithm = node.choice("algorithm", ALGORITHMS)
    edge = node.child("edge_headers", required=False)
    return AuthSettings(
        algorithm=algorithm,
        key=_verification_key(node, algorithm, env),
        jurisdiction_claim=node.string("jurisdiction_claim", "jurisdiction"),
        issuer=node.string("issuer", None),
        audience=node.string("audience", None),
        leeway_s=float(node.integer("leeway_s", 0, minimum=0)),
        edge_user_header=_lower(edge.string("user", None)),
        edge_jurisdiction_header=_lower(edge.string("jurisdiction", None)),
    )


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _verification_key(node: _Node, algorithm: str, env: Mapping[str, str]) -> Any:
    if algorithm == "HS256":
        return _hs256_secret(node, env)
    pem_file = node.string("public_key_file", None)
    pem = node.string("public_key_pem", None)
    if not pem_file and not pem:
        node.errors.append(f"{node.path}.public_key_file: is required for {algorithm}")
        return None
    try:
        data = Path(pem_file).read_bytes() if pem_file else pem.encode()
        key = load_pem_public_key(data)
    except (OSError, ValueError) as exc:
        node.errors.append(f"{node.path}.public_key_file: cannot load a PEM public key ({exc})")
        return None
    expected = ed25519.Ed25519PublicKey if algorithm == "EdDSA" else ec.EllipticCurvePublicKey
    if not isinstance(key, expected) or (
        isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, ec.SECP256R1)
    ):
        node.errors.append(f"{node.path}.public_key_file: the key does not fit {algorithm}")
        return None
    return key


def _hs256_secret(node: _Node, env: Mapping[str, str]) -> bytes | None:
    secret_file = node.string("secret_file", None)
    secret_env = node.string("secret_env", None)
    try:
        if secret_file:
            secret = Path(secret_file).read_bytes().strip()
        elif secret_env:
            secret = env.get(secret_env, "").encode()
        else:
            node.errors.append(f"{node.path}.secret_file: HS256 needs secret_file or secret_env")
            return None
    except OSError as exc:
        node.errors.append(f"{node.path}.secret_file: cannot read the secret ({exc})")
        return None
    if len(secret) < MIN_HS256_SECRET_BYTES:
        where = secret_file or f"${secret_env}"
        node.errors.append(
            f"{node.path}.secret_{'file' if secret_file else 'env'}: the secret from {where} "
            f"must be at least {MIN_HS256_SECRET_BYTES} bytes, got {len(secret)}"
        )
        return None
    return secret


def _features(node: _Node) -> FeatureSettings:
    return FeatureSettings(
        table=node.string("table", pattern=re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")),
        aws_region=node.string("aws_region", pattern=re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")),
        endpoint_url=node.url("endpoint_url", None),
        timeout_ms=node.number("timeout_ms", 15.0),
        cache_ttl_s=node.number("cache_ttl_s", 30.0),
        cache_size=node.integer("cache_size", 10_000),
        max_workers=node.integer("max_workers", 4),
        cache_refresh_after=_fraction(node, "cache_refresh_after", 0.8),
    )


def _fraction(node: _Node, key: str, default: float) -> float:
    value = node.number(key, default)
    if value > 1.0:
        node._fail(key, f"expected a fraction in (0, 1], got {value!r}")
        return default
    return value


def _breaker(node: _Node) -> BreakerSettings:
    defaults = BreakerSettings()
    return BreakerSettings(
        failure_threshold=node.integer("failure_threshold", defaults.failure_threshold),
        open_seconds=node.number("open_seconds", defaults.open_seconds),
        half_open_probes=node.integer("half_open_probes", defaults.half_open_probes),
    )


def _backends(root: _Node, errors: list[str]) -> dict[str, BackendSettings]:
    backends: dict[str, BackendSettings] = {}
    for name, raw in root.items("backends"):
        node = _Node(raw, f"backends.{name}", errors)
        backends[name] = BackendSettings(
            name=name,
            url=node.url("url"),
            timeout_ms=node.number("timeout_ms"),
            max_concurrency=node.integer("max_concurrency", 32),
            breaker=_breaker(node.child("breaker", required=False)),
        )
    return backends


def _tensors(node: _Node, key: str) -> tuple[TensorSpec, ...]:
    specs = []
    for index, raw in enumerate(node.sequence(key)):
        item = _Node(raw, f"{node.path}.{key}[{index}]", node.errors)
        shape = item.sequence("shape")
        if not shape or not all(isinstance(d, int) and (d > 0 or d == -1) for d in shape):
            node.errors.append(f"{item.path}.shape: expected a list of dims > 0 or -1, got {shape}")
        specs.append(
            TensorSpec(
                name=item.string("name", pattern=NAME_PATTERN),
                datatype=item.choice("datatype", DATATYPES),
                shape=tuple(int(d) for d in shape if isinstance(d, int)),
            )
        )
    if not specs:
        node.errors.append(f"{node.path}.{key}: expected at least one tensor")
    return tuple(specs)


def _route(node: _Node, key: str, backends: Mapping[str, BackendSettings]) -> ModelRoute | None:
    if node.data.get(key) is None and key == "fallback":
        return None
    route = node.child(key)
    backend = route.string("backend")
    if backend and backend not in backends:
        node.errors.append(f"{route.path}.backend: {backend!r} is not one of {sorted(backends)}")
    return ModelRoute(backend=backend, model=route.string("model", pattern=NAME_PATTERN))


def _models(
    root: _Node, backends: Mapping[str, BackendSettings], errors: list[str]
) -> dict[str, ModelSettings]:
    models: dict[str, ModelSettings] = {}
    for index, raw in enumerate(root.sequence("models")):
        node = _Node(raw, f"models[{index}]", errors)
        model = _model(node, backends)
        if model.name in models:
            errors.append(f"{node.path}.name: duplicate model {model.name!r}")
        models[model.name] = model
    if not models:
        errors.append("models: expected at least one model")
    return models


def _model(node: _Node, backends: Mapping[str, BackendSettings]) -> ModelSettings:
    outputs = _tensors(node, "outputs")
    scores_output = node.string("scores_output", outputs[0].name if outputs else "")
    if outputs and scores_output not in {spec.name for spec in outputs}:
        node.errors.append(f"{node.path}.scores_output: {scores_output!r} is not an output")
    top_k = node.integer("top_k", 5)
    candidate_k = node.integer("candidate_k", max(20, top_k))
    if candidate_k < top_k:
        node.errors.append(f"{node.path}.candidate_k: must be >= top_k ({top_k})")
    popular = node.sequence("popular_classes", [])
    if not all(isinstance(c, int) and c >= 0 for c in popular):
        node.errors.append(f"{node.path}.popular_classes: expected class ids >= 0")
    return ModelSettings(
        name=node.string("name", pattern=NAME_PATTERN),
        version=str(node.data.get("version", "1")),
        inputs=_tensors(node, "inputs"),
        outputs=outputs,
        scores_output=scores_output,
        primary=cast(ModelRoute, _route(node, "primary", backends)),
        fallback=_route(node, "fallback", backends),
        max_batch_size=node.integer("max_batch_size", 8),
        top_k=top_k,
        candidate_k=candidate_k,
        personal_boost=node.number("personal_boost", 1.0),
        activity_saturation=node.number("activity_saturation", 50.0),
        popular_classes=tuple(int(c) for c in popular if isinstance(c, int)),
    )


def _server(node: _Node) -> ServerSettings:
    port = _port(node, "port", 8000)
    metrics_port = _port(node, "metrics_port", DEFAULT_METRICS_PORT)
    if port == metrics_port:
        node._fail(
            "metrics_port",
            f"must differ from server.port ({port}): /metrics stays off the port the load "
            "balancer forwards",
        )
    return ServerSettings(
        host=node.string("host", "0.0.0.0"),  # noqa: S104 - in a pod the listener must face the NLB
        port=port,
        metrics_port=metrics_port,
        max_inflight=node.integer("max_inflight", 256),
        retry_after_s=node.integer("retry_after_s", 1),
        max_body_bytes=node.integer("max_body_bytes", 16 * 1024 * 1024),
        direct_body_budget_bytes=node.integer(
            "direct_body_budget_bytes", 64 * 1024 * 1024, minimum=0
        ),
    )


def _port(node: _Node, key: str, default: int) -> int:
    value = node.integer(key, default)
    if value > MAX_PORT:
        node._fail(key, f"expected a TCP port from 1 to {MAX_PORT}, got {value}")
    return value


def _observability(node: _Node) -> ObservabilitySettings:
    exporter = node.choice("tracing_exporter", EXPORTERS, "none")
    endpoint = node.url("otlp_endpoint", None)
    if exporter == "otlp" and not endpoint:
        node.errors.append(f"{node._field('otlp_endpoint')}: is required when exporter is otlp")
    return ObservabilitySettings(
        tracing_exporter=cast(TracingExporter, exporter),
        otlp_endpoint=endpoint,
        service_name=node.string("service_name", "inference-gateway"),
        log_level=node.choice("log_level", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
    )

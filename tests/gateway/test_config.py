"""Config validation: every bad field is named, env overrides apply, secrets load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway import devstack
from gateway.__main__ import main
from gateway.config import ConfigError, load_config, parse_config

SECRET = "s" * 40


def _document(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    document = devstack.gateway_config(
        port=8080,
        gpu_url="http://gpu:8000",
        cpu_url="http://cpu:8000",
        aws_endpoint=None,
        secret_file=secret,
    )
    document.update(changes)
    return document


def _errors(document: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, env or {})
    return str(caught.value)


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "gateway" / "config.example.yaml"
    config = load_config(example, {"GATEWAY_JWT_SECRET": SECRET})

    assert config.models["resnet50"].fallback is not None
    assert config.models["resnet50"].fallback.model == "resnet50-lite"
    assert config.auth.key == SECRET.encode()


def test_valid_document_is_typed(tmp_path: Path) -> None:
    config = parse_config(_document(tmp_path), {})

    model = config.models["resnet50"]
    assert model.inputs[0].shape == (3, 224, 224)
    assert model.primary.backend == "gpu"
    assert config.backends["gpu"].breaker.failure_threshold == 5
    assert config.auth.key == SECRET.encode()
    assert config.features.endpoint_url is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": "Europe"}, "region: expected a string matching"),
        ({"jurisdiction": "eu"}, "jurisdiction: expected a string matching"),
        ({"slo_ms": 0}, "slo_ms: expected a number > 0.0, got 0"),
        ({"slo_ms": None}, "slo_ms: is required"),
        ({"home_endpoints": {"US": "ftp://x"}}, "home_endpoints.US: expected an http(s) URL"),
        ({"backends": {}}, "backends: expected a non-empty mapping"),
        ({"models": []}, "models: expected at least one model"),
        ({"server": {"max_inflight": 0}}, "server.max_inflight: expected an integer >= 1, got 0"),
        ({"server": {"direct_body_budget_bytes": -1}}, "server.direct_body_budget_bytes: expected an integer >= 0, got -1"),
        ({"observability": {"tracing_exporter": "jaeger"}}, "observability.tracing_exporter: must be one of"),
        ({"observability": {"tracing_exporter": "otlp"}}, "observability.otlp_endpoint: is required"),
        ({"features": {"cache_refresh_after": 1.5}}, "features.cache_refresh_after: expected a fraction in (0, 1], got 1.5"),
        ({"features": {"cache_refresh_after": 0}}, "features.cache_refresh_after: expected a number > 0.0, got 0"),
    ],
)  # fmt: skip
def test_bad_top_level_field_is_named(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    assert message in _errors(_document(tmp_path, **change))


def test_bad_nested_fields_are_all_reported_at_once(tmp_path: Path) -> None:
    document = _document(tmp_path)
    document["backends"]["gpu"]["timeout_ms"] = -5
    document["backends"]["cpu"]["breaker"] = {"failure_threshold": "many"}
    document["models"][0]["fallback"]["backend"] = "tpu"
    document["models"][0]["inputs"][0]["datatype"] = "FLOAT"
    document["models"][0]["inputs"][0]["shape"] = [3, 0]
    document["features"]["timeout_ms"] = "fast"

    errors = _errors(document)

    for expected in (
        "backends.gpu.timeout_ms: expected a number > 0.0, got -5",
        "backends.cpu.breaker.failure_threshold: expected an integer >= 1, got 'many'",
        "models[0].fallback.backend: 'tpu' is not one of ['cpu', 'gpu']",
        "models[0].inputs[0].datatype: must be one of",
        "models[0].inputs[0].shape: expected a list of dims > 0 or -1, got [3, 0]",
        "features.timeout_ms: expected a number > 0.0, got 'fast'",
    ):
        assert expected in errors


def test_metrics_have_a_port_of_their_own(tmp_path: Path) -> None:
    document = _document(tmp_path)
    del document["server"]["metrics_port"]
    config = parse_config(document, {})
    assert (config.server.port, config.server.metrics_port) == (8080, 9102)
    document["server"]["metrics_port"] = 9200
    assert parse_config(document, {}).server.metrics_port == 9200


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"port": 8000, "metrics_port": 8000}, "server.metrics_port: must differ from server.port (8000)"),
        ({"port": 9102}, "server.metrics_port: must differ from server.port (9102)"),
        ({"metrics_port": 70000}, "server.metrics_port: expected a TCP port from 1 to 65535, got 70000"),
        ({"metrics_port": 0}, "server.metrics_port: expected an integer >= 1, got 0"),
        ({"port": 65536}, "server.port: expected a TCP port from 1 to 65535, got 65536"),
    ],
)  # fmt: skip
def test_metrics_port_must_be_a_port_apart_from_the_served_one(
    tmp_path: Path, server: dict[str, int], message: str
) -> None:
    document = _document(tmp_path)
    document["server"] = {"host": "127.0.0.1", **server}
    assert message in _errors(document)


def test_short_hs256_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / "short").write_text("tiny")
    document = _document(tmp_path)
    document["auth"]["secret_file"] = str(tmp_path / "short")

    assert "must be at least 32 bytes, got 4" in _errors(document)


def test_secret_from_env(tmp_path: Path) -> None:
    document = _document(tmp_path)
    document["auth"] = {"algorithm": "HS256", "secret_env": "JWT_SECRET"}

    assert parse_config(document, {"JWT_SECRET": SECRET}).auth.key == SECRET.encode()
    assert "the secret from $JWT_SECRET must be at least 32 bytes" in _errors(document, {})


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_public_keys_load_and_must_fit_the_algorithm(tmp_path: Path, algorithm: str) -> None:
    ed_pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    right, wrong = (ed_pem, ec_pem) if algorithm == "EdDSA" else (ec_pem, ed_pem)
    (tmp_path / "right.pem").write_bytes(right)
    (tmp_path / "wrong.pem").write_bytes(wrong)
    document = _document(tmp_path)
    document["auth"] = {"algorithm": algorithm, "public_key_file": str(tmp_path / "right.pem")}

    assert parse_config(document, {}).auth.key is not None
    document["auth"]["public_key_file"] = str(tmp_path / "wrong.pem")
    assert f"auth.public_key_file: the key does not fit {algorithm}" in _errors(document)


def test_env_overrides_reach_nested_fields_with_types(tmp_path: Path) -> None:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(_document(tmp_path)))
    env = {
        "GATEWAY__FEATURES__ENDPOINT_URL": "http://127.0.0.1:5000",
        "GATEWAY__BACKENDS__GPU__TIMEOUT_MS": "12.5",
        "GATEWAY__SERVER__MAX_INFLIGHT": "7",
        "UNRELATED": "x",
    }

    config = load_config(path, env)

    assert config.features.endpoint_url == "http://127.0.0.1:5000"
    assert config.backends["gpu"].timeout_ms == 12.5
    assert config.server.max_inflight == 7


def test_cli_exits_2_and_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _document(tmp_path)
    document["backends"]["gpu"]["url"] = "gpu:8000"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))

    assert main(["--config", str(path)]) == 2
    assert "backends.gpu.url: expected an http:// or https:// URL, got 'gpu:8000'" in (
        capsys.readouterr().err
    )


def test_cli_check_accepts_a_good_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_document(tmp_path)))

    assert main(["--config", str(path), "--check"]) == 0
    assert "config ok: 1 model(s), region eu-west-1" in capsys.readouterr().out


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read gateway config"):
        load_config(tmp_path / "missing.yaml", {})

"""Fixtures: real processes on free 127.0.0.1 ports (onnxruntime backends, gateways), a
recording proxy in front of the shared ``moto_server``; all stopped at teardown.

Timeouts here are generous on purpose: the machine has 2 cores shared with other suites,
and a test must fail on behaviour, never on a slow scheduler. Failures are provoked for
real instead: a killed backend refuses connections, a SIGSTOPped one never answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import devstack
from tests.gateway.support import CREDENTIALS, DynamoSpy, GatewayHandle

EU_REGION = "eu-west-1"
US_REGION = "us-east-1"
US_ENDPOINT = "https://us.inference.example.test"
PATIENT_MS = 10_000

GatewayFactory = Callable[..., GatewayHandle]


@pytest.fixture(scope="session")
def lite_model() -> Path:
    """The catalog's committed lite model."""
    return devstack.lite_model_path()


def _start_backend(model: Path, log_dir: Path, name: str) -> devstack.Service:
    port = devstack.free_port()
    return devstack.start_service(
        name,
        devstack.backend_command(port, model, aliases=[devstack.PRIMARY_MODEL]),
        f"http://127.0.0.1:{port}",
        log_dir,
    )


@pytest.fixture(scope="session")
def healthy_backend(
    lite_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[devstack.Service]:
    """An onnxruntime backend nobody breaks; serves the lite model as both names."""
    service = _start_backend(lite_model, tmp_path_factory.mktemp("healthy-backend"), "backend")
    yield service
    service.stop()


@pytest.fixture
def flaky_primary(lite_model: Path, tmp_path: Path) -> Iterator[devstack.Service]:
    """A backend of this test's own, to kill or stop."""
    service = _start_backend(lite_model, tmp_path, "primary")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def module_spy(moto_server: str) -> Iterator[DynamoSpy]:
    """A recording proxy in front of moto, shared by a module's gateway."""
    spy = DynamoSpy(moto_server).start()
    yield spy
    spy.stop()


def gateway_document(
    *,
    port: int,
    gpu_url: str,
    cpu_url: str,
    aws_endpoint: str,
    secret_file: Path,
    region: str = EU_REGION,
    jurisdiction: str = "EU",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A gateway config for tests: patient timeouts unless ``overrides`` say otherwise."""
    document = devstack.gateway_config(
        port=port,
        gpu_url=gpu_url,
        cpu_url=cpu_url,
        aws_endpoint=aws_endpoint,
        secret_file=secret_file,
        region=region,
        jurisdiction=jurisdiction,
        home_endpoints={"EU": "https://eu.inference.example.test", "US": US_ENDPOINT},
        env="test",
    )
    document["slo_ms"] = PATIENT_MS
    document["features"]["timeout_ms"] = PATIENT_MS / 2
    for backend in document["backends"].values():
        backend["timeout_ms"] = PATIENT_MS / 4
    document["models"][0]["personal_boost"] = 10.0
    return devstack.merge(document, overrides or {})


def start_gateway(
    workdir: Path, spy: DynamoSpy, gpu_url: str, cpu_url: str, **options: Any
) -> GatewayHandle:
    """A gateway process whose feature calls go through ``spy``."""
    workdir.mkdir(parents=True, exist_ok=True)
    secret = devstack.write_secret(workdir / "jwt-secret")
    port = devstack.free_port()
    document = gateway_document(
        port=port,
        gpu_url=gpu_url,
        cpu_url=cpu_url,
        aws_endpoint=spy.url,
        secret_file=workdir / "jwt-secret",
        **options,
    )
    config_path = workdir / "gateway.json"
    config_path.write_text(json.dumps(document), encoding="utf-8")
    service = devstack.start_service(
        "gateway",
        devstack.gateway_command(config_path),
        f"http://127.0.0.1:{port}",
        workdir,
        env={**CREDENTIALS, "AWS_DEFAULT_REGION": document["region"]},
    )
    spy.clear()  # the start-up probe is not a user's read
    return GatewayHandle(service=service, secret=secret, spy=spy, config=document)


@pytest.fixture
def gateway_factory(tmp_path: Path, module_spy: DynamoSpy) -> Iterator[GatewayFactory]:
    """Starts gateways for one test; stops them after it."""
    started: list[GatewayHandle] = []

    def factory(gpu_url: str, cpu_url: str, **options: Any) -> GatewayHandle:
        handle = start_gateway(
            tmp_path / f"gateway-{len(started)}", module_spy, gpu_url, cpu_url, **options
        )
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.service.stop()


@pytest.fixture(scope="module")
def eu_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    module_spy: DynamoSpy,
    healthy_backend: devstack.Service,
) -> Iterator[GatewayHandle]:
    """A healthy gateway in eu-west-1 (jurisdiction EU), shared by a module's tests."""
    handle = start_gateway(
        tmp_path_factory.mktemp("eu-gateway"), module_spy, healthy_backend.url, healthy_backend.url
    )
    yield handle
    handle.service.stop()


@pytest.fixture
def eu_table(aws_endpoint: str) -> Callable[..., None]:
    """A fresh EU feature table; returns ``seed(user_id, top_classes, **counts)``."""
    table = devstack.feature_table_name("test", EU_REGION)
    devstack.create_feature_table(aws_endpoint, EU_REGION, table)

    def seed(user_id: str, top_classes: list[int], **counts: float) -> None:
        devstack.put_user(aws_endpoint, EU_REGION, table, user_id, top_classes, counts)

    return seed


@pytest.fixture(autouse=True)
def _fresh_spy(request: pytest.FixtureRequest) -> None:
    """Each test sees only its own calls to the store, even with a module-scoped spy."""
    if "module_spy" in request.fixturenames:
        request.getfixturevalue("module_spy").clear()

"""Local stack for a laptop, the tests and the benchmark: moto, the ONNX backend, the gateway.

``python -m gateway.devstack`` (what ``make gateway`` runs) starts ``moto_server``, the
onnxruntime KServe v2 backend and the gateway on 127.0.0.1, creates this region's feature
table, seeds a demo user, prints curl examples and stops everything on Ctrl-C.

Dev tooling only: it needs onnxruntime and moto, which the gateway image does not ship.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import httpx
import jwt
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
LITE_MODEL = "resnet50-lite"
PRIMARY_MODEL = "resnet50"
COMMITTED_MODEL = REPO_ROOT / "model_artifacts" / "repository" / LITE_MODEL / "1" / "model.onnx"
INPUT_SHAPE = (3, 224, 224)
NUM_CLASSES = 1000
LOCAL_REGION = "eu-west-1"
LOCAL_JURISDICTION = "EU"
# Local budgets are looser than production's (config.example.yaml): moto is far slower than
# DynamoDB and the laptop's cores also run the backend, the store and the client.
LOCAL_BUDGETS: dict[str, Any] = {
    "slo_ms": 1000,
    "features": {"timeout_ms": 250},
    "backends": {"gpu": {"timeout_ms": 400}, "cpu": {"timeout_ms": 500}},
}


def lite_model_path() -> Path:
    """The catalog's committed lite model (Triton layout, config.pbtxt beside it)."""
    if not COMMITTED_MODEL.is_file():
        raise FileNotFoundError(
            f"{COMMITTED_MODEL} is missing: it is committed with the model catalog "
            "(model_artifacts/models.yaml says how it is produced)"
        )
    return COMMITTED_MODEL


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A child process serving HTTP on 127.0.0.1."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Terminates the process (continuing it first if it was stopped) and waits."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_service(
    name: str,
    command: Sequence[str],
    url: str,
    log_dir: Path,
    *,
    ready_path: str = "/v2/health/ready",
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> Service:
    """Starts ``command`` and waits until ``url + ready_path`` answers 200."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    service = Service(name, process, url, log_path)
    try:
        wait_ready(service, ready_path, timeout_s)
    except BaseException:
        service.stop()
        raise
    return service


def wait_ready(service: Service, ready_path: str, timeout_s: float) -> None:
    """Polls until the service answers 200; raises with its log if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # Only ever our own http://127.0.0.1 services.
            with urllib.request.urlopen(service.url + ready_path, timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        if service.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{service.name} did not become ready:\n{service.log()[-3000:]}")
        time.sleep(0.05)


def moto_command(port: int) -> list[str]:
    """``moto_server`` from this interpreter's environment."""
    exe = Path(sys.executable).with_name("moto_server")
    program = str(exe) if exe.exists() else shutil.which("moto_server")
    if program is None:
        raise RuntimeError("moto_server not found: run make venv")
    return [program, "-H", "127.0.0.1", "-p", str(port)]


def backend_command(port: int, model_path: Path, aliases: Sequence[str] = ()) -> list[str]:
    """The local onnxruntime backend serving the lite model (plus ``aliases`` of it)."""
    command = [sys.executable, "-m", "gateway.local_backend", "--port", str(port)]
    command += ["--model", f"{LITE_MODEL}={model_path}"]
    for alias in aliases:
        command += ["--alias", f"{alias}={LITE_MODEL}"]
    return command


def gateway_command(config_path: Path) -> list[str]:
    """The gateway process."""
    return [sys.executable, "-m", "gateway", "--config", str(config_path)]


def feature_table_name(env: str, region: str) -> str:
    """The physical name from docs/contracts.md (``inference-mesh-<env>-<region>-features``)."""
    return f"inference-mesh-{env}-{region}-features"


def dynamodb(endpoint: str, region: str) -> Any:
    """A boto3 DynamoDB client for moto."""
    return boto3.client(
        "dynamodb",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def create_feature_table(endpoint: str, region: str, table: str) -> None:
    """The online feature table: key ``user_id``, on-demand capacity."""
    dynamodb(endpoint, region).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def put_user(
    endpoint: str,
    region: str,
    table: str,
    user_id: str,
    top_classes: Sequence[int],
    counts: Mapping[str, float] | None = None,
) -> None:
    """One feature item in the layout of docs/contracts.md."""
    now = int(time.time())
    values: dict[str, float] = {"events_1h": 2, "events_24h": 20, "events_7d": 80}
    values["last_event_at"] = now - 60
    values.update(counts or {})
    dynamodb(endpoint, region).put_item(
        TableName=table,
        Item={
            "user_id": {"S": user_id},
            "features": {"M": {k: {"N": str(v)} for k, v in values.items()}},
            "top_classes": {"L": [{"N": str(c)} for c in top_classes]},
            "updated_at": {"N": str(now)},
            "expires_at": {"N": str(now + 7 * 24 * 3600)},
        },
    )


def gateway_config(
    *,
    port: int,
    gpu_url: str,
    cpu_url: str,
    aws_endpoint: str | None,
    secret_file: Path,
    region: str = LOCAL_REGION,
    jurisdiction: str = LOCAL_JURISDICTION,
    home_endpoints: Mapping[str, str] | None = None,
    env: str = "local",
    metrics_port: int | None = None,
) -> dict[str, Any]:
    """A complete config document for a local gateway; callers adjust fields as they need.
    ``metrics_port`` defaults to a free port (never the shared default 9102, so gateways run
    side by side)."""
    spec = {"datatype": "FP32"}
    return {
        "region": region,
        "jurisdiction": jurisdiction,
        "slo_ms": 50,
        "home_endpoints": dict(home_endpoints or {jurisdiction: f"http://127.0.0.1:{port}"}),
        "auth": {"algorithm": "HS256", "secret_file": str(secret_file)},
        "features": {
            "table": feature_table_name(env, region),
            "aws_region": region,
            "endpoint_url": aws_endpoint,
            "timeout_ms": 20,
            "cache_ttl_s": 30,
            "cache_size": 10000,
        },
        "backends": {
            "gpu": {"url": gpu_url, "timeout_ms": 20, "max_concurrency": 32},
            "cpu": {"url": cpu_url, "timeout_ms": 25, "max_concurrency": 16},
        },
        "models": [
            {
                "name": PRIMARY_MODEL,
                "inputs": [{"name": "input", **spec, "shape": list(INPUT_SHAPE)}],
                "outputs": [{"name": "probabilities", **spec, "shape": [NUM_CLASSES]}],
                "primary": {"backend": "gpu", "model": PRIMARY_MODEL},
                "fallback": {"backend": "cpu", "model": LITE_MODEL},
                "top_k": 5,
                "popular_classes": [1, 2, 3, 4, 5, 6, 7, 8],
            }
        ],
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "metrics_port": metrics_port or free_port(),
            "max_inflight": 256,
        },
        "observability": {"tracing_exporter": "none", "log_level": "INFO"},
    }


def metrics_url(document: Mapping[str, Any]) -> str:
    """Where a local gateway started with ``document`` serves ``/metrics``."""
    return f"http://127.0.0.1:{document['server']['metrics_port']}"


def write_secret(path: Path) -> bytes:
    """A fresh HS256 secret, readable by the owner only."""
    secret = secrets.token_hex(32).encode()
    path.write_bytes(secret)
    path.chmod(0o600)
    return secret


def mint_token(secret: bytes, user_id: str, jurisdiction: str, ttl_s: int = 3600) -> str:
    """A token as the identity service would issue it."""
    claims = {"sub": user_id, "jurisdiction": jurisdiction, "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def binary_request(
    image: np.ndarray, outputs: Sequence[str] = ("top_classes", "top_scores"), **parameters: Any
) -> tuple[bytes, dict[str, str]]:
    """A KServe v2 request for ``image`` [N,3,224,224] with the binary tensor extension."""
    data = np.ascontiguousarray(image, dtype="<f4")
    header: dict[str, Any] = {
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(data.shape),
                "parameters": {"binary_data_size": data.nbytes},
            }
        ],
        "outputs": [{"name": name} for name in outputs],
    }
    if parameters:
        header["parameters"] = parameters
    encoded = json.dumps(header).encode()
    headers = {
        "Inference-Header-Content-Length": str(len(encoded)),
        "Content-Type": "application/octet-stream",
    }
    return encoded + data.tobytes(), headers


@dataclass
class Stack:
    """The running local stack."""

    moto: Service
    backend: Service
    gateway: Service
    secret: bytes
    table: str
    metrics_url: str
    """The gateway's Prometheus listener (``server.metrics_port``)."""

    def stop(self) -> None:
        """Stops the gateway first, so nothing calls a dead dependency on the way down."""
        for service in (self.gateway, self.backend, self.moto):
            service.stop()


def merge(target: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges ``changes`` into the config document ``target``; returns it."""
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


@contextlib.contextmanager
def local_stack(
    workdir: Path,
    gateway_port: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    gateway_program: Callable[[Path], list[str]] = gateway_command,
) -> Iterator[Stack]:
    """Everything ``make gateway`` needs, stopped on exit; ``overrides`` adjust the config;
    ``gateway_program`` is the command run with the config's path (a benchmark's control)."""
    started: list[Service] = []
    try:
        moto_port = free_port()
        moto = start_service(
            "moto", moto_command(moto_port), f"http://127.0.0.1:{moto_port}", workdir,
            ready_path="/moto-api/", env=_fake_aws_env(),
        )  # fmt: skip
        started.append(moto)
        backend_port = free_port()
        backend = start_service(
            "backend",
            backend_command(backend_port, lite_model_path(), aliases=[PRIMARY_MODEL]),
            f"http://127.0.0.1:{backend_port}",
            workdir,
        )
        started.append(backend)
        secret = write_secret(workdir / "jwt-secret")
        port = gateway_port or free_port()
        document = gateway_config(
            port=port, gpu_url=backend.url, cpu_url=backend.url, aws_endpoint=moto.url,
            secret_file=workdir / "jwt-secret",
            home_endpoints={"EU": f"http://127.0.0.1:{port}", "US": "https://us.inference.example.invalid"},
        )  # fmt: skip
        merge(document, overrides if overrides is not None else LOCAL_BUDGETS)
        table = document["features"]["table"]
        os.environ.update(_fake_aws_env())
        create_feature_table(moto.url, LOCAL_REGION, table)
        (workdir / "gateway.yaml").write_text(json.dumps(document, indent=2), encoding="utf-8")
        gateway = start_service(
            "gateway", gateway_program(workdir / "gateway.yaml"), f"http://127.0.0.1:{port}",
            workdir, env=_fake_aws_env(),
        )  # fmt: skip
        started.append(gateway)
        yield Stack(moto, backend, gateway, secret, table, metrics_url(document))
    finally:
        for service in reversed(started):
            service.stop()


def _fake_aws_env() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def _seed_demo_user(stack: Stack, body: bytes, headers: Mapping[str, str]) -> list[int]:
    """Seeds ``demo-user`` with two classes the model ranks 5th and 3rd for the demo image,
    so the personalised answer visibly differs from the anonymous one."""
    url = f"{stack.gateway.url}/v2/models/{PRIMARY_MODEL}/infer"
    answer = httpx.post(url, content=body, headers=dict(headers), timeout=30, trust_env=False)
    ranked = answer.json()["outputs"][0]["data"]
    favourites = [int(ranked[4]), int(ranked[2])]
    put_user(stack.moto.url, LOCAL_REGION, stack.table, "demo-user", top_classes=favourites)
    return favourites


def _print_demo(stack: Stack, workdir: Path, out: IO[str]) -> None:
    rng = np.random.default_rng(0)
    body, headers = binary_request(rng.random((1, *INPUT_SHAPE), dtype=np.float32))
    (workdir / "request.bin").write_bytes(body)
    favourites = _seed_demo_user(stack, body, headers)
    home = mint_token(stack.secret, "demo-user", "EU")
    traveller = mint_token(stack.secret, "demo-traveller", "US")
    url = f"{stack.gateway.url}/v2/models/{PRIMARY_MODEL}/infer"
    curl = (
        f"curl -s -X POST {url} -H 'Content-Type: application/octet-stream' "
        f"-H 'Inference-Header-Content-Length: {headers['Inference-Header-Content-Length']}' "
        f"--data-binary @{workdir / 'request.bin'}"
    )
    print(
        f"\ngateway  {stack.gateway.url}  (region {LOCAL_REGION}, jurisdiction EU)\n"
        f"backend  {stack.backend.url}  (onnxruntime, {LITE_MODEL}; "
        f"also answers as {PRIMARY_MODEL})\n"
        f"moto     {stack.moto.url}  (feature table {stack.table})\n"
        f"logs     {workdir}\n\n"
        f"# anonymous\n{curl}\n\n"
        f"# personalised: demo-user (home EU) engages most with classes {favourites}\n"
        f"{curl} -H 'Authorization: Bearer {home}'\n\n"
        f"# a US user in this EU region: 307 to the US endpoint, no feature read\n"
        f"{curl} -H 'Authorization: Bearer {traveller}' -i\n\n"
        f"# metrics (their own port: not on the inference port)\n"
        f"curl -s {stack.metrics_url}/metrics | grep ^gateway_\n\n"
        "Ctrl-C stops everything.",
        file=out,
        flush=True,
    )


def _stop_on_signals() -> list[int]:
    # Explicit handlers: a shell may start us with SIGINT ignored (background jobs), and
    # Ctrl-C also reaches the children, which must not read as "a service died".
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: received.append(number))
    return received


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make gateway``."""
    parser = argparse.ArgumentParser(prog="gateway.devstack", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_PORT", "8080")))
    args = parser.parse_args(argv)
    received = _stop_on_signals()
    with tempfile.TemporaryDirectory(prefix="gateway-dev-") as scratch:
        workdir = Path(scratch)
        with local_stack(workdir, args.port) as stack:
            _print_demo(stack, workdir, sys.stdout)
            services = (stack.moto, stack.backend, stack.gateway)
            while not received and all(s.process.poll() is None for s in services):
                time.sleep(0.2)
            time.sleep(0.2)  # a Ctrl-C reaches us and the children at about the same time
            if not received:
                print("a service exited; stopping the rest", file=sys.stderr)
                return 1
    print("\nstopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures: a real ``moto_server`` process on 127.0.0.1, fake credentials."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server_command(port: int) -> list[str]:
    exe = Path(sys.executable).with_name("moto_server")
    program = str(exe) if exe.exists() else shutil.which("moto_server")
    if program is None:
        raise RuntimeError("moto_server not found: install the pinned requirements (make venv)")
    return [program, "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Starts ``moto_server`` on a free loopback port; yields its endpoint URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        _moto_server_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto account per test, with fake credentials and no ambient profile."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture(autouse=True)
def _no_ambient_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def shipped_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every shipped stack planned once per test session: stack name -> plan document."""
    from meshctl.plan_engine import discover_stacks, plan_stacks, write_plan

    out = tmp_path_factory.mktemp("plans")
    run = plan_stacks(discover_stacks())
    errors = {s: r.error for s, r in run.results.items() if not r.ok}
    assert not errors, f"shipped stacks failed to plan: {errors}"
    documents = {s: r.document for s, r in run.results.items() if r.document is not None}
    for document in documents.values():
        write_plan(document, out)
    return documents

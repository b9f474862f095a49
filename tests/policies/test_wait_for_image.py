"""``.github/scripts/wait_for_image.py``: the deploy waits until ECR replication has copied the
gateway image to every region, against the local moto server (ECR ``describe_images`` and
``put_image`` are real there; moto never replicates, so tests put the image per region).

Proves the polling, the timeout and its message, and the image job's targets. Does not prove
ECR replication itself or its timing (no AWS here).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from regions.catalog import load_catalog
from stacks import naming
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / ".github" / "scripts" / "wait_for_image.py"
ENV = "prod"
REPOSITORY = naming.gateway_repository(ENV)
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "c" * 64, "size": 1, "mediaType": "x"},
        "layers": [{"digest": "sha256:" + "d" * 64, "size": 1, "mediaType": "x"}],
    }
)
DIGEST = "sha256:" + "e" * 64


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("wait_for_image", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wait_for_image"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["wait_for_image"]


REGIONS = [spec.region for spec in load_catalog()]


@pytest.fixture
def ecr(aws_endpoint: str) -> dict[str, Any]:
    """An ECR client per catalog region on moto, each with the (empty) gateway repository."""
    clients = {
        region: boto3.client("ecr", region_name=region, endpoint_url=aws_endpoint)
        for region in REGIONS
    }
    for client in clients.values():
        client.create_repository(repositoryName=REPOSITORY)
    return clients


def _push(client: Any, digest: str = DIGEST) -> None:
    client.put_image(
        repositoryName=REPOSITORY, imageManifest=MANIFEST, imageTag="abc123-1", imageDigest=digest
    )


class FakeTime:
    """An injectable clock: ``sleep`` advances it and runs what the test schedules."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[], None]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep.pop(0)()


def test_returns_once_every_region_holds_the_digest(script: ModuleType, ecr: dict) -> None:
    for client in ecr.values():
        _push(client)
    time = FakeTime()
    lines: list[str] = []

    script.wait_for_image(
        ecr, REPOSITORY, DIGEST, sleep=time.sleep, clock=time.clock, log=lines.append
    )

    assert time.sleeps == []
    assert sorted(line.split(":")[0] for line in lines) == sorted(REGIONS)


def test_waits_for_a_late_replica(script: ModuleType, ecr: dict) -> None:
    primary = load_catalog().primary.region
    _push(ecr[primary])
    late = [r for r in REGIONS if r != primary]
    for region in late[1:]:
        _push(ecr[region])
    time = FakeTime()
    # Replication delivers the last region while the script sleeps the second time.
    time.on_sleep = [lambda: None, lambda: _push(ecr[late[0]])]
    lines: list[str] = []

    script.wait_for_image(
        ecr,
        REPOSITORY,
        DIGEST,
        timeout_s=60,
        interval_s=10,
        sleep=time.sleep,
        clock=time.clock,
        log=lines.append,
    )

    assert time.sleeps == [10, 10]
    assert f"waiting for {late[0]} (0 s of 60 s)" in lines
    assert lines[-1].startswith(f"{late[0]}: {REPOSITORY}@{DIGEST} present after 20 s")


def test_times_out_naming_the_regions_without_the_image(script: ModuleType, ecr: dict) -> None:
    for region in REGIONS:
        if region not in ("eu-west-1", "ap-southeast-1"):
            _push(ecr[region])
    ecr["ap-southeast-1"].delete_repository(repositoryName=REPOSITORY)
    time = FakeTime()

    with pytest.raises(script.ImageNotReplicatedError) as raised:
        script.wait_for_image(
            ecr,
            REPOSITORY,
            DIGEST,
            timeout_s=25,
            interval_s=10,
            sleep=time.sleep,
            clock=time.clock,
            log=lambda _line: None,
        )

    message = str(raised.value)
    assert f"{REPOSITORY}@{DIGEST} has not replicated to every region after 25 s" in message
    assert "missing in ap-southeast-1 (repository inference-mesh/prod/gateway not found); " in (
        message
    )
    assert "eu-west-1 (image not found)" in message
    for region in REGIONS:
        if region not in ("eu-west-1", "ap-southeast-1"):
            assert region not in message.split("missing in", 1)[1]
    # Bounded: it sleeps up to the deadline, never past it.
    assert time.sleeps == [10, 10, 5]
    assert time.now == 1025


def test_another_image_is_not_the_pushed_one(script: ModuleType, ecr: dict) -> None:
    for client in ecr.values():
        _push(client, "sha256:" + "f" * 64)
    time = FakeTime()
    with pytest.raises(script.ImageNotReplicatedError, match="image not found"):
        script.wait_for_image(
            ecr, REPOSITORY, DIGEST, timeout_s=0, sleep=time.sleep, clock=time.clock
        )


def test_an_error_waiting_cannot_cure_stops_at_once(script: ModuleType) -> None:
    client = boto3.client("ecr", region_name="eu-west-1")
    with Stubber(client) as stub:
        stub.add_client_error(
            "describe_images",
            "AccessDeniedException",
            "not authorized to perform: ecr:DescribeImages",
            expected_params={"repositoryName": REPOSITORY, "imageIds": [{"imageDigest": DIGEST}]},
        )
        time = FakeTime()
        with pytest.raises(script.RegistryError, match=r"^eu-west-1: ecr describe-images failed"):
            script.wait_for_image(
                {"eu-west-1": client}, REPOSITORY, DIGEST, sleep=time.sleep, clock=time.clock
            )
        assert time.sleeps == []


@pytest.mark.parametrize("digest", ["latest", "sha256:ABC", "sha256:" + "0" * 63])
def test_refuses_what_is_not_a_digest(script: ModuleType, digest: str) -> None:
    with pytest.raises(ValueError, match="digest must be sha256"):
        script.wait_for_image({}, REPOSITORY, digest)
    assert script.main(["wait", "--environment", ENV, "--digest", digest]) == 2


def test_cli_waits_for_every_catalog_region(
    script: ModuleType, ecr: dict, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["wait", "--environment", ENV, "--digest", DIGEST, "--endpoint-url", aws_endpoint]
    for region in REGIONS[:-1]:
        _push(ecr[region])

    assert script.main([*arguments, "--timeout", "0"]) == 1
    error = capsys.readouterr().err
    assert f"missing in {REGIONS[-1]} (image not found)" in error

    _push(ecr[REGIONS[-1]])
    assert script.main(arguments) == 0
    assert f"{REPOSITORY}@{DIGEST} is in every region: {', '.join(REGIONS)}" in (
        capsys.readouterr().out
    )


def test_targets_are_the_primary_repository_of_each_deployed_environment(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert script.main(["targets", "--github-output", "images"]) == 0
    document = json.loads(output.read_text().removeprefix("images="))
    primary = load_catalog().primary.region
    assert document == {
        "include": [
            {"environment": env, "region": primary, "repository": f"inference-mesh/{env}/gateway"}
            for env in naming.ENVIRONMENTS
        ]
    }
    # Only environments with regional stack files are built.
    (tmp_path / "Pulumi.dev-eu-west-1.yaml").write_text("config: {}\n")
    (tmp_path / "Pulumi.prod-global.yaml").write_text("config: {}\n")
    only_dev = script.image_targets(load_catalog(), tmp_path)
    assert [e["environment"] for e in only_dev["include"]] == ["dev"]

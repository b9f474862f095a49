"""The Triton init container's model sync, run for real against the local moto server.

The script is the exact command and arguments of the rendered Deployment's init container
(``components.serving_plan.sync_script``), run under ``/bin/sh -ec`` (and bash, the AWS CLI
image's ``/bin/sh``) with ``MODEL_ROOT`` and ``TMPDIR`` pointed into the test's directory.
Versions are published, replicated and promoted with the registry's own code
(``model_artifacts.registry``), so the pointer and manifest it reads are the ones
``meshctl models`` writes.

The AWS CLI is not in the repository's pins, so ``aws`` on ``PATH`` is a stand-in written by
the test: the two commands the script runs (``s3api list-objects-v2 --query 'Contents[].Key'
--output text`` and ``s3 cp s3://... FILE --only-show-errors``), executed with boto3 against
moto, refusing any other invocation. Where a real ``aws`` is installed the same cases also run
with it, against the same moto server.

Proves: which version is chosen (pointer, else catalog), that exactly the manifest's files
land in the Triton model directory, and that a checksum or size mismatch, a missing manifest
or a failing listing exits non-zero before Triton could start. Does not prove the AWS CLI
image's tools behave like this machine's (both are coreutils, sed and a POSIX shell), nor EKS
Pod Identity credentials (moto accepts any).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components import serving_plan as plan
from components.serving import manifests
from model_artifacts.catalog import load_model_catalog
from model_artifacts.generate import model_bytes
from model_artifacts.registry import ArtifactStore, local
from model_artifacts.registry.layout import manifest_key, object_key, pointer_key
from model_artifacts.registry.pointer import promote, rollback
from model_artifacts.registry.publish import collect_model_directory, publish
from stacks import naming

ENV = "dev"
REGION = "eu-west-1"
MODEL = "resnet50-lite"
LITE_DIR = Path(__file__).resolve().parents[2] / "model_artifacts" / "repository" / MODEL
BUCKET = naming.artifact_bucket(ENV, REGION)
MODEL_FILE = "model.onnx"

STUB_AWS = '''#!{python}
"""Stand-in for the AWS CLI (tests/serving/test_model_sync.py): the model-sync script's two
commands, run with boto3 against $AWS_ENDPOINT_URL, with the CLI's output and exit codes."""
import os
import sys

import boto3
from botocore.exceptions import ClientError


def main(argv):
    with open(os.environ["AWS_STUB_LOG"], "a", encoding="utf-8") as log:
        log.write(" ".join(argv) + "\\n")
    s3 = boto3.client(
        "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"]
    )
    if argv[:2] == ["s3api", "list-objects-v2"]:
        options = dict(zip(argv[2::2], argv[3::2]))
        wanted = {{"--bucket", "--prefix", "--query", "--output"}}
        if len(argv) != 10 or set(options) != wanted or options["--query"] != "Contents[].Key" \\
                or options["--output"] != "text":
            return unsupported(argv)
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=options["--bucket"], Prefix=options["--prefix"]
            )
            lines = ["\\t".join(o["Key"] for o in page.get("Contents", [])) for page in pages]
        except ClientError as exc:
            error = exc.response["Error"]
            print(f"\\nAn error occurred ({{error['Code']}}) when calling the ListObjectsV2 "
                  f"operation: {{error.get('Message', '')}}", file=sys.stderr)
            return 254
        lines = [line for line in lines if line]
        print("\\n".join(lines) if lines else "None")
        return 0
    if argv[:2] == ["s3", "cp"] and len(argv) == 5 and argv[2].startswith("s3://") \\
            and argv[4] == "--only-show-errors":
        bucket, _, key = argv[2][len("s3://"):].partition("/")
        try:
            s3.download_file(bucket, key, argv[3])
        except ClientError as exc:
            error = exc.response["Error"]
            print(f"fatal error: An error occurred ({{error['Code']}}) when calling the "
                  f"HeadObject operation: {{error.get('Message', '')}}", file=sys.stderr)
            return 1
        return 0
    return unsupported(argv)


def unsupported(argv):
    print("aws stand-in: not a command the model-sync script runs: " + " ".join(argv),
          file=sys.stderr)
    return 2


sys.exit(main(sys.argv[1:]))
'''


def _real_aws() -> str | None:
    """A working AWS CLI on this machine, if any (never installed by the tests)."""
    found = shutil.which("aws")
    if found is None:
        return None
    try:
        result = subprocess.run(
            [found, "--version"], capture_output=True, timeout=60, check=False, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if result.returncode == 0 else None


REAL_AWS = _real_aws()
SHELLS = [s for s in ("/bin/sh", shutil.which("bash")) if s]


@dataclass(frozen=True)
class Runner:
    """Runs the rendered init container against moto with a chosen shell and AWS CLI."""

    endpoint: str
    root: Path
    shell: str
    aws_dir: Path | None
    """Directory holding the stand-in ``aws``; ``None`` runs the real CLI on ``PATH``."""

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def calls(self) -> list[str]:
        log = self.root / "aws-calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def run(self, container: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        command, args = container["command"], container["args"]
        assert command == ["/bin/sh", "-ec"]
        env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}}
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        env.update(
            MODEL_ROOT=str(self.models),
            TMPDIR=str(self.root / "tmp"),
            HOME=str(self.root / "tmp"),
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_STUB_LOG=str(self.root / "aws-calls.log"),
        )
        if self.aws_dir is not None:
            env["PATH"] = f"{self.aws_dir}{os.pathsep}{env['PATH']}"
        return subprocess.run(
            [self.shell, "-ec", *args],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _cases() -> list[Any]:
    cases = [pytest.param((shell, "stub"), id=f"{Path(shell).name}-stub-aws") for shell in SHELLS]
    cases.append(
        pytest.param(
            ("/bin/sh", "real"),
            id="sh-real-aws",
            marks=pytest.mark.skipif(REAL_AWS is None, reason="no AWS CLI on this machine"),
        )
    )
    return cases


def _runner(endpoint: str, tmp_path: Path, shell: str, cli: str) -> Runner:
    aws_dir = None
    if cli == "stub":
        aws_dir = tmp_path / "bin"
        aws_dir.mkdir()
        stub = aws_dir / "aws"
        stub.write_text(STUB_AWS.format(python=sys.executable), encoding="utf-8")
        stub.chmod(0o755)
    return Runner(endpoint, tmp_path / "pod", shell, aws_dir)


@pytest.fixture(params=_cases())
def runner(request: pytest.FixtureRequest, aws_endpoint: str, tmp_path: Path) -> Runner:
    """Every shell and CLI variant: for the cases serving depends on most."""
    shell, cli = request.param
    return _runner(aws_endpoint, tmp_path, shell, cli)


@pytest.fixture
def sh_runner(aws_endpoint: str, tmp_path: Path) -> Runner:
    """/bin/sh with the stand-in CLI: for the rarer refusals (the suite shares two cores)."""
    return _runner(aws_endpoint, tmp_path, "/bin/sh", "stub")


@pytest.fixture
def store(aws_endpoint: str) -> ArtifactStore:
    """Every region's artifact bucket on moto, as the stack creates them."""
    built = local.local_store(ENV, aws_endpoint)
    local.create_buckets(built)
    return built


def _region(store: ArtifactStore, region: str = REGION) -> Any:
    return next(t for t in store.regions if t.region == region)


def _lite_v2(tmp_path: Path) -> Path:
    """The committed lite model directory with version 2's weights (another seed)."""
    target = tmp_path / "v2" / MODEL
    (target / "2").mkdir(parents=True)
    shutil.copy(LITE_DIR / "config.pbtxt", target / "config.pbtxt")
    (target / "2" / MODEL_FILE).write_bytes(model_bytes(MODEL, 2))
    return target


def _publish(store: ArtifactStore, version: int, directory: Path) -> None:
    """Publish to the primary and replicate everywhere, as S3 replication would."""
    publish(store.primary, MODEL, version, collect_model_directory(directory, MODEL, version))
    local.replicate(store, MODEL, version)


def _init_container() -> dict[str, Any]:
    """The CPU Triton's init container exactly as the Deployment declares it."""
    model = load_model_catalog().get(MODEL)
    workload = manifests.triton_workload(
        gpu=False,
        model=model,
        bucket=BUCKET,
        region=REGION,
        resources=plan.PodResources("1", "2Gi"),
        placement=manifests.system_placement(),
        zones=3,
        replicas=3,
        startup_timeout_seconds=600,
    )
    spec = manifests.triton_deployment_spec(workload)["template"]["spec"]
    [container] = spec["initContainers"]
    return dict(container)


def _served(runner: Runner) -> dict[str, bytes]:
    root = runner.models / MODEL
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _fail_message(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


# -- which version ----------------------------------------------------------------------------
def test_the_pointer_names_the_version(
    runner: Runner, store: ArtifactStore, tmp_path: Path
) -> None:
    _publish(store, 1, LITE_DIR)
    _publish(store, 2, _lite_v2(tmp_path))
    promote(store, MODEL, 1)
    promote(store, MODEL, 2)

    result = runner.run(_init_container())

    assert result.returncode == 0, _fail_message(result)
    pointer = f"s3://{BUCKET}/{pointer_key(MODEL)}"
    assert f"model-sync: {MODEL}: serving version 2 from {pointer}" in result.stderr
    assert f"model-sync: {MODEL}: version 2 verified: 2 files match its manifest.json" in (
        result.stderr
    )
    served = _served(runner)
    # Exactly the version's files: no manifest, no other version for Triton to pick up.
    assert set(served) == {"config.pbtxt", f"2/{MODEL_FILE}"}
    assert served[f"2/{MODEL_FILE}"] == model_bytes(MODEL, 2)
    config = served["config.pbtxt"].decode()
    assert config.startswith((LITE_DIR / "config.pbtxt").read_text())
    assert config.rstrip().endswith("]")  # the warm-up, appended after the check
    assert "model_warmup [" in config


def test_a_rollback_is_served_on_the_next_start(
    sh_runner: Runner, store: ArtifactStore, tmp_path: Path
) -> None:
    runner = sh_runner
    _publish(store, 1, LITE_DIR)
    _publish(store, 2, _lite_v2(tmp_path))
    promote(store, MODEL, 1)
    promote(store, MODEL, 2)
    assert runner.run(_init_container()).returncode == 0
    assert f"2/{MODEL_FILE}" in _served(runner)

    rollback(store, MODEL)
    # The same pod volume, as when the init container runs again: the old version goes.
    result = runner.run(_init_container())

    assert result.returncode == 0, _fail_message(result)
    assert "serving version 1 from s3://" in result.stderr
    assert set(_served(runner)) == {"config.pbtxt", f"1/{MODEL_FILE}"}
    assert _served(runner)[f"1/{MODEL_FILE}"] == (LITE_DIR / "1" / MODEL_FILE).read_bytes()


def test_without_a_pointer_the_catalogs_active_version_is_served(
    runner: Runner, store: ArtifactStore
) -> None:
    _publish(store, 1, LITE_DIR)  # published, never promoted: a fresh environment
    assert load_model_catalog().get(MODEL).active == 1

    result = runner.run(_init_container())

    assert result.returncode == 0, _fail_message(result)
    assert (
        f"model-sync: {MODEL}: serving version 1 from the model catalog "
        f"(no s3://{BUCKET}/{pointer_key(MODEL)} yet: nothing promoted here)"
    ) in result.stderr
    assert set(_served(runner)) == {"config.pbtxt", f"1/{MODEL_FILE}"}
    assert _served(runner)[f"1/{MODEL_FILE}"] == (LITE_DIR / "1" / MODEL_FILE).read_bytes()


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        pytest.param(
            lambda data: bytes([data[0] ^ 0xFF]) + data[1:], "has sha256 ", id="same-size-corrupt"
        ),
        pytest.param(lambda data: data + b"\0", "bytes, manifest.json says", id="wrong-size"),
    ],
)
def test_a_file_that_does_not_match_the_manifest_stops_the_pod(
    runner: Runner, store: ArtifactStore, replacement: Any, expected: str
) -> None:
    _publish(store, 1, LITE_DIR)
    promote(store, MODEL, 1)
    target = _region(store)
    key = object_key(MODEL, 1, f"1/{MODEL_FILE}")
    original = target.s3.get_object(Bucket=target.bucket, Key=key)
    # A replica whose bytes differ, even with the publisher's sha256 metadata intact.
    target.s3.put_object(
        Bucket=target.bucket,
        Key=key,
        Body=replacement(original["Body"].read()),
        Metadata=original["Metadata"],
    )

    result = runner.run(_init_container())

    assert result.returncode != 0, _fail_message(result)
    assert expected in result.stderr
    assert "Triton does not start" in result.stderr


def test_a_version_without_its_manifest_stops_the_pod(
    runner: Runner, store: ArtifactStore, tmp_path: Path
) -> None:
    _publish(store, 1, LITE_DIR)
    promote(store, MODEL, 1)
    publish(store.primary, MODEL, 2, collect_model_directory(_lite_v2(tmp_path), MODEL, 2))
    # Version 2 still replicating: its files arrived in this region, its manifest did not.
    local.replicate(store, MODEL, 2, regions=[REGION], skip=[(REGION, "manifest.json")])
    target = _region(store)
    assert "Contents" not in target.s3.list_objects_v2(
        Bucket=target.bucket, Prefix=manifest_key(MODEL, 2)
    )
    # The region's pointer names it anyway (promote refuses this; a hand-edited pointer).
    document = target.s3.get_object(Bucket=target.bucket, Key=pointer_key(MODEL))["Body"].read()
    target.s3.put_object(
        Bucket=target.bucket,
        Key=pointer_key(MODEL),
        Body=document.replace(b'"active": 1', b'"active": 2'),
    )

    result = runner.run(_init_container())

    assert result.returncode != 0, _fail_message(result)
    assert (
        f"{MODEL} version 2 has no s3://{BUCKET}/{manifest_key(MODEL, 2)}: it is incomplete"
    ) in result.stderr
    assert not (runner.models / MODEL).exists()  # nothing copied for Triton to load
    if runner.aws_dir is not None:
        assert not [c for c in runner.calls if c.startswith("s3 cp") and "/2/" in c]


def test_a_failing_listing_is_never_taken_for_a_missing_pointer(runner: Runner) -> None:
    # No bucket at all (or no access): the catalog fallback is for "no pointer" only.
    result = runner.run(_init_container())

    assert result.returncode != 0, _fail_message(result)
    assert f"cannot list s3://{BUCKET}/{pointer_key(MODEL)}" in result.stderr
    assert "from the model catalog" not in result.stderr
    assert not (runner.models / MODEL).exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../escape", "lists an unsafe path: '../escape'"),
        ("/etc/passwd", "lists an unsafe path: '/etc/passwd'"),
    ],
)
def test_a_manifest_naming_files_outside_the_model_directory_is_refused(
    sh_runner: Runner, store: ArtifactStore, path: str, message: str
) -> None:
    runner = sh_runner
    _publish(store, 1, LITE_DIR)
    target = _region(store)
    key = manifest_key(MODEL, 1)
    manifest = target.s3.get_object(Bucket=target.bucket, Key=key)["Body"].read()
    target.s3.put_object(
        Bucket=target.bucket,
        Key=key,
        Body=manifest.replace(b'"config.pbtxt"', f'"{path}"'.encode()),
    )

    result = runner.run(_init_container())

    assert result.returncode != 0, _fail_message(result)
    assert message in result.stderr
    assert not (runner.root / "escape").exists()

"""``meshctl models`` end to end: argument parsing, exit codes and output, on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshctl.cli import main
from model_artifacts.registry import ArtifactStore, read_pointer
from tests.model_artifacts.conftest import ENV, LITE_DIR, MODEL, lite_version, replicate


def _meshctl(endpoint: str, *args: str) -> int:
    return main(["models", *args, "--env", ENV, "--endpoint-url", endpoint])


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def test_publish_status_promote_rollback(
    store: ArtifactStore, aws_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(LITE_DIR), "--json") == 0
    published = _json(capsys)
    assert (published["version"], published["bucket"]) == (1, store.primary.bucket)

    # Not replicated yet: status exits 1 and names every other region.
    assert _meshctl(aws_endpoint, "status", MODEL, "1", "--json") == 1
    regions = {r["region"]: r for r in _json(capsys)["versions"][0]["regions"]}
    assert regions["us-east-1"]["complete"]
    assert not regions["eu-west-1"]["present"]
    assert regions["eu-west-1"]["behind_seconds"] is not None

    assert _meshctl(aws_endpoint, "promote", MODEL, "1") == 1
    assert "promote refused" in capsys.readouterr().err

    replicate(store, MODEL, 1)
    assert _meshctl(aws_endpoint, "status", MODEL, "1") == 0
    assert "complete in every region" in capsys.readouterr().out
    assert _meshctl(aws_endpoint, "promote", MODEL, "1") == 0
    promoted = capsys.readouterr().out
    assert "active version 1 (previous none)" in promoted
    # Triton reads the pointer at pod start: the output says how to roll it out, per region
    # (the lite model is the CPU fallback, served by triton-cpu).
    for target in store.regions:
        assert (
            f"  kubectl --context inference-mesh-{ENV}-{target.region} --namespace inference "
            "rollout restart deployment/triton-cpu"
        ) in promoted.splitlines()

    v2 = lite_version(tmp_path, 2, seed=2)
    assert _meshctl(aws_endpoint, "publish", MODEL, "2", str(v2)) == 0
    captured = capsys.readouterr()
    assert "not in the model catalog; add it to models.yaml (sha256: " in captured.err
    replicate(store, MODEL, 2)
    assert _meshctl(aws_endpoint, "promote", MODEL, "2", "--json") == 0
    document = _json(capsys)
    assert document["previous"] == 1
    assert set(document["rollout"]) == {t.region for t in store.regions}
    assert document["rollout"]["eu-west-1"].endswith("rollout restart deployment/triton-cpu")
    assert _meshctl(aws_endpoint, "rollback", MODEL) == 0
    assert "rolled back resnet50-lite: active version 1" in capsys.readouterr().out
    assert all(read_pointer(t, MODEL).active == 1 for t in store.regions)  # type: ignore[union-attr]

    assert _meshctl(aws_endpoint, "status", MODEL, "--json") == 0
    overview = _json(capsys)
    assert [v["version"] for v in overview["versions"]] == [1, 2]
    assert set(overview["active"].values()) == {1}


def test_refusals_exit_1_with_the_reason(
    store: ArtifactStore, aws_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(LITE_DIR)) == 0
    capsys.readouterr()
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(LITE_DIR)) == 1
    assert "already published" in capsys.readouterr().err
    # Version 1 is in the catalog: other bytes under that number are refused before upload.
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(lite_version(tmp_path, 1, 3))) == 1
    assert "the model catalog records" in capsys.readouterr().err
    assert _meshctl(aws_endpoint, "rollback", MODEL) == 1
    assert "nothing to roll back to" in capsys.readouterr().err


def test_bad_input_exits_2(
    store: ArtifactStore, aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meshctl(aws_endpoint, "status", "bert") == 2
    assert "'bert' is not in the catalog" in capsys.readouterr().err


def test_missing_buckets_are_reported_not_raised(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(LITE_DIR)) == 2
    assert "inference-mesh-dev-us-east-1-models/ does not exist" in capsys.readouterr().err


def test_local_helpers_refuse_remote_endpoints() -> None:
    from model_artifacts.registry.local import local_store

    with pytest.raises(ValueError, match="must be a local moto server"):
        local_store(ENV, "https://s3.eu-west-1.amazonaws.com")


def test_local_helpers_cli(aws_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    from model_artifacts.registry.local import main as local_main

    assert local_main(["create-buckets", "--endpoint-url", aws_endpoint]) == 0
    assert _meshctl(aws_endpoint, "publish", MODEL, "1", str(LITE_DIR)) == 0
    assert (
        local_main(
            [
                "replicate",
                MODEL,
                "1",
                "--endpoint-url",
                aws_endpoint,
                "--skip",
                "eu-west-1:config.pbtxt",
            ]
        )
        == 0
    )
    assert "copied 14 objects" in capsys.readouterr().out  # 5 regions x 3 objects, one skipped
    assert _meshctl(aws_endpoint, "promote", MODEL, "1") == 1
    assert "not complete in eu-west-1 (eu-west-1: missing config.pbtxt)" in capsys.readouterr().err


def test_an_invalid_model_catalog_exits_2_naming_the_field(
    aws_endpoint: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "models.yaml"
    broken.write_text("models: {resnet50-lite: {format: keras}}\n", encoding="utf-8")
    assert _meshctl(aws_endpoint, "status", MODEL, "--models", str(broken)) == 2
    assert f"{broken}: field 'models.resnet50-lite." in capsys.readouterr().err

"""The pack as the engine loads it: ``python -m pulumi.policy`` runs ``policies/`` with
``runpy.run_path``, the pack directory first on ``sys.path``. ``PolicyPack`` would start a
server and never return, so the subprocess swaps in a recorder first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from policies import ALL
from tests.conftest import REPO_ROOT

PACK_DIR = REPO_ROOT / "policies"

_LOADER = """
import importlib.util, json, runpy, sys
import pulumi_policy
seen = {}
class Recorder:
    def __init__(self, **kwargs):
        seen.update(kwargs)
pulumi_policy.PolicyPack = Recorder
runpy.run_path(".", run_name="__main__")
print(json.dumps({
    "name": seen["name"],
    "policies": [p.name for p in seen["policies"]],
    "level": seen["enforcement_level"].value,
    "logging": importlib.util.find_spec("logging").origin,
    "path": sys.path,
}))
"""


def test_the_engine_can_load_the_pack_from_its_directory() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", _LOADER],
        cwd=PACK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["name"] == "inference-mesh"
    assert loaded["policies"] == [p.name for p in ALL]
    assert loaded["level"] == "mandatory"
    # No module of the pack directory may stand in for the standard library's.
    assert not loaded["logging"].startswith(str(PACK_DIR))
    assert str(PACK_DIR) not in loaded["path"]
    assert str(REPO_ROOT) == loaded["path"][0]


def test_main_only_builds_the_pack() -> None:
    source = (PACK_DIR / "__main__.py").read_text()
    assert source.count("PolicyPack(") == 1
    assert "def " not in source
    assert "class " not in source


def test_policy_project_file() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert (PACK_DIR / project["runtime"]["options"]["virtualenv"]).resolve() == REPO_ROOT / ".venv"
    assert project["version"].count(".") == 2


def _pins(path: str) -> dict[str, str]:
    lines = (REPO_ROOT / path).read_text().splitlines()
    pairs = [line.split("#", 1)[0].strip().split("==") for line in lines]
    return {name.lower(): version for name, version in (p for p in pairs if len(p) == 2)}


def test_pack_requirements_match_the_repository_pins() -> None:
    pack, repo = _pins("policies/requirements.txt"), _pins("requirements.txt")
    assert {"pulumi-policy", "pyyaml"} <= set(pack)
    assert all(repo[name] == version for name, version in pack.items())

"""A real deployment refuses the shipped placeholders; rehearsals accept them.

The shipped stack files carry the all-zero gateway digest and a certificate ARN with an
all-zero id so ``meshctl plan``, previews and tests run offline. ``stacks/engine.py`` tells a
real ``pulumi up`` (not a preview, not Pulumi's mock engine) from those rehearsals, and the
regional program checks before it declares anything.

Proves the decision and that it comes before any resource; a real engine is simulated by
answering ``under_mock_engine`` with False (no Pulumi CLI here).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from meshctl.plan_engine import load_stack_config
from stacks import engine
from stacks.regional import DEPLOY_CHECKS, regional_program
from stacks.settings import RegionalSettings, StackConfigError, parse_settings
from tests.harness import Recording, run_pulumi

STACK = "prod-eu-west-1"
REAL_DIGEST = "sha256:" + "ab" * 32
REAL_CERTIFICATE = (
    "arn:aws:acm:eu-west-1:123456789012:certificate/3f1c2a9e-5b7d-4c1e-9a2b-7d6e5f4a3b2c"
)


def _raw(**changes: Any) -> dict[str, Any]:
    raw = load_stack_config(STACK)
    for key, value in changes.items():
        if key == "certificate":
            raw["inference-mesh:ingress"] = {
                **raw["inference-mesh:ingress"],
                "certificateArn": value,
            }
        elif key == "digest":
            raw["inference-mesh:gatewayImageDigest"] = value
    return raw


def _settings(raw: dict[str, Any]) -> RegionalSettings:
    settings = parse_settings(STACK, raw)
    assert isinstance(settings, RegionalSettings)
    return settings


def _refused(raw: dict[str, Any]) -> tuple[str, Recording]:
    """Runs the regional program as a real deployment would; returns its error."""
    caught: list[str] = []

    def program() -> None:
        with pytest.raises(StackConfigError) as raised:
            regional_program(_settings(raw))
        caught.append(str(raised.value))

    recording = run_pulumi(program, stack=STACK)
    return caught[0], recording


def test_the_mock_engine_is_a_rehearsal() -> None:
    seen: list[tuple[bool, bool, bool]] = []

    def program() -> None:
        seen.append(
            (engine.under_mock_engine(), pulumi.runtime.is_dry_run(), engine.is_real_deployment())
        )

    run_pulumi(program, stack=STACK)
    assert seen == [(True, False, False)]


def test_a_real_engine_outside_a_preview_is_a_real_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pulumi.runtime.settings, "get_monitor", object)
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    assert not engine.under_mock_engine()
    assert engine.is_real_deployment()
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)  # pulumi preview
    assert not engine.is_real_deployment()


def test_shipped_placeholders_plan_in_the_mock_engine() -> None:
    # What meshctl plan and every test do: no refusal, the gateway runs the placeholder.
    recording = run_pulumi(lambda: regional_program(_settings(_raw())), stack=STACK)
    assert recording.resources
    listener = recording.one("aws:lb/listener:Listener")
    assert listener.props["certificateArn"].endswith("00000000-0000-0000-0000-000000000000")


def test_a_real_deployment_refuses_the_placeholder_digest_before_any_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "under_mock_engine", lambda: False)
    message, recording = _refused(_raw(certificate=REAL_CERTIFICATE))
    assert message.startswith(
        f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:serving.gatewayImageDigest'"
    )
    assert "set inference-mesh:gatewayImageDigest to the digest CI pushed" in message
    assert recording.resources == []


def test_a_real_deployment_refuses_the_placeholder_certificate_before_any_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine, "under_mock_engine", lambda: False)
    message, recording = _refused(_raw(digest=REAL_DIGEST))
    assert message.startswith(
        f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:ingress.certificateArn'"
    )
    assert "set inference-mesh:ingress.certificateArn to your ACM certificate" in message
    assert recording.resources == []


def test_a_real_deployment_with_real_values_proceeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "under_mock_engine", lambda: False)
    raw = _raw(digest=REAL_DIGEST, certificate=REAL_CERTIFICATE)
    for check in DEPLOY_CHECKS:
        check(_settings(raw))
    recording = run_pulumi(lambda: regional_program(_settings(raw)), stack=STACK)
    [gateway] = [
        r
        for r in recording.of_type("kubernetes:apps/v1:Deployment")
        if r.props["metadata"]["name"] == "inference-gateway"
    ]
    [container] = gateway.props["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith(f"/inference-mesh/prod/gateway@{REAL_DIGEST}")
    listener = recording.one("aws:lb/listener:Listener")
    assert listener.props["certificateArn"] == REAL_CERTIFICATE

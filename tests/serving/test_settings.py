"""``inference-mesh:serving`` parsing (stacks/serving.py): every shipped stack parses, and bad
values fail naming the stack file, the field and what was expected."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from components.serving_plan import PodResources, QueueScaling
from meshctl.plan_engine import discover_stacks, is_global, load_stack_config
from stacks.serving import (
    PLACEHOLDER_DIGEST,
    _check_sizes,
    check_deployable_digest,
    gateway_image_digest,
    parse_serving_settings,
)
from stacks.settings import CONFIG_KEYS, RegionalSettings, StackConfigError, parse_settings
from tests.serving.support import stack_inputs

STACK = "prod-eu-west-1"
JURISDICTIONS = {"EU", "US", "JP", "SG"}
BUDGET_MS = 130.0


def _shipped(stack: str = STACK) -> dict[str, Any]:
    return copy.deepcopy(load_stack_config(stack)["inference-mesh:serving"])


@pytest.mark.parametrize("stack", [s for s in discover_stacks() if not is_global(s)])
def test_shipped_stacks_parse(stack: str) -> None:
    settings = parse_serving_settings(stack, _shipped(stack), JURISDICTIONS, BUDGET_MS)
    assert settings.gateway_image_digest.startswith("sha256:")
    assert set(settings.home_endpoints) == JURISDICTIONS
    assert settings.gateway.auth.algorithm in ("EdDSA", "ES256")


def test_dev_and_prod_differ_in_size_only() -> None:
    dev = parse_serving_settings("dev-eu-west-1", _shipped("dev-eu-west-1"), JURISDICTIONS, 130)
    prod = parse_serving_settings(STACK, _shipped(), JURISDICTIONS, 130)
    assert dev.gateway.auth == prod.gateway.auth
    assert dev.gateway_image_digest == prod.gateway_image_digest
    assert (dev.gateway.slo_ms, dev.gateway.gpu, dev.gateway.cpu) == (
        prod.gateway.slo_ms,
        prod.gateway.gpu,
        prod.gateway.cpu,
    )
    assert dev.queue_duration_threshold_ms == prod.queue_duration_threshold_ms


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "expected"),
    [
        ("gatewayImageDigest", "v1.2.3", "gatewayImageDigest", "a tag is refused"),
        ("gatewayImageDigest", "latest", "gatewayImageDigest", "a tag is refused"),
        ("gatewayImageDigest", "sha256:ABC", "gatewayImageDigest", "sha256:<64 lowercase hex>"),
        ("gatewayImageDigest", _DELETE, "gatewayImageDigest", "an image digest"),
        ("homeEndpoints.SG", _DELETE, "homeEndpoints", "missing ['SG']"),
        ("homeEndpoints.EU", "http://eu.example.com", "homeEndpoints.EU", "an https:// URL"),
        ("gateway.auth.algorithm", "HS256", "gateway.auth.algorithm", "one of ['EdDSA', 'ES256']"),
        ("gateway.auth.publicKeyPem", "secret", "gateway.auth.publicKeyPem", "a PEM public key"),
        ("gateway.auth", _DELETE, "gateway.auth", "a mapping"),
        ("gateway.sloMs", 500, "gateway.sloMs", "at most 130.0"),
        ("gateway.cpu", "2 cores", "gateway.cpu", "cpu must be a quantity"),
        ("gateway.colour", "blue", "gateway.colour", "one of ["),
        ("triton.memory", "8G", "triton.memory", "memory must be a quantity"),
        ("cpuTriton.replicas", 0, "cpuTriton.replicas", "a whole number from 1 to 100"),
        (
            "autoscaling.queueDurationThresholdMs",
            200,
            "autoscaling.queueDurationThresholdMs",
            "at most 130.0",
        ),
        ("prometheus.retention", "forever", "prometheus.retention", "a Prometheus duration"),
        ("minReplicas", 3, "minReplicas", "one of ["),
    ],
)
def test_bad_values_name_the_file_and_field(
    path: str, value: Any, field: str, expected: str
) -> None:
    data = _shipped()
    _set(data, path, value)
    with pytest.raises(StackConfigError) as raised:
        parse_serving_settings(STACK, data, JURISDICTIONS, BUDGET_MS)
    message = str(raised.value)
    assert message.startswith(f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:serving.{field}'")
    assert expected in message


def test_replica_bounds_are_not_configurable() -> None:
    # They come from the capacity plan only: a stack file cannot carry its own copy.
    data = _shipped()
    data["autoscaling"]["maxReplicas"] = 10
    with pytest.raises(StackConfigError, match=r"autoscaling\.maxReplicas"):
        parse_serving_settings(STACK, data, JURISDICTIONS, BUDGET_MS)


def test_optional_sections_take_documented_defaults() -> None:
    data = _shipped()
    for key in ("triton", "cpuTriton", "autoscaling", "prometheus"):
        del data[key]
    settings = parse_serving_settings(STACK, data, JURISDICTIONS, BUDGET_MS)
    assert settings.startup_timeout_seconds == 600
    assert settings.cpu_replicas == 3
    assert settings.polling_interval_seconds == 15
    assert settings.prometheus_retention == "2d"


def test_plan_and_node_dependent_checks_name_the_stack_field() -> None:
    inputs = stack_inputs(STACK)
    region = inputs.region_plan
    scaling = QueueScaling(
        region.min_replicas, region.max_replicas, region.queue_target_per_replica, 20, 15, 300, 300
    )
    types = ("g5.xlarge",)
    _check_sizes(inputs.settings, inputs.serving, inputs.model, scaling, 130, types, "m7i.xlarge")
    big = dataclasses.replace(inputs.serving, triton_gpu=PodResources("4", "8Gi"))
    with pytest.raises(
        StackConfigError, match=r"'inference-mesh:serving\.triton': expected Triton"
    ):
        _check_sizes(inputs.settings, big, inputs.model, scaling, 130, types, "m7i.xlarge")
    slow = dataclasses.replace(scaling, queue_duration_threshold_ms=1.0)
    with pytest.raises(StackConfigError, match=r"serving\.autoscaling': expected queue duration"):
        _check_sizes(inputs.settings, inputs.serving, inputs.model, slow, 130, types, "m7i.xlarge")


# -- the image digest CI sets -------------------------------------------------------------
REAL_DIGEST = "sha256:" + "ab" * 32


def test_ci_digest_overrides_the_stack_files() -> None:
    data = _shipped()
    assert data["gatewayImageDigest"] == PLACEHOLDER_DIGEST
    settings = parse_serving_settings(
        STACK, data, JURISDICTIONS, BUDGET_MS, digest_override=REAL_DIGEST
    )
    assert settings.gateway_image_digest == REAL_DIGEST
    fallback = parse_serving_settings(STACK, data, JURISDICTIONS, BUDGET_MS)
    assert fallback.gateway_image_digest == PLACEHOLDER_DIGEST


@pytest.mark.parametrize("value", ["latest", "v1.2.3", "sha256:ABC", "", 42])
def test_ci_digest_is_validated_like_the_stack_files(value: Any) -> None:
    with pytest.raises(StackConfigError) as raised:
        parse_serving_settings(STACK, _shipped(), JURISDICTIONS, BUDGET_MS, digest_override=value)
    message = str(raised.value)
    assert message.startswith(
        f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:gatewayImageDigest': expected an "
        "image digest sha256:<64 lowercase hex> (a tag is refused"
    )


def test_the_digest_key_is_a_stack_config_key_ci_can_set() -> None:
    # meshctl plan refuses unknown keys; `pulumi config set` writes top-level ones.
    raw = load_stack_config(STACK)
    raw["inference-mesh:gatewayImageDigest"] = REAL_DIGEST
    settings = parse_settings(STACK, raw)
    assert isinstance(settings, RegionalSettings)
    assert gateway_image_digest(settings) == (REAL_DIGEST, "inference-mesh:gatewayImageDigest")
    assert "gatewayImageDigest" in CONFIG_KEYS
    del raw["inference-mesh:gatewayImageDigest"]
    shipped = parse_settings(STACK, raw)
    assert isinstance(shipped, RegionalSettings)
    assert gateway_image_digest(shipped) == (
        PLACEHOLDER_DIGEST,
        "inference-mesh:serving.gatewayImageDigest",
    )


def test_the_placeholder_digest_is_refused_for_a_real_deployment() -> None:
    check_deployable_digest(STACK, REAL_DIGEST, "inference-mesh:gatewayImageDigest")
    for key in ("inference-mesh:serving.gatewayImageDigest", "inference-mesh:gatewayImageDigest"):
        with pytest.raises(StackConfigError) as raised:
            check_deployable_digest(STACK, PLACEHOLDER_DIGEST, key)
        message = str(raised.value)
        assert message.startswith(f"stacks/Pulumi.{STACK}.yaml: field '{key}': expected")
        assert "set inference-mesh:gatewayImageDigest to the digest CI pushed" in message

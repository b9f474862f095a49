"""``inference-mesh:ingress`` parsing (stacks/ingress.py) and the component's own argument
checks: shipped stacks parse; bad values fail naming the file, the field and what was
expected, before any resource exists."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from components.ingress import HealthCheck, Scheme, certificate_region, health_check_error
from meshctl.plan_engine import discover_stacks, is_global, load_stack_config
from stacks.ingress import (
    _check_draining,
    access_log_bucket,
    check_deployable_certificate,
    load_balancer_name,
    parse_ingress_settings,
)
from stacks.settings import RegionalSettings, StackConfigError, parse_settings

STACK = "prod-eu-west-1"
REGIONAL = [s for s in discover_stacks() if not is_global(s)]


def _shipped(stack: str = STACK) -> dict[str, Any]:
    return copy.deepcopy(load_stack_config(stack)["inference-mesh:ingress"])


@pytest.mark.parametrize("stack", REGIONAL)
def test_shipped_stacks_parse_with_a_certificate_of_their_region(stack: str) -> None:
    region = stack.split("-", 1)[1]
    settings = parse_ingress_settings(stack, region, _shipped(stack))
    assert certificate_region(settings.certificate_arn) == region
    assert settings.scheme is Scheme.INTERNAL
    assert settings.health_check.path == "/v2/health/ready"
    assert len(load_balancer_name(*stack.split("-", 1))) <= 32
    assert len(access_log_bucket(*stack.split("-", 1))) <= 63


def test_health_checks_come_from_config() -> None:
    data = _shipped()
    data["healthCheck"] = {"intervalSeconds": 30, "timeoutSeconds": 10, "healthyThreshold": 2}
    check = parse_ingress_settings(STACK, "eu-west-1", data).health_check
    assert (check.interval_seconds, check.timeout_seconds, check.healthy_threshold) == (30, 10, 2)
    assert check.unhealthy_threshold == 3  # the documented default


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "certificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 36,
            "in eu-west-1",
        ),
        ("certificateArn", "my-certificate", "an ACM certificate ARN"),
        ("certificateArn", None, "an ACM certificate ARN"),
        ("scheme", "public", "one of ['internal', 'internet-facing']"),
        ("accessLogRetentionDays", 0, "a whole number from 1 to 3650"),
        ("deregistrationDelaySeconds", 7200, "a whole number from 0 to 3600"),
        ("healthCheck", {"intervalSeconds": 10, "timeoutSeconds": 10}, "below the interval"),
        ("healthCheck", {"intervalSeconds": 3}, "interval_seconds must be 5 to 300"),
        ("healthCheck", {"healthyThreshold": 11}, "healthy_threshold must be 2 to 10"),
        ("healthCheck", {"path": "/"}, "one of ["),
        ("listenerPort", 8443, "one of ["),
    ],
)
def test_bad_values_name_the_file_and_field(field: str, value: Any, expected: str) -> None:
    data = _shipped()
    if value is None:
        del data[field]
    else:
        data[field] = value
    with pytest.raises(StackConfigError) as raised:
        parse_ingress_settings(STACK, "eu-west-1", data)
    message = str(raised.value)
    assert message.startswith(f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:ingress.{field}")
    assert expected in message


def test_draining_must_fit_the_gateways_termination_grace() -> None:
    settings = parse_settings(STACK, load_stack_config(STACK))
    assert isinstance(settings, RegionalSettings)
    config = parse_ingress_settings(STACK, "eu-west-1", _shipped())
    _check_draining(settings, config, 60)
    too_long = dataclasses.replace(config, deregistration_delay_seconds=50)
    with pytest.raises(StackConfigError, match="deregistrationDelaySeconds': expected at most 45"):
        _check_draining(settings, too_long, 60)


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (HealthCheck("/v2/health/ready"), None),
        (HealthCheck("v2/health/ready"), "path must start with '/'"),
        (HealthCheck("/r", interval_seconds=301), "interval_seconds"),
        (HealthCheck("/r", timeout_seconds=1), "timeout_seconds"),
        (HealthCheck("/r", unhealthy_threshold=1), "unhealthy_threshold"),
    ],
)
def test_health_check_limits(check: HealthCheck, problem: str | None) -> None:
    error = health_check_error(check)
    assert (error is None) if problem is None else (problem in str(error))


def _args(**changes: Any) -> Any:
    from components.ingress import GatewayBackend, RegionalIngressArgs

    args = RegionalIngressArgs(
        name="imesh-prod-eu-west-1",
        log_bucket_name="inference-mesh-prod-eu-west-1-lb-logs",
        region="eu-west-1",
        account_id="123456789012",
        vpc_id="vpc-1",
        private_subnet_ids=["subnet-1"],
        public_subnet_ids=["subnet-2"],
        node_security_group_id="sg-1",
        cluster_name="inference-mesh-prod-eu-west-1",
        k8s_provider=None,  # type: ignore[arg-type]  # validation never touches it
        backend=GatewayBackend("inference", "inference-gateway", 8000),
        certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/" + "0" * 36,
        health_check=HealthCheck("/v2/health/ready"),
        personal_tags={"data-classification": "personal", "jurisdiction": "EU"},
    )
    return dataclasses.replace(args, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "inference-mesh-prod-ap-northeast-1"}, "name must be 1-32"),
        (
            {"certificate_arn": "arn:aws:acm:eu-central-1:123456789012:certificate/" + "0" * 36},
            "ACM certificate ARN in eu-west-1",
        ),
        ({"personal_tags": {"jurisdiction": "EU"}}, "data-classification=personal"),
        ({"deregistration_delay_seconds": -1}, "0 to 3600"),
        ({"health_check": HealthCheck("/r", timeout_seconds=20)}, "health_check: timeout"),
    ],
)
def test_component_refuses_bad_args_before_any_resource(
    changes: dict[str, Any], message: str
) -> None:
    from components.ingress import validate_args

    validate_args(_args())
    with pytest.raises(ValueError, match=message):
        validate_args(_args(**changes))


# -- the placeholder certificate ------------------------------------------------------------
REAL_CERTIFICATE = (
    "arn:aws:acm:eu-west-1:123456789012:certificate/3f1c2a9e-5b7d-4c1e-9a2b-7d6e5f4a3b2c"
)


@pytest.mark.parametrize("stack", REGIONAL)
def test_shipped_stacks_carry_the_placeholder_certificate(stack: str) -> None:
    # They plan offline and preview with it; a real deployment refuses it (below).
    with pytest.raises(StackConfigError):
        check_deployable_certificate(stack, _shipped(stack)["certificateArn"])


def test_the_placeholder_certificate_is_refused_for_a_real_deployment() -> None:
    check_deployable_certificate(STACK, REAL_CERTIFICATE)
    with pytest.raises(StackConfigError) as raised:
        check_deployable_certificate(STACK, _shipped()["certificateArn"])
    message = str(raised.value)
    assert message.startswith(
        f"stacks/Pulumi.{STACK}.yaml: field 'inference-mesh:ingress.certificateArn': expected"
    )
    assert "set inference-mesh:ingress.certificateArn to your ACM certificate" in message

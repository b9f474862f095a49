"""The ``ingress`` concern of a regional stack: reads ``inference-mesh:ingress`` and builds the
region's entry point (``components.ingress.RegionalIngress``) in front of the gateway.

Config (stack file, under ``config:``)::

    inference-mesh:ingress:
      certificateArn: arn:aws:acm:<region>:<account>:certificate/<id>   # required
      scheme: internal              # or internet-facing; internal unless told otherwise
      accessLogRetentionDays: 30
      deregistrationDelaySeconds: 30
      healthCheck: {intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 3,
                    unhealthyThreshold: 3}

The certificate is issued outside this repository (ACM, in the stack's region, for the
jurisdiction's DNS name); the shipped stack files carry a placeholder ARN of the right shape
(certificate id all zeros) for the offline plan and previews, which a real deployment
refuses before declaring anything (``refuse_placeholders``). The health check's path is not
configurable: it is the gateway's readiness endpoint.

Exports (key ``ingress``): ``nlbArn`` (the global stack's accelerator reads it by
StackReference), ``nlbDnsName``, ``targetGroupArn``, ``listenerArn``, ``healthCheckPath`` and
a few more for operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components import serving_plan as plan
from components.ingress import HealthCheck, Scheme, certificate_region, health_check_error
from components.serving.manifests import GATEWAY_NAME, PRE_STOP_SECONDS
from components.serving.manifests import NAMESPACE as SERVING_NAMESPACE
from stacks import naming
from stacks.settings import NAMESPACE, RegionalSettings, StackConfigError, config_object

if TYPE_CHECKING:
    from components.ingress import RegionalIngressArgs
    from stacks.context import RegionalContext

CONFIG_KEY = "ingress"
KEY = f"{NAMESPACE}:{CONFIG_KEY}"
_FIELDS = {
    "certificateArn",
    "scheme",
    "accessLogRetentionDays",
    "deregistrationDelaySeconds",
    "healthCheck",
}
_PLACEHOLDER_CERTIFICATE = re.compile(r":certificate/0{8}-0{4}-0{4}-0{4}-0{12}$")
"""The shipped stack files' certificate id (the nil UUID): ACM never issues it."""
_HEALTH = {
    "intervalSeconds": "interval_seconds",
    "timeoutSeconds": "timeout_seconds",
    "healthyThreshold": "healthy_threshold",
    "unhealthyThreshold": "unhealthy_threshold",
}


@dataclass(frozen=True)
class IngressSettings:
    certificate_arn: str
    scheme: Scheme
    access_log_retention_days: int
    deregistration_delay_seconds: int
    health_check: HealthCheck


def parse_ingress_settings(stack: str, region: str, data: Any) -> IngressSettings:
    """``data`` is the ``inference-mesh:ingress`` mapping of a stack in ``region``."""
    if not isinstance(data, dict):
        raise StackConfigError(stack, KEY, "a mapping", data)
    for unknown in sorted(set(data) - _FIELDS):
        raise StackConfigError(stack, f"{KEY}.{unknown}", f"one of {sorted(_FIELDS)}")
    certificate = data.get("certificateArn")
    if not isinstance(certificate, str) or certificate_region(certificate) != region:
        raise StackConfigError(
            stack,
            f"{KEY}.certificateArn",
            f"an ACM certificate ARN in {region} (arn:aws:acm:{region}:<account>:"
            "certificate/<uuid>), issued outside this repository",
            certificate,
        )
    scheme = data.get("scheme", Scheme.INTERNAL.value)
    if scheme not in {s.value for s in Scheme}:
        raise StackConfigError(
            stack, f"{KEY}.scheme", f"one of {[s.value for s in Scheme]}", scheme
        )
    return IngressSettings(
        certificate_arn=certificate,
        scheme=Scheme(scheme),
        access_log_retention_days=_whole(stack, data, "accessLogRetentionDays", 1, 3650, 30),
        deregistration_delay_seconds=_whole(stack, data, "deregistrationDelaySeconds", 0, 3600, 30),
        health_check=_health_check(stack, data.get("healthCheck", {})),
    )


def _whole(stack: str, data: dict[str, Any], key: str, low: int, high: int, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StackConfigError(stack, f"{KEY}.{key}", f"a whole number from {low} to {high}", value)
    return value


def _health_check(stack: str, data: Any) -> HealthCheck:
    where = f"{KEY}.healthCheck"
    if not isinstance(data, dict):
        raise StackConfigError(stack, where, "a mapping", data)
    for unknown in sorted(set(data) - set(_HEALTH)):
        raise StackConfigError(stack, f"{where}.{unknown}", f"one of {sorted(_HEALTH)}")
    values: dict[str, int] = {}
    for name, attribute in _HEALTH.items():
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise StackConfigError(stack, f"{where}.{name}", "a whole number", value)
            values[attribute] = value
    check = HealthCheck(path=plan.READY_PATH, **values)
    error = health_check_error(check)
    if error:
        raise StackConfigError(stack, where, f"NLB health check limits: {error}", data)
    return check


def ingress_settings(settings: RegionalSettings) -> IngressSettings:
    return parse_ingress_settings(
        settings.stack, settings.region.region, config_object(settings, CONFIG_KEY)
    )


def check_deployable_certificate(stack: str, certificate_arn: str) -> None:
    """Raises unless the certificate ARN is a real one: the placeholder only plans."""
    if _PLACEHOLDER_CERTIFICATE.search(certificate_arn):
        raise StackConfigError(
            stack,
            f"{KEY}.certificateArn",
            f"your ACM certificate: the all-zero certificate id is the offline plan's "
            f"placeholder; set {KEY}.certificateArn to your ACM certificate (issued in the "
            "stack's region for the jurisdiction's DNS name)",
            certificate_arn,
        )


def refuse_placeholders(settings: RegionalSettings) -> None:
    """In a real deployment (not a preview, not the mock engine), refuse the placeholder
    certificate before any resource is declared."""
    from stacks import engine  # noqa: PLC0415 (imports the Pulumi SDK)

    if engine.is_real_deployment():
        check_deployable_certificate(settings.stack, ingress_settings(settings).certificate_arn)


def load_balancer_name(environment: str, region: str) -> str:
    """``imesh-prod-ap-northeast-1``: NLB and target group names are limited to 32
    characters, which ``inference-mesh-<env>-<region>`` exceeds."""
    return f"imesh-{environment}-{region}"


def access_log_bucket(environment: str, region: str) -> str:
    return f"{naming.prefix(environment, region)}-lb-logs"


# -- the builder ---------------------------------------------------------------------------
def build(ctx: RegionalContext) -> dict[str, Any]:
    """Declares the region's NLB in front of the gateway; returns its exports."""
    from components.ingress import RegionalIngress  # noqa: PLC0415 (SDK-heavy)

    ingress = RegionalIngress("ingress", ingress_args(ctx), opts=ctx.opts)
    ctx.built["ingress"] = ingress
    return ingress.exports()


def ingress_args(ctx: RegionalContext) -> RegionalIngressArgs:
    from components.ingress import GatewayBackend, RegionalIngressArgs  # noqa: PLC0415
    from stacks.regional import personal_data_tags  # noqa: PLC0415 (it imports us)

    settings, spec = ctx.settings, ctx.settings.region
    for concern in ("cluster", "serving"):
        if concern not in ctx.built:
            raise RuntimeError(
                f"ingress needs the {concern!r} builder to run before it (stacks/regional.py "
                "REGIONAL_BUILDERS)"
            )
    cluster, serving = ctx.built["cluster"], ctx.built["serving"]
    config = ingress_settings(settings)
    _check_draining(settings, config, serving.gateway_termination_grace_seconds)
    return RegionalIngressArgs(
        name=load_balancer_name(settings.environment, spec.region),
        log_bucket_name=access_log_bucket(settings.environment, spec.region),
        region=spec.region,
        account_id=ctx.account_id,
        vpc_id=ctx.network.vpc_id,
        private_subnet_ids=ctx.network.private_subnet_ids,
        public_subnet_ids=ctx.network.public_subnet_ids,
        node_security_group_id=cluster.node_security_group.id,
        cluster_name=cluster.cluster.name,
        k8s_provider=cluster.k8s_provider,
        backend=GatewayBackend(SERVING_NAMESPACE, GATEWAY_NAME, plan.GATEWAY_PORT),
        certificate_arn=config.certificate_arn,
        health_check=config.health_check,
        personal_tags=personal_data_tags(settings),
        scheme=config.scheme,
        access_log_retention_days=config.access_log_retention_days,
        deregistration_delay_seconds=config.deregistration_delay_seconds,
        depends_on=[cluster.node_group, *cluster.addons.values()],
        backend_depends_on=[serving.gateway.service],
    )


def _check_draining(settings: RegionalSettings, config: IngressSettings, grace: int) -> None:
    needed = PRE_STOP_SECONDS + config.deregistration_delay_seconds
    if needed > grace:
        raise StackConfigError(
            settings.stack,
            f"{KEY}.deregistrationDelaySeconds",
            f"at most {grace - PRE_STOP_SECONDS} s: the gateway pods' termination grace "
            f"({NAMESPACE}:serving.gateway.terminationGraceSeconds = {grace} s) must cover "
            f"the {PRE_STOP_SECONDS} s pre-stop wait and the NLB's draining",
            config.deregistration_delay_seconds,
        )

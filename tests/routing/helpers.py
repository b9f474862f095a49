"""Shared test data: regional ``ingress`` exports shaped like stacks/ingress.py's, and the
global stack's config with a ``routing`` key."""

from __future__ import annotations

from typing import Any

from components.routing_plan import IngressRef
from meshctl.mock_cloud import ACCOUNT_ID
from regions.catalog import RegionCatalog
from stacks import naming
from tests.artifacts.helpers import regional_outputs

HEALTH_CHECK_PATH = "/v2/health/ready"

ROUTING = {
    "trafficDials": {"us-east-1": 100, "us-west-2": 40, "eu-west-1": 100, "eu-central-1": 0},
    "healthCheck": {"intervalSeconds": 10, "thresholdCount": 2},
    "flowLogRetentionDays": 30,
}
"""A routing key that differs from every default, so a test can tell config from defaults."""

RAW = {
    "aws:region": "us-west-2",
    "inference-mesh:owner": "platform-inference",
    "inference-mesh:costCenter": "ml-serving",
}


def nlb_arn(environment: str, region: str) -> str:
    name = f"{environment}-{region}-gw"
    return (
        f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:loadbalancer/net/{name}/"
        f"{abs(hash((environment, region))) % 10**16:016d}"
    )


def ingress_export(environment: str, region: str) -> dict[str, str]:
    """What a regional stack exports under ``ingress`` (the contract of stacks/ingress.py)."""
    arn = nlb_arn(environment, region)
    prefix = naming.prefix(environment, region)
    return {
        "nlbArn": arn,
        "nlbDnsName": f"{prefix}-gw-0123456789.elb.{region}.amazonaws.com",
        "targetGroupArn": arn.replace("loadbalancer/net", "targetgroup"),
        "listenerArn": arn.replace("loadbalancer/net", "listener/net") + "/0a1b2c3d",
        "healthCheckPath": f"{HEALTH_CHECK_PATH}?{region}",
    }


def outputs_with_ingress(catalog: RegionCatalog, environment: str) -> dict[str, dict[str, Any]]:
    outputs = regional_outputs(catalog, environment)
    for spec in catalog:
        outputs[naming.stack_name(environment, spec.region)]["ingress"] = ingress_export(
            environment, spec.region
        )
    return outputs


def ingress_refs(catalog: RegionCatalog, environment: str = "prod") -> dict[str, IngressRef[str]]:
    return {
        spec.region: IngressRef(
            spec.region,
            ingress_export(environment, spec.region)["nlbArn"],
            ingress_export(environment, spec.region)["healthCheckPath"],
        )
        for spec in catalog
    }

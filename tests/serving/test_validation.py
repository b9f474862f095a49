"""``InferenceService`` refuses inputs that cannot work before it declares anything."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components import serving_plan as plan
from components.serving import ArtifactAccess, DcgmTarget, GatewaySizing, TritonSizing
from components.serving.service import InferenceServiceArgs, validate_args
from model_artifacts.catalog import load_model_catalog

CATALOG = load_model_catalog()
MODEL, FALLBACK = CATALOG.get("resnet50"), CATALOG.get("resnet50-lite")


def _args(**changes: Any) -> InferenceServiceArgs:
    args = InferenceServiceArgs(
        region="eu-west-1",
        zones=3,
        account_id="123456789012",
        cluster_name="inference-mesh-prod-eu-west-1",
        k8s_provider=None,  # type: ignore[arg-type]  # validation never touches it
        gpu_class="a10g",
        gpu_instance_types=("g5.xlarge",),
        system_instance_type="m7i.xlarge",
        artifacts=ArtifactAccess("b", "arn:aws:s3:::b", "arn:aws:kms:eu-west-1:1:key/k"),
        feature_reader_policy_arn="arn:aws:iam::123456789012:policy/r",
        model=MODEL,
        fallback=FALLBACK,
        gateway_image="repo@sha256:" + "0" * 64,
        gateway_routing=None,  # type: ignore[arg-type]
        gateway_auth=None,  # type: ignore[arg-type]
        gateway=GatewaySizing(3, plan.PodResources("500m", "512Mi")),
        triton=TritonSizing(plan.PodResources("2", "8Gi"), plan.PodResources("1", "2Gi"), 3),
        scaling=plan.QueueScaling(1, 4, 24, 20.0, 15, 300, 300),
        budget_ms=130.0,
        dcgm=DcgmTarget("gpu-system", {"app.kubernetes.io/name": "dcgm-exporter"}),
    )
    return dataclasses.replace(args, **changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model": FALLBACK}, "model must be a gpu model"),
        ({"fallback": MODEL}, "fallback must be resnet50's cpu fallback"),
        ({"gpu_class": "l40s"}, "gpu_class must have a throughput profile"),
        ({"gpu_instance_types": ("g4dn.xlarge", "g5.xlarge")}, None),
        (
            {
                "triton": TritonSizing(
                    plan.PodResources("4", "8Gi"), plan.PodResources("1", "2Gi"), 3
                )
            },
            "Triton on GPU asks for 4 CPU",
        ),
        (
            {"gateway": GatewaySizing(3, plan.PodResources("500m", "14Gi"))},
            "the gateway asks for",
        ),
        ({"scaling": plan.QueueScaling(4, 2, 24, 20.0, 15, 300, 300)}, "1 <= min <= max"),
    ],
)
def test_bad_args_are_refused(changes: dict[str, Any], message: str | None) -> None:
    validate_args(_args())
    if message is None:
        validate_args(_args(**changes))
        return
    with pytest.raises(ValueError, match=message):
        validate_args(_args(**changes))

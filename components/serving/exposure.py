"""What every serving workload gets beside its Deployment: a Service and a disruption budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.serving import manifests


def expose(
    name: str,
    metadata: Mapping[str, Any],
    service_spec: Mapping[str, Any],
    selector: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Service:
    """The workload's Service (``<name>-service``) and its PodDisruptionBudget
    (``<name>-pdb``), declared with ``opts`` (the calling component as parent)."""
    service = k8s.core.v1.Service(
        f"{name}-service", metadata=dict(metadata), spec=dict(service_spec), opts=opts
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-pdb",
        metadata=dict(metadata),
        spec=manifests.disruption_budget(selector),
        opts=opts,
    )
    return service

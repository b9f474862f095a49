"""Regional serving: Triton on GPU and CPU, the inference gateway, metrics and autoscaling.

``InferenceService`` (``service.py``) composes the parts, one module per concern: ``triton``,
``gateway``, ``observability``, ``autoscaling``; ``manifests`` builds their Kubernetes objects
and ``components.serving_plan`` holds the pure decisions behind them.
"""

from components.serving.service import (
    ArtifactAccess,
    DcgmTarget,
    GatewaySizing,
    InferenceService,
    InferenceServiceArgs,
    TritonSizing,
)

__all__ = [
    "ArtifactAccess",
    "DcgmTarget",
    "GatewaySizing",
    "InferenceService",
    "InferenceServiceArgs",
    "TritonSizing",
]

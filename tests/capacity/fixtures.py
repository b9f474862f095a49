"""Small hand-made inputs for the capacity tests (not the shipped catalog)."""

from __future__ import annotations

from capacity.profiles import BatchProfile, ModelProfiles, ServingModel
from regions.catalog import RegionSpec


def small_profiles() -> ModelProfiles:
    """A made-up two-class model (not the shipped catalog): s(b) = 1 + 0.25 b ms on l4,
    2 + 0.5 b ms on t4, max batch 8, 1 ms batching delay."""
    model = ServingModel(
        name="toy",
        max_batch_size=8,
        max_queue_delay_ms=1.0,
        preferred_batch_sizes=(4, 8),
        profiles={
            "l4": BatchProfile("l4", ((1, 1.25), (8, 3.0)), "test fixture"),
            "t4": BatchProfile("t4", ((1, 2.5), (8, 6.0)), "test fixture"),
        },
    )
    return ModelProfiles(model)


def region(
    name: str, jurisdiction: str, share: float, candidates: tuple[str, ...], cidr: str
) -> RegionSpec:
    return RegionSpec(
        region=name,
        jurisdiction=jurisdiction,
        availability_zones=(f"{name}a", f"{name}b", f"{name}c"),
        vpc_cidr=cidr,
        gpu_candidates=candidates,
        demand_share=share,
        artifact_primary=name == "us-east-1",
    )

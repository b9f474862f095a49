"""The planner's and simulator's typed view of a model: batching settings and batch latency.

Plain frozen dataclasses, so the planner stays pure and tests can build profiles inline.
``from_model_catalog`` adapts ``model_artifacts.catalog`` (the shipped source of truth).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_artifacts.catalog import ModelCatalog, ModelSpec

DEFAULT_MODEL = "resnet50"


@dataclass(frozen=True)
class BatchProfile:
    """Milliseconds for one batch on one accelerator, at a few batch sizes."""

    accelerator_class: str
    points: tuple[tuple[int, float], ...]
    source: str = ""

    def __post_init__(self) -> None:
        sizes = [b for b, _ in self.points]
        if not self.points or sizes != sorted(set(sizes)) or sizes[0] < 1:
            raise ValueError(
                f"profile {self.accelerator_class!r}: points must be (batch, ms) with increasing "
                f"batch sizes >= 1, got {self.points!r}"
            )
        if any(ms <= 0 for _, ms in self.points):
            raise ValueError(
                f"profile {self.accelerator_class!r}: batch latencies must be > 0 ms, "
                f"got {self.points!r}"
            )

    def latency_ms(self, batch: int) -> float:
        """Piecewise-linear in the batch size; the end segments extend past the profile.

        Linear interpolation matches the s(b) = s0 + k*b planning model of figures.md 6.
        """
        if len(self.points) == 1:
            b0, ms0 = self.points[0]
            return ms0 * batch / b0
        for (b0, ms0), (b1, ms1) in zip(self.points, self.points[1:], strict=False):
            if batch <= b1 or (b1, ms1) == self.points[-1]:
                return max(1e-6, ms0 + (ms1 - ms0) * (batch - b0) / (b1 - b0))
        raise AssertionError("unreachable")

    def table_ms(self, max_batch: int) -> tuple[float, ...]:
        """``table[b]`` = latency of a batch of ``b`` (``table[0]`` is 0)."""
        return (0.0, *(self.latency_ms(b) for b in range(1, max_batch + 1)))

    def throughput(self, batch: int) -> float:
        """Samples per second at batch size ``batch``."""
        return batch * 1000.0 / self.latency_ms(batch)


@dataclass(frozen=True)
class ServingModel:
    """One model as Triton serves it: dynamic batching settings and per-class profiles."""

    name: str
    max_batch_size: int
    max_queue_delay_ms: float
    profiles: Mapping[str, BatchProfile]
    preferred_batch_sizes: tuple[int, ...] = ()
    serving: str = "gpu"

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"model {self.name!r}: max_batch_size must be >= 1")
        if self.max_queue_delay_ms < 0:
            raise ValueError(f"model {self.name!r}: max_queue_delay_ms must be >= 0")

    @property
    def batch_target(self) -> int:
        """The batch the dynamic batcher waits for: the largest preferred size, else the max."""
        preferred = [b for b in self.preferred_batch_sizes if b <= self.max_batch_size]
        return max(preferred) if preferred else self.max_batch_size


@dataclass(frozen=True)
class ModelProfiles:
    """The GPU model and its optional CPU fallback (same inputs, lighter model)."""

    model: ServingModel
    fallback: ServingModel | None = None
    notes: tuple[str, ...] = field(default=())


def serving_model_from_spec(spec: ModelSpec) -> ServingModel:
    profiles = {
        p.gpu_class: BatchProfile(p.gpu_class, tuple(p.points), p.source)
        for p in spec.throughput_profiles
    }
    return ServingModel(
        name=spec.name,
        max_batch_size=spec.triton.max_batch_size,
        max_queue_delay_ms=spec.triton.max_queue_delay_us / 1000.0,
        profiles=profiles,
        preferred_batch_sizes=tuple(spec.triton.preferred_batch_sizes),
        serving=spec.serving,
    )


def from_model_catalog(catalog: ModelCatalog, model: str = DEFAULT_MODEL) -> ModelProfiles:
    spec = catalog.get(model)
    fallback = serving_model_from_spec(catalog.get(spec.fallback)) if spec.fallback else None
    return ModelProfiles(serving_model_from_spec(spec), fallback)


def load_shipped_profiles(model: str = DEFAULT_MODEL) -> ModelProfiles:
    """Profiles from the shipped model catalog (``model_artifacts/models.yaml``)."""
    from model_artifacts.catalog import load_model_catalog  # noqa: PLC0415 - heavy, on demand

    return from_model_catalog(load_model_catalog(), model)

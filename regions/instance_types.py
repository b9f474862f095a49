"""Facts about the EC2 instance types the mesh may run on.

Pure data: which accelerator class each instance type carries and how many. Prices live
in ``model_artifacts``/capacity data files, not here.

Sources: AWS instance type pages for GPU counts and memory (docs.aws.amazon.com/ec2/latest/
instancetypes/ac.html), cross-checked against the SkyPilot catalog ``catalogs/v8/aws/vms.csv``
at commit 00148f2af3672e2229b4f7bf8157d5a3f36e3c35 (see shared reference figures.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    accelerator_class: str
    """GPU class used to pick node pools and throughput profiles (``cpu`` for none)."""
    accelerators: int
    vcpus: int
    memory_gib: int

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_gpu(self) -> bool:
        return self.accelerator_class not in ("cpu", "inferentia2")


def _types(*rows: tuple[str, str, int, int, int]) -> dict[str, InstanceType]:
    return {r[0]: InstanceType(*r) for r in rows}


INSTANCE_TYPES: dict[str, InstanceType] = _types(
    ("g4dn.xlarge", "t4", 1, 4, 16),
    ("g4dn.2xlarge", "t4", 1, 8, 32),
    ("g5.xlarge", "a10g", 1, 4, 16),
    ("g5.8xlarge", "a10g", 1, 32, 128),
    ("g5.12xlarge", "a10g", 4, 48, 192),
    ("g6.xlarge", "l4", 1, 4, 16),
    ("g6.8xlarge", "l4", 1, 32, 128),
    ("g6e.xlarge", "l40s", 1, 4, 32),
    ("g6e.12xlarge", "l40s", 4, 48, 384),
    ("p4de.24xlarge", "a100", 8, 96, 1152),
    ("p5.4xlarge", "h100", 1, 16, 256),
    ("p5.48xlarge", "h100", 8, 192, 2048),
    ("p5en.48xlarge", "h200", 8, 192, 2048),
    ("inf2.xlarge", "inferentia2", 1, 4, 16),
    ("c7i.2xlarge", "cpu", 0, 8, 16),
    ("c7g.xlarge", "cpu", 0, 4, 8),
    ("m7i.xlarge", "cpu", 0, 4, 16),
    ("m7i.2xlarge", "cpu", 0, 8, 32),
)

GPU_CLASSES: frozenset[str] = frozenset(
    t.accelerator_class for t in INSTANCE_TYPES.values() if t.is_gpu
)

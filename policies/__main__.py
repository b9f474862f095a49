"""CrossGuard entry point (``pulumi preview --policy-pack policies``): builds the pack, and
nothing else. Constructing ``PolicyPack`` starts the analyzer server and never returns."""

import sys
from pathlib import Path

# The engine runs this file with the pack directory first on sys.path. The rules live in the
# ``policies`` package and read the repo's pure data modules (regions/), so the repository
# root goes there instead, and the pack's modules stop being importable under bare names.
_PACK = Path(__file__).resolve().parent
sys.path[:] = [str(_PACK.parent), *(p for p in sys.path if Path(p or ".").resolve() != _PACK)]

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies import ALL  # noqa: E402

PolicyPack(
    name="inference-mesh",
    policies=ALL,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Encryption, network exposure, logging, EKS, artifact replication, data "
    "residency and tagging rules of the inference mesh.",
)

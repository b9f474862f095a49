"""Pulumi entry point: one project, one stack per region plus one global stack."""

import pulumi

from stacks.program import run
from stacks.settings import settings_from_pulumi

for key, value in run(settings_from_pulumi()).items():
    pulumi.export(key, value)

"""Whether the program is deploying for real, or rehearsing.

A rehearsal is a preview (``pulumi preview``, and the preview step of ``pulumi up``) or a run
in Pulumi's mock engine: ``meshctl plan`` and the tests (``pulumi.runtime.set_mocks``). The
shipped stack files carry placeholders (the all-zero gateway digest, a certificate ARN of the
right shape) so rehearsals work offline; a real deployment must refuse them
(``stacks/serving.py``, ``stacks/ingress.py``, checked first in ``stacks/regional.py``).

The mock engine is recognised by its resource monitor: ``set_mocks`` installs a
``MockMonitor`` (``meshctl.mock_cloud.RecordingMonitor`` is one), while a real engine talks
gRPC to the Pulumi CLI. No flag or environment variable is involved, so nothing can switch the
checks off in a real deployment, and every mock run is covered without opting in.
"""

from __future__ import annotations

import pulumi
from pulumi.runtime import mocks, settings


def under_mock_engine() -> bool:
    """True when ``pulumi.runtime.set_mocks`` configured this process's runtime."""
    return isinstance(settings.get_monitor(), mocks.MockMonitor)


def is_real_deployment() -> bool:
    """True for the update of ``pulumi up`` against a real engine, false in every rehearsal."""
    return not pulumi.runtime.is_dry_run() and not under_mock_engine()

"""Interpreter settings for the latency-sensitive processes (the gateway, the local backend).

Both run an event loop beside worker threads (boto3 reads, onnxruntime calls) and serve
requests whose tail latency matters more than their throughput.
"""

from __future__ import annotations

import gc
import sys

GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation collections (CPython's default is 700)."""

SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits (CPython's default is 5 ms)."""


def tune_for_latency() -> None:
    """Call once, after start-up imports and before serving."""
    # The event loop shares the GIL with the worker threads; a shorter switch interval
    # bounds how long a thread can hold up the loop (the default is the gateway's budget).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # Everything loaded so far lives for the whole process: freezing it keeps full
    # collections from walking it, and a larger young generation makes collections rarer,
    # so fewer requests pay a collection pause in their tail latency.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)

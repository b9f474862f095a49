"""Capacity planning, cost model and mesh simulation for the inference mesh.

- ``prices`` / ``latency`` / ``demand``: the cited data files and their validating loaders.
- ``profiles``: the typed throughput input (batch latency per accelerator class).
- ``queueing``: closed forms (Erlang C, M/D/1) and the batching capacity model.
- ``planner``: pure functions that size the fleet; the single source of GPU limits and
  KEDA bounds for the stacks.
- ``scenario`` / ``simulator``: scenario files and a vectorised discrete-event simulation.
"""

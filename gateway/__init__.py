"""The inference gateway: KServe v2 outside, residency at the door, fallbacks behind.

An application, shipped as a container image. It imports nothing from the IaC code; the
contracts it shares with the rest of the mesh are written down in ``docs/contracts.md``.
"""

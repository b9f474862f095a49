"""Who may reach the cluster's API endpoint: pure checks, shared by the component and the
stack-config parser."""

from __future__ import annotations

import ipaddress

MIN_PUBLIC_ACCESS_PREFIX = 16
"""Public-endpoint CIDRs are office or VPN egress ranges; anything wider is a mistake."""


def check_public_access_cidr(cidr: str) -> None:
    """An IPv4 network of at most a /16: never 0.0.0.0/0 (CKV_AWS_38, AVD-AWS-0041)."""
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        raise ValueError(
            f"endpoint_public_access_cidrs must hold IPv4 networks such as 203.0.113.0/24, "
            f"got {cidr!r}"
        ) from None
    if network.version != 4 or network.prefixlen < MIN_PUBLIC_ACCESS_PREFIX:
        raise ValueError(
            f"endpoint_public_access_cidrs must never open the endpoint to the internet: "
            f"expected IPv4 networks of /{MIN_PUBLIC_ACCESS_PREFIX} or narrower, got {cidr!r}"
        )

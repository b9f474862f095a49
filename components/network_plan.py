"""Pure decisions for the regional network: subnet CIDRs and NAT gateway placement."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PRIVATE_EXTRA_BITS = 2
"""Private subnets take a quarter of the VPC each: pods get VPC IPs under the VPC CNI."""
PUBLIC_EXTRA_BITS = 6
"""Public subnets only hold load balancer and NAT interfaces: 1/64 of the VPC each."""


@dataclass(frozen=True)
class ZoneSubnets:
    availability_zone: str
    private_cidr: str
    public_cidr: str


def plan_subnets(vpc_cidr: str, availability_zones: tuple[str, ...]) -> tuple[ZoneSubnets, ...]:
    """Private subnets fill the first quarters of the VPC; public ones the last quarter."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(vpc.subnets(prefixlen_diff=PRIVATE_EXTRA_BITS))
    if len(availability_zones) > len(quarters) - 1:
        raise ValueError(
            f"vpc_cidr {vpc_cidr}: room for {len(quarters) - 1} zones, "
            f"got {len(availability_zones)}"
        )
    public_pool = quarters[-1].subnets(new_prefix=vpc.prefixlen + PUBLIC_EXTRA_BITS)
    return tuple(
        ZoneSubnets(zone, str(quarters[i]), str(next(public_pool)))
        for i, zone in enumerate(availability_zones)
    )


def nat_zone_for(zone_index: int, nat_count: int) -> int:
    """Index of the NAT gateway a zone's private subnets route through."""
    return zone_index if nat_count > 1 else 0

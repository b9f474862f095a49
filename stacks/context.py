"""What the regional program hands from one concern's builder to the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.network import Network
from stacks.settings import RegionalSettings


@dataclass
class RegionalContext:
    settings: RegionalSettings
    provider: aws.Provider
    account_id: pulumi.Output[str]
    network: Network
    built: dict[str, Any] = field(default_factory=dict)
    """Components built so far, by concern (``cluster``, ``artifacts``, ``features`` ...)."""

    @property
    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=[self.provider])

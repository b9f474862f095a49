"""boto3 sessions for meshctl commands: every command that talks to AWS takes
``--endpoint-url`` and ``--profile`` and builds its clients here."""

from __future__ import annotations

import argparse
from typing import Any

import boto3
from botocore.config import Config

GLOBAL_ACCELERATOR_API_REGION = "us-west-2"
"""The Global Accelerator control plane is served from us-west-2 only."""

_RETRIES = Config(retries={"max_attempts": 8, "mode": "adaptive"})


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument(
        "--endpoint-url",
        default=None,
        help="send every AWS call to this URL (a local moto server, a VPC endpoint)",
    )
    group.add_argument("--profile", default=None, help="AWS named profile to use")


class AwsClients:
    """Builds region-pinned boto3 clients from one session; regions come from the catalog."""

    def __init__(self, profile: str | None = None, endpoint_url: str | None = None):
        self.session = boto3.session.Session(profile_name=profile)
        self.endpoint_url = endpoint_url

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AwsClients:
        return cls(profile=args.profile, endpoint_url=args.endpoint_url)

    def client(self, service: str, region: str) -> Any:
        return self.session.client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=_RETRIES
        )

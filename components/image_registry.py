"""Container image repositories per region, fed by ECR replication from the primary region.

CI pushes the gateway image once, to the primary region; ECR copies it to every other
region's repository, so nodes pull from their own region and a region outage elsewhere
never blocks a scale-up. Stacks deploy images by digest, never by tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.kms import RegionalKey, RegionalKeyArgs

UNTAGGED_EXPIRY_DAYS = 14
KEEP_TAGGED_IMAGES = 50
"""Enough release history to roll back weeks; older images only cost storage and scans."""


@dataclass(frozen=True)
class ImageRepositoryArgs:
    repository_name: str
    account_id: pulumi.Input[str]
    key_alias: str
    tags: Mapping[str, str] = field(default_factory=dict)


class ImageRepository(pulumi.ComponentResource):
    url: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageRepositoryArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("inference-mesh:images:ImageRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = RegionalKey(
            f"{name}-key",
            RegionalKeyArgs(
                description=f"ECR images of {args.repository_name}",
                account_id=args.account_id,
                alias=args.key_alias,
                tags=dict(args.tags),
            ),
            opts=child,
        )
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.repository_name,
            # A digest always names the same bytes; immutable tags keep tags honest too.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=key.arn
                )
            ],
            tags=dict(args.tags),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=json.dumps(lifecycle_rules()),
            opts=child,
        )
        self.url = repository.repository_url
        self.arn = repository.arn
        self.register_outputs({"url": self.url, "arn": self.arn})


def lifecycle_rules() -> dict[str, object]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {UNTAGGED_EXPIRY_DAYS} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_EXPIRY_DAYS,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {KEEP_TAGGED_IMAGES} tagged images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_TAGGED_IMAGES,
                },
                "action": {"type": "expire"},
            },
        ]
    }


@dataclass(frozen=True)
class ImageReplicationArgs:
    account_id: pulumi.Input[str]
    destination_regions: Sequence[str]
    """Every catalog region except the primary, whose provider this component runs under."""
    repository_prefix: str


class ImageReplication(pulumi.ComponentResource):
    """The primary registry's replication rule: one per registry, so the global stack owns it."""

    def __init__(
        self, name: str, args: ImageReplicationArgs, opts: pulumi.ResourceOptions | None = None
    ):
        if not args.destination_regions:
            raise ValueError("destination_regions must name at least one region, got none")
        super().__init__("inference-mesh:images:ImageReplication", name, None, opts)
        aws.ecr.ReplicationConfiguration(
            f"{name}-replication",
            replication_configuration=aws.ecr.ReplicationConfigurationReplicationConfigurationArgs(
                rules=[
                    aws.ecr.ReplicationConfigurationReplicationConfigurationRuleArgs(
                        destinations=[
                            aws.ecr.ReplicationConfigurationReplicationConfigurationRuleDestinationArgs(
                                region=region, registry_id=args.account_id
                            )
                            for region in sorted(args.destination_regions)
                        ],
                        repository_filters=[
                            aws.ecr.ReplicationConfigurationReplicationConfigurationRuleRepositoryFilterArgs(
                                filter=args.repository_prefix, filter_type="PREFIX_MATCH"
                            )
                        ],
                    )
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})

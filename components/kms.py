"""A regional customer-managed KMS key: single-region, rotated, with a least-privilege policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam_documents import policy_document, service_endpoint

DELETION_WINDOW_DAYS = 30
"""The longest window AWS allows: a key scheduled for deletion by mistake can be saved."""


@dataclass(frozen=True)
class RegionalKeyArgs:
    description: str
    account_id: pulumi.Input[str]
    alias: str
    """``alias/<alias>``; deterministic so tools can find the key by name."""
    service_statements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Extra key-policy statements for AWS services that encrypt with this key (CloudWatch
    Logs, say). Defaults to none: only the account's IAM policies grant use of the key."""
    tags: Mapping[str, str] = field(default_factory=dict)


class RegionalKey(pulumi.ComponentResource):
    """Never multi-region: a multi-region key would let ciphertext of personal data be
    decrypted outside its jurisdiction."""

    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegionalKeyArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("inference-mesh:kms:RegionalKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            multi_region=False,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=pulumi.Output.json_dumps(
                policy_document([_account_admin(args.account_id), *args.service_statements])
            ),
            tags=dict(args.tags),
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=child,
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})


def _account_admin(account_id: pulumi.Input[str]) -> dict[str, Any]:
    # Delegates to IAM in the owning account; without it the key could become unmanageable.
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account_id, ":root")},
        "Action": "kms:*",
        "Resource": "*",
    }


def logs_service_statement(region: str, account_id: pulumi.Input[str]) -> dict[str, Any]:
    """Lets CloudWatch Logs in this region, and only for this account's log groups, use the key."""
    return {
        "Sid": "CloudWatchLogsInRegion",
        "Effect": "Allow",
        "Principal": {"Service": service_endpoint("logs", region)},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": pulumi.Output.concat(
                    "arn:aws:logs:", region, ":", account_id, ":*"
                )
            }
        },
    }

"""Cross-region replication of model artifacts, from the primary store to every other region.

Declared by the global stack, which reads the regional stores through StackReference: regional
stacks never read the global stack, so the dependency runs one way. Which rules exist is
decided by ``components.replication_plan``; this component turns a plan into the replication
configuration on the primary bucket, a least-privilege role and one pair of alarms per rule.
Pass a provider pinned to the primary region: the configuration and the replication metrics
live there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam_documents import allow, policy_document, service_trust_policy, via_service
from components.replication_plan import ArtifactStoreRef, ReplicationPlan, ReplicationRule

RTC_MINUTES = 15
"""Replication Time Control: S3 accepts only 15 for ``ReplicationTime.Time.Minutes`` and
``Metrics.EventThreshold.Minutes``, and RTC requires the Metrics block (S3 API
``ReplicationTimeValue``; SLA: 99.99 % of objects within 15 minutes)."""
SECONDS_PER_MINUTE = 60

_Rule = aws.s3.BucketReplicationConfigRuleArgs
_PrefixFilter = aws.s3.BucketReplicationConfigRuleFilterArgs
_DeleteMarkers = aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs
_SourceSelection = aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs
_KmsObjects = aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs
_Destination = aws.s3.BucketReplicationConfigRuleDestinationArgs
_ReplicaEncryption = aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs
_ReplicationTime = aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeArgs
_ReplicationTimeValue = aws.s3.BucketReplicationConfigRuleDestinationReplicationTimeTimeArgs
_Metrics = aws.s3.BucketReplicationConfigRuleDestinationMetricsArgs
_EventThreshold = aws.s3.BucketReplicationConfigRuleDestinationMetricsEventThresholdArgs


@dataclass(frozen=True)
class ArtifactReplicationArgs:
    plan: ReplicationPlan[pulumi.Input[str]]
    """Source store and one rule per destination (``replication_plan.plan_replication``)."""
    name_prefix: str
    """Stem of the role and alarm names (``inference-mesh-prod-artifacts``), so operators
    and FIS experiments find them by name."""
    alarm_period_seconds: int = 300
    """CloudWatch period of both alarms; S3 publishes replication metrics every minute."""
    alarm_actions: Sequence[pulumi.Input[str]] = ()
    """Actions (SNS topic ARNs) for alarm and recovery. Defaults to none: the alarms show in
    CloudWatch and can serve as FIS stop conditions, but notify nobody."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for the role and the alarms; the stack's default tags are added anyway."""


class ArtifactReplication(pulumi.ComponentResource):
    role: aws.iam.Role
    configuration: aws.s3.BucketReplicationConfig

    def __init__(
        self, name: str, args: ArtifactReplicationArgs, opts: pulumi.ResourceOptions | None = None
    ):
        _validate(args)
        super().__init__("inference-mesh:artifacts:ArtifactReplication", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self.role, role_policy = self._create_role()
        self.configuration = aws.s3.BucketReplicationConfig(
            f"{name}-configuration",
            bucket=args.plan.source.bucket_name,
            role=self.role.arn,
            rules=[_rule(rule, args.plan.prefix) for rule in args.plan.rules],
            # S3 assumes the role as soon as the configuration exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        for rule in args.plan.rules:
            self._create_alarms(rule)
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        plan = self._args.plan
        return {
            "sourceRegion": plan.source.region,
            "sourceBucketArn": plan.source.bucket_arn,
            "replicatedPrefix": plan.prefix,
            "roleArn": self.role.arn,
            "rules": [
                {
                    "ruleId": rule.rule_id,
                    "destinationRegion": rule.destination.region,
                    "destinationBucketArn": rule.destination.bucket_arn,
                    "replicaKmsKeyArn": rule.destination.key_arn,
                }
                for rule in plan.rules
            ],
        }

    def _create_role(self) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        role = aws.iam.Role(
            f"{self._name}-role",
            name=f"{self._args.name_prefix}-replication",
            description="Assumed by S3 to replicate model artifacts from the primary region",
            # The trust policy AWS documents for replication. Only a principal of this account
            # that may pass this role can attach it to a bucket, so the trust needs no
            # source conditions; what the role can touch is bounded by its policy below.
            assume_role_policy=json.dumps(service_trust_policy("s3.amazonaws.com")),
            tags=dict(self._args.tags),
            opts=self._child,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(replication_policy(self._args.plan)),
            opts=self._child,
        )
        return role, policy

    def _create_alarms(self, rule: ReplicationRule[pulumi.Input[str]]) -> None:
        args, region = self._args, rule.destination.region
        dimensions = {
            "SourceBucket": args.plan.source.bucket_name,
            "DestinationBucket": rule.destination.bucket_name,
            "RuleId": rule.rule_id,
        }
        common: dict[str, Any] = {
            "namespace": "AWS/S3",
            "dimensions": dimensions,
            "period": args.alarm_period_seconds,
            "evaluation_periods": 1,
            "comparison_operator": "GreaterThanThreshold",
            # S3 emits replication metrics only while there is something to replicate.
            "treat_missing_data": "notBreaching",
            "alarm_actions": list(args.alarm_actions),
            "ok_actions": list(args.alarm_actions),
            "tags": dict(args.tags),
        }
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{region}-latency",
            name=f"{args.name_prefix}-to-{region}-replication-latency",
            alarm_description=(
                f"Model artifacts take longer than the {RTC_MINUTES}-minute replication time "
                f"control to reach {region}"
            ),
            metric_name="ReplicationLatency",
            statistic="Maximum",
            threshold=RTC_MINUTES * SECONDS_PER_MINUTE,
            opts=self._child,
            **common,
        )
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-{region}-failed",
            name=f"{args.name_prefix}-to-{region}-replication-failed",
            alarm_description=f"Model artifact replication to {region} failed for some objects",
            metric_name="OperationsFailedReplication",
            statistic="Sum",
            threshold=0,
            opts=self._child,
            **common,
        )


def _rule(
    rule: ReplicationRule[pulumi.Input[str]], prefix: str
) -> aws.s3.BucketReplicationConfigRuleArgs:
    return _Rule(
        id=rule.rule_id,
        priority=rule.priority,
        status="Enabled",
        # A Filter element makes this a V2 rule, which RTC and delete-marker replication need.
        filter=_PrefixFilter(prefix=prefix),
        # A model withdrawn at the primary must disappear everywhere, or a region would keep
        # serving it.
        delete_marker_replication=_DeleteMarkers(status="Enabled"),
        # Objects under SSE-KMS are skipped unless the rule opts in.
        source_selection_criteria=_SourceSelection(
            sse_kms_encrypted_objects=_KmsObjects(status="Enabled")
        ),
        destination=_Destination(
            bucket=rule.destination.bucket_arn,
            # Replicas are re-encrypted under the destination region's own key.
            encryption_configuration=_ReplicaEncryption(
                replica_kms_key_id=rule.destination.key_arn
            ),
            replication_time=_ReplicationTime(
                status="Enabled", time=_ReplicationTimeValue(minutes=RTC_MINUTES)
            ),
            metrics=_Metrics(
                status="Enabled", event_threshold=_EventThreshold(minutes=RTC_MINUTES)
            ),
        ),
    )


def replication_policy(plan: ReplicationPlan[pulumi.Input[str]]) -> dict[str, Any]:
    """The role's permissions: exactly the source bucket and key, each destination's objects
    and key, following the S3 User Guide, "Replicating encrypted objects"."""
    source, prefix = plan.source, plan.prefix
    return policy_document(
        [
            allow(
                "ReadSourceReplicationConfiguration",
                ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                source.bucket_arn,
            ),
            allow(
                "ReadSourceObjectVersions",
                [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                ],
                _objects(source.bucket_arn, prefix),
            ),
            allow(
                "WriteReplicas",
                ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                [_objects(rule.destination.bucket_arn, prefix) for rule in plan.rules],
            ),
            _kms_statement("DecryptSource", ["kms:Decrypt"], source, prefix),
            *(
                # kms:Decrypt too: with S3 Bucket Keys on, S3 decrypts the destination's
                # bucket key to check it before use (S3 User Guide, "S3 Bucket Keys and
                # replication").
                _kms_statement(
                    f"EncryptReplicasIn{_pascal(rule.destination.region)}",
                    ["kms:Encrypt", "kms:Decrypt"],
                    rule.destination,
                    prefix,
                )
                for rule in plan.rules
            ),
        ]
    )


def _kms_statement(
    sid: str, actions: list[str], store: ArtifactStoreRef[pulumi.Input[str]], prefix: str
) -> dict[str, Any]:
    return allow(
        sid,
        actions,
        store.key_arn,
        condition={
            # Only through S3 in the key's own region, and only for this store's bucket.
            **via_service(store.region, "s3"),
            # With S3 Bucket Keys the encryption context is the bucket ARN; an object written
            # without one carries its own ARN.
            "StringLike": {
                "kms:EncryptionContext:aws:s3:arn": [
                    store.bucket_arn,
                    _objects(store.bucket_arn, prefix),
                ]
            },
        },
    )


def _objects(bucket_arn: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(bucket_arn, "/", prefix, "*")


def _pascal(region: str) -> str:
    # IAM statement ids allow only letters and digits.
    return "".join(part.capitalize() for part in region.split("-"))


def _validate(args: ArtifactReplicationArgs) -> None:
    plan = args.plan
    if not plan.rules:
        raise ValueError("plan must have at least one replication rule, got none")
    regions = plan.destination_regions
    if plan.source.region in regions:
        raise ValueError(
            f"plan must not replicate the source region {plan.source.region} to itself, "
            f"got destinations {list(regions)}"
        )
    for label, values in (
        ("destination regions", regions),
        ("rule ids", [r.rule_id for r in plan.rules]),
        ("rule priorities", [r.priority for r in plan.rules]),
    ):
        if len(set(values)) != len(values):
            raise ValueError(f"plan {label} must be unique, got {list(values)}")
    if args.alarm_period_seconds < SECONDS_PER_MINUTE or args.alarm_period_seconds % 60:
        raise ValueError(
            f"alarm_period_seconds must be a multiple of 60, got {args.alarm_period_seconds}"
        )

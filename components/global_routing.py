"""One jurisdiction's Global Accelerator: its listener, one endpoint group per region of the
jurisdiction, and the in-jurisdiction bucket its flow logs go to.

Which accelerators exist and what each routes to is decided by ``components.routing_plan``;
this component declares one accelerator from one ``AcceleratorPlan``. Pass a provider pinned
to us-west-2 in ``opts`` (Global Accelerator's control plane lives there) and the provider of
the flow-log region in the args: the bucket and its key are regional resources.

Flow logs hold client IP addresses, which are personal data: the bucket and its key carry
``data-classification=personal`` and the jurisdiction, live in a region of the jurisdiction,
never replicate, and expire after the configured retention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import buckets
from components.kms import RegionalKey, RegionalKeyArgs
from components.routing_plan import LISTENER_PORT, AcceleratorPlan, EndpointGroupPlan
from regions.residency import DataClassification, classification_tags

GLOBAL_ACCELERATOR_HOME_REGION = "us-west-2"
"""Where Global Accelerator's API, metrics and log deliveries live (figures.md 4.2; GA
developer guide, "Flow logs": view its logs in US West (Oregon))."""
LOG_DELIVERY_SERVICE = "delivery.logs.amazonaws.com"


@dataclass(frozen=True)
class JurisdictionAcceleratorArgs:
    plan: AcceleratorPlan[pulumi.Input[str]]
    """The accelerator's name, regions, NLBs, dials, health checks and flow-log bucket
    (``routing_plan.plan_routing``)."""
    account_id: pulumi.Input[str]
    """The owning account: key administration, and the only account whose log deliveries
    may write to the flow-log bucket (confused-deputy conditions)."""
    flow_log_provider: aws.Provider
    """A provider pinned to ``plan.flow_log_region``; the bucket and its key are declared
    with it so they stay inside the jurisdiction."""
    noncurrent_version_expiration_days: int = 7
    """Days an expired or deleted flow-log object stays restorable before S3 deletes it for
    good; short, because it is personal data past its retention."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags for the accelerator, the bucket and the key; the stack's default tags are
    added anyway."""


class JurisdictionAccelerator(pulumi.ComponentResource):
    accelerator: aws.globalaccelerator.Accelerator
    listener: aws.globalaccelerator.Listener
    endpoint_groups: dict[str, aws.globalaccelerator.EndpointGroup]
    flow_log_bucket: aws.s3.Bucket
    flow_log_key: RegionalKey

    def __init__(
        self,
        name: str,
        args: JurisdictionAcceleratorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ):
        _validate(args)
        super().__init__("inference-mesh:routing:JurisdictionAccelerator", name, None, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self._child = pulumi.ResourceOptions(parent=self)
        # Regional children get the flow-log region's provider; the GA resources inherit the
        # us-west-2 provider the caller passed to this component.
        self._in_log_region = pulumi.ResourceOptions(
            parent=self, providers=[args.flow_log_provider]
        )
        bucket_policy = self._create_flow_log_bucket()
        self.accelerator = self._create_accelerator(bucket_policy)
        self.listener = aws.globalaccelerator.Listener(
            f"{name}-listener",
            accelerator_arn=self.accelerator.arn,
            protocol="TCP",
            port_ranges=[
                aws.globalaccelerator.ListenerPortRangeArgs(
                    from_port=LISTENER_PORT, to_port=LISTENER_PORT
                )
            ],
            # One client keeps reaching the same endpoint (and region) across connections,
            # so a session's requests see the same in-region feature cache.
            client_affinity="SOURCE_IP",
            opts=self._child,
        )
        self.endpoint_groups = {
            group.region: self._create_endpoint_group(group) for group in self._plan.endpoint_groups
        }
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        """One entry of the global stack's ``accelerators`` export."""
        return {
            "name": self._plan.name,
            "arn": self.accelerator.arn,
            "dnsName": self.accelerator.dns_name,
            "staticIps": self.accelerator.ip_sets.apply(_addresses),
            "regions": list(self._plan.regions),
            "flowLogBucket": self.flow_log_bucket.bucket,
        }

    # -- Global Accelerator ---------------------------------------------------------------
    def _create_accelerator(
        self, bucket_policy: aws.s3.BucketPolicy
    ) -> aws.globalaccelerator.Accelerator:
        plan = self._plan
        return aws.globalaccelerator.Accelerator(
            self._name,
            name=plan.name,
            ip_address_type="IPV4",
            enabled=True,
            attributes=aws.globalaccelerator.AcceleratorAttributesArgs(
                flow_logs_enabled=True,
                flow_logs_s3_bucket=self.flow_log_bucket.bucket,
                # No trailing slash: GA would write to "<prefix>//AWSLogs/..." (API
                # AcceleratorAttributes.FlowLogsS3Prefix), outside what the policy allows.
                flow_logs_s3_prefix=plan.flow_log_prefix,
            ),
            # The accelerator holds no data; the tag names the jurisdiction it serves, which
            # the policy pack checks against its endpoint regions.
            tags={**self._args.tags, "jurisdiction": plan.jurisdiction},
            # GA checks that it may write to the bucket when flow logs are turned on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket_policy]),
        )

    def _create_endpoint_group(
        self, group: EndpointGroupPlan[pulumi.Input[str]]
    ) -> aws.globalaccelerator.EndpointGroup:
        check = group.health_check
        return aws.globalaccelerator.EndpointGroup(
            f"{self._name}-{group.region}",
            listener_arn=self.listener.arn,
            endpoint_group_region=group.region,
            traffic_dial_percentage=group.traffic_dial,
            # GA uses the NLB's target-group health checks for NLB endpoints and ignores
            # these (GA developer guide, "Health check options"); they are set from config
            # anyway so the group never runs on silent defaults.
            health_check_interval_seconds=check.interval_seconds,
            threshold_count=check.threshold_count,
            health_check_protocol=check.protocol.value,
            health_check_port=check.port,
            health_check_path=group.health_check_path,
            endpoint_configurations=[
                aws.globalaccelerator.EndpointGroupEndpointConfigurationArgs(
                    endpoint_id=group.nlb_arn,
                    # Off: the regional NLB terminates TLS, and GA cannot preserve client IPs
                    # through an NLB TLS listener (GA developer guide, "Adding endpoints with
                    # client IP address preservation"; EndpointDescription API reference).
                    # The gateway does not need them: residency comes from the user's token,
                    # and the client IPs stay in the in-jurisdiction GA flow logs only.
                    client_ip_preservation_enabled=False,
                    weight=group.weight,
                )
            ],
            opts=self._child,
        )

    # -- the flow-log bucket, in the jurisdiction -----------------------------------------
    def _personal_tags(self) -> dict[str, str]:
        return {
            **self._args.tags,
            **classification_tags(DataClassification.PERSONAL, self._plan.jurisdiction),
            "region": self._plan.flow_log_region,
        }

    def _create_flow_log_bucket(self) -> aws.s3.BucketPolicy:
        plan, stem = self._plan, f"{self._name}-flow-logs"
        self.flow_log_key = RegionalKey(
            f"{stem}-key",
            RegionalKeyArgs(
                description=f"Global Accelerator flow logs of {plan.name}",
                account_id=self._args.account_id,
                alias=plan.flow_log_bucket,
                service_statements=[self._log_delivery_key_statement()],
                tags=self._personal_tags(),
            ),
            opts=self._in_log_region,
        )
        self.flow_log_bucket = aws.s3.Bucket(
            stem, bucket=plan.flow_log_bucket, tags=self._personal_tags(), opts=self._in_log_region
        )
        protected = buckets.protect_bucket(
            stem,
            self.flow_log_bucket,
            # SSE-KMS under a customer-managed key works for GA flow logs once the key policy
            # lets the log-delivery service generate data keys (GA developer guide, "Flow
            # logs": "Required CMK key policy for use with SSE-KMS buckets"). SSE-S3 would
            # work too; the pack requires a customer key. The bucket key saves one KMS call
            # per five-minute log file.
            buckets.kms_encryption(self.flow_log_key.arn),
            self._in_log_region,
        )
        protected.lifecycle(
            f"{stem}-lifecycle",
            [
                buckets.lifecycle_rule(
                    "expire-flow-logs",
                    # Storage limitation: client IPs are kept for the retention, no longer.
                    expire_days=plan.flow_log_retention_days,
                    # Expiry only makes the object noncurrent under versioning; this deletes.
                    noncurrent_days=self._args.noncurrent_version_expiration_days,
                    abort_upload_days=1,
                )
            ],
            self._in_log_region,
        )
        return protected.policy(f"{stem}-policy", self._bucket_statements(), self._in_log_region)

    def _bucket_statements(self) -> list[dict[str, Any]]:
        bucket_arn = self.flow_log_bucket.arn
        account = self._args.account_id
        delivery_conditions = {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": _log_delivery_source_arn(account)},
        }
        return [
            buckets.deny_insecure_transport(bucket_arn),
            {
                "Sid": "GlobalAcceleratorFlowLogsWrite",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY_SERVICE},
                "Action": "s3:PutObject",
                # Only under this accelerator's prefix, and only for this account's logs.
                "Resource": pulumi.Output.concat(
                    bucket_arn, "/", self._plan.flow_log_prefix, "/AWSLogs/", account, "/*"
                ),
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    },
                    "ArnLike": delivery_conditions["ArnLike"],
                },
            },
            {
                "Sid": "GlobalAcceleratorFlowLogsAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": LOG_DELIVERY_SERVICE},
                # ListBucket too: without it delivery logs AccessDenied in CloudTrail
                # (CloudWatch Logs guide, "Logs sent to Amazon S3").
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": bucket_arn,
                "Condition": delivery_conditions,
            },
        ]

    def _log_delivery_key_statement(self) -> dict[str, Any]:
        account = self._args.account_id
        return {
            "Sid": "GlobalAcceleratorFlowLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_SERVICE},
            # GenerateDataKey* is what the GA guide lists; Decrypt as well because S3
            # multipart uploads under SSE-KMS need it (S3 User Guide, "Protecting data with
            # SSE-KMS": multipart uploads need kms:Decrypt), and log files reach 75 MB.
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": _log_delivery_source_arn(account)},
            },
        }


def _log_delivery_source_arn(account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    # Log deliveries are CloudWatch Logs resources created where GA's control plane runs.
    return pulumi.Output.concat(
        "arn:aws:logs:", GLOBAL_ACCELERATOR_HOME_REGION, ":", account_id, ":*"
    )


def _addresses(ip_sets: Any) -> list[str]:
    return [address for ip_set in ip_sets or [] for address in (ip_set.ip_addresses or [])]


def _validate(args: JurisdictionAcceleratorArgs) -> None:
    plan = args.plan
    if not plan.endpoint_groups:
        raise ValueError(f"plan {plan.name!r} must have at least one endpoint group, got none")
    regions = list(plan.regions)
    if len(set(regions)) != len(regions):
        raise ValueError(f"plan {plan.name!r} must list each region once, got {regions}")
    if plan.flow_log_region not in regions:
        raise ValueError(
            f"plan {plan.name!r}: flow_log_region must be one of its own regions {regions} "
            f"(flow logs stay in the jurisdiction), got {plan.flow_log_region!r}"
        )
    if plan.flow_log_prefix.startswith("/") or plan.flow_log_prefix.endswith("/"):
        raise ValueError(
            f"plan {plan.name!r}: flow_log_prefix must not start or end with '/', "
            f"got {plan.flow_log_prefix!r}"
        )
    for label, value in (
        ("flow_log_retention_days", plan.flow_log_retention_days),
        ("noncurrent_version_expiration_days", args.noncurrent_version_expiration_days),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a whole number of days, at least 1, got {value!r}")

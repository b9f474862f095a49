"""Logging: EKS control plane, VPC and Global Accelerator flow logs, S3 access logs, log
retention, load balancer access logs.

Not ``logging.py``: the engine starts the pack with its directory first on ``sys.path``
before any of our code runs, so a ``logging.py`` there would replace the standard library's
for the SDK itself (tests/policies/test_pack_entry.py loads the pack that way).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import EnforcementLevel, Severity

from policies import joins
from policies.checks import enabled_with, every_bucket, flag_required, text_required
from policies.props import is_set, items, number, text
from policies.rule import ResourceRule, ResourceView, Settings, StackRule, StackView, Violation
from policies.tokens import (
    ACCELERATOR,
    EKS_CLUSTER,
    FLOW_LOG,
    LOAD_BALANCERS,
    LOG_GROUP,
    S3_LOGGING,
    VPC,
)

CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def eks_control_plane_logging(view: ResourceView, _: Settings) -> Iterator[str]:
    missing = [
        t for t in CONTROL_PLANE_LOGS if t not in items(view.props.get("enabledClusterLogTypes"))
    ]
    if missing:
        yield (
            f"EKS cluster {view.label} does not log {', '.join(missing)}: set "
            f"enabled_cluster_log_types to {list(CONTROL_PLANE_LOGS)}."
        )


def vpc_flow_logs_enabled(stack: StackView, _: Settings) -> Iterator[Violation]:
    logged = {
        text(f.props.get("vpcId"))
        for f in stack.of_type(FLOW_LOG)
        if text(f.props.get("trafficType")) == "ALL"
    }
    for vpc in stack.of_type(VPC):
        if text(vpc.props.get("id")) not in logged:
            yield Violation(
                f"VPC {vpc.label} has no flow log of all traffic: add an aws.ec2.FlowLog with "
                "vpc_id set to it and traffic_type='ALL'.",
                vpc.urn,
            )


flow_log_all_traffic = text_required(
    "trafficType",
    expected="ALL",
    missing="unspecified",
    message="Flow log {label} captures only {value} traffic: set traffic_type='ALL' so "
    "accepted connections are on record too.",
)


accelerator_flow_logs = enabled_with(
    "attributes",
    "flowLogsEnabled",
    "flowLogsS3Bucket",
    message="Accelerator {label} keeps no flow logs: set attributes flow_logs_enabled=True with "
    "flow_logs_s3_bucket (a personal-data bucket inside the accelerator's jurisdiction).",
)


s3_bucket_access_logging = every_bucket(
    S3_LOGGING,
    "Bucket {label} has no server access logging: add an aws.s3.BucketLogging that delivers "
    "to the region's log bucket.",
    configured=lambda bucket, configs: bool(configs) or is_set(bucket.props.get("logging")),
    # Buckets that receive logs are not logged themselves: each delivery would log itself.
    exempt=joins.log_destinations,
)


def log_group_retention(view: ResourceView, _: Settings) -> Iterator[str]:
    days = number(view.props.get("retentionInDays"))
    if days is None or days <= 0:
        yield (
            f"Log group {view.label} keeps logs forever: set retention_in_days (personal "
            "data within the residency retention limit)."
        )


lb_access_logs = flag_required(
    "accessLogs",
    "enabled",
    message="Load balancer {label} keeps no access logs: set access_logs enabled=True with an "
    "in-region bucket.",
)


RULES = (
    ResourceRule(
        name="eks-control-plane-logging",
        summary="EKS clusters send all five control-plane log types to CloudWatch.",
        industry=("CKV_AWS_37", "AVD-AWS-0038", "CIS EKS 2.1.1"),
        types=frozenset({EKS_CLUSTER}),
        check=eks_control_plane_logging,
    ),
    StackRule(
        name="vpc-flow-logs-enabled",
        summary="Every VPC has a flow log of all traffic.",
        industry=("CKV2_AWS_11", "AVD-AWS-0178"),
        check=vpc_flow_logs_enabled,
    ),
    ResourceRule(
        name="flow-log-all-traffic",
        summary="VPC flow logs capture all traffic, accepted and rejected.",
        industry=("AVD-AWS-0178",),
        types=frozenset({FLOW_LOG}),
        check=flow_log_all_traffic,
    ),
    ResourceRule(
        name="accelerator-flow-logs",
        summary="Global Accelerator accelerators write flow logs to S3.",
        industry=("CKV_AWS_75",),
        types=frozenset({ACCELERATOR}),
        check=accelerator_flow_logs,
    ),
    StackRule(
        name="s3-bucket-access-logging",
        summary="S3 buckets log server access, except the buckets that receive logs.",
        industry=("CKV_AWS_18", "AVD-AWS-0089", "AWSGuard s3-bucket-logging-enabled"),
        check=s3_bucket_access_logging,
    ),
    ResourceRule(
        name="log-group-retention",
        summary="CloudWatch log groups set a retention period (CKV_AWS_338's one-year "
        "minimum is not applied: it conflicts with GDPR storage limitation).",
        industry=("CKV_AWS_66",),
        types=frozenset({LOG_GROUP}),
        check=log_group_retention,
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="lb-access-logs",
        summary="Load balancers write access logs.",
        industry=("CKV_AWS_91", "AWSGuard elb-logging-enabled"),
        types=LOAD_BALANCERS,
        check=lb_access_logs,
        enforcement=EnforcementLevel.ADVISORY,
        advisory_reason="NLB access logs cover TLS listeners only; the accelerator's flow "
        "logs and the gateway's request logs already record every connection.",
        severity=Severity.LOW,
    ),
)

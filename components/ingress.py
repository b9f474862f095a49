"""The regional entry point: a Network Load Balancer that Pulumi creates, so its ARN is known
when the global stack's accelerator is planned, with the gateway pods registered into its
target group by the AWS Load Balancer Controller's TargetGroupBinding.

Declaring the NLB here, not through a ``LoadBalancer`` Service, avoids the trap where the load
balancer only appears after Kubernetes applies a Service, so nothing at deploy time can name
it. The pieces:

* NLB with cross-zone load balancing, deletion protection and access logs to an in-region
  bucket. Access logs hold client addresses (personal data), so the bucket and its key carry
  ``data-classification=personal`` and the jurisdiction, and expire objects.
* TLS listener on 443 (certificate from config, TLS 1.2+ with AEAD ciphers only), forwarding
  TCP to an IP target group on the gateway's port; health checks ask the gateway's readiness
  endpoint over HTTP.
* Security groups: the NLB's admits 443 and may reach only the gateway port of the nodes;
  the nodes admit the gateway port from the NLB's group only.
* The AWS Load Balancer Controller (Helm, pinned), with a Pod Identity role that can describe
  and register/deregister targets of this target group only, and a TargetGroupBinding for the
  gateway Service: the only workload the load balancer reaches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import buckets
from components.cluster.manifests import SYSTEM_NODE_ROLE
from components.cluster.pools import NODE_ROLE_LABEL
from components.cluster.versions import HelmChart
from components.kms import RegionalKey, RegionalKeyArgs
from components.pod_identity import PodRole, PodRoleArgs

HTTPS = 443
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
"""TLS 1.3 and 1.2 with forward-secret AEAD ciphers only (the ``-Res-`` variant drops the CBC
suites of ELBSecurityPolicy-TLS13-1-2-2021-06); the policy pack's lb-listener-tls-policy
(CKV2_AWS_74, AVD-AWS-0047) accepts no weaker policy."""
CLIENT_CIDRS = ("0.0.0.0/0",)
"""Who may open a connection on 443. Global Accelerator delivers clients from anywhere; with
an internal NLB nothing outside the VPC but the accelerator can route to it."""
LOG_PREFIX = "nlb"
LB_CONTROLLER = HelmChart(
    "aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts"
)
"""aws/eks-charts stable/aws-load-balancer-controller/Chart.yaml at 5239609 (2026-08-03):
chart 3.5.0, controller v3.5.0. Its crds/crds.yaml serves TargetGroupBinding
elbv2.k8s.aws/v1beta1 (storage version)."""
LB_CONTROLLER_NAMESPACE = "kube-system"
LB_CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
TARGET_GROUP_BINDING_API = "elbv2.k8s.aws/v1beta1"
RELEASE_TIMEOUT_SECONDS = 600
_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$")
_CERTIFICATE = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):[0-9]{12}:certificate/[0-9a-f-]{36}$"
)


class Scheme(StrEnum):
    INTERNAL = "internal"
    """Private subnets; only Global Accelerator (and the VPC) reach it. The default."""
    INTERNET_FACING = "internet-facing"
    """Public subnets; reachable directly from the internet, bypassing the accelerator."""


@dataclass(frozen=True)
class HealthCheck:
    """NLB HTTP health check of the gateway pods (ELB limits: interval 5-300 s, timeout 2-120 s
    and below the interval, thresholds 2-10)."""

    path: str
    interval_seconds: int = 10
    timeout_seconds: int = 5
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3


@dataclass(frozen=True)
class GatewayBackend:
    """The Kubernetes Service the target group is bound to."""

    namespace: str
    service: str
    port: int


@dataclass(frozen=True)
class RegionalIngressArgs:
    name: str
    """Physical name of the NLB and its target group (at most 32 characters)."""
    log_bucket_name: str
    region: str
    account_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    node_security_group_id: pulumi.Input[str]
    """The cluster nodes' group: pods use the node's ENIs (VPC CNI), so this admits the NLB."""
    cluster_name: pulumi.Input[str]
    k8s_provider: k8s.Provider
    backend: GatewayBackend
    certificate_arn: str
    """An ACM certificate in ``region``, issued outside this repository."""
    health_check: HealthCheck
    personal_tags: Mapping[str, str]
    """``data-classification=personal`` and the jurisdiction, for the access-log bucket."""
    scheme: Scheme = Scheme.INTERNAL
    """Defaults to internal: Global Accelerator is the only internet entry point."""
    access_log_retention_days: int = 30
    """Days access logs (client IPs) are kept. Defaults to 30."""
    deregistration_delay_seconds: int = 30
    """How long a deregistered pod keeps its open connections. Defaults to 30 s."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Cluster readiness for the controller chart."""
    backend_depends_on: Sequence[pulumi.Resource] = ()
    """The gateway Service the binding names."""
    tags: Mapping[str, str] = field(default_factory=dict)


class RegionalIngress(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    listener: aws.lb.Listener
    security_group: aws.ec2.SecurityGroup
    log_bucket: aws.s3.Bucket
    controller: k8s.helm.v3.Release
    binding: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: RegionalIngressArgs, opts: pulumi.ResourceOptions | None = None
    ):
        validate_args(args)
        super().__init__("inference-mesh:ingress:RegionalIngress", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self.log_bucket, log_policy = self._create_log_bucket()
        self.security_group = self._create_security_groups()
        self.load_balancer = self._create_load_balancer(log_policy)
        self.target_group = self._create_target_group()
        self.listener = self._create_listener()
        self.controller = self._install_controller()
        self.binding = self._bind_gateway()
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, Any]:
        """The regional stack's ``ingress`` export; the global stack reads ``nlbArn``."""
        return {
            "nlbArn": self.load_balancer.arn,
            "nlbDnsName": self.load_balancer.dns_name,
            "nlbZoneId": self.load_balancer.zone_id,
            "targetGroupArn": self.target_group.arn,
            "listenerArn": self.listener.arn,
            "healthCheckPath": self._args.health_check.path,
            "scheme": str(self._args.scheme),
            "securityGroupId": self.security_group.id,
            "accessLogBucket": self.log_bucket.bucket,
        }

    # -- access logs ------------------------------------------------------------------------
    def _create_log_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        args, stem = self._args, f"{self._name}-logs"
        tags = {**args.tags, **args.personal_tags}
        key = RegionalKey(
            f"{stem}-key",
            RegionalKeyArgs(
                description=f"NLB access logs of {args.name} (client IPs)",
                account_id=args.account_id,
                alias=args.log_bucket_name,
                service_statements=[log_delivery_key_statement(args.region, args.account_id)],
                tags=tags,
            ),
            opts=self._child,
        )
        bucket = aws.s3.Bucket(stem, bucket=args.log_bucket_name, tags=tags, opts=self._child)
        protected = buckets.protect_bucket(
            stem, bucket, buckets.kms_encryption(key.arn), self._child
        )
        protected.lifecycle(
            f"{stem}-lifecycle",
            # Expiry leaves noncurrent versions behind; client IPs must really go.
            [
                buckets.lifecycle_rule(
                    "expire-access-logs",
                    expire_days=args.access_log_retention_days,
                    noncurrent_days=1,
                )
            ],
            self._child,
        )
        return bucket, protected.policy(
            f"{stem}-policy",
            log_bucket_statements(bucket.arn, args.region, args.account_id),
            self._child,
        )

    # -- network ----------------------------------------------------------------------------
    def _create_security_groups(self) -> aws.ec2.SecurityGroup:
        args, port = self._args, self._args.backend.port
        group = aws.ec2.SecurityGroup(
            f"{self._name}-nlb-sg",
            vpc_id=args.vpc_id,
            description=f"NLB {args.name}: TLS in, the gateway port of the nodes out",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    cidr_blocks=list(CLIENT_CIDRS),
                    description="Clients through Global Accelerator, TLS",
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    security_groups=[args.node_security_group_id],
                    description="Gateway pods: traffic and health checks",
                )
            ],
            tags={"Name": f"{args.name}-nlb"},
            opts=self._child,
        )
        aws.ec2.SecurityGroupRule(
            f"{self._name}-nodes-from-nlb",
            type="ingress",
            security_group_id=args.node_security_group_id,
            source_security_group_id=group.id,
            protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"NLB {args.name} to the gateway pods only",
            opts=self._child,
        )
        return group

    def _create_load_balancer(self, log_policy: aws.s3.BucketPolicy) -> aws.lb.LoadBalancer:
        args = self._args
        internal = args.scheme is Scheme.INTERNAL
        return aws.lb.LoadBalancer(
            f"{self._name}-nlb",
            name=args.name,
            load_balancer_type="network",
            internal=internal,
            subnets=list(args.private_subnet_ids if internal else args.public_subnet_ids),
            security_groups=[self.security_group.id],
            ip_address_type="ipv4",
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=True,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=self.log_bucket.bucket, prefix=LOG_PREFIX, enabled=True
            ),
            # ELB checks that it may write to the bucket when access logs are turned on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )

    def _create_target_group(self) -> aws.lb.TargetGroup:
        args, check = self._args, self._args.health_check
        return aws.lb.TargetGroup(
            f"{self._name}-gateway",
            name=args.name,
            target_type="ip",
            protocol="TCP",
            port=args.backend.port,
            vpc_id=args.vpc_id,
            ip_address_type="ipv4",
            deregistration_delay=args.deregistration_delay_seconds,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=check.path,
                matcher="200",
                interval=check.interval_seconds,
                timeout=check.timeout_seconds,
                healthy_threshold=check.healthy_threshold,
                unhealthy_threshold=check.unhealthy_threshold,
            ),
            opts=self._child,
        )

    def _create_listener(self) -> aws.lb.Listener:
        args = self._args
        return aws.lb.Listener(
            f"{self._name}-tls",
            load_balancer_arn=self.load_balancer.arn,
            port=HTTPS,
            protocol="TLS",
            certificate_arn=args.certificate_arn,
            ssl_policy=TLS_POLICY,
            # The gateway speaks HTTP/1.1 only; say so in the handshake.
            alpn_policy="HTTP1Only",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="forward", target_group_arn=self.target_group.arn
                )
            ],
            opts=self._child,
        )

    # -- Kubernetes -------------------------------------------------------------------------
    def _install_controller(self) -> k8s.helm.v3.Release:
        args = self._args
        role = PodRole(
            f"{self._name}-lb-controller",
            PodRoleArgs(
                cluster_name=args.cluster_name,
                namespace=LB_CONTROLLER_NAMESPACE,
                service_account=LB_CONTROLLER_SERVICE_ACCOUNT,
                account_id=args.account_id,
                inline_policies={
                    "target-group-binding": pulumi.Output.json_dumps(
                        lb_controller_policy(self.target_group.arn)
                    )
                },
                tags=dict(args.tags),
            ),
            opts=self._child,
        )
        return k8s.helm.v3.Release(
            f"{self._name}-lb-controller-chart",
            k8s.helm.v3.ReleaseArgs(
                name=LB_CONTROLLER.chart,
                chart=LB_CONTROLLER.chart,
                version=LB_CONTROLLER.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=LB_CONTROLLER.repository),
                namespace=LB_CONTROLLER_NAMESPACE,
                values=lb_controller_values(args.cluster_name, args.region, args.vpc_id),
                skip_crds=False,
                atomic=True,
                cleanup_on_fail=True,
                timeout=RELEASE_TIMEOUT_SECONDS,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.k8s_provider, depends_on=[role, *args.depends_on]
            ),
        )

    def _bind_gateway(self) -> k8s.apiextensions.CustomResource:
        args = self._args
        return k8s.apiextensions.CustomResource(
            f"{self._name}-gateway-binding",
            api_version=TARGET_GROUP_BINDING_API,
            kind="TargetGroupBinding",
            metadata={"name": args.backend.service, "namespace": args.backend.namespace},
            spec=target_group_binding_spec(args.backend, self.target_group.arn, args.vpc_id),
            # The chart installs the CRD and the webhook that validates bindings.
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.k8s_provider,
                depends_on=[self.controller, *args.backend_depends_on],
            ),
        )


# -- documents (pure) ----------------------------------------------------------------------
def target_group_binding_spec(
    backend: GatewayBackend, target_group_arn: pulumi.Input[str], vpc_id: pulumi.Input[str]
) -> dict[str, Any]:
    """No ``networking`` block: the security groups above admit the NLB, so the controller
    needs no right to change security groups."""
    return {
        "serviceRef": {"name": backend.service, "port": backend.port},
        "targetGroupARN": target_group_arn,
        "targetType": "ip",
        "ipAddressType": "ipv4",
        "vpcID": vpc_id,
    }


def lb_controller_policy(target_group_arn: pulumi.Input[str]) -> dict[str, Any]:
    """What a TargetGroupBinding needs: describe load balancers, targets and the network,
    and register or deregister targets of this one target group. The controller cannot create,
    change or delete load balancers, listeners or security groups."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:Describe*", "ec2:Describe*"],
                "Resource": "*",
            },
            {
                "Sid": "RegisterGatewayPods",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:RegisterTargets",
                    "elasticloadbalancing:DeregisterTargets",
                ],
                "Resource": target_group_arn,
            },
        ],
    }


def lb_controller_values(
    cluster_name: pulumi.Input[str], region: str, vpc_id: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        # Region and VPC given: pods cannot read them from instance metadata (hop limit 1).
        "region": region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        "serviceAccount": {"create": True, "name": LB_CONTROLLER_SERVICE_ACCOUNT},
        "nodeSelector": {NODE_ROLE_LABEL: SYSTEM_NODE_ROLE},
        "podDisruptionBudget": {"maxUnavailable": 1},
        # Bindings only: no Ingress class, no rewriting of LoadBalancer Services into NLBs,
        # no shared backend security group (its rules would need write access to groups).
        "createIngressClassResource": False,
        "ingressClassParams": {"create": False},
        "enableServiceMutatorWebhook": False,
        "enableBackendSecurityGroup": False,
    }


def log_bucket_statements(
    bucket_arn: pulumi.Input[str], region: str, account_id: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """ELB log delivery for this account's load balancers in this region, and TLS only
    (Elastic Load Balancing user guide for NLBs, "Enable access logs", example bucket policy)."""
    source_arn = {"aws:SourceArn": _log_source_arn(region, account_id)}
    return [
        buckets.deny_insecure_transport(bucket_arn, pulumi.Output.concat(bucket_arn, "/*")),
        {
            "Sid": "AWSLogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": source_arn,
            },
        },
        {
            "Sid": "AWSLogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "delivery.logs.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(
                bucket_arn, "/", LOG_PREFIX, "/AWSLogs/", account_id, "/*"
            ),
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": account_id,
                    "s3:x-amz-acl": "bucket-owner-full-control",
                },
                "ArnLike": source_arn,
            },
        },
    ]


def _log_source_arn(region: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:aws:logs:", region, ":", account_id, ":*")


def log_delivery_key_statement(region: str, account_id: pulumi.Input[str]) -> dict[str, Any]:
    """Lets log delivery encrypt this account's logs from this region with the bucket's key
    (CloudWatch Logs user guide, "Logs sent to Amazon S3", S3 bucket server-side encryption)."""
    return {
        "Sid": "LogDeliveryEncryptsAccessLogs",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": _log_source_arn(region, account_id)},
        },
    }


def certificate_region(arn: str) -> str | None:
    """The region of an ACM certificate ARN, or None if ``arn`` is not one."""
    match = _CERTIFICATE.match(arn)
    return match["region"] if match else None


def health_check_error(check: HealthCheck) -> str | None:
    """What is wrong with ``check`` under the NLB's limits, or None."""
    if not check.path.startswith("/"):
        return f"path must start with '/', got {check.path!r}"
    if not 5 <= check.interval_seconds <= 300:
        return f"interval_seconds must be 5 to 300, got {check.interval_seconds}"
    if not 2 <= check.timeout_seconds < check.interval_seconds or check.timeout_seconds > 120:
        return (
            f"timeout_seconds must be 2 to 120 and below the interval "
            f"({check.interval_seconds}), got {check.timeout_seconds}"
        )
    for name in ("healthy_threshold", "unhealthy_threshold"):
        value = getattr(check, name)
        if not 2 <= value <= 10:
            return f"{name} must be 2 to 10, got {value}"
    return None


def validate_args(args: RegionalIngressArgs) -> None:
    """Fails before any resource exists, naming the input, the bad value and what is allowed."""
    if not _NAME.match(args.name):
        raise ValueError(
            f"name must be 1-32 letters, digits and '-' (an NLB name), got {args.name!r}"
        )
    region = certificate_region(args.certificate_arn)
    if region != args.region:
        raise ValueError(
            f"certificate_arn must be an ACM certificate ARN in {args.region} "
            f"(arn:aws:acm:{args.region}:<account>:certificate/<id>), got {args.certificate_arn!r}"
        )
    error = health_check_error(args.health_check)
    if error:
        raise ValueError(f"health_check: {error}")
    delay = args.deregistration_delay_seconds
    if not 0 <= delay <= 3600:
        raise ValueError(f"deregistration_delay_seconds must be 0 to 3600, got {delay}")
    if args.access_log_retention_days < 1:
        raise ValueError(
            f"access_log_retention_days must be at least 1, got {args.access_log_retention_days}"
        )
    if args.personal_tags.get("data-classification") != "personal":
        raise ValueError(
            "personal_tags must carry data-classification=personal (access logs hold client "
            f"IPs), got {dict(args.personal_tags)}"
        )

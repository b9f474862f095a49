"""Network exposure: private EKS endpoints, no world-open security groups, private nodes,
TLS on every listener, internal load balancers, no public buckets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policies.checks import every_bucket, flag_forbidden, flag_required
from policies.props import WORLD_CIDRS, flag, get, is_set, items, maps, number, text
from policies.rule import ConfigKey, ResourceRule, ResourceView, Settings, StackRule
from policies.tokens import (
    DEFAULT_SECURITY_GROUP,
    EC2_NODE_CLASS,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    INSTANCE,
    LAUNCH_TEMPLATE,
    LB_LISTENERS,
    LOAD_BALANCERS,
    S3_PUBLIC_ACCESS_BLOCK,
    SECURITY_GROUP,
    SECURITY_GROUP_INGRESS,
    SECURITY_GROUP_RULE,
    SUBNET,
)

HTTPS = 443
WORLD_INGRESS_PORTS = ConfigKey.array(
    "worldIngressPorts",
    of="integer",
    default=[HTTPS],
    description="TCP ports that may accept traffic from anywhere (Global Accelerator with "
    "client-IP preservation delivers client addresses to the load balancer).",
)
TLS_PASSTHROUGH_PORTS = ConfigKey.array(
    "tlsPassthroughPorts",
    of="integer",
    default=[HTTPS],
    description="Ports where a TCP listener passes TLS through to targets that terminate it "
    "(NLBs behind Global Accelerator with client-IP preservation, which rules out TLS "
    "listeners).",
)
STRONG_TLS_POLICIES = ConfigKey.array(
    "allowedSslPolicyPrefixes",
    of="string",
    default=["ELBSecurityPolicy-TLS13-1-2-Res-", "ELBSecurityPolicy-TLS13-1-3-"],
    description="Listener security policies (by prefix) with TLS 1.2+ and forward-secret "
    "AEAD ciphers only.",
)
PUBLIC_ENDPOINT_ENVIRONMENTS = ConfigKey.array(
    "publicEndpointEnvironments",
    of="string",
    default=["dev"],
    description="Environments (stack name prefix) whose clusters may keep a public "
    "endpoint, limited to named CIDRs by eks-public-endpoint-restricted.",
)
BLOCK_SETTINGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


# -- EKS endpoint ----------------------------------------------------------------------------
def _public_endpoint(props: Mapping[str, Any]) -> bool:
    # EKS turns the public endpoint on unless told otherwise.
    return flag(get(props, "vpcConfig", "endpointPublicAccess")) is not False


def _environment(stack: str | None) -> str:
    return (stack or "").rsplit("/", 1)[-1].split("-", 1)[0]


def eks_endpoint_private(view: ResourceView, settings: Settings) -> Iterator[str]:
    props = view.props
    if flag(get(props, "vpcConfig", "endpointPrivateAccess")) is not True:
        yield (
            f"EKS cluster {view.label} must serve its API inside the VPC: set vpc_config "
            "endpoint_private_access=True."
        )
    allowed = list(settings["publicEndpointEnvironments"])
    if _public_endpoint(props) and _environment(view.stack) not in allowed:
        yield (
            f"EKS cluster {view.label} has a public API endpoint in stack {view.stack}: set "
            "vpc_config endpoint_public_access=False and deploy from a network that reaches "
            f"the VPC (public endpoints are allowed only in {allowed})."
        )


def eks_public_endpoint_restricted(view: ResourceView, _: Settings) -> Iterator[str]:
    if not _public_endpoint(view.props):
        return
    # Only strings can be CIDRs; anything else in the list is malformed and ignored here.
    cidrs = {
        c for c in items(get(view.props, "vpcConfig", "publicAccessCidrs")) if isinstance(c, str)
    }
    if not cidrs or WORLD_CIDRS & cidrs:
        yield (
            f"EKS cluster {view.label} exposes its API endpoint to the whole internet: set "
            "vpc_config public_access_cidrs to the operators' and CI's ranges, or turn the "
            "public endpoint off."
        )


# -- security groups -------------------------------------------------------------------------
def _world_rules(view: ResourceView) -> Iterator[Mapping[str, Any]]:
    """Ingress rules of the resource that admit 0.0.0.0/0 or ::/0."""
    props = view.props
    if view.type == SECURITY_GROUP:
        rules = maps(props.get("ingress"))
    elif view.type == SECURITY_GROUP_RULE:
        rules = [props] if text(props.get("type")) == "ingress" else []
    else:
        rules = [
            {
                **props,
                "cidrBlocks": [props.get("cidrIpv4")],
                "ipv6CidrBlocks": [props.get("cidrIpv6")],
                "protocol": props.get("ipProtocol"),
            }
        ]
    for rule in rules:
        blocks = [*items(rule.get("cidrBlocks")), *items(rule.get("ipv6CidrBlocks"))]
        cidrs = {c for c in blocks if isinstance(c, str)}
        if cidrs & WORLD_CIDRS:
            yield rule


def _ports(settings: Settings, key: str) -> set[float]:
    """A port list setting as the numbers plan files carry (floats: ``443.0``)."""
    return {float(p) for p in settings[key]}


def _shown(ports: set[float]) -> list[int]:
    return sorted(int(p) for p in ports)


def _only_allowed_ports(rule: Mapping[str, Any], ports: set[float]) -> bool:
    low, high = number(rule.get("fromPort")), number(rule.get("toPort"))
    protocol = text(rule.get("protocol")).lower()
    return protocol in ("tcp", "6") and low is not None and low == high and low in ports


def security_group_no_world_ingress(view: ResourceView, settings: Settings) -> Iterator[str]:
    ports = _ports(settings, "worldIngressPorts")
    for rule in _world_rules(view):
        if not _only_allowed_ports(rule, ports):
            span = f"{rule.get('protocol')} {rule.get('fromPort')}-{rule.get('toPort')}"
            yield (
                f"Security group {view.label} admits {span} from anywhere: restrict the "
                "source to the VPC, a prefix list or a security group (only TCP "
                f"{_shown(ports)} may face the internet)."
            )


def default_security_group_closed(view: ResourceView, _: Settings) -> Iterator[str]:
    if items(view.props.get("ingress")) or items(view.props.get("egress")):
        yield (
            f"Default security group {view.label} must allow nothing: set ingress=[] and "
            "egress=[] and give workloads their own groups."
        )


# -- nodes and subnets -----------------------------------------------------------------------
def _public_ip_requested(view: ResourceView) -> bool:
    props = view.props
    if view.type == LAUNCH_TEMPLATE:
        interfaces = maps(props.get("networkInterfaces"))
        return any(flag(i.get("associatePublicIpAddress")) is True for i in interfaces)
    if view.type == EC2_NODE_CLASS:
        return flag(get(props, "spec", "associatePublicIPAddress")) is True
    return flag(props.get("associatePublicIpAddress")) is True


def nodes_no_public_ip(view: ResourceView, _: Settings) -> Iterator[str]:
    if _public_ip_requested(view):
        yield (
            f"{view.label} gives nodes a public IP: remove associate_public_ip_address "
            "(associatePublicIPAddress) and keep nodes in private subnets behind NAT."
        )


subnet_no_auto_public_ip = flag_forbidden(
    "mapPublicIpOnLaunch",
    message="Subnet {label} hands a public IP to everything launched in it: set "
    "map_public_ip_on_launch=False.",
)


def node_group_no_open_ssh(view: ResourceView, _: Settings) -> Iterator[str]:
    remote = view.props.get("remoteAccess")
    if is_set(get(remote, "ec2SshKey")) and not is_set(get(remote, "sourceSecurityGroupIds")):
        yield (
            f"Node group {view.label} opens SSH to 0.0.0.0/0 (an SSH key without source "
            "security groups): remove remote_access and use SSM, or set "
            "source_security_group_ids."
        )


# -- load balancers --------------------------------------------------------------------------
def _redirects_to_https(listener: Mapping[str, Any]) -> bool:
    return any(
        text(a.get("type")) == "redirect" and text(get(a, "redirect", "protocol")) == "HTTPS"
        for a in maps(listener.get("defaultActions"))
    )


def _tls_passthrough(listener: Mapping[str, Any], ports: set[float]) -> bool:
    # Global Accelerator cannot preserve client IPs through an NLB with a TLS listener, so
    # the NLB forwards TCP on the TLS port and the gateway terminates TLS itself. The pack
    # cannot see what the targets speak: the port is the declared contract.
    return text(listener.get("protocol")).upper() == "TCP" and number(listener.get("port")) in ports


def lb_listener_tls(view: ResourceView, settings: Settings) -> Iterator[str]:
    protocol = text(view.props.get("protocol")).upper()
    if protocol in ("HTTPS", "TLS"):
        return
    if protocol == "HTTP" and _redirects_to_https(view.props):
        return
    passthrough = _ports(settings, "tlsPassthroughPorts")
    if _tls_passthrough(view.props, passthrough):
        return
    yield (
        f"Listener {view.label} accepts {protocol or 'unspecified protocol'} traffic "
        f"on port {view.props.get('port')} without TLS: use protocol 'TLS' (NLB) or "
        "'HTTPS' (ALB) with certificate_arn, pass TLS through on port "
        f"{_shown(passthrough)} with protocol 'TCP', or make an HTTP "
        "listener redirect to HTTPS."
    )


def lb_listener_tls_policy(view: ResourceView, settings: Settings) -> Iterator[str]:
    if text(view.props.get("protocol")).upper() not in ("HTTPS", "TLS"):
        return
    policy = text(view.props.get("sslPolicy"))
    if not any(policy.startswith(prefix) for prefix in settings["allowedSslPolicyPrefixes"]):
        yield (
            f"Listener {view.label} uses TLS policy {policy or 'the default (2016-08)'}: set "
            "ssl_policy to ELBSecurityPolicy-TLS13-1-2-Res-2021-06 or stricter."
        )


lb_internal = flag_required(
    "internal",
    message="Load balancer {label} is internet-facing: set internal=True; Global Accelerator "
    "reaches internal load balancers in private subnets.",
)


# -- S3 public access ------------------------------------------------------------------------
def s3_public_access_block_complete(view: ResourceView, _: Settings) -> Iterator[str]:
    off = [name for name in BLOCK_SETTINGS if flag(view.props.get(name)) is not True]
    if off:
        yield (
            f"Public access block {view.label} leaves {', '.join(off)} off: set all four "
            "settings to True."
        )


s3_bucket_has_public_access_block = every_bucket(
    frozenset({S3_PUBLIC_ACCESS_BLOCK}),
    "Bucket {label} has no public access block: add an aws.s3.BucketPublicAccessBlock with "
    "all four settings True.",
)


RULES = (
    ResourceRule(
        name="eks-endpoint-private",
        summary="EKS API endpoints are private: private access on, public access off "
        "(except in the configured environments, dev by default, for operators' networks).",
        industry=(
            "CKV_AWS_39",
            "AVD-AWS-0040",
            "CIS EKS 5.4.2",
            "Security Hub EKS.1",
            "CT.EKS.PR.1",
        ),
        types=frozenset({EKS_CLUSTER}),
        check=eks_endpoint_private,
        config=(PUBLIC_ENDPOINT_ENVIRONMENTS,),
    ),
    ResourceRule(
        name="eks-public-endpoint-restricted",
        summary="A public EKS endpoint, where one is allowed at all, is limited to named "
        "CIDR ranges, never 0.0.0.0/0.",
        industry=("CKV_AWS_38", "AVD-AWS-0041", "CIS EKS 5.4.1"),
        types=frozenset({EKS_CLUSTER}),
        check=eks_public_endpoint_restricted,
    ),
    ResourceRule(
        name="security-group-no-world-ingress",
        summary="Security groups admit traffic from 0.0.0.0/0 or ::/0 only on the "
        "configured TCP ports (443).",
        industry=("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260", "CKV_AWS_277", "AVD-AWS-0107"),
        types=frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, SECURITY_GROUP_INGRESS}),
        check=security_group_no_world_ingress,
        config=(WORLD_INGRESS_PORTS,),
    ),
    ResourceRule(
        name="default-security-group-closed",
        summary="Each VPC's default security group allows no traffic.",
        industry=("CKV2_AWS_12", "AVD-AWS-0173"),
        types=frozenset({DEFAULT_SECURITY_GROUP}),
        check=default_security_group_closed,
    ),
    ResourceRule(
        name="nodes-no-public-ip",
        summary="Nodes (launch templates, Karpenter EC2NodeClasses, instances) get no "
        "public IP address.",
        industry=(
            "CKV_AWS_88",
            "AVD-AWS-0009",
            "AWSGuard ec2-instance-no-public-ip",
            "CIS EKS 5.4.3",
        ),
        types=frozenset({LAUNCH_TEMPLATE, EC2_NODE_CLASS, INSTANCE}),
        check=nodes_no_public_ip,
    ),
    ResourceRule(
        name="subnet-no-auto-public-ip",
        summary="Subnets do not assign public IP addresses on launch.",
        industry=("CKV_AWS_130", "AVD-AWS-0164"),
        types=frozenset({SUBNET}),
        check=subnet_no_auto_public_ip,
    ),
    ResourceRule(
        name="node-group-no-open-ssh",
        summary="EKS managed node groups do not open SSH to the world (a key without "
        "source security groups).",
        industry=("CKV_AWS_100",),
        types=frozenset({EKS_NODE_GROUP}),
        check=node_group_no_open_ssh,
    ),
    ResourceRule(
        name="lb-listener-tls",
        summary="Load balancer listeners terminate TLS (HTTPS or TLS), pass it through as "
        "TCP on the TLS port (443), or redirect HTTP to HTTPS.",
        industry=("CKV_AWS_2", "CKV2_AWS_20", "AVD-AWS-0054", "CIS EKS 5.4.5"),
        types=LB_LISTENERS,
        check=lb_listener_tls,
        config=(TLS_PASSTHROUGH_PORTS,),
    ),
    ResourceRule(
        name="lb-listener-tls-policy",
        summary="TLS listeners use a TLS 1.2+ security policy with strong ciphers.",
        industry=("CKV2_AWS_74", "AVD-AWS-0047"),
        types=LB_LISTENERS,
        check=lb_listener_tls_policy,
        config=(STRONG_TLS_POLICIES,),
    ),
    ResourceRule(
        name="lb-internal",
        summary="Load balancers are internal; Global Accelerator is the only internet entry point.",
        industry=("AVD-AWS-0053",),
        types=LOAD_BALANCERS,
        check=lb_internal,
    ),
    ResourceRule(
        name="s3-public-access-block-complete",
        summary="S3 public access blocks turn on all four settings.",
        industry=(
            "CKV_AWS_53",
            "CKV_AWS_54",
            "CKV_AWS_55",
            "CKV_AWS_56",
            "AVD-AWS-0086",
            "AVD-AWS-0087",
            "AVD-AWS-0091",
            "AVD-AWS-0093",
        ),
        types=frozenset({S3_PUBLIC_ACCESS_BLOCK}),
        check=s3_public_access_block_complete,
    ),
    StackRule(
        name="s3-bucket-has-public-access-block",
        summary="Every S3 bucket has a public access block.",
        industry=("CKV2_AWS_6", "AVD-AWS-0094"),
        check=s3_bucket_has_public_access_block,
    ),
)

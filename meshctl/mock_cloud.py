"""A mock AWS for Pulumi's mock engine: physical ids, ARNs and computed outputs that look
like the real ones, so policies and the global stack see realistic values.

``CloudMocks`` answers ``new_resource`` and ``call``; ``RecordingMonitor`` keeps what the
engine does not pass to mocks (parent, provider, dependencies) so a plan can be written.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

ACCOUNT_ID = "123456789012"
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTITION = "aws"
_GLOBAL_SERVICES = frozenset({"iam", "s3", "globalaccelerator", "cloudfront", "route53"})


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    dependencies: list[str]
    id: str | None = None
    props: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    region: str | None = None


def _digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _type_parts(token: str) -> tuple[str, str, str]:
    """``aws:ec2/vpc:Vpc`` -> ``("aws", "ec2", "Vpc")``."""
    package, module, cls = token.split(":", 2)
    return package, module.split("/", 1)[0], cls


class CloudMocks(pulumi.runtime.Mocks):
    """Outputs for AWS and Kubernetes resources as the real providers would compute them."""

    def __init__(
        self,
        stack: str,
        default_region: str,
        availability_zones: dict[str, list[str]],
        stack_outputs: dict[str, dict[str, Any]] | None = None,
    ):
        self.stack = stack
        self.default_region = default_region
        self.availability_zones = availability_zones
        self.stack_outputs = stack_outputs or {}
        self.provider_regions: dict[str, str] = {}
        self.resources: dict[str, RecordedResource] = {}

    # -- resources ---------------------------------------------------------------------
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            return self._stack_reference(args)
        if not args.custom:
            return None, inputs
        if args.typ.startswith("pulumi:providers:"):
            pid = f"{args.name}-{_digest(self.stack, args.name, length=8)}"
            if args.typ == "pulumi:providers:aws":
                self.provider_regions[pid] = str(inputs.get("region") or self.default_region)
            return pid, inputs
        region = self.region_of(args.provider, inputs)
        package = args.typ.split(":", 1)[0]
        if package == "aws":
            return self._aws_resource(args, inputs, region)
        if package == "kubernetes":
            meta = inputs.get("metadata") or {}
            ident = "/".join(p for p in (meta.get("namespace"), meta.get("name") or args.name) if p)
            return ident, inputs
        return f"{args.name}-{_digest(self.stack, args.typ, args.name, length=8)}", inputs

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        name = str(args.inputs.get("name") or args.name)
        short = name.rsplit("/", 1)[-1]
        if short not in self.stack_outputs:
            raise KeyError(
                f"stack reference {name!r}: no plan for stack {short!r}; plan the regional "
                "stacks before the global stack"
            )
        return name, {"name": name, "outputs": self.stack_outputs[short], "secretOutputNames": []}

    def region_of(self, provider_ref: str | None, inputs: dict[str, Any]) -> str:
        if inputs.get("region"):
            return str(inputs["region"])
        if provider_ref:
            pid = provider_ref.rsplit("::", 1)[-1]
            if pid in self.provider_regions:
                return self.provider_regions[pid]
        return self.default_region

    def _aws_resource(
        self, args: MockResourceArgs, inputs: dict[str, Any], region: str
    ) -> tuple[str, dict[str, Any]]:
        _, service, cls = _type_parts(args.typ)
        physical = self._physical_name(args, inputs)
        builder = _AWS_OUTPUTS.get(args.typ)
        outputs = {**inputs}
        rid = physical
        if builder is not None:
            rid, extra = builder(physical, inputs, region, args.name)
            outputs.update(extra)
        elif service == "ec2":
            rid = f"{_EC2_PREFIX.get(cls, _kebab(cls))}-{_digest(self.stack, args.name)}"
        outputs.setdefault("id", rid)
        if "arn" not in outputs:
            outputs["arn"] = _arn(service, region, f"{_kebab(cls)}/{rid}")
        outputs.setdefault("tagsAll", inputs.get("tags") or {})
        if args.typ == "aws:ec2/vpc:Vpc":
            outputs.setdefault("defaultRouteTableId", f"rtb-{_digest(rid)}")
        return rid, outputs

    def _physical_name(self, args: MockResourceArgs, inputs: dict[str, Any]) -> str:
        for key in ("name", "bucket", "functionName", "namePrefix", "clusterName", "roleName"):
            value = inputs.get(key)
            if isinstance(value, str) and value:
                return value
        # Pulumi auto-names by appending a random suffix; a hash keeps plans reproducible.
        return f"{args.name}-{_digest(self.stack, args.typ, args.name, length=7)}"

    # -- invokes -----------------------------------------------------------------------
    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = _INVOKES.get(args.token)
        if handler is None:
            raise NotImplementedError(
                f"invoke {args.token} has no mock: compute the value in Python instead, "
                "or add it to meshctl/mock_cloud.py"
            )
        region = self.region_of(args.provider, dict(args.args))
        return handler(self, dict(args.args), region), []


class RecordingMonitor(MockMonitor):
    """Keeps each registration's parent, provider and dependencies for the plan file."""

    def __init__(self, mocks: CloudMocks):
        super().__init__(mocks)
        self.cloud = mocks
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        self._record(request, response.urn, request.object, bool(request.custom))
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # StackReferences are reads, not registrations.
        response = super().ReadResource(request)
        self._record(request, response.urn, request.properties, custom=True)
        return response

    def _record(self, request: Any, urn: str, properties: Any, custom: bool) -> None:
        registration = self.resources.get(urn)
        inputs = pulumi.runtime.rpc.deserialize_properties(properties)
        provider = request.provider or None
        self.recorded.append(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=custom,
                parent=request.parent or None,
                provider=provider,
                dependencies=list(getattr(request, "dependencies", [])),
                id=registration.id if registration and custom else None,
                props=_plain(inputs),
                outputs=_plain(registration.state) if registration else {},
                region=self.cloud.region_of(provider, inputs) if custom else None,
            )
        )


def _plain(value: Any) -> Any:
    """Deserialised properties may hold resource references or sentinels; keep JSON types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_name", repr(value))
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return _plain_asset(value)
    return str(value)


def _plain_asset(value: pulumi.Asset | pulumi.Archive) -> Any:
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {str(k): _plain(v) for k, v in value.assets.items()}}
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        # Relative to the repository, so plans do not depend on where it is checked out.
        return {"path": os.path.relpath(value.path, _REPO_ROOT)}
    return type(value).__name__


# -- output builders, by type token ------------------------------------------------------
def _arn(service: str, region: str, resource: str, sep: str = ":") -> str:
    scoped_region = "" if service in _GLOBAL_SERVICES else region
    account = "" if service == "s3" else ACCOUNT_ID
    return f"arn:{PARTITION}:{service}:{scoped_region}:{account}{sep}{resource}"


_EC2_PREFIX = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "SecurityGroup": "sg",
    "DefaultSecurityGroup": "sg",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "RouteTable": "rtb",
    "RouteTableAssociation": "rtbassoc",
    "Route": "r",
    "VpcEndpoint": "vpce",
    "FlowLog": "fl",
    "LaunchTemplate": "lt",
    "SecurityGroupRule": "sgr",
    "NetworkAcl": "acl",
}

OutputBuilder = Any


def _bucket(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    return physical, {
        "bucket": physical,
        "arn": f"arn:aws:s3:::{physical}",
        "bucketDomainName": f"{physical}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{physical}.s3.{region}.amazonaws.com",
        "region": region,
    }


def _kms_key(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple[str, dict]:
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{name}"))
    prefix = "mrk-" if inputs.get("multiRegion") else ""
    key_id = prefix + key_id.replace("-", "") if prefix else key_id
    return key_id, {"keyId": key_id, "arn": _arn("kms", region, f"key/{key_id}")}


def _named(service: str, path: str) -> Any:
    def build(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
        return physical, {
            "arn": _arn(service, region, path.format(name=physical)),
            "name": physical,
        }

    return build


def _iam_role(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    return physical, {
        "arn": _arn("iam", region, f"role/{physical}"),
        "name": physical,
        "uniqueId": "AROA" + _digest(physical).upper(),
    }


def _log_group(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    return physical, {"arn": _arn("logs", region, f"log-group:{physical}"), "name": physical}


def _eks_cluster(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    oidc = _digest(physical, length=32).upper()
    return physical, {
        "arn": _arn("eks", region, f"cluster/{physical}"),
        "name": physical,
        "endpoint": f"https://{oidc}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
        "identities": [
            {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}
        ],
        "vpcConfig": {
            **(inputs.get("vpcConfig") or {}),
            "clusterSecurityGroupId": f"sg-{_digest(physical, 'cluster')}",
            "vpcId": (inputs.get("vpcConfig") or {}).get("vpcId", ""),
        },
        "status": "ACTIVE",
    }


def _load_balancer(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    kind = "net" if inputs.get("loadBalancerType") == "network" else "app"
    arn = _arn(
        "elasticloadbalancing", region, f"loadbalancer/{kind}/{physical}/{_digest(physical)}"
    )
    dns = f"{physical}-{_digest(physical, length=10)}.elb.{region}.amazonaws.com"
    return arn, {"arn": arn, "dnsName": dns, "zoneId": "Z2IFOLAFXWLO4F"}


def _target_group(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    arn = _arn("elasticloadbalancing", region, f"targetgroup/{physical}/{_digest(physical)}")
    return arn, {"arn": arn, "name": physical}


def _listener(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple[str, dict]:
    # A listener's ARN extends its load balancer's: listener/net/<lb name>/<lb id>/<id>.
    balancer = str(inputs.get("loadBalancerArn") or "")
    if ":loadbalancer/" not in balancer:
        return physical, {}
    arn = f"{balancer.replace(':loadbalancer/', ':listener/', 1)}/{_digest(name, length=16)}"
    return arn, {"arn": arn}


def _accelerator(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple[str, dict]:
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"accelerator/{name}"))
    arn = f"arn:aws:globalaccelerator::{ACCOUNT_ID}:accelerator/{ident}"
    octet = int(_digest(name, length=2), 16) % 250 + 1
    return arn, {
        "arn": arn,
        "dnsName": f"a{_digest(name, length=16)}.awsglobalaccelerator.com",
        "ipSets": [{"ipFamily": "IPv4", "ipAddresses": [f"75.2.{octet}.1", f"99.83.{octet}.1"]}],
    }


def _ga_child(kind: str) -> Any:
    def build(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple[str, dict]:
        parent = str(inputs.get("acceleratorArn") or inputs.get("listenerArn") or ACCOUNT_ID)
        arn = f"{parent}/{kind}/{_digest(name, length=8)}"
        return arn, {"arn": arn}

    return build


def _dynamodb_table(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    arn = _arn("dynamodb", region, f"table/{physical}")
    return physical, {
        "arn": arn,
        "name": physical,
        "streamArn": f"{arn}/stream/2026-01-01T00:00:00",
    }


def _sqs_queue(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    url = f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{physical}"
    return url, {"arn": _arn("sqs", region, physical), "url": url, "name": physical}


def _lambda(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    arn = _arn("lambda", region, f"function:{physical}")
    return physical, {"arn": arn, "invokeArn": arn, "qualifiedArn": f"{arn}:1", "version": "1"}


def _ecr_repository(physical: str, inputs: dict[str, Any], region: str, _: str) -> tuple[str, dict]:
    return physical, {
        "arn": _arn("ecr", region, f"repository/{physical}"),
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{physical}",
        "registryId": ACCOUNT_ID,
    }


def _event_source_mapping(
    physical: str, inputs: dict[str, Any], region: str, name: str
) -> tuple[str, dict]:
    # The id is a UUID (the function name is an input, not the mapping's name).
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/event-source-mapping/{name}"))
    function = str(inputs.get("functionName") or "")
    return ident, {
        "uuid": ident,
        "arn": _arn("lambda", region, f"event-source-mapping:{ident}"),
        "functionArn": function
        if function.startswith("arn:")
        else _arn("lambda", region, f"function:{function}"),
        "state": "Enabled",
    }


def _by_input(key: str) -> Any:
    """Resources whose id is one of their inputs (an endpoint policy is its endpoint's id)."""

    def build(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple[str, dict]:
        return str(inputs.get(key) or physical), {}

    return build


def _launch_template(physical: str, inputs: dict[str, Any], region: str, name: str) -> tuple:
    # Node groups reference a template by id and latestVersion (a number).
    ident = f"lt-{_digest(region, name)}"
    return ident, {"arn": _arn("ec2", region, f"launch-template/{ident}"), "latestVersion": 1}


_AWS_OUTPUTS: dict[str, Any] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _named("kms", "{name}"),
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _named("iam", "policy/{name}"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _named("iam", "oidc-provider/{name}"),
    "aws:iam/instanceProfile:InstanceProfile": _named("iam", "instance-profile/{name}"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _named("cloudwatch", "alarm:{name}"),
    "aws:cloudwatch/eventRule:EventRule": _named("events", "rule/{name}"),
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:globalaccelerator/accelerator:Accelerator": _accelerator,
    "aws:globalaccelerator/listener:Listener": _ga_child("listener"),
    "aws:globalaccelerator/endpointGroup:EndpointGroup": _ga_child("endpoint-group"),
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:kinesis/stream:Stream": _named("kinesis", "stream/{name}"),
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:lambda/function:Function": _lambda,
    "aws:lambda/eventSourceMapping:EventSourceMapping": _event_source_mapping,
    "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy": _by_input("vpcEndpointId"),
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
}


# -- invokes -----------------------------------------------------------------------------
def _caller_identity(mocks: CloudMocks, args: dict[str, Any], region: str) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/inference-mesh-deployer",
        "userId": "AROAEXAMPLE:deployer",
        "id": ACCOUNT_ID,
    }


def _availability_zones(mocks: CloudMocks, args: dict[str, Any], region: str) -> dict[str, Any]:
    zones = mocks.availability_zones.get(region, [])
    return {
        "names": zones,
        "zoneIds": [f"{region[:3]}-az{i + 1}" for i in range(len(zones))],
        "id": region,
        "state": "available",
    }


def _region(mocks: CloudMocks, args: dict[str, Any], region: str) -> dict[str, Any]:
    return {
        "name": region,
        "region": region,
        "id": region,
        "endpoint": f"ec2.{region}.amazonaws.com",
        "description": region,
    }


def _partition(mocks: CloudMocks, args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "id": PARTITION}


_INVOKES: dict[str, Any] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getPartition:getPartition": _partition,
}

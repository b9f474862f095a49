"""The regional network: a VPC over three zones, NAT, VPC endpoints and flow logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam_documents import policy_document, service_trust_policy
from components.kms import RegionalKey, RegionalKeyArgs, logs_service_statement
from components.network_plan import ZoneSubnets, nat_zone_for, plan_subnets

GATEWAY_ENDPOINT_SERVICES: tuple[str, ...] = ("s3", "dynamodb")
INTERFACE_ENDPOINT_SERVICES: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "logs", "ec2")
"""Image pulls, pod identity, logs and Karpenter's EC2 calls stay off the NAT path."""
HTTPS = 443


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    cluster_name: str
    """Used for the ``karpenter.sh/discovery`` and ``kubernetes.io/cluster`` subnet tags."""
    account_id: pulumi.Input[str]
    nat_gateways: int = 3
    """How many NAT gateways: 1 (cheap, one zone carries egress) or one per zone."""
    interface_endpoints: bool = True
    flow_log_retention_days: int = 365
    flow_log_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the flow-log group and its key: flow logs hold client IPs (personal data)."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(args)
        super().__init__("inference-mesh:network:Network", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        zones = plan_subnets(args.vpc_cidr, args.availability_zones)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": args.cluster_name},
            opts=self._child,
        )
        self.vpc_id = self.vpc.id
        self._lock_default_security_group()
        public = self._create_public_subnets(zones)
        nat_ids = self._create_nat_gateways(public)
        private, route_tables = self._create_private_subnets(zones, nat_ids)
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]
        self.private_route_table_ids = [rt.id for rt in route_tables]
        self._create_gateway_endpoints()
        if args.interface_endpoints:
            self._create_interface_endpoints()
        self.flow_log_group_arn = self._create_flow_logs()
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, object]:
        return {
            "vpcId": self.vpc_id,
            "vpcCidr": self._args.vpc_cidr,
            "privateSubnetIds": self.private_subnet_ids,
            "publicSubnetIds": self.public_subnet_ids,
            "availabilityZones": list(self._args.availability_zones),
        }

    def _lock_default_security_group(self) -> None:
        # The default group allows all traffic between its members; nothing should use it.
        aws.ec2.DefaultSecurityGroup(
            f"{self._name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[], opts=self._child
        )

    def _create_public_subnets(self, zones: tuple[ZoneSubnets, ...]) -> list[aws.ec2.Subnet]:
        igw = aws.ec2.InternetGateway(f"{self._name}-igw", vpc_id=self.vpc.id, opts=self._child)
        table = aws.ec2.RouteTable(f"{self._name}-public-rt", vpc_id=self.vpc.id, opts=self._child)
        aws.ec2.Route(
            f"{self._name}-public-default-route",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self._child,
        )
        subnets = []
        for zone in zones:
            subnet = aws.ec2.Subnet(
                f"{self._name}-public-{zone.availability_zone}",
                vpc_id=self.vpc.id,
                cidr_block=zone.public_cidr,
                availability_zone=zone.availability_zone,
                # Nodes live in private subnets; nothing launched here gets a public IP by default.
                map_public_ip_on_launch=False,
                tags={
                    "Name": f"{self._args.cluster_name}-public-{zone.availability_zone}",
                    "kubernetes.io/role/elb": "1",
                    f"kubernetes.io/cluster/{self._args.cluster_name}": "shared",
                    "subnet-tier": "public",
                },
                opts=self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{self._name}-public-{zone.availability_zone}-rta",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=self._child,
            )
            subnets.append(subnet)
        return subnets

    def _create_nat_gateways(self, public: list[aws.ec2.Subnet]) -> list[pulumi.Output[str]]:
        nat_ids = []
        for index in range(self._args.nat_gateways):
            zone = self._args.availability_zones[index]
            eip = aws.ec2.Eip(f"{self._name}-nat-{zone}-eip", domain="vpc", opts=self._child)
            nat = aws.ec2.NatGateway(
                f"{self._name}-nat-{zone}",
                allocation_id=eip.id,
                subnet_id=public[index].id,
                connectivity_type="public",
                tags={"Name": f"{self._args.cluster_name}-nat-{zone}"},
                opts=self._child,
            )
            nat_ids.append(nat.id)
        return nat_ids

    def _create_private_subnets(
        self, zones: tuple[ZoneSubnets, ...], nat_ids: list[pulumi.Output[str]]
    ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.RouteTable]]:
        subnets, tables = [], []
        for index, zone in enumerate(zones):
            az = zone.availability_zone
            subnet = aws.ec2.Subnet(
                f"{self._name}-private-{az}",
                vpc_id=self.vpc.id,
                cidr_block=zone.private_cidr,
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={
                    "Name": f"{self._args.cluster_name}-private-{az}",
                    "kubernetes.io/role/internal-elb": "1",
                    f"kubernetes.io/cluster/{self._args.cluster_name}": "shared",
                    "karpenter.sh/discovery": self._args.cluster_name,
                    "subnet-tier": "private",
                },
                opts=self._child,
            )
            table = aws.ec2.RouteTable(
                f"{self._name}-private-{az}-rt", vpc_id=self.vpc.id, opts=self._child
            )
            aws.ec2.Route(
                f"{self._name}-private-{az}-default-route",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_ids[nat_zone_for(index, len(nat_ids))],
                opts=self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{self._name}-private-{az}-rta",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=self._child,
            )
            subnets.append(subnet)
            tables.append(table)
        return subnets, tables

    def _create_gateway_endpoints(self) -> None:
        self.gateway_endpoint_ids: dict[str, pulumi.Output[str]] = {}
        for service in GATEWAY_ENDPOINT_SERVICES:
            endpoint = aws.ec2.VpcEndpoint(
                f"{self._name}-{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{self._args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=self.private_route_table_ids,
                opts=self._child,
            )
            self.gateway_endpoint_ids[service] = endpoint.id

    def _create_interface_endpoints(self) -> None:
        group = aws.ec2.SecurityGroup(
            f"{self._name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to AWS interface endpoints",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    cidr_blocks=[self._args.vpc_cidr],
                    description="HTTPS from the VPC",
                )
            ],
            egress=[],
            opts=self._child,
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{self._name}-{service.replace('.', '-')}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{self._args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[group.id],
                opts=self._child,
            )

    def _create_flow_logs(self) -> pulumi.Output[str]:
        args, name = self._args, self._name
        key = RegionalKey(
            f"{name}-flow-logs",
            RegionalKeyArgs(
                description=f"VPC flow logs of {args.cluster_name}",
                account_id=args.account_id,
                alias=f"{args.cluster_name}-flow-logs",
                service_statements=[logs_service_statement(args.region, args.account_id)],
                tags=dict(args.flow_log_tags),
            ),
            opts=self._child,
        )
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/inference-mesh/{args.cluster_name}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key.arn,
            tags=dict(args.flow_log_tags),
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=pulumi.Output.json_dumps(
                service_trust_policy(
                    "vpc-flow-logs.amazonaws.com",
                    condition={"StringEquals": {"aws:SourceAccount": args.account_id}},
                )
            ),
            opts=self._child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                policy_document(
                    [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Resource": [group.arn, pulumi.Output.concat(group.arn, ":*")],
                        }
                    ]
                )
            ),
            opts=self._child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=dict(args.flow_log_tags),
            opts=self._child,
        )
        return group.arn


def _validate(args: NetworkArgs) -> None:
    zones = len(args.availability_zones)
    if args.nat_gateways not in (1, zones):
        raise ValueError(
            f"nat_gateways must be 1 or one per zone ({zones}), got {args.nat_gateways}"
        )
    if not all(z.startswith(args.region) for z in args.availability_zones):
        raise ValueError(
            f"availability_zones must be zones of {args.region}, "
            f"got {list(args.availability_zones)}"
        )

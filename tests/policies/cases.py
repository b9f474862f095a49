"""For every rule: a real resource of a shipped plan and one field changed so it violates.

The unchanged plan must pass the rule and the changed one must not; ``test_rules`` runs each
case offline and through the CrossGuard adapter. A rule without a case fails the suite.
Cases marked ``fixtures=`` add FIXTURE resources (harness.FIXTURES) for what no shipped stack
declares; the change is still one field of one resource.
"""

from __future__ import annotations

from typing import Any

from tests.policies.harness import Case, delp, edit_json, setp

REGIONAL = "prod-eu-west-1"
DEV = "dev-eu-west-1"
GLOBAL = "prod-global"

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
TABLE = "aws:dynamodb/table:Table"
STREAM = "aws:kinesis/stream:Stream"
QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY = "aws:kms/key:Key"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"

SSE_DEFAULT = "rules.0.applyServerSideEncryptionByDefault"
MULTI_REGION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"


def _wildcard_admin(policy: dict[str, Any]) -> None:
    policy["Statement"][0]["Principal"] = "*"


def _drop_first_rule(rules: list[Any]) -> None:
    del rules[0]


CASES: tuple[Case, ...] = (
    # -- encryption ------------------------------------------------------------------------------
    Case(
        "s3-bucket-encryption-configured",
        REGIONAL,
        SSE,
        "artifacts-bucket-encryption",
        setp("rules", []),
        blames="artifacts-bucket",
    ),
    Case(
        "s3-encryption-customer-key",
        REGIONAL,
        SSE,
        "artifacts-bucket-encryption",
        setp(f"{SSE_DEFAULT}.sseAlgorithm", "AES256"),
    ),
    Case(
        "s3-encryption-customer-key",
        REGIONAL,
        SSE,
        "features-offline-encryption",
        delp(f"{SSE_DEFAULT}.kmsMasterKeyId"),
    ),
    Case(
        "s3-encryption-blocks-sse-c",
        REGIONAL,
        SSE,
        "features-offline-encryption",
        delp("rules.0.blockedEncryptionTypes"),
    ),
    Case(
        "s3-encryption-blocks-sse-c",
        DEV,
        SSE,
        "ingress-logs-encryption",
        setp("rules.0.blockedEncryptionTypes", []),
    ),
    Case(
        "dynamodb-customer-key",
        REGIONAL,
        TABLE,
        "features-table",
        delp("serverSideEncryption.kmsKeyArn"),
    ),
    Case(
        "eks-secrets-encryption",
        REGIONAL,
        CLUSTER,
        "cluster-cluster",
        setp("encryptionConfig.resources", []),
    ),
    Case(
        "kinesis-customer-key", REGIONAL, STREAM, "features-stream", setp("encryptionType", "NONE")
    ),
    Case(
        "kinesis-customer-key",
        REGIONAL,
        STREAM,
        "features-stream",
        setp("kmsKeyId", "alias/aws/kinesis"),
    ),
    Case("sqs-queue-encrypted", REGIONAL, QUEUE, "features-dead-letters", delp("kmsMasterKeyId")),
    Case(
        "sqs-queue-encrypted",
        REGIONAL,
        QUEUE,
        "cluster-karpenter-interruptions",
        setp("sqsManagedSseEnabled", False),
    ),
    Case(
        "ebs-volumes-encrypted",
        REGIONAL,
        LAUNCH_TEMPLATE,
        "cluster-system-lt",
        setp("blockDeviceMappings.0.ebs.encrypted", "false"),
    ),
    Case(
        "ebs-volumes-encrypted",
        REGIONAL,
        NODE_CLASS,
        "cluster-karpenter-nodeclass-gpu",
        setp("spec.blockDeviceMappings.0.ebs.encrypted", False),
    ),
    Case("log-group-customer-key", REGIONAL, LOG_GROUP, "network-flow-logs", delp("kmsKeyId")),
    Case("kms-key-rotation", REGIONAL, KEY, "cluster-key-key", setp("enableKeyRotation", False)),
    Case(
        "kms-personal-key-single-region",
        REGIONAL,
        KEY,
        "features-key-key",
        setp("multiRegion", True),
    ),
    Case(
        "kms-key-policy-no-wildcard-principal",
        REGIONAL,
        KEY,
        "network-flow-logs-key",
        edit_json("policy", _wildcard_admin),
    ),
    # -- network ---------------------------------------------------------------------------------
    Case(
        "eks-endpoint-private",
        REGIONAL,
        CLUSTER,
        "cluster-cluster",
        setp("vpcConfig.endpointPublicAccess", True),
    ),
    Case(
        "eks-endpoint-private",
        DEV,
        CLUSTER,
        "cluster-cluster",
        setp("vpcConfig.endpointPrivateAccess", False),
    ),
    Case(
        "eks-public-endpoint-restricted",
        DEV,
        CLUSTER,
        "cluster-cluster",
        setp("vpcConfig.publicAccessCidrs", ["0.0.0.0/0"]),
    ),
    Case(
        "security-group-no-world-ingress",
        REGIONAL,
        SG,
        "cluster-node-sg",
        setp("ingress.2.cidrBlocks", ["0.0.0.0/0"]),
    ),
    Case(
        "security-group-no-world-ingress",
        REGIONAL,
        SG,
        "ingress-nlb-sg",
        setp("ingress.0.toPort", 8443),
    ),
    Case(
        "default-security-group-closed",
        REGIONAL,
        DEFAULT_SG,
        "network-default-sg",
        setp("ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}]),
    ),
    Case(
        "nodes-no-public-ip",
        REGIONAL,
        NODE_CLASS,
        "cluster-karpenter-nodeclass-gpu",
        setp("spec.associatePublicIPAddress", True),
    ),
    Case(
        "nodes-no-public-ip",
        REGIONAL,
        LAUNCH_TEMPLATE,
        "cluster-system-lt",
        setp("networkInterfaces", [{"associatePublicIpAddress": "true"}]),
    ),
    Case(
        "subnet-no-auto-public-ip",
        REGIONAL,
        SUBNET,
        "network-public-eu-west-1a",
        setp("mapPublicIpOnLaunch", True),
    ),
    Case(
        "node-group-no-open-ssh",
        REGIONAL,
        NODE_GROUP,
        "cluster-system",
        setp("remoteAccess", {"ec2SshKey": "operators"}),
    ),
    Case(
        "lb-listener-tls",
        REGIONAL,
        LISTENER,
        "ingress-tls",
        setp("protocol", "HTTP"),
    ),
    Case(
        "lb-listener-tls-policy",
        REGIONAL,
        LISTENER,
        "ingress-tls",
        setp("sslPolicy", "ELBSecurityPolicy-2016-08"),
    ),
    Case("lb-internal", REGIONAL, LB, "ingress-nlb", setp("internal", False)),
    Case(
        "s3-public-access-block-complete",
        REGIONAL,
        PAB,
        "artifacts-bucket-public-access-block",
        setp("blockPublicPolicy", False),
    ),
    Case(
        "s3-bucket-has-public-access-block",
        REGIONAL,
        PAB,
        "features-offline-public-access",
        setp("bucket", "some-other-bucket"),
        blames="features-offline",
    ),
    # -- logging ---------------------------------------------------------------------------------
    Case(
        "eks-control-plane-logging",
        REGIONAL,
        CLUSTER,
        "cluster-cluster",
        setp("enabledClusterLogTypes", ["api", "audit"]),
    ),
    Case(
        "vpc-flow-logs-enabled",
        REGIONAL,
        FLOW_LOG,
        "network-flow-log",
        setp("vpcId", "vpc-0123456789abcdef0"),
        blames="network-vpc",
    ),
    Case(
        "flow-log-all-traffic",
        REGIONAL,
        FLOW_LOG,
        "network-flow-log",
        setp("trafficType", "REJECT"),
    ),
    Case(
        "accelerator-flow-logs",
        GLOBAL,
        ACCELERATOR,
        "accelerator-eu",
        setp("attributes.flowLogsEnabled", False),
    ),
    Case(
        "s3-bucket-access-logging",
        REGIONAL,
        LOGGING,
        "artifacts-bucket-logging",
        setp("bucket", "some-other-bucket"),
        blames="artifacts-bucket",
    ),
    Case(
        "log-group-retention",
        REGIONAL,
        LOG_GROUP,
        "cluster-control-plane-logs",
        delp("retentionInDays"),
    ),
    Case(
        "lb-access-logs",
        REGIONAL,
        LB,
        "ingress-nlb",
        setp("accessLogs.enabled", False),
    ),
    # -- EKS and nodes ---------------------------------------------------------------------------
    Case(
        "nodes-imdsv2-required",
        REGIONAL,
        LAUNCH_TEMPLATE,
        "cluster-system-lt",
        setp("metadataOptions.httpTokens", "optional"),
    ),
    Case(
        "nodes-imdsv2-required",
        REGIONAL,
        NODE_CLASS,
        "cluster-karpenter-nodeclass-gpu",
        setp("spec.metadataOptions.httpTokens", "optional"),
    ),
    Case(
        "nodes-imds-hop-limit",
        REGIONAL,
        LAUNCH_TEMPLATE,
        "cluster-system-lt",
        setp("metadataOptions.httpPutResponseHopLimit", 2),
    ),
    Case(
        "nodes-imds-hop-limit",
        REGIONAL,
        NODE_CLASS,
        "cluster-karpenter-nodeclass-gpu",
        setp("spec.metadataOptions.httpPutResponseHopLimit", 2),
    ),
    Case(
        "gpu-nodes-tainted",
        REGIONAL,
        NODE_POOL,
        "cluster-karpenter-nodepool-a10g",
        setp("spec.template.spec.taints", []),
    ),
    Case(
        "gpu-nodes-tainted",
        REGIONAL,
        NODE_GROUP,
        "cluster-system",
        setp("instanceTypes", ["g5.xlarge"]),
    ),
    Case(
        "gpu-families-allowed",
        REGIONAL,
        NODE_POOL,
        "cluster-karpenter-nodepool-a10g",
        setp("spec.template.spec.requirements.0.values", ["p5"]),
    ),
    Case(
        "gpu-families-allowed",
        REGIONAL,
        NODE_POOL,
        "cluster-karpenter-nodepool-t4",
        setp("spec.template.spec.requirements.1.values", ["p4de.24xlarge"]),
    ),
    Case("eks-version-supported", REGIONAL, CLUSTER, "cluster-cluster", setp("version", "1.29")),
    Case("eks-addon-version-pinned", REGIONAL, ADDON, "cluster-coredns", delp("addonVersion")),
    Case(
        "helm-chart-version-pinned",
        REGIONAL,
        RELEASE,
        "cluster-karpenter-chart",
        setp("version", "^1.14"),
    ),
    Case(
        "karpenter-ami-pinned",
        REGIONAL,
        NODE_CLASS,
        "cluster-karpenter-nodeclass-gpu",
        setp("spec.amiSelectorTerms.0.alias", "al2023@latest"),
    ),
    Case(
        "eks-access-entries-only",
        REGIONAL,
        CLUSTER,
        "cluster-cluster",
        setp("accessConfig.authenticationMode", "API_AND_CONFIG_MAP"),
    ),
    # -- artifact buckets ------------------------------------------------------------------------
    Case(
        "s3-versioning-enabled",
        REGIONAL,
        VERSIONING,
        "artifacts-bucket-versioning",
        setp("versioningConfiguration.status", "Suspended"),
    ),
    Case(
        "s3-bucket-has-versioning",
        REGIONAL,
        VERSIONING,
        "features-offline-versioning",
        setp("versioningConfiguration.status", "Suspended"),
        blames="features-offline",
    ),
    Case(
        "replication-time-control",
        GLOBAL,
        REPLICATION,
        "artifact-replication-configuration",
        setp("rules.0.destination.replicationTime.status", "Disabled"),
        blames="to-ap-northeast-1",
    ),
    Case(
        "replication-kms-objects",
        GLOBAL,
        REPLICATION,
        "artifact-replication-configuration",
        delp("rules.1.destination.encryptionConfiguration"),
        blames="to-ap-southeast-1",
    ),
    Case(
        "artifact-replication-every-region",
        GLOBAL,
        REPLICATION,
        "artifact-replication-configuration",
        lambda outputs: _drop_first_rule(outputs["rules"]),
        blames="ap-northeast-1",
    ),
    # -- residency -------------------------------------------------------------------------------
    Case(
        "personal-data-in-jurisdiction",
        REGIONAL,
        TABLE,
        "features-table",
        setp("tags.jurisdiction", "US"),
    ),
    Case(
        "personal-data-in-jurisdiction",
        REGIONAL,
        STREAM,
        "features-stream",
        delp("tags.jurisdiction"),
    ),
    Case(
        "personal-replication-in-jurisdiction",
        REGIONAL,
        REPLICATION,
        "features-offline-replication",
        setp(
            "rules.0.destination.bucket",
            "arn:aws:s3:::inference-mesh-prod-us-east-1-features-offline",
        ),
        fixtures="personal-replication",
    ),
    Case(
        "personal-data-no-table-replica",
        REGIONAL,
        TABLE,
        "features-table",
        setp("replicas", [{"regionName": "us-east-1"}]),
    ),
    Case(
        "personal-data-single-region-keys",
        REGIONAL,
        TABLE,
        "features-table",
        setp("serverSideEncryption.kmsKeyArn", MULTI_REGION_KEY),
    ),
    Case(
        "personal-data-single-region-keys",
        REGIONAL,
        KEY,
        "features-key-key",
        setp("multiRegion", True),
        blames="features-table",
    ),
    Case(
        "accelerator-single-jurisdiction",
        GLOBAL,
        ENDPOINT_GROUP,
        "accelerator-eu-eu-central-1",
        setp("endpointGroupRegion", "us-east-1"),
        blames="accelerator-eu",
    ),
    Case(
        "accelerator-flow-logs-in-jurisdiction",
        GLOBAL,
        ACCELERATOR,
        "accelerator-eu",
        setp("attributes.flowLogsS3Bucket", "inference-mesh-prod-us-east-1-ga-flow-logs"),
    ),
    Case(
        "flow-log-destinations-personal",
        REGIONAL,
        LOG_GROUP,
        "network-flow-logs",
        setp("tags.data-classification", "internal"),
    ),
    Case(
        "flow-log-destinations-personal",
        GLOBAL,
        BUCKET,
        "accelerator-eu-flow-logs",
        setp("tags.data-classification", "internal"),
    ),
    Case(
        "personal-log-buckets-expire",
        GLOBAL,
        LIFECYCLE,
        "accelerator-eu-flow-logs-lifecycle",
        delp("rules.0.noncurrentVersionExpiration"),
        blames="accelerator-eu-flow-logs",
    ),
    Case(
        "personal-log-buckets-expire",
        REGIONAL,
        LIFECYCLE,
        "ingress-logs-lifecycle",
        setp("rules.0.expiration.days", 3650),
        blames="ingress-logs",
    ),
    Case(
        "personal-log-retention-limited",
        REGIONAL,
        LOG_GROUP,
        "features-consumer-logs",
        setp("retentionInDays", 3653),
    ),
    # -- tagging ---------------------------------------------------------------------------------
    Case("required-tags", REGIONAL, VPC, "network-vpc", delp("tags.owner")),
    Case(
        "required-tags",
        GLOBAL,
        "aws:iam/role:Role",
        "artifact-replication-role",
        setp("tags.data-classification", ""),
    ),
    Case(
        "data-classification-valid",
        REGIONAL,
        BUCKET,
        "artifacts-bucket",
        setp("tags.data-classification", "confidential"),
    ),
    Case("jurisdiction-tag-valid", REGIONAL, VPC, "network-vpc", setp("tags.jurisdiction", "US")),
    Case(
        "jurisdiction-tag-valid",
        REGIONAL,
        KEY,
        "artifacts-key-key",
        setp("tags.jurisdiction", "Mars"),
    ),
)

"""The regional feature store: user events in, online and offline features out, all in-region.

A Kinesis stream takes the region's user events; a Lambda (code in ``features/``) folds them
into a DynamoDB online table and archives them to an offline bucket. Everything that can hold
personal data is encrypted with one single-region key, tagged ``data-classification=personal``
and ``jurisdiction=<J>`` through ``regions.residency.classification_tags``, and has no
replication of any kind: no bucket replication, no table replica, no multi-region key.

One key for the whole store, not one per resource: every resource holds the same users' data
under the same jurisdiction and lifecycle, and the consumer needs all of them. Each IAM grant
on the key is narrowed instead with ``kms:ViaService`` to the service that uses it, so the
serving role can decrypt only through DynamoDB in this region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pulumi
import pulumi_aws as aws

from components import buckets
from components.iam_documents import allow, policy_document, service_trust_policy, via_service
from components.kms import RegionalKey, RegionalKeyArgs, logs_service_statement
from components.log_retention import log_retention_error
from regions.residency import DataClassification, classification_tags

RUNTIME = "python3.13"
"""Supported by Lambda until mid-2029 (its runtimes page); the handler needs only the standard
library and the runtime's boto3."""
HANDLER = "features.handler.handler"
RAW_EVENTS_PREFIX = "raw-events/"
"""Where the consumer archives raw events (docs/contracts.md); the only prefix it may write."""
OFFLINE_ACCESS_LOG_PREFIX = "offline/"
"""Where S3 delivers the offline bucket's access logs in the log bucket."""
HTTPS = 443
ABORT_INCOMPLETE_UPLOAD_DAYS = 1
"""The consumer writes small objects with one PutObject; a multipart upload still open after
a day was abandoned and only costs money."""

ENV_TABLE = "FEATURE_TABLE"
ENV_BUCKET = "OFFLINE_BUCKET"
ENV_QUEUE = "DEAD_LETTER_QUEUE_URL"
ENV_TTL_DAYS = "FEATURE_TTL_DAYS"
"""Environment variables ``features/handler.py`` reads (a test keeps the two in step)."""

CONSUMER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
"""The handler reads the item, then writes it back conditionally on its revision."""
READER_TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
STREAM_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
"""What Lambda's Kinesis poller needs, with the function's role (no enhanced fan-out)."""
KEY_SERVICES = ("dynamodb", "kinesis", "lambda", "s3", "sqs")
"""Services that use the store key for the consumer: table, stream, environment, bucket,
queues."""
OBJECT_DATA_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject*",
    "s3:GetObject*",
    "s3:ListBucket*",
    "s3:ListMultipartUploadParts",
    "s3:PutObject*",
    "s3:RestoreObject",
)
"""Reading, writing, listing and deleting objects: the actions that touch personal data.
Bucket configuration stays governed by IAM alone, so the deployer cannot lock itself out."""
TABLE_REPLICATION_ACTIONS = ("dynamodb:CreateTableReplica", "dynamodb:ExportTableToPointInTime")
"""A global-table replica or an export to S3 (any bucket, any region) copies the table out."""

RANGES: Mapping[str, tuple[int, int]] = {
    "stream_hours": (24, 8760),
    "raw_event_days": (1, 3650),
    "noncurrent_version_days": (1, 365),
    "access_log_days": (1, 3650),
    "ttl_days": (1, 3650),
    "dead_letter_days": (1, 14),
    "point_in_time_recovery_days": (1, 35),
    "reserved_concurrency": (1, 1000),
    "memory_mb": (128, 10240),
    "timeout_seconds": (1, 900),
    "batch_size": (1, 10000),
    "max_batching_window_seconds": (0, 300),
    "parallelization_factor": (1, 10),
    "max_retry_attempts": (0, 10000),
    "max_record_age_seconds": (60, 604800),
}
"""Inclusive limits of each numeric setting: AWS's own, except that retries and record age
must be finite (an endless retry would stall the shard behind one bad batch)."""

_PUBLIC_ACCESS_BLOCK_SUFFIX = "public-access"
_PRINCIPAL_ARN = re.compile(r"^arn:aws:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/*-]+$")


def setting_error(name: str, value: object) -> str | None:
    """What ``value`` should be for the setting ``name``, or None if it is acceptable."""
    if name == "log_days":
        return log_retention_error(value)
    low, high = RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"a whole number from {low} to {high}"
    return None


def principal_arn_error(arn: object) -> str | None:
    """What an exempt administrative principal must look like, or None if ``arn`` does."""
    if isinstance(arn, str) and _PRINCIPAL_ARN.match(arn):
        return None
    return "an IAM role or user ARN such as arn:aws:iam::123456789012:role/data-protection"


@dataclass(frozen=True)
class FeatureStoreNames:
    """Physical names, computed by the stack from ``stacks/naming.py``."""

    table: str
    offline_bucket: str
    access_log_bucket: str
    stream: str
    function: str
    dead_letter_queue: str
    """Malformed records, with the reason (the handler sends them)."""
    failed_batch_queue: str
    """Lambda's on-failure destination: batches that exhausted their retries."""
    consumer_role: str
    reader_policy: str
    key_alias: str


@dataclass(frozen=True)
class FeatureRetention:
    """How long each copy of personal data lives. Every field has a bounded default."""

    stream_hours: int = 24
    """Kinesis retention; 24 h (the minimum) when omitted."""
    raw_event_days: int = 30
    """Raw events in the offline bucket expire this many days after they were written."""
    noncurrent_version_days: int = 7
    """Overwritten and deleted object versions (both buckets) are purged after this."""
    access_log_days: int = 90
    """S3 access logs of the offline bucket (they hold object keys, hence user ids)."""
    ttl_days: int = 30
    """Online items expire this long after their last update (the handler sets expires_at)."""
    log_days: int = 30
    """The consumer's CloudWatch log group."""
    dead_letter_days: int = 14
    """Messages in both queues (SQS allows at most 14 days)."""
    point_in_time_recovery_days: int = 35
    """The table's PITR window; erased items survive in backups this long."""


@dataclass(frozen=True)
class ConsumerSizing:
    """The feature Lambda and its Kinesis event source mapping."""

    reserved_concurrency: int = 10
    """Caps the consumer so a backlog cannot starve the account's other functions."""
    memory_mb: int = 512
    timeout_seconds: int = 60
    batch_size: int = 100
    max_batching_window_seconds: int = 1
    parallelization_factor: int = 1
    """Concurrent batches per shard; Lambda keeps records of one partition key in order at
    any factor, and the handler's conditional writes make concurrent batches safe."""
    max_retry_attempts: int = 5
    max_record_age_seconds: int = 3600
    """Older records go to the failed-batch queue instead of being retried."""


@dataclass(frozen=True)
class FeatureStoreArgs:
    jurisdiction: str
    """The region's jurisdiction (``EU``, ``US`` ...): goes into the residency tags."""
    region: str
    """The AWS region of the provider the stack passes; used in ARNs and service names."""
    account_id: pulumi.Input[str]
    names: FeatureStoreNames
    code_path: str
    """Directory of the ``features`` package; the stack resolves it (components read no
    files). It is shipped as ``features/`` at the root of the Lambda archive."""
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    gateway_endpoint_ids: Mapping[str, pulumi.Input[str]]
    """The VPC's gateway endpoints by service; needs ``s3`` and ``dynamodb``."""
    admin_principal_arns: Sequence[str] = ()
    """Principals exempt from the offline bucket's VPC-only rule (GDPR erase and export
    tooling runs from operators' machines). None when omitted: all object access must then
    come through this VPC's S3 endpoint."""
    retention: FeatureRetention = field(default_factory=FeatureRetention)
    consumer: ConsumerSizing = field(default_factory=ConsumerSizing)


class FeatureStore(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    stream_arn: pulumi.Output[str]
    offline_bucket: pulumi.Output[str]
    reader_policy_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None
    ):
        _validate(args)
        super().__init__("inference-mesh:features:FeatureStore", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self)
        self._personal = classification_tags(DataClassification.PERSONAL, args.jurisdiction)
        self._internal = classification_tags(DataClassification.INTERNAL, args.jurisdiction)
        self._key = self._create_key()
        self._table = self._create_table()
        self._stream = self._create_stream()
        self._bucket = self._create_offline_bucket()
        self._dead_letters, self._failed_batches = self._create_queues()
        self._create_consumer()
        self._reader = self._create_reader_policy()
        self._restrict_dynamodb_endpoint()
        self.table_name = self._table.name
        self.table_arn = self._table.arn
        self.stream_arn = self._stream.arn
        self.offline_bucket = self._bucket.bucket
        self.reader_policy_arn = self._reader.arn
        self.key_arn = self._key.arn
        self.register_outputs(self.exports())

    def exports(self) -> dict[str, pulumi.Output[str]]:
        return {
            "tableName": self.table_name,
            "tableArn": self.table_arn,
            "streamArn": self.stream_arn,
            "offlineBucket": self.offline_bucket,
            "readerPolicyArn": self.reader_policy_arn,
            "keyArn": self.key_arn,
        }

    # -- encryption ------------------------------------------------------------------------
    def _create_key(self) -> RegionalKey:
        args = self._args
        return RegionalKey(
            f"{self._name}-key",
            RegionalKeyArgs(
                description=f"Feature store of {args.region}: table, stream, bucket, queues, logs",
                account_id=args.account_id,
                alias=args.names.key_alias,
                # The consumer's log group is encrypted too: a stack trace may quote a record.
                service_statements=[logs_service_statement(args.region, args.account_id)],
                tags=self._personal,
            ),
            opts=self._child,
        )

    # -- online store ----------------------------------------------------------------------
    def _create_table(self) -> aws.dynamodb.Table:
        args = self._args
        table = aws.dynamodb.Table(
            f"{self._name}-table",
            name=args.names.table,
            billing_mode="PAY_PER_REQUEST",
            hash_key="user_id",
            attributes=[aws.dynamodb.TableAttributeArgs(name="user_id", type="S")],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
                enabled=True,
                recovery_period_in_days=args.retention.point_in_time_recovery_days,
            ),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=self._key.arn
            ),
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expires_at", enabled=True),
            deletion_protection_enabled=True,
            # No stream: nothing consumes item changes, and a stream is one more copy.
            stream_enabled=False,
            tags=self._personal,
            opts=self._child,
        )
        self._deny_table_copies(table)
        return table

    def _deny_table_copies(self, table: aws.dynamodb.Table) -> None:
        # Resource policy, so it binds every principal, administrators included: adding a
        # replica or exporting needs this policy removed first, in review.
        aws.dynamodb.ResourcePolicy(
            f"{self._name}-table-policy",
            resource_arn=table.arn,
            policy=pulumi.Output.json_dumps(
                policy_document(
                    [
                        {
                            "Sid": "PersonalDataStaysInRegion",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": list(TABLE_REPLICATION_ACTIONS),
                            "Resource": table.arn,
                        }
                    ]
                )
            ),
            opts=self._child,
        )

    # -- event stream ----------------------------------------------------------------------
    def _create_stream(self) -> aws.kinesis.Stream:
        args = self._args
        return aws.kinesis.Stream(
            f"{self._name}-stream",
            name=args.names.stream,
            stream_mode_details=aws.kinesis.StreamStreamModeDetailsArgs(stream_mode="ON_DEMAND"),
            encryption_type="KMS",
            kms_key_id=self._key.arn,
            retention_period=args.retention.stream_hours,
            tags=self._personal,
            opts=self._child,
        )

    # -- offline store ---------------------------------------------------------------------
    # Released before ``components.buckets`` existed: the public access blocks keep their
    # ``-public-access`` names (renaming would replace them).
    def _create_offline_bucket(self) -> aws.s3.Bucket:
        args, name = self._args, self._name
        bucket = aws.s3.Bucket(
            f"{name}-offline",
            bucket=args.names.offline_bucket,
            tags=self._personal,
            opts=self._child,
        )
        protected = buckets.protect_bucket(
            f"{name}-offline",
            bucket,
            # SSE-C refused: personal data under a key only the uploader holds could be
            # neither erased by policy nor read by the feature jobs.
            buckets.kms_encryption(self._key.arn),
            self._child,
            public_access_block_suffix=_PUBLIC_ACCESS_BLOCK_SUFFIX,
        )
        retention = self._args.retention
        protected.lifecycle(
            f"{name}-offline-lifecycle",
            [
                _lifecycle_rule(
                    "expire-raw-events",
                    RAW_EVENTS_PREFIX,
                    retention.noncurrent_version_days,
                    expire_days=retention.raw_event_days,
                ),
                # Anything written outside raw-events/ later still loses its old versions.
                _lifecycle_rule("purge-old-versions", "", retention.noncurrent_version_days),
            ],
            self._child,
        )
        self._create_access_logs(bucket)
        self._create_offline_bucket_policy(protected)
        return bucket

    def _create_access_logs(self, bucket: aws.s3.Bucket) -> None:
        args, prefix = self._args, f"{self._name}-access-logs"
        logs = aws.s3.Bucket(
            prefix, bucket=args.names.access_log_bucket, tags=self._personal, opts=self._child
        )
        protected = buckets.protect_bucket(
            prefix,
            logs,
            # S3 server access logging cannot deliver to a bucket whose default encryption
            # is SSE-KMS; SSE-S3 is the only supported option.
            buckets.s3_managed_encryption(),
            self._child,
            public_access_block_suffix=_PUBLIC_ACCESS_BLOCK_SUFFIX,
        )
        protected.lifecycle(
            f"{prefix}-lifecycle",
            [
                _lifecycle_rule(
                    "expire-access-logs",
                    "",
                    args.retention.noncurrent_version_days,
                    expire_days=args.retention.access_log_days,
                )
            ],
            self._child,
        )
        protected.policy(
            f"{prefix}-policy",
            [
                buckets.deny_insecure_transport(logs.arn),
                buckets.s3_access_log_delivery(
                    "S3LogDeliveryFromTheOfflineBucketOnly",
                    logs.arn,
                    OFFLINE_ACCESS_LOG_PREFIX,
                    bucket.arn,
                    args.account_id,
                    source_arn_operator="ArnEquals",
                ),
            ],
            self._child,
        )
        # The log bucket is not itself logged (that would log its own deliveries) and, like
        # the offline bucket, has no replication configuration.
        buckets.log_access(
            f"{self._name}-offline-logging", bucket, logs, OFFLINE_ACCESS_LOG_PREFIX, self._child
        )

    def _create_offline_bucket_policy(self, protected: buckets.ProtectedBucket) -> None:
        args, bucket = self._args, protected.bucket
        outside: dict[str, Any] = {
            "StringNotEqualsIfExists": {"aws:SourceVpce": args.gateway_endpoint_ids["s3"]}
        }
        if args.admin_principal_arns:
            # GDPR erase and export (meshctl gdpr) run from operators' machines, not from the
            # VPC; only these principals may reach the objects from outside it.
            outside["ArnNotLikeIfExists"] = {"aws:PrincipalArn": list(args.admin_principal_arns)}
        protected.policy(
            f"{self._name}-offline-policy",
            [
                buckets.deny_insecure_transport(bucket.arn),
                {
                    "Sid": "DenyObjectAccessFromOutsideTheVpc",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": list(OBJECT_DATA_ACTIONS),
                    "Resource": [bucket.arn, buckets.objects_of(bucket.arn)],
                    "Condition": outside,
                },
            ],
            self._child,
        )

    # -- queues ----------------------------------------------------------------------------
    def _create_queues(self) -> tuple[aws.sqs.Queue, aws.sqs.Queue]:
        names = self._args.names
        return (
            self._queue(f"{self._name}-dead-letters", names.dead_letter_queue),
            self._queue(f"{self._name}-failed-batches", names.failed_batch_queue),
        )

    def _queue(self, resource_name: str, physical: str) -> aws.sqs.Queue:
        # Dead letters quote the malformed record; failed batches point at records by
        # sequence number. Both are treated as personal data.
        return aws.sqs.Queue(
            resource_name,
            name=physical,
            kms_master_key_id=self._key.arn,
            message_retention_seconds=self._args.retention.dead_letter_days * 86400,
            tags=self._personal,
            opts=self._child,
        )

    # -- consumer --------------------------------------------------------------------------
    def _create_consumer(self) -> None:
        args = self._args
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-consumer-logs",
            name=f"/aws/lambda/{args.names.function}",
            retention_in_days=args.retention.log_days,
            kms_key_id=self._key.arn,
            tags=self._personal,
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{self._name}-consumer-role",
            name=args.names.consumer_role,
            assume_role_policy=pulumi.Output.json_dumps(
                service_trust_policy("lambda.amazonaws.com")
            ),
            tags=self._internal,
            opts=self._child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{self._name}-consumer-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(self._consumer_policy(log_group)),
            opts=self._child,
        )
        # Lambda checks the role when the function and the mapping are created: ENI rights
        # for the VPC attachment, stream rights for the poller.
        after_grants = pulumi.ResourceOptions(parent=self, depends_on=[role_policy, log_group])
        function = self._create_function(role, log_group, after_grants)
        self._create_event_source_mapping(function, after_grants)

    def _create_function(
        self,
        role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
        opts: pulumi.ResourceOptions,
    ) -> aws.lambda_.Function:
        args, sizing = self._args, self._args.consumer
        return aws.lambda_.Function(
            f"{self._name}-consumer",
            name=args.names.function,
            role=role.arn,
            runtime=RUNTIME,
            architectures=["arm64"],
            handler=HANDLER,
            code=pulumi.AssetArchive({"features": pulumi.FileArchive(args.code_path)}),
            memory_size=sizing.memory_mb,
            timeout=sizing.timeout_seconds,
            reserved_concurrent_executions=sizing.reserved_concurrency,
            kms_key_arn=self._key.arn,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    ENV_TABLE: self._table.name,
                    ENV_BUCKET: self._bucket.bucket,
                    ENV_QUEUE: self._dead_letters.url,
                    ENV_TTL_DAYS: str(args.retention.ttl_days),
                }
            ),
            # Private subnets: DynamoDB and S3 traffic takes the gateway endpoints (and their
            # policies) by route; the dead-letter queue is reached through NAT.
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                security_group_ids=[self._create_security_group().id],
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=log_group.name
            ),
            tags=self._personal,
            opts=opts,
        )

    def _create_security_group(self) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-consumer-sg",
            vpc_id=self._args.vpc_id,
            description="Feature consumer: HTTPS out to AWS APIs, nothing in",
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    # SQS has no endpoint in this VPC, so it goes through NAT to public
                    # addresses; DynamoDB and S3 leave through the gateway endpoints.
                    cidr_blocks=["0.0.0.0/0"],
                    description="HTTPS to AWS APIs",
                )
            ],
            tags=self._internal,
            opts=self._child,
        )

    def _create_event_source_mapping(
        self, function: aws.lambda_.Function, opts: pulumi.ResourceOptions
    ) -> None:
        sizing = self._args.consumer
        aws.lambda_.EventSourceMapping(
            f"{self._name}-consumer-events",
            event_source_arn=self._stream.arn,
            function_name=function.arn,
            starting_position="LATEST",
            batch_size=sizing.batch_size,
            maximum_batching_window_in_seconds=sizing.max_batching_window_seconds,
            parallelization_factor=sizing.parallelization_factor,
            # The handler reports the records that failed; Lambda retries from the lowest.
            function_response_types=["ReportBatchItemFailures"],
            # Halving a failing batch isolates a poison record instead of retrying it whole.
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=sizing.max_retry_attempts,
            maximum_record_age_in_seconds=sizing.max_record_age_seconds,
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                    destination_arn=self._failed_batches.arn
                )
            ),
            tags=self._internal,
            opts=opts,
        )

    def _consumer_policy(self, log_group: aws.cloudwatch.LogGroup) -> dict[str, Any]:
        args = self._args
        return policy_document(
            [
                allow("ReadTheEventStream", STREAM_READ_ACTIONS, self._stream.arn),
                allow("ReadAndWriteFeatureItems", CONSUMER_TABLE_ACTIONS, self._table.arn),
                allow(
                    "ArchiveRawEvents",
                    ("s3:PutObject",),
                    pulumi.Output.concat(self._bucket.arn, "/", RAW_EVENTS_PREFIX, "*"),
                ),
                allow(
                    "SendDeadLettersAndFailedBatches",
                    ("sqs:SendMessage",),
                    [self._dead_letters.arn, self._failed_batches.arn],
                ),
                allow(
                    "UseTheStoreKeyThroughTheStoresServices",
                    ("kms:Decrypt", "kms:GenerateDataKey"),
                    self._key.arn,
                    condition=via_service(args.region, KEY_SERVICES),
                ),
                allow(
                    "WriteOwnLogs",
                    ("logs:CreateLogStream", "logs:PutLogEvents"),
                    pulumi.Output.concat(log_group.arn, ":*"),
                ),
                *_vpc_access_statements(args.region, args.account_id),
            ]
        )

    # -- serving access --------------------------------------------------------------------
    def _create_reader_policy(self) -> aws.iam.Policy:
        # Attached by the serving workload's pod role: read this region's table, nothing else.
        return aws.iam.Policy(
            f"{self._name}-reader",
            name=self._args.names.reader_policy,
            description=f"Read-only access to the feature table of {self._args.region}",
            policy=pulumi.Output.json_dumps(
                policy_document(
                    [
                        allow("ReadFeatureItems", READER_TABLE_ACTIONS, self._table.arn),
                        allow(
                            "DecryptThroughDynamoDb",
                            ("kms:Decrypt",),
                            self._key.arn,
                            condition=via_service(self._args.region, ("dynamodb",)),
                        ),
                    ]
                )
            ),
            tags=self._internal,
            opts=self._child,
        )

    def _restrict_dynamodb_endpoint(self) -> None:
        # Through this VPC's DynamoDB endpoint only this account's tables in this region are
        # reachable, so code in the VPC cannot copy items to a table elsewhere. The S3
        # endpoint is deliberately left open: ECR image layers and the model bucket also go
        # through it, and the offline bucket's own policy pins its side.
        args = self._args
        aws.ec2.VpcEndpointPolicy(
            f"{self._name}-dynamodb-endpoint-policy",
            vpc_endpoint_id=args.gateway_endpoint_ids["dynamodb"],
            policy=pulumi.Output.json_dumps(
                policy_document(
                    [
                        {
                            "Sid": "OnlyThisAccountsTablesInThisRegion",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "dynamodb:*",
                            "Resource": pulumi.Output.concat(
                                "arn:aws:dynamodb:", args.region, ":", args.account_id, ":table/*"
                            ),
                        }
                    ]
                )
            ),
            opts=self._child,
        )


def _lifecycle_rule(
    rule_id: str, prefix: str, noncurrent_days: int, expire_days: int | None = None
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    # Versioning protects against a bad overwrite, but old versions must not outlive the
    # current ones by more than a short window, or expired personal data would linger. The
    # delete markers that expiry leaves behind are removed by S3 once they are this old too.
    return buckets.lifecycle_rule(
        rule_id,
        prefix=prefix,
        noncurrent_days=noncurrent_days,
        expire_days=expire_days,
        abort_upload_days=ABORT_INCOMPLETE_UPLOAD_DAYS,
    )


def _vpc_access_statements(region: str, account_id: pulumi.Input[str]) -> list[dict[str, Any]]:
    # What Lambda needs to attach the function to the VPC. The Describe calls take no
    # resource ARN, so they are pinned to this region instead.
    regional = pulumi.Output.concat("arn:aws:ec2:", region, ":", account_id, ":")
    return [
        allow(
            "ManageNetworkInterfacesInThisRegion",
            (
                "ec2:AssignPrivateIpAddresses",
                "ec2:CreateNetworkInterface",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ),
            [
                pulumi.Output.concat(regional, kind, "/*")
                for kind in ("network-interface", "subnet", "security-group")
            ],
        ),
        allow(
            "DescribeNetworkInThisRegion",
            ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
            "*",
            condition={"StringEquals": {"aws:RequestedRegion": region}},
        ),
    ]


def _validate(args: FeatureStoreArgs) -> None:
    classification_tags(DataClassification.PERSONAL, args.jurisdiction)
    for group, values in (("retention", args.retention), ("consumer", args.consumer)):
        for item in fields(values):
            value = getattr(values, item.name)
            expected = setting_error(item.name, value)
            if expected:
                raise ValueError(f"{group}.{item.name} must be {expected}, got {value!r}")
    missing = sorted({"s3", "dynamodb"} - set(args.gateway_endpoint_ids))
    if missing:
        raise ValueError(
            f"gateway_endpoint_ids must include {missing}, got {sorted(args.gateway_endpoint_ids)}"
        )
    if not args.private_subnet_ids:
        raise ValueError("private_subnet_ids must name at least one subnet, got []")
    for arn in args.admin_principal_arns:
        expected = principal_arn_error(arn)
        if expected:
            raise ValueError(f"admin_principal_arns must hold {expected}, got {arn!r}")

"""A region's feature store on the moto server: table, versioned bucket, stream, dead letters."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from features import handler as feature_handler
from features.handler import Deps, Settings
from stacks import naming

REGION = "eu-west-1"
ENV = "prod"
TABLE = naming.feature_table(ENV, REGION)
BUCKET = naming.offline_feature_bucket(ENV, REGION)
STREAM = naming.event_stream(ENV, REGION)


@dataclass
class FeatureEnv:
    endpoint: str
    dynamodb: Any
    s3: Any
    sqs: Any
    kinesis: Any
    queue_url: str

    @property
    def deps(self) -> Deps:
        return Deps(Settings(TABLE, BUCKET, self.queue_url), self.dynamodb, self.s3, self.sqs)

    def lambda_records(self, events: list[Any]) -> list[dict[str, Any]]:
        """Put events on the stream, read them back and shape them as Lambda delivers them."""
        for event in events:
            data = event if isinstance(event, bytes) else json.dumps(event).encode()
            self.kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey="pk")
        summary = self.kinesis.describe_stream_summary(StreamName=STREAM)[
            "StreamDescriptionSummary"
        ]
        shard = self.kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
        iterator = self.kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = self.kinesis.get_records(ShardIterator=iterator)["Records"][-len(events) :]
        return [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": REGION,
                "eventSourceARN": summary["StreamARN"],
            }
            for r in records
        ]

    def item(self, user_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=TABLE, Key={"user_id": {"S": user_id}}, ConsistentRead=True
        )
        return response.get("Item")

    def versions(self, prefix: str = "raw-events/") -> list[tuple[str, str, bool]]:
        """(key, version id, is delete marker) of everything under ``prefix``."""
        page = self.s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
        return sorted(
            [(v["Key"], v["VersionId"], False) for v in page.get("Versions", [])]
            + [(m["Key"], m["VersionId"], True) for m in page.get("DeleteMarkers", [])]
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


def make_client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@pytest.fixture
def feature_env(aws_endpoint: str) -> Iterator[FeatureEnv]:
    ddb, s3, sqs, kinesis = (
        make_client(aws_endpoint, s) for s in ("dynamodb", "s3", "sqs", "kinesis")
    )
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    queue_url = sqs.create_queue(QueueName=f"{naming.prefix(ENV, REGION)}-features-dlq")["QueueUrl"]
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    feature_handler._deps_from_env.cache_clear()
    yield FeatureEnv(aws_endpoint, ddb, s3, sqs, kinesis, queue_url)
    feature_handler._deps_from_env.cache_clear()

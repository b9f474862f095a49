"""The residency audit: scan a live account for personal data where it must not be.

Personal-data resources are found by their tags (``data-classification=personal`` and
``jurisdiction``, see ``regions.residency``) on S3 buckets, DynamoDB tables, Kinesis streams
and SQS queues. The rules:

- RES-001: a personal-data resource in a region its jurisdiction does not allow;
- RES-002: an S3 replication rule from a personal-data bucket to a bucket outside the
  regions its data may move to (or whose region cannot be resolved);
- RES-003: a personal-data DynamoDB table with a replica outside those regions;
- RES-004: a personal-data resource encrypted with a multi-Region KMS key (its key material
  can be replicated to any region with ``ReplicateKey``);
- RES-005: a personal-data resource without a valid ``jurisdiction`` tag, so nothing above
  can be judged.

What cannot be read (access denied, a deleted key) is reported as a scan error, never as
clean. Not covered: DynamoDB global tables version 2017.11.29 (``describe_global_table``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from regions.catalog import JURISDICTIONS, RegionCatalog
from regions.residency import (
    JURISDICTION_TAG,
    ResidencyPolicy,
    allowed_regions,
    is_allowed,
    is_personal,
)

ClientFactory = Callable[[str, str], Any]
"""``(service, region) -> boto3 client``, e.g. ``meshctl.aws.AwsClients.client``."""

S3_LISTING_REGION = "us-east-1"
"""ListBuckets is global; any region answers it."""

_AWS_ERRORS = (ClientError, BotoCoreError)


class Rule(StrEnum):
    DISALLOWED_REGION = "RES-001"
    REPLICATION_OUT = "RES-002"
    REPLICA_OUT = "RES-003"
    MULTI_REGION_KEY = "RES-004"
    JURISDICTION_TAG = "RES-005"


@dataclass(frozen=True)
class Finding:
    rule: Rule
    service: str
    resource: str
    region: str
    jurisdiction: str
    message: str


@dataclass(frozen=True)
class ScanError:
    service: str
    resource: str
    region: str
    message: str


@dataclass
class AuditReport:
    regions: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    personal_resources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clean": not self.findings and not self.errors}


@dataclass(frozen=True)
class _Resource:
    service: str
    name: str
    region: str
    tags: dict[str, str]
    key: str | None


def audit_residency(
    clients: ClientFactory,
    regions: Iterable[str],
    catalog: RegionCatalog,
    policy: ResidencyPolicy,
    *,
    all_bucket_regions: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> AuditReport:
    """Scan ``regions`` (DynamoDB, Kinesis, SQS) and the account's buckets (S3 is global:
    every bucket is checked when ``all_bucket_regions``, else only those in ``regions``)."""
    auditor = ResidencyAuditor(clients, catalog, policy, tuple(regions))
    for step, scan in auditor.steps(all_bucket_regions):
        if on_step is not None:
            on_step(step)
        scan()
    return auditor.report


class ResidencyAuditor:
    def __init__(
        self,
        clients: ClientFactory,
        catalog: RegionCatalog,
        policy: ResidencyPolicy,
        regions: tuple[str, ...],
    ):
        self._factory = clients
        self._clients: dict[tuple[str, str], Any] = {}
        self._bucket_regions: dict[str, str] = {}
        self._multi_region_keys: dict[tuple[str, str], bool | None] = {}
        self.catalog = catalog
        self.policy = policy
        self.report = AuditReport(regions)

    def steps(self, all_bucket_regions: bool) -> Iterator[tuple[str, Callable[[], None]]]:
        only = None if all_bucket_regions else set(self.report.regions)
        yield "s3", partial(self.scan_s3, only)
        for region in self.report.regions:
            yield f"dynamodb {region}", partial(self.scan_dynamodb, region)
            yield f"kinesis {region}", partial(self.scan_kinesis, region)
            yield f"sqs {region}", partial(self.scan_sqs, region)

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._factory(service, region)
        return self._clients[key]

    # S3 ---------------------------------------------------------------------------------

    def scan_s3(self, only_regions: set[str] | None = None) -> None:
        try:
            names = _paged(self.client("s3", S3_LISTING_REGION), "list_buckets", "Buckets")
            buckets = [b["Name"] for b in names]
        except _AWS_ERRORS as exc:
            self._error("s3", "(list_buckets)", S3_LISTING_REGION, exc)
            return
        for name in buckets:
            try:
                self._scan_bucket(name, only_regions)
            except _AWS_ERRORS as exc:
                self._error("s3", _bucket_arn(name), self._bucket_regions.get(name, "?"), exc)

    def _scan_bucket(self, name: str, only_regions: set[str] | None) -> None:
        region = self.bucket_region(name)
        if only_regions is not None and region not in only_regions:
            return
        s3 = self.client("s3", region)
        tags = _tag_list(_ignore(s3.get_bucket_tagging, "NoSuchTagSet", Bucket=name), "TagSet")
        if not is_personal(tags):
            return
        key = _bucket_key(s3, name)
        jurisdiction = self._check(_Resource("s3", _bucket_arn(name), region, tags, key))
        if jurisdiction is not None:
            self._check_replication(s3, name, region, jurisdiction)

    def bucket_region(self, name: str) -> str:
        if name not in self._bucket_regions:
            response = self.client("s3", S3_LISTING_REGION).get_bucket_location(Bucket=name)
            # us-east-1 answers null; "EU" is the legacy name of eu-west-1.
            location = response.get("LocationConstraint") or "us-east-1"
            self._bucket_regions[name] = "eu-west-1" if location == "EU" else location
        return self._bucket_regions[name]

    def _check_replication(self, s3: Any, name: str, region: str, jurisdiction: str) -> None:
        response = _ignore(
            s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", Bucket=name
        )
        rules = (response.get("ReplicationConfiguration") or {}).get("Rules", [])
        allowed = self._allowed(jurisdiction, region)
        for rule in rules:
            destination = rule.get("Destination", {}).get("Bucket", "")
            target = destination.split(":::")[-1]
            try:
                target_region: str | None = self.bucket_region(target)
            except _AWS_ERRORS:
                target_region = None
            if target_region is not None and target_region in allowed:
                continue
            where = target_region or "a region that could not be resolved"
            self._finding(
                Rule.REPLICATION_OUT,
                _Resource("s3", _bucket_arn(name), region, {}, None),
                jurisdiction,
                f"Replication rule {rule.get('ID', '?')!r} ({rule.get('Status', '?')}) copies "
                f"{jurisdiction} personal data to {destination} in {where}; it must only "
                f"target {_listing(allowed)}.",
            )

    # DynamoDB ---------------------------------------------------------------------------

    def scan_dynamodb(self, region: str) -> None:
        self._scan_listing("dynamodb", region, "list_tables", "TableNames", self._scan_table)

    def _scan_table(self, ddb: Any, name: str, region: str) -> None:
        table = ddb.describe_table(TableName=name)["Table"]
        arn = table["TableArn"]
        tags = _tag_list({"Tags": _table_tags(ddb, arn)}, "Tags")
        if not is_personal(tags):
            return
        sse = table.get("SSEDescription") or {}
        key = sse.get("KMSMasterKeyArn") if sse.get("Status") in {"ENABLED", "UPDATING"} else None
        jurisdiction = self._check(_Resource("dynamodb", arn, region, tags, key))
        if jurisdiction is None:
            return
        allowed = self._allowed(jurisdiction, region)
        for replica in table.get("Replicas", []):
            replica_region = replica.get("RegionName", "?")
            if replica_region not in allowed:
                self._finding(
                    Rule.REPLICA_OUT,
                    _Resource("dynamodb", arn, region, tags, key),
                    jurisdiction,
                    f"Table {name} has a replica in {replica_region}; replicas of "
                    f"{jurisdiction} personal data must stay in {_listing(allowed)}.",
                )

    # Kinesis and SQS --------------------------------------------------------------------

    def scan_kinesis(self, region: str) -> None:
        self._scan_listing("kinesis", region, "list_streams", "StreamNames", self._scan_stream)

    def _scan_stream(self, kinesis: Any, name: str, region: str) -> None:
        tags = _tag_list({"Tags": _stream_tags(kinesis, name)}, "Tags")
        if not is_personal(tags):
            return
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        key = summary.get("KeyId") if summary.get("EncryptionType") == "KMS" else None
        self._check(_Resource("kinesis", summary["StreamARN"], region, tags, key))

    def scan_sqs(self, region: str) -> None:
        # Without a page size ListQueues stops at 1000 queues and returns no NextToken.
        self._scan_listing(
            "sqs", region, "list_queues", "QueueUrls", self._scan_queue, page_size=1000
        )

    def _scan_queue(self, sqs: Any, url: str, region: str) -> None:
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        if not is_personal(tags):
            return
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "KmsMasterKeyId"]
        )["Attributes"]
        self._check(
            _Resource("sqs", attributes["QueueArn"], region, tags, attributes.get("KmsMasterKeyId"))
        )

    def _scan_listing(
        self,
        service: str,
        region: str,
        operation: str,
        key: str,
        scan_one: Callable[[Any, str, str], None],
        page_size: int | None = None,
    ) -> None:
        """Lists a regional service's resources, then scans each; an AWS error on one is
        recorded (the scan is then incomplete) and the others are still scanned."""
        client = self.client(service, region)
        try:
            names = list(_paged(client, operation, key, page_size=page_size))
        except _AWS_ERRORS as exc:
            self._error(service, f"({operation})", region, exc)
            return
        for name in names:
            try:
                scan_one(client, name, region)
            except _AWS_ERRORS as exc:
                self._error(service, name, region, exc)

    # Rules shared by every service --------------------------------------------------------

    def _check(self, resource: _Resource) -> str | None:
        """RES-001, RES-004 and RES-005; the jurisdiction when it is valid."""
        self.report.personal_resources.append(resource.name)
        self._check_key(resource)
        jurisdiction = resource.tags.get(JURISDICTION_TAG, "")
        if jurisdiction not in JURISDICTIONS:
            self._finding(
                Rule.JURISDICTION_TAG,
                resource,
                jurisdiction or "(none)",
                f"Personal-data {resource.service} resource must carry a jurisdiction tag, one "
                f"of {sorted(JURISDICTIONS)}; found {jurisdiction or 'none'}.",
            )
            return None
        if not is_allowed(
            jurisdiction, resource.region, resource.region, self.catalog, self.policy
        ):
            homes = [r.region for r in self.catalog.in_jurisdiction(jurisdiction)]
            self._finding(
                Rule.DISALLOWED_REGION,
                resource,
                jurisdiction,
                f"{jurisdiction} personal data must not be stored in {resource.region}; it may "
                f"only live in {_listing(homes)}.",
            )
        return jurisdiction

    def _check_key(self, resource: _Resource) -> None:
        if not resource.key:
            return
        multi_region = self.is_multi_region_key(resource.key, resource.region)
        if multi_region is None:
            self.report.errors.append(
                ScanError(
                    resource.service,
                    resource.name,
                    resource.region,
                    f"cannot tell whether KMS key {resource.key} is multi-Region: "
                    "kms:DescribeKey failed",
                )
            )
        elif multi_region:
            self._finding(
                Rule.MULTI_REGION_KEY,
                resource,
                resource.tags.get(JURISDICTION_TAG, "(none)"),
                f"Personal data must be encrypted with a single-Region KMS key; {resource.key} "
                "is multi-Region and its key material can be replicated to other regions.",
            )

    def is_multi_region_key(self, key: str, region: str) -> bool | None:
        """True or False from ``kms:DescribeKey``; None when the key cannot be described."""
        # AWS managed keys (alias/aws/s3, alias/aws/kinesis, ...) are always single-Region.
        if key.startswith("alias/aws/") or ":alias/aws/" in key:
            return False
        key_region = key.split(":")[3] if key.startswith("arn:") else region
        cache_key = (key, key_region)
        if cache_key not in self._multi_region_keys:
            try:
                metadata = self.client("kms", key_region).describe_key(KeyId=key)["KeyMetadata"]
                self._multi_region_keys[cache_key] = bool(metadata.get("MultiRegion", False))
            except _AWS_ERRORS:
                self._multi_region_keys[cache_key] = None
        return self._multi_region_keys[cache_key]

    def _allowed(self, jurisdiction: str, home: str) -> frozenset[str]:
        return allowed_regions(jurisdiction, home, self.catalog, self.policy)

    def _finding(self, rule: Rule, resource: _Resource, jurisdiction: str, message: str) -> None:
        self.report.findings.append(
            Finding(rule, resource.service, resource.name, resource.region, jurisdiction, message)
        )

    def _error(self, service: str, resource: str, region: str, exc: Exception) -> None:
        self.report.errors.append(ScanError(service, resource, region, str(exc)))


def _paged(client: Any, operation: str, key: str, page_size: int | None = None) -> Iterator[Any]:
    config = {"PaginationConfig": {"PageSize": page_size}} if page_size else {}
    for page in client.get_paginator(operation).paginate(**config):
        yield from page.get(key, [])


def _ignore(call: Callable[..., dict[str, Any]], code: str, **kwargs: Any) -> dict[str, Any]:
    """``call(**kwargs)``, or ``{}`` when it fails with ``code`` (meaning: not configured)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == code:
            return {}
        raise


def _bucket_key(s3: Any, name: str) -> str | None:
    response = _ignore(
        s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", Bucket=name
    )
    for rule in (response.get("ServerSideEncryptionConfiguration") or {}).get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm", "").startswith("aws:kms") and default.get("KMSMasterKeyID"):
            return str(default["KMSMasterKeyID"])
    return None


def _table_tags(ddb: Any, arn: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    kwargs: dict[str, str] = {"ResourceArn": arn}
    while True:
        response = ddb.list_tags_of_resource(**kwargs)
        tags.extend(response.get("Tags", []))
        if not response.get("NextToken"):
            return tags
        kwargs["NextToken"] = response["NextToken"]


def _stream_tags(kinesis: Any, name: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    kwargs: dict[str, str] = {"StreamName": name}
    while True:
        response = kinesis.list_tags_for_stream(**kwargs)
        tags.extend(response.get("Tags", []))
        if not response.get("HasMoreTags") or not response.get("Tags"):
            return tags
        kwargs["ExclusiveStartTagKey"] = response["Tags"][-1]["Key"]


def _tag_list(response: dict[str, Any], key: str) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in response.get(key, [])}


def _bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def _listing(regions: Iterable[str]) -> str:
    names = sorted(regions)
    return ", ".join(names) if names else "no region (the jurisdiction has none in the catalog)"

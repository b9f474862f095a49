"""Tagging: ownership, cost and the two residency tags on everything that takes tags.

Tags are judged in each resource's own inputs: the stack transformation (stacks/tagging.py)
copies the stack's defaults there, because provider default tags never reach a policy.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from policies import facts
from policies.props import classification, is_personal, jurisdiction, tags
from policies.rule import ConfigKey, ResourceRule, ResourceView, Settings
from policies.tokens import (
    ACCELERATOR,
    DYNAMODB_TABLE,
    EBS_VOLUME,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    INSTANCE,
    KINESIS_STREAM,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    LOAD_BALANCERS,
    LOG_GROUP,
    S3_BUCKETS,
    SECURITY_GROUP,
    SQS_QUEUE,
    SUBNET,
    VPC,
)
from regions.residency import CLASSIFICATION_TAG, JURISDICTION_TAG, DataClassification

TAGGED_TYPES = frozenset(
    {
        *S3_BUCKETS,
        *LOAD_BALANCERS,
        ACCELERATOR,
        DYNAMODB_TABLE,
        EBS_VOLUME,
        EKS_CLUSTER,
        EKS_NODE_GROUP,
        INSTANCE,
        KINESIS_STREAM,
        KMS_KEY,
        LAUNCH_TEMPLATE,
        LOG_GROUP,
        SECURITY_GROUP,
        SQS_QUEUE,
        SUBNET,
        VPC,
        "aws:ecr/repository:Repository",
        "aws:iam/role:Role",
        "aws:lambda/function:Function",
    }
)
"""Types that must carry tags even when a program passes none. Any other AWS resource is
judged when its inputs have ``tags`` at all (the transformation adds them wherever the
resource type takes tags)."""

REQUIRED_TAGS = ConfigKey.array(
    "requiredTags",
    of="string",
    default=["owner", "cost-center", CLASSIFICATION_TAG, JURISDICTION_TAG],
    description="Tags every taggable resource carries, with a non-empty value.",
)
GLOBAL_EXEMPT_TAGS = ConfigKey.array(
    "globalStackExemptTags",
    of="string",
    default=[JURISDICTION_TAG],
    description="Required tags that resources of a global stack may omit unless they hold "
    "personal data: the global layer serves every jurisdiction.",
)


def _taggable(view: ResourceView) -> bool:
    return view.type in TAGGED_TYPES or view.props.get("tags") is not None


def required_tags(view: ResourceView, settings: Settings) -> Iterator[str]:
    if not _taggable(view):
        return
    wanted = list(settings["requiredTags"])
    if view.in_global_stack and not is_personal(view.props):
        wanted = [t for t in wanted if t not in settings["globalStackExemptTags"]]
    present = tags(view.props)
    missing = [t for t in wanted if not present.get(t)]
    if missing:
        yield (
            f"{view.label} lacks the tags {', '.join(missing)}: set them on the resource "
            "(the stack's default tags supply owner and cost-center; components set "
            "data-classification and jurisdiction)."
        )


def data_classification_valid(view: ResourceView, _: Settings) -> Iterator[str]:
    value = classification(view.props)
    allowed = [c.value for c in DataClassification]
    if value is not None and value not in allowed:
        yield (
            f"{view.label} has {CLASSIFICATION_TAG}={value}: use one of {allowed} "
            "(regions.residency.classification_tags)."
        )


def jurisdiction_tag_valid(view: ResourceView, settings: Settings) -> Iterator[str]:
    value = jurisdiction(view.props)
    if value is None:
        return
    allowed = list(settings["allowedJurisdictions"])
    if value not in allowed:
        yield f"{view.label} has {JURISDICTION_TAG}={value}: use one of {allowed}."
        return
    region_juris = facts.jurisdiction_of(view.region)
    # A global stack's resources (an accelerator, say) name the jurisdiction they serve,
    # not the one of the region their API lives in.
    if not view.in_global_stack and region_juris and value != region_juris:
        yield (
            f"{view.label} in {view.region} is tagged {JURISDICTION_TAG}={value}, but "
            f"{view.region} is in {region_juris}: tag it {JURISDICTION_TAG}={region_juris}."
        )


RULES = (
    ResourceRule(
        name="required-tags",
        summary="Taggable AWS resources carry owner, cost-center, data-classification and "
        "jurisdiction (the global stack may omit jurisdiction for non-personal resources).",
        industry=("AWS Organizations tag policies (required keys)",),
        types=None,
        check=required_tags,
        config=(REQUIRED_TAGS, GLOBAL_EXEMPT_TAGS),
        severity=Severity.MEDIUM,
    ),
    ResourceRule(
        name="data-classification-valid",
        summary="The data-classification tag is personal, internal or public.",
        industry=(),
        rationale="No scanner check exists; the residency rules act on this tag, so a "
        "misspelt value would exempt a resource from all of them.",
        types=None,
        check=data_classification_valid,
    ),
    ResourceRule(
        name="jurisdiction-tag-valid",
        summary="The jurisdiction tag names an allowed jurisdiction, and in regional stacks "
        "the jurisdiction of the resource's region.",
        industry=(),
        rationale="No scanner check exists; mirrors the tag-scoped regional boundary "
        "(aws:RequestTag/DataResidency) of AWS prescriptive guidance.",
        types=None,
        check=jurisdiction_tag_valid,
        config=(facts.ALLOWED_JURISDICTIONS,),
    ),
)

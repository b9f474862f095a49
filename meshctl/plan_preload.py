"""Imported once by the plan's fork server, so each stack process starts with the SDKs loaded."""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes  # noqa: F401

import stacks.program  # noqa: F401

# pulumi_aws loads service modules lazily; touching them here pays that cost once.
for _module in (
    "ec2",
    "kms",
    "iam",
    "s3",
    "cloudwatch",
    "eks",
    "lb",
    "globalaccelerator",
    "dynamodb",
    "kinesis",
    "sqs",
    "lambda_",
    "ecr",
):
    getattr(aws, _module)
del pulumi

"""The IAM document builders (components/iam_documents.py), without Pulumi.

Proves the exact dicts, key order included (it is part of the serialised policy a preview
compares); does not prove that IAM accepts or evaluates them as intended (the component
tests evaluate the bucket policies; AWS is the judge of the rest).
"""

from __future__ import annotations

import json

from components.iam_documents import (
    ASSUME_ROLE,
    POLICY_VERSION,
    allow,
    deny_insecure_transport_to,
    policy_document,
    service_endpoint,
    service_trust_policy,
    via_service,
)


def test_policy_document_wraps_statements_with_the_version() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    assert policy_document([statement]) == {"Version": "2012-10-17", "Statement": [statement]}
    assert POLICY_VERSION == "2012-10-17"


def test_policy_id_sits_between_version_and_statement() -> None:
    document = policy_document((), policy_id="EC2InterruptionPolicy")
    assert list(document) == ["Version", "Id", "Statement"]
    assert document == {"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": []}


def test_service_trust_writes_one_action_as_a_string() -> None:
    assert json.dumps(service_trust_policy("lambda.amazonaws.com")) == (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        '{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    )


def test_service_trust_writes_a_sequence_of_actions_as_a_list() -> None:
    single = service_trust_policy("ec2.amazonaws.com", (ASSUME_ROLE,))
    several = service_trust_policy("eks.amazonaws.com", (ASSUME_ROLE, "sts:TagSession"))
    assert single["Statement"][0]["Action"] == ["sts:AssumeRole"]
    assert several["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_service_trust_condition_comes_last() -> None:
    condition = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    statement = service_trust_policy("vpc-flow-logs.amazonaws.com", condition=condition)[
        "Statement"
    ][0]
    assert list(statement) == ["Effect", "Principal", "Action", "Condition"]
    assert statement["Condition"] == condition


def test_allow_lists_actions_and_adds_a_condition_only_when_given() -> None:
    plain = allow("Read", ("s3:GetObject",), "arn:aws:s3:::b/*")
    assert plain == {
        "Sid": "Read",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": "arn:aws:s3:::b/*",
    }
    narrowed = allow("Decrypt", ["kms:Decrypt"], "*", condition={"Bool": {"x": "true"}})
    assert list(narrowed) == ["Sid", "Effect", "Action", "Resource", "Condition"]


def test_deny_insecure_transport_refuses_requests_without_tls() -> None:
    assert deny_insecure_transport_to("sqs:*", "arn:q", sid="DenyHTTP") == {
        "Sid": "DenyHTTP",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": "arn:q",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert deny_insecure_transport_to("s3:*", [])["Sid"] == "DenyInsecureTransport"


def test_via_service_keeps_a_string_a_string_and_a_sequence_a_list() -> None:
    assert service_endpoint("logs", "eu-west-1") == "logs.eu-west-1.amazonaws.com"
    assert via_service("eu-west-1", "s3") == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    assert via_service("eu-west-1", ("dynamodb",)) == {
        "StringEquals": {"kms:ViaService": ["dynamodb.eu-west-1.amazonaws.com"]}
    }

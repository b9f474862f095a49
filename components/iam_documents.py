"""IAM JSON documents as plain dicts (values may be Pulumi inputs): the shapes that recur in
the components' trust, identity, key, queue and bucket policies.

Pure: no resources. Serialise with ``pulumi.Output.json_dumps`` (or ``json.dumps`` when
every value is known). Key order is part of the serialised document, and of what a preview
compares, so each builder writes its keys in one fixed order: ``Sid``, ``Effect``,
``Principal``, ``Action``, ``Resource``, ``Condition``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"
"""The only current IAM policy language version; ``2008-10-17`` lacks policy variables."""
ASSUME_ROLE = "sts:AssumeRole"


def policy_document(
    statements: Iterable[Mapping[str, Any]], *, policy_id: str | None = None
) -> dict[str, Any]:
    """``{"Version": ..., "Statement": [...]}``, with ``Id`` between them when given (SQS
    and SNS policies name themselves; IAM and S3 policies need no ``Id``)."""
    document: dict[str, Any] = {"Version": POLICY_VERSION}
    if policy_id is not None:
        document["Id"] = policy_id
    document["Statement"] = list(statements)
    return document


def service_trust_policy(
    service: str,
    actions: str | Sequence[str] = ASSUME_ROLE,
    *,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The trust policy of a role that one AWS service (``lambda.amazonaws.com``, ...)
    assumes. ``actions`` is written as given: a string stays a string, a sequence (even of
    one action) becomes a list. ``condition`` narrows the trust (say, to
    ``aws:SourceAccount``); none when omitted."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": _one_or_list(actions),
    }
    if condition is not None:
        statement["Condition"] = dict(condition)
    return policy_document([statement])


def allow(
    sid: str,
    actions: Sequence[str],
    resource: Any,
    *,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An identity-policy ``Allow`` statement (no ``Principal``): ``actions`` on
    ``resource`` (one ARN, a list of ARNs or ``*``), under ``condition`` when given."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": resource,
    }
    if condition is not None:
        statement["Condition"] = dict(condition)
    return statement


def deny_insecure_transport_to(
    actions: str, resource: Any, *, sid: str = "DenyInsecureTransport"
) -> dict[str, Any]:
    """A resource-policy statement that refuses every request without TLS: ``actions`` is
    the service wildcard (``s3:*``, ``sqs:*``), ``resource`` what the policy protects."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def service_endpoint(service: str, region: str) -> str:
    """A service's regional name (``s3.eu-west-1.amazonaws.com``), as ``kms:ViaService``
    and regional service principals such as CloudWatch Logs' spell it."""
    return f"{service}.{region}.amazonaws.com"


def via_service(region: str, services: str | Sequence[str]) -> dict[str, Any]:
    """The condition that lets a KMS key be used only through ``services`` in ``region``:
    ``{"StringEquals": {"kms:ViaService": ...}}``. A string stays a string, a sequence (even
    of one service) becomes a list."""
    if isinstance(services, str):
        return {"StringEquals": {"kms:ViaService": service_endpoint(services, region)}}
    return {"StringEquals": {"kms:ViaService": [service_endpoint(s, region) for s in services]}}


def _one_or_list(values: str | Sequence[str]) -> str | list[str]:
    return values if isinstance(values, str) else list(values)

"""The pure builders of components/buckets.py: encryption rules, lifecycle rules and policy
statements, without a Pulumi program.

The resources the helpers declare are proven by the component tests that use them
(tests/artifacts/test_model_store.py, tests/feature_store/test_component.py,
tests/routing/test_global_routing.py); none of this proves that S3 enforces them.
"""

from __future__ import annotations

import pytest

from components.buckets import (
    kms_encryption,
    lifecycle_rule,
    s3_managed_encryption,
)


def test_kms_encryption_uses_a_bucket_key_and_blocks_customer_keys() -> None:
    rule = kms_encryption("arn:aws:kms:eu-west-1:123456789012:key/k")
    default = rule.apply_server_side_encryption_by_default
    assert (default.sse_algorithm, default.kms_master_key_id) == (
        "aws:kms",
        "arn:aws:kms:eu-west-1:123456789012:key/k",
    )
    assert rule.bucket_key_enabled is True
    assert rule.blocked_encryption_types == ["SSE-C"]


def test_s3_managed_encryption_is_sse_s3_without_a_key() -> None:
    rule = s3_managed_encryption()
    assert rule.apply_server_side_encryption_by_default.sse_algorithm == "AES256"
    assert rule.apply_server_side_encryption_by_default.kms_master_key_id is None
    assert rule.blocked_encryption_types == ["SSE-C"]


def test_lifecycle_rule_with_only_the_required_settings() -> None:
    rule = lifecycle_rule("purge", noncurrent_days=7)
    assert (rule.id, rule.status) == ("purge", "Enabled")
    assert rule.filter.prefix is None  # every object
    assert rule.noncurrent_version_expiration.noncurrent_days == 7
    assert rule.expiration is None
    assert rule.abort_incomplete_multipart_upload is None


def test_lifecycle_rule_with_every_setting() -> None:
    rule = lifecycle_rule(
        "expire", noncurrent_days=7, prefix="raw/", expire_days=30, abort_upload_days=1
    )
    assert rule.filter.prefix == "raw/"
    assert rule.expiration.days == 30
    assert rule.expiration.expired_object_delete_marker is None
    assert rule.abort_incomplete_multipart_upload.days_after_initiation == 1


def test_lifecycle_rule_can_expire_delete_markers() -> None:
    rule = lifecycle_rule("markers", noncurrent_days=90, expire_delete_markers=True)
    assert rule.expiration.expired_object_delete_marker is True
    assert rule.expiration.days is None


def test_lifecycle_rule_refuses_two_expirations() -> None:
    with pytest.raises(ValueError, match=r"^lifecycle rule 'x' must not set both expire_days"):
        lifecycle_rule("x", noncurrent_days=1, expire_days=30, expire_delete_markers=True)

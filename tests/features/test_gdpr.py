"""``meshctl gdpr erase|export`` against a real moto server, with data written by the handler.

Proves: erase leaves no version or delete marker under the user's prefix, deletes the online
item, lists exactly what it deleted, and touches no other user (not even one whose id shares a
prefix); export returns the item and every stored version; failures are reported, not hidden.
Does not prove: PITR backups or the dead-letter queue (the receipt says they are not covered).
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

import pytest

from features.gdpr import NOT_COVERED, erase_user, export_user
from features.handler import process_batch
from meshctl.cli import main
from tests.features.conftest import BUCKET, REGION, TABLE, FeatureEnv, make_client

NOW = float(int(time.time()))


def _event(event_id: str, user_id: str, age_s: float) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user_id,
        "ts": NOW - age_s,
        "type": "click",
        "class_id": 2,
    }


def _seed(env: FeatureEnv) -> list[dict[str, Any]]:
    """Three users through the real handler, then extra versions and a delete marker for u1."""
    events = [
        _event("u1-a", "u1", 30),
        _event("u1-b", "u1", 3 * 86400),
        _event("u10-a", "u10", 30),
        _event("u2-a", "u2", 30),
    ]
    assert process_batch(env.lambda_records(events), env.deps, NOW) == {"batchItemFailures": []}
    key = env.versions("raw-events/user_id=u1/")[0][0]
    env.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"event_id": "u1-a", "rewritten": true}\n')
    env.s3.put_object(Bucket=BUCKET, Key="raw-events/user_id=u1/2020/01/01/old.jsonl", Body=b"{}\n")
    env.s3.delete_object(Bucket=BUCKET, Key="raw-events/user_id=u1/2020/01/01/old.jsonl")
    return events


def _cli(env: FeatureEnv, *argv: str) -> list[str]:
    return [*argv, "--region", REGION, "--env", "prod", "--endpoint-url", env.endpoint]


def test_erase_leaves_no_version_behind_and_spares_other_users(
    feature_env: FeatureEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(feature_env)
    before = feature_env.versions("raw-events/user_id=u1/")
    others = feature_env.versions("raw-events/user_id=u10/") + feature_env.versions(
        "raw-events/user_id=u2/"
    )
    assert len(before) == 5  # 2 objects by the handler, 1 rewrite, 1 object + its delete marker

    assert main(_cli(feature_env, "gdpr", "erase", "--user-id", "u1", "--json")) == 0
    receipt = json.loads(capsys.readouterr().out)

    page = feature_env.s3.list_object_versions(Bucket=BUCKET, Prefix="raw-events/user_id=u1/")
    assert page.get("Versions", []) == []
    assert page.get("DeleteMarkers", []) == []
    assert feature_env.item("u1") is None
    assert (
        sorted(
            (v["key"], v["version_id"], v["is_delete_marker"]) for v in receipt["object_versions"]
        )
        == before
    )
    assert receipt["online_items"] == [{"user_id": "u1"}]
    assert (receipt["table"], receipt["bucket"], receipt["complete"], receipt["remaining"]) == (
        TABLE,
        BUCKET,
        True,
        [],
    )
    assert receipt["not_covered"] == list(NOT_COVERED)

    assert (
        feature_env.versions("raw-events/user_id=u10/")
        + feature_env.versions("raw-events/user_id=u2/")
        == others
    )
    assert feature_env.item("u10") is not None
    assert feature_env.item("u2") is not None


def test_dry_run_deletes_nothing(
    feature_env: FeatureEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(feature_env)
    before = feature_env.versions()
    assert main(_cli(feature_env, "gdpr", "erase", "--user-id", "u1", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "would delete 1 online item(s) and 5 object version(s)" in out
    assert feature_env.versions() == before
    assert feature_env.item("u1") is not None


def test_human_receipt_lists_every_version(
    feature_env: FeatureEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(feature_env)
    before = feature_env.versions("raw-events/user_id=u1/")
    assert main(_cli(feature_env, "gdpr", "erase", "--user-id", "u1")) == 0
    out = capsys.readouterr().out
    assert "deleted 1 online item(s) and 5 object version(s)" in out
    for _, version_id, _ in before:
        assert version_id in out


def test_export_returns_the_item_and_every_raw_event_version(
    feature_env: FeatureEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _seed(feature_env)
    assert main(_cli(feature_env, "gdpr", "export", "--user-id", "u1")) == 0
    document = json.loads(capsys.readouterr().out)

    assert document["user_id"] == "u1"
    item = document["online_store"]["item"]
    assert item["user_id"] == "u1"
    assert item["features"]["events_7d"] == 2
    objects = document["offline_store"]["objects"]
    assert len(objects) == 4  # every version that holds data; the delete marker holds none
    exported = [e for o in objects for e in o["events"]]
    # Every event the handler archived for u1, from current and older versions alike.
    originals = sorted(json.dumps(e, sort_keys=True) for e in exported if "ts" in e)
    assert originals == sorted(
        json.dumps(e, sort_keys=True) for e in events if e["user_id"] == "u1"
    )
    assert {"event_id": "u1-a", "rewritten": True} in exported
    assert all(e.get("user_id") in {None, "u1"} for e in exported)
    assert sum(o["is_latest"] for o in objects) == 2


def test_export_to_a_private_file_and_after_erase_nothing_is_left(
    feature_env: FeatureEnv, tmp_path: Any
) -> None:
    _seed(feature_env)
    main(_cli(feature_env, "gdpr", "erase", "--user-id", "u1", "--json"))
    out = tmp_path / "u1.json"
    assert main(_cli(feature_env, "gdpr", "export", "--user-id", "u1", "--out", str(out))) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    document = json.loads(out.read_text())
    assert document["online_store"]["item"] is None
    assert document["offline_store"]["objects"] == []


def test_locked_versions_make_the_erase_incomplete(aws_endpoint: str) -> None:
    s3, ddb = make_client(aws_endpoint, "s3"), make_client(aws_endpoint, "dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(
        Bucket="locked-offline",
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=True,
    )
    s3.put_object(Bucket="locked-offline", Key="raw-events/user_id=u1/a.jsonl", Body=b"{}\n")
    locked = s3.put_object(
        Bucket="locked-offline",
        Key="raw-events/user_id=u1/b.jsonl",
        Body=b"{}\n",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30),
    )["VersionId"]

    receipt = erase_user(
        "u1", region=REGION, table="t", bucket="locked-offline", dynamodb=ddb, s3=s3
    )
    assert not receipt.complete
    assert [(v.key, v.version_id) for v in receipt.remaining] == [
        ("raw-events/user_id=u1/b.jsonl", locked)
    ]
    assert [v.key for v in receipt.object_versions] == ["raw-events/user_id=u1/a.jsonl"]
    assert "AccessDenied" in receipt.errors[0]
    assert receipt.online_items == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--user-id", "u1", "--region", "eu-south-1"],
            "region 'eu-south-1' is not in the catalog",
        ),
        (["--user-id", "../u2", "--region", REGION], "--user-id: user_id must be"),
    ],
)
@pytest.mark.parametrize("action", ["erase", "export"])
def test_bad_input_is_refused_before_any_call(
    action: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No endpoint and no credentials: reaching AWS would fail differently.
    assert main(["gdpr", action, *argv]) == 2
    assert message in capsys.readouterr().err


def test_library_refuses_unsafe_user_ids() -> None:
    with pytest.raises(ValueError, match="user_id must be"):
        export_user("a/b", region=REGION, table=TABLE, bucket=BUCKET, dynamodb=None, s3=None)

"""The feature Lambda against a real moto server: Kinesis records in, DynamoDB/S3/SQS out.

Proves: the item and the archive after a batch, idempotence on replay, dead letters with
reasons, partial batch responses naming exactly the failed records, the optimistic lock, and
the environment wiring. Does not prove: the event source mapping itself (Lambda's retries and
checkpointing are AWS behaviour; the handler only returns what they consume).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from features import handler as feature_handler
from features.gdpr import plain_item
from features.handler import ConfigurationError, Settings, process_batch
from tests.features.conftest import BUCKET, TABLE, FeatureEnv

NOW = float(int(time.time()))
HOUR, DAY = 3600, 86400


def _event(
    event_id: str, user_id: str, age_s: float, class_id: int = 1, kind: str = "view"
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user_id,
        "ts": NOW - age_s,
        "type": kind,
        "class_id": class_id,
    }


def _day(age_s: float) -> str:
    return datetime.fromtimestamp(NOW - age_s, UTC).strftime("%Y/%m/%d")


def _objects(env: FeatureEnv, prefix: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for key, _, _ in env.versions(prefix):
        body = env.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        found[key] = [json.loads(line) for line in body.splitlines()]
    return found


def test_batch_updates_features_and_archives_raw_events(feature_env: FeatureEnv) -> None:
    events = [
        _event("a1", "alice", 60, class_id=3),
        _event("a2", "alice", 2 * HOUR, class_id=3, kind="click"),
        _event("a3", "alice", 3 * DAY, class_id=5),
        _event("b1", "bob", 10, class_id=9),
    ]
    records = feature_env.lambda_records(events)
    assert process_batch(records, feature_env.deps, NOW) == {"batchItemFailures": []}

    alice = plain_item(feature_env.item("alice") or {})
    assert alice["features"] == {
        "events_1h": 1,
        "events_24h": 2,
        "events_7d": 3,
        "last_event_at": int(NOW - 60),
    }
    assert alice["top_classes"] == [3, 5]
    assert alice["updated_at"] == int(NOW)
    assert alice["expires_at"] == int(NOW) + Settings(TABLE, BUCKET, "q").ttl_seconds
    assert plain_item(feature_env.item("bob") or {})["features"]["events_1h"] == 1

    archived = _objects(feature_env, "raw-events/user_id=alice/")
    assert {key.rsplit("/", 1)[0] for key in archived} == {
        f"raw-events/user_id=alice/{_day(age)}" for age in (60, 2 * HOUR, 3 * DAY)
    }
    assert sorted(e["event_id"] for lines in archived.values() for e in lines) == ["a1", "a2", "a3"]
    assert [e for lines in archived.values() for e in lines if e["event_id"] == "a2"] == [events[1]]
    assert feature_env.dead_letters() == []


def test_replayed_records_change_nothing(feature_env: FeatureEnv) -> None:
    records = feature_env.lambda_records(
        [_event(f"e{i}", "carol", i * 600, class_id=i % 3) for i in range(8)]
    )
    process_batch(records, feature_env.deps, NOW)
    item, versions = feature_env.item("carol"), feature_env.versions()

    # Lambda retries the whole batch, or everything from a failed record on.
    assert process_batch(records, feature_env.deps, NOW) == {"batchItemFailures": []}
    assert process_batch(records[3:], feature_env.deps, NOW) == {"batchItemFailures": []}
    assert feature_env.item("carol") == item
    assert feature_env.versions() == versions  # not even a new version of the same object


def test_malformed_records_go_to_dead_letters_and_the_rest_is_processed(
    feature_env: FeatureEnv,
) -> None:
    good = _event("d1", "dave", 5)
    records = feature_env.lambda_records(
        [
            b"{not json",
            good,
            {**_event("d2", "dave", 5), "type": "purchase"},
            {**_event("d3", "dave", 0), "ts": NOW + DAY},
        ]
    )
    assert process_batch(records, feature_env.deps, NOW) == {"batchItemFailures": []}

    letters = sorted(feature_env.dead_letters(), key=lambda m: int(m["sequenceNumber"]))
    assert [m["sequenceNumber"] for m in letters] == [
        records[i]["kinesis"]["sequenceNumber"] for i in (0, 2, 3)
    ]
    assert letters[0]["reason"].startswith("data is not JSON")
    assert letters[1]["reason"] == "type must be one of ['click', 'view']"
    assert letters[2]["reason"] == "ts is 86400 s in the future (more than 300 s)"
    assert letters[0]["data"] == records[0]["kinesis"]["data"]
    assert letters[0]["dataTruncated"] is False
    assert letters[0]["eventSourceARN"].endswith(
        ":stream/inference-mesh-prod-eu-west-1-user-events"
    )
    assert plain_item(feature_env.item("dave") or {})["features"]["events_1h"] == 1


def test_unreachable_dead_letter_queue_fails_only_the_malformed_records(
    feature_env: FeatureEnv,
) -> None:
    records = feature_env.lambda_records([b"\x00garbage", _event("e1", "erin", 5), b"[]"])
    deps = feature_env.deps
    deps.settings = Settings(TABLE, BUCKET, feature_env.queue_url + "-missing")
    response = process_batch(records, deps, NOW)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": records[i]["kinesis"]["sequenceNumber"]} for i in (0, 2)
        ]
    }
    assert feature_env.item("erin") is not None


class _FailingS3:
    """The real moto client, except that writes for one user fail (a throttled prefix)."""

    def __init__(self, s3: Any, user_id: str):
        self._s3, self._user_id = s3, user_id

    def put_object(self, **kwargs: Any) -> Any:
        if f"user_id={self._user_id}/" in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")
        return self._s3.put_object(**kwargs)


def test_a_failing_user_reports_only_its_own_records(feature_env: FeatureEnv) -> None:
    records = feature_env.lambda_records(
        [_event("f1", "frank", 5), _event("g1", "grace", 5), _event("f2", "frank", 4)]
    )
    deps = feature_env.deps
    deps.s3 = _FailingS3(feature_env.s3, "frank")
    response = process_batch(records, deps, NOW)
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": records[i]["kinesis"]["sequenceNumber"]} for i in (0, 2)
        ]
    }
    # Archive before item: a user whose raw events could not be stored has no features yet,
    # so the retry counts them then (instead of finding them "seen" and never archiving).
    assert feature_env.item("frank") is None
    assert feature_env.item("grace") is not None
    # The retry (from frank's first record on) succeeds and counts grace's event once.
    assert process_batch(records, feature_env.deps, NOW) == {"batchItemFailures": []}
    assert plain_item(feature_env.item("frank") or {})["features"]["events_1h"] == 2
    assert plain_item(feature_env.item("grace") or {})["features"]["events_1h"] == 1


class _RacingDynamoDB:
    """Before the first write, a concurrent batch updates the same user (another shard)."""

    def __init__(self, env: FeatureEnv, concurrent: list[dict[str, Any]]):
        self._env, self._concurrent, self.puts = env, concurrent, 0

    def get_item(self, **kwargs: Any) -> Any:
        return self._env.dynamodb.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.puts += 1
        if self.puts == 1:
            assert process_batch(self._concurrent, self._env.deps, NOW) == {"batchItemFailures": []}
        return self._env.dynamodb.put_item(**kwargs)


def test_concurrent_update_is_retried_not_overwritten(feature_env: FeatureEnv) -> None:
    concurrent, mine = (feature_env.lambda_records([_event(i, "heidi", 5)]) for i in ("h1", "h2"))
    deps = feature_env.deps
    racing = _RacingDynamoDB(feature_env, concurrent)
    deps.dynamodb = racing
    assert process_batch(mine, deps, NOW) == {"batchItemFailures": []}
    assert racing.puts == 2  # the first conditional write lost and was redone
    item = plain_item(feature_env.item("heidi") or {})
    assert item["features"]["events_1h"] == 2
    assert item["revision"] == 2


def test_lambda_entry_point_reads_its_environment(
    feature_env: FeatureEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = feature_env.lambda_records([_event("i1", "ivan", 5)])
    for name, value in {
        "FEATURE_TABLE": TABLE,
        "OFFLINE_BUCKET": BUCKET,
        "DEAD_LETTER_QUEUE_URL": feature_env.queue_url,
        "FEATURE_TTL_DAYS": "7",
        "AWS_ENDPOINT_URL": feature_env.endpoint,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    assert feature_handler.handler({"Records": records}, None) == {"batchItemFailures": []}
    item = plain_item(feature_env.item("ivan") or {})
    assert item["expires_at"] - item["updated_at"] == 7 * DAY


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FEATURE_TABLE": "t", "OFFLINE_BUCKET": "b"}, "['DEAD_LETTER_QUEUE_URL'] must be set"),
        (
            {
                "FEATURE_TABLE": "t",
                "OFFLINE_BUCKET": "b",
                "DEAD_LETTER_QUEUE_URL": "q",
                "FEATURE_TTL_DAYS": "0",
            },
            "FEATURE_TTL_DAYS must be a whole number of days >= 1, got '0'",
        ),
    ],
)
def test_missing_configuration_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert message in str(info.value)

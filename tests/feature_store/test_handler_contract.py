"""The component and the Lambda code agree: environment, prefixes and the AWS calls the
role must allow. Reads ``features/handler.py`` statically; does not run it."""

from __future__ import annotations

import ast
import inspect

from components import feature_store
from features import events, handler

# boto3 client method -> the IAM action it needs.
CALL_ACTIONS = {
    ("dynamodb", "get_item"): "dynamodb:GetItem",
    ("dynamodb", "put_item"): "dynamodb:PutItem",
    ("s3", "put_object"): "s3:PutObject",
    ("sqs", "send_message_batch"): "sqs:SendMessage",
}


def _client_calls() -> set[tuple[str, str]]:
    """``(client, method)`` for every ``<...>.dynamodb|s3|sqs.<method>(...)`` in the handler."""
    calls = set()
    for node in ast.walk(ast.parse(inspect.getsource(handler))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
        if name in {"dynamodb", "s3", "sqs"}:
            calls.add((name, node.func.attr))
    return calls


def test_environment_variable_names_match_the_handler() -> None:
    assert feature_store.ENV_TABLE == handler.ENV_TABLE
    assert feature_store.ENV_BUCKET == handler.ENV_BUCKET
    assert feature_store.ENV_QUEUE == handler.ENV_QUEUE
    assert feature_store.ENV_TTL_DAYS == handler.ENV_TTL_DAYS


def test_the_consumer_role_allows_exactly_the_calls_the_handler_makes() -> None:
    calls = _client_calls()
    assert calls == set(CALL_ACTIONS), "handler calls changed: update CALL_ACTIONS and the role"
    table_actions = {a for (client, _), a in CALL_ACTIONS.items() if client == "dynamodb"}
    assert table_actions == set(feature_store.CONSUMER_TABLE_ACTIONS)


def test_raw_events_prefix_and_handler_entry_point() -> None:
    assert f"{events.RAW_PREFIX}/" == feature_store.RAW_EVENTS_PREFIX
    module, function = feature_store.HANDLER.rsplit(".", 1)
    assert module == handler.__name__
    assert callable(getattr(handler, function))

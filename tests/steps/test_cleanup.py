"""The stream clean-up: what each record kind does, idempotency, TTL vs caller deletions."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from steps import stream_cleanup
from steps.core.cleanup import (
    DENYLIST_EXPIRED,
    FAMILY_EXPIRED,
    FAMILY_REVOKED,
    TOKEN_EXPIRED,
    USER_DISABLED,
    classify,
    process_records,
)
from steps.core.sessions import revoke_family
from steps.core.table import (
    denied_token_item,
    deny_key,
    family_key,
    refresh_token_key,
    user_key,
)
from steps.core.tokens import hash_refresh_token

from .sessions_world import NOW
from .stream_records import stream_record, with_values


class Recorded:
    """A metrics sink that sums what it is given."""

    def __init__(self) -> None:
        self.values: dict[str, float] = defaultdict(float)

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        assert unit == "Count"
        self.values[name] += value


def run(world, *records, metrics: Recorded | None = None):
    return process_records(
        list(records), table=world.table, clock=world.clock, metrics=metrics or Recorded()
    )


def scan(world) -> list[dict]:
    items = world.table.client.scan(TableName=world.table.name)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def family_of(world, session) -> str:
    return world.token(session["refresh_token"]).family_id


def tokens_of(world, family_id: str) -> list[dict]:
    return [
        i
        for i in scan(world)
        if i["entity"]["S"] == "refresh_token" and i["family_id"]["S"] == family_id
    ]


def audits(world, user_id: str) -> list[dict]:
    return world.table.client.query(
        TableName=world.table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#USER#{user_id}"}},
    )["Items"]


@pytest.fixture
def sessions(world):
    """Alice with a rotated family (three tokens) and a second one; Bob with one."""
    alice, bob = world.add_user(), world.add_user("u-2", "bob@example.com")
    first = world.login(alice)
    world.clock.advance(60)
    second = world.refresh(first["refresh_token"])
    world.clock.advance(60)
    third = world.refresh(second["refresh_token"])
    other = world.login(alice)
    bobs = world.login(bob)
    return {"alice": alice, "rotated": third, "other": other, "bob": bobs}


def revoked_record(world, family_id: str, reason: str = "logout") -> dict:
    before = world.table.get(family_key(family_id))
    assert revoke_family(world.table, family_id, reason=reason, now=world.clock.now())
    return stream_record("MODIFY", before, world.table.get(family_key(family_id)))


def ttl_removed(world, key: dict) -> dict:
    """What TTL does: the item goes, a REMOVE record with TTL's identity comes."""
    item = world.table.get(key)
    world.table.client.delete_item(TableName=world.table.name, Key=key)
    return stream_record("REMOVE", item, None, ttl=True)


# -- classification ---------------------------------------------------------------------------


def test_classify_tells_ttl_removals_from_removals_by_a_caller(world, sessions) -> None:
    family = world.table.get(family_key(family_of(world, sessions["rotated"])))
    by_ttl = stream_record("REMOVE", family, None, ttl=True)
    assert classify(by_ttl).kind == FAMILY_EXPIRED
    assert classify(stream_record("REMOVE", family, None)) is None
    for identity in (
        {"type": "User", "principalId": "dynamodb.amazonaws.com"},
        {"type": "Service", "principalId": "lambda.amazonaws.com"},
    ):
        assert classify(stream_record("REMOVE", family, None, identity=identity)) is None


def test_classify_each_kind(world, sessions) -> None:
    family = world.table.get(family_key(family_of(world, sessions["rotated"])))
    token = world.table.get(refresh_token_key(hash_refresh_token(sessions["bob"]["refresh_token"])))
    user = world.table.get(user_key("alice@example.com"))
    deny = denied_token_item("jti-1", NOW + 900)
    revoked = with_values(family, status="revoked")
    assert classify(stream_record("MODIFY", family, revoked)).kind == FAMILY_REVOKED
    assert classify(stream_record("MODIFY", revoked, revoked)) is None
    assert classify(stream_record("MODIFY", family, family)) is None
    assert classify(stream_record("INSERT", None, family)) is None
    task = classify(stream_record("REMOVE", revoked, None, ttl=True))
    assert (task.kind, task.was_active) == (FAMILY_EXPIRED, False)
    assert classify(stream_record("REMOVE", token, None, ttl=True)).kind == TOKEN_EXPIRED
    assert classify(stream_record("REMOVE", deny, None, ttl=True)).kind == DENYLIST_EXPIRED
    assert classify(stream_record("REMOVE", deny, None)) is None
    disabled = with_values(user, status="disabled")
    assert classify(stream_record("MODIFY", user, disabled)).kind == USER_DISABLED
    assert classify(stream_record("MODIFY", disabled, disabled)) is None
    assert classify(stream_record("REMOVE", user, None)) is None


def test_a_record_missing_what_its_task_needs_is_an_error(world, sessions) -> None:
    family = world.table.get(family_key(family_of(world, sessions["rotated"])))
    broken = {k: v for k, v in with_values(family, status="revoked").items() if k != "user_id"}
    with pytest.raises(ValueError, match="user_id"):
        classify(stream_record("MODIFY", family, broken))


# -- what each kind does ----------------------------------------------------------------------


def test_a_revoked_family_loses_all_its_tokens_and_nothing_else(world, sessions) -> None:
    family_id = family_of(world, sessions["rotated"])
    assert len(tokens_of(world, family_id)) == 3
    record = revoked_record(world, family_id)
    before = [i for i in scan(world) if i.get("family_id", {}).get("S") != family_id]
    metrics = Recorded()
    response, outcomes = run(world, record, metrics=metrics)
    assert response == {"batchItemFailures": []}
    assert tokens_of(world, family_id) == []
    assert world.family(family_id).status == "revoked"  # the family stays until its TTL
    assert [i for i in scan(world) if i.get("family_id", {}).get("S") != family_id] == before
    assert metrics.values["RefreshTokensRemoved"] == 3
    assert outcomes[0].facts == {
        "user_id": "u-1",
        "family_id": family_id,
        "tokens_removed": "3",
    }


def test_an_expired_active_family_is_cleaned_and_audited_once(world, sessions) -> None:
    family_id = family_of(world, sessions["rotated"])
    expires_at = world.family(family_id).expires_at
    record = ttl_removed(world, family_key(family_id))
    metrics = Recorded()
    run(world, record, metrics=metrics)
    assert tokens_of(world, family_id) == []
    (audit,) = audits(world, "u-1")
    assert audit["action"] == {"S": "session_expired"}
    assert audit["outcome"] == {"S": "success"}
    assert audit["at"] == {"N": str(expires_at)}
    assert family_id in audit["detail"]["S"]
    assert metrics.values["SessionExpired"] == 1
    # The same record again: no second audit record.
    run(world, record, metrics=metrics)
    assert len(audits(world, "u-1")) == 1
    assert metrics.values["SessionExpired"] == 1


def test_an_expired_revoked_family_is_cleaned_without_an_audit_record(world, sessions) -> None:
    family_id = family_of(world, sessions["rotated"])
    revoke_family(world.table, family_id, reason="logout", now=world.clock.now())
    run(world, ttl_removed(world, family_key(family_id)))
    assert tokens_of(world, family_id) == []
    assert audits(world, "u-1") == []


def test_a_family_deleted_by_a_caller_is_left_alone(world, sessions) -> None:
    """Only TTL's deletions drive the expiry clean-up."""
    family_id = family_of(world, sessions["rotated"])
    item = world.table.get(family_key(family_id))
    world.table.client.delete_item(TableName=world.table.name, Key=family_key(family_id))
    before = scan(world)
    response, outcomes = run(world, stream_record("REMOVE", item, None))
    assert response == {"batchItemFailures": []} and outcomes[0].task is None
    assert scan(world) == before
    assert len(tokens_of(world, family_id)) == 3


def test_expired_tokens_and_denylist_entries_only_count(world, sessions) -> None:
    token_key = refresh_token_key(hash_refresh_token(sessions["bob"]["refresh_token"]))
    world.table.put(denied_token_item("jti-1", NOW + 900))
    records = [ttl_removed(world, token_key), ttl_removed(world, deny_key("jti-1"))]
    before = scan(world)
    metrics = Recorded()
    response, outcomes = run(world, *records, metrics=metrics)
    assert response == {"batchItemFailures": []}
    assert scan(world) == before
    assert [o.task for o in outcomes] == [TOKEN_EXPIRED, DENYLIST_EXPIRED]
    assert metrics.values["RefreshTokenExpired"] == 1
    assert metrics.values["DenylistEntryExpired"] == 1


def test_a_disabled_user_loses_every_session(world, sessions) -> None:
    key = user_key("alice@example.com")
    before = world.table.get(key)
    world.table.put(with_values(before, status="disabled"))  # e.g. an operator, not the API
    record = stream_record("MODIFY", before, world.table.get(key))
    metrics = Recorded()
    run(world, record, metrics=metrics)
    for session in (sessions["rotated"], sessions["other"]):
        family = world.family(family_of(world, session))
        assert (family.status, family.revoked_reason) == ("revoked", "user_disabled")
    assert world.family(family_of(world, sessions["bob"])).status == "active"
    assert metrics.values["UserSessionsRevoked"] == 2


@pytest.mark.parametrize("kind", ["revoked", "expired", "token", "denylist", "disabled"])
def test_a_record_delivered_twice_leaves_the_state_of_once(world, sessions, kind) -> None:
    family_id = family_of(world, sessions["rotated"])
    if kind == "revoked":
        record = revoked_record(world, family_id)
    elif kind == "expired":
        record = ttl_removed(world, family_key(family_id))
    elif kind == "token":
        record = ttl_removed(
            world, refresh_token_key(hash_refresh_token(sessions["bob"]["refresh_token"]))
        )
    elif kind == "denylist":
        world.table.put(denied_token_item("jti-2", NOW + 900))
        record = ttl_removed(world, deny_key("jti-2"))
    else:
        key = user_key("alice@example.com")
        before = world.table.get(key)
        world.table.put(with_values(before, status="disabled"))
        record = stream_record("MODIFY", before, world.table.get(key))
    run(world, record)
    once = scan(world)
    world.clock.advance(30)  # a redelivery comes later
    response, _ = run(world, record)
    assert response == {"batchItemFailures": []}
    assert scan(world) == once


def test_a_failing_record_stops_the_batch_and_is_reported(world, sessions) -> None:
    family_id = family_of(world, sessions["rotated"])
    other_id = family_of(world, sessions["other"])
    good = revoked_record(world, family_id)
    family = world.table.get(family_key(other_id))
    poison = stream_record(
        "MODIFY",
        family,
        {k: v for k, v in with_values(family, status="revoked").items() if k != "family_id"},
    )
    later = revoked_record(world, other_id)
    metrics = Recorded()
    response, outcomes = run(world, good, poison, later, metrics=metrics)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]
    }
    assert [(o.task, o.error) for o in outcomes] == [(FAMILY_REVOKED, None), (None, "ValueError")]
    assert tokens_of(world, family_id) == []
    assert len(tokens_of(world, other_id)) == 1  # left for the retry, in order
    assert metrics.values["CleanupRecordFailed"] == 1


# -- the handler ------------------------------------------------------------------------------


def test_the_handler_answers_a_partial_batch_response_logs_safely_and_emits_metrics(
    world, sessions, log_output, capsys
) -> None:
    family_id = family_of(world, sessions["rotated"])
    hashes = [i["pk"]["S"] for i in tokens_of(world, family_id)]
    world.table.put(denied_token_item("jti-3", NOW + 900))
    event = {
        "Records": [
            revoked_record(world, family_id),
            ttl_removed(world, deny_key("jti-3")),
        ]
    }
    assert stream_cleanup.handler(event, None) == {"batchItemFailures": []}
    logged = log_output.records
    assert [r.get("task") for r in logged if r["message"] == "stream record done"] == [
        FAMILY_REVOKED,
        DENYLIST_EXPIRED,
    ]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metrics,) = emf
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "stepauth"
    assert metrics["DenylistEntryExpired"] == [1.0]
    assert metrics["RefreshTokensRemoved"] == [3.0]
    text = log_output.text + json.dumps(metrics)
    for token_pk in hashes:
        assert token_pk.removeprefix("REFRESH#") not in text
    assert "jti-3" not in text


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_the_handler_refuses_an_event_without_records() -> None:
    with pytest.raises(ValueError):
        stream_cleanup.handler({"detail": {}}, None)


def test_records_from_a_real_stream_drive_the_cleanup(aws_mock, test_config, monkeypatch) -> None:
    """Records as moto's DynamoDB Streams writes them, handed over as Lambda would."""
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    from localcloud.streams import lambda_record
    from steps.core import aws
    from steps.core.table import Table

    from .conftest import create_table
    from .sessions_world import World

    client = aws.client("dynamodb")
    create_table(client, "streamed")
    stream_arn = client.update_table(
        TableName="streamed",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    world = World(table=Table.from_client(client, "streamed"), config=test_config)
    session = world.login(world.add_user())
    family_id = family_of(world, session)
    revoke_family(world.table, family_id, reason="reuse", now=world.clock.now())

    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = [
        lambda_record(r, region="us-east-1", source_arn=stream_arn)
        for r in streams.get_records(ShardIterator=iterator)["Records"]
    ]
    assert [r["eventName"] for r in records][-1] == "MODIFY"
    response, outcomes = run(world, *records)
    assert response == {"batchItemFailures": []}
    assert [o.task for o in outcomes if o.task] == [FAMILY_REVOKED]
    assert tokens_of(world, family_id) == []

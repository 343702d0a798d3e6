"""Transactions with an undo log (localcloud/dynamodb_transactions.py) on the local cloud."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import dynamodb, dynamodb_transactions
from localcloud.cloud import LocalCloud
from tests.fakes.tables import create_pk_sk_table


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _backend(local_cloud: LocalCloud) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    assert local_cloud.stack is not None
    return dynamodb_backends[local_cloud.stack.account_id][local_cloud.settings.region]


def _table(aws: boto3.Session) -> tuple[str, str]:
    """A table with a sort key and a stream; returns (name, stream ARN)."""
    name = f"tx-{uuid.uuid4().hex[:8]}"
    description = create_pk_sk_table(aws.client("dynamodb"), name, stream=True)
    arn = description["LatestStreamArn"]
    return name, arn


def _key(pk: str, sk: str = "x") -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _stream_records(aws: boto3.Session, stream_arn: str) -> list[dict]:
    streams = aws.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def _fill(aws: boto3.Session, table: str, count: int, start: int = 0) -> None:
    client = aws.client("dynamodb")
    for first in range(start, start + count, 25):
        client.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {**_key(f"filler-{n}"), "v": {"N": "0"}}}}
                    for n in range(first, min(first + 25, start + count))
                ]
            }
        )


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    table, stream_arn = _table(aws)
    client = aws.client("dynamodb")
    client.put_item(TableName=table, Item={**_key("kept"), "v": {"N": "1"}})
    client.put_item(TableName=table, Item={**_key("doomed"), "v": {"N": "1"}})
    client.put_item(TableName=table, Item={**_key("taken"), "v": {"N": "1"}})
    live_table = _backend(local_cloud).tables[table]
    records_before = _stream_records(aws, stream_arn)

    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("kept"),
                        "UpdateExpression": "SET v = :two, extra = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": _key("doomed")}},
                {"Put": {"TableName": table, "Item": {**_key("new", "a"), "v": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": {**_key("new", "b"), "v": {"N": "1"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": _key("taken"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    reasons = [reason["Code"] for reason in error["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]

    kept = client.get_item(TableName=table, Key=_key("kept"), ConsistentRead=True)["Item"]
    assert kept == {**_key("kept"), "v": {"N": "1"}}
    assert "Item" in client.get_item(TableName=table, Key=_key("doomed"))
    assert "Item" in client.get_item(TableName=table, Key=_key("taken"))
    for sort_key in ("a", "b"):
        assert "Item" not in client.get_item(TableName=table, Key=_key("new", sort_key))
    scanned = client.scan(TableName=table)["Items"]
    assert sorted(item["pk"]["S"] for item in scanned) == ["doomed", "kept", "taken"]
    assert _stream_records(aws, stream_arn) == records_before
    assert _backend(local_cloud).tables[table] is live_table  # restored in place, not swapped


def test_a_committed_transaction_writes_every_item_and_its_stream_records(
    aws: boto3.Session,
) -> None:
    table, stream_arn = _table(aws)
    client = aws.client("dynamodb")
    client.put_item(TableName=table, Item={**_key("old"), "v": {"N": "1"}})
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {**_key("fresh"), "v": {"N": "7"}}}},
            {"Delete": {"TableName": table, "Key": _key("old")}},
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": _key("fresh", "other"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    assert client.get_item(TableName=table, Key=_key("fresh"))["Item"]["v"] == {"N": "7"}
    assert "Item" not in client.get_item(TableName=table, Key=_key("old"))
    events = [r["eventName"] for r in _stream_records(aws, stream_arn)]
    assert events == ["INSERT", "INSERT", "REMOVE"]


def test_a_transaction_copies_the_items_it_touches_never_the_table(
    aws: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models.table import Table

    table_copies: list[str] = []

    def refuse_copy(self: Table, memo: dict[int, Any]) -> Any:
        table_copies.append(self.name)
        raise AssertionError("a transaction copied a whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse_copy, raising=False)
    table, _ = _table(aws)
    client = aws.client("dynamodb")

    def copies_for_one_transaction() -> int:
        before = dynamodb_transactions.counters.items_copied
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": _key("filler-1"),
                        "UpdateExpression": "SET v = v + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {**_key(uuid.uuid4().hex), "v": {"N": "0"}}}},
            ]
        )
        return dynamodb_transactions.counters.items_copied - before

    _fill(aws, table, 10)
    small = copies_for_one_transaction()
    _fill(aws, table, 1000, start=10)
    large = copies_for_one_transaction()
    assert small == large == 1  # the updated item; the new item had nothing to copy
    assert table_copies == []


def test_reads_wait_for_a_write_in_progress(local_cloud: LocalCloud, aws: boto3.Session) -> None:
    """A read never walks a table while a write (or a transaction's rollback) changes it."""
    table, _ = _table(aws)
    backend = _backend(local_cloud)
    read_done = threading.Event()

    def read() -> None:
        backend.get_item(table, _key("anything"))
        read_done.set()

    with dynamodb.DYNAMODB_WRITE_LOCK:  # as a write in progress holds it
        reader = threading.Thread(target=read)
        reader.start()
        assert not read_done.wait(0.3)
    assert read_done.wait(30)
    reader.join()


def test_readers_and_transactions_do_not_race(local_cloud: LocalCloud, aws: boto3.Session) -> None:
    """get_item on a missing partition key inserts into moto's defaultdict; scans iterate it."""
    table, _ = _table(aws)
    _fill(aws, table, 300)
    backend = _backend(local_cloud)
    failures: list[BaseException] = []
    rounds = 100

    def guarded(work: Any) -> Any:
        def run() -> None:
            try:
                for n in range(rounds):
                    work(n)
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                failures.append(error)

        return run

    def read_missing(n: int) -> None:
        backend.get_item(table, _key(f"missing-{threading.get_ident()}-{n}"))

    def scan(_: int) -> None:
        backend.scan(table, {}, None, None, None, {}, {}, None, False, None, (None, None))

    def transact(n: int) -> None:
        backend.transact_write_items(
            [
                {"Put": {"TableName": table, "Item": _key(f"tx-{n}")}},
                {"Delete": {"TableName": table, "Key": _key(f"filler-{n}")}},
            ]
        )

    threads = [
        threading.Thread(target=guarded(work))
        for work in (read_missing, read_missing, scan, scan, transact)
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    pks = {item["pk"]["S"] for item in aws.client("dynamodb").scan(TableName=table)["Items"]}
    assert {f"tx-{n}" for n in range(rounds)} <= pks
    assert not {f"filler-{n}" for n in range(rounds)} & pks

"""Queries read only their candidates (localcloud/dynamodb_queries.py), with moto's answers.

After random writes of every kind (put, update in place, delete, batch, transactions, cancelled
transactions, TTL deletions), every query answers exactly what moto's whole-table pass
answers, for the base table and for the index, and reads only the items it can match.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import dynamodb, dynamodb_queries
from localcloud.cloud import LocalCloud
from localcloud.streams import TtlSweeper
from tests.fakes.tables import create_pk_sk_table

PARTITIONS = [f"P{n}" for n in range(6)]
INDEX_PARTITIONS = [f"G{n}" for n in range(5)]


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _backend(local_cloud: LocalCloud) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    assert local_cloud.stack is not None
    return dynamodb_backends[local_cloud.stack.account_id][local_cloud.settings.region]


def _table(aws: boto3.Session) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    client = aws.client("dynamodb")
    create_pk_sk_table(client, name, index=("gsi1pk", "gsi1sk"), stream=True)
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    return name


def _key(rng: random.Random) -> dict[str, Any]:
    return {"pk": {"S": rng.choice(PARTITIONS)}, "sk": {"S": f"s{rng.randrange(12)}"}}


def _item(rng: random.Random) -> dict[str, Any]:
    item = {**_key(rng), "v": {"N": str(rng.randrange(100))}}
    if rng.random() < 0.8:  # some items are not in the index
        item["gsi1pk"] = {"S": rng.choice(INDEX_PARTITIONS)}
        item["gsi1sk"] = {"S": f"t{rng.randrange(8)}"}
    if rng.random() < 0.2:
        item["expires"] = {"N": "1000"}  # long expired: the TTL sweep deletes it
    return item


def _write(client: Any, table: str, rng: random.Random) -> None:
    kind = rng.choice(["put", "update", "unindex", "delete", "batch", "transact", "cancelled"])
    if kind == "put":
        client.put_item(TableName=table, Item=_item(rng))
    elif kind == "update":  # moves the item to another index partition, in place
        client.update_item(
            TableName=table,
            Key=_key(rng),
            UpdateExpression="SET gsi1pk = :g, gsi1sk = :s, v = :v",
            ExpressionAttributeValues={
                ":g": {"S": rng.choice(INDEX_PARTITIONS)},
                ":s": {"S": f"t{rng.randrange(8)}"},
                ":v": {"N": "1"},
            },
        )
    elif kind == "unindex":  # takes the item out of the index, in place
        client.update_item(TableName=table, Key=_key(rng), UpdateExpression="REMOVE gsi1pk")
    elif kind == "delete":
        client.delete_item(TableName=table, Key=_key(rng))
    elif kind == "batch":
        items = {str(i["pk"]) + str(i["sk"]): i for i in (_item(rng) for _ in range(5))}
        client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": i}} for i in items.values()]}
        )
    else:
        keys = {str(k): k for k in (_key(rng) for _ in range(3))}
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": table, "Item": {**_item(rng), **key}}} for key in keys.values()
        ]
        if kind == "cancelled":  # the last operation's condition fails: all are undone
            operations[-1]["Put"]["ConditionExpression"] = "attribute_exists(nothing)"
        try:
            client.transact_write_items(TransactItems=operations)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "TransactionCanceledException"


def _whole_table_answer(table: Any, **query: Any) -> list[dict[str, Any]]:
    """moto's own query, over every item of the table (what it did before the candidates)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    original = type(table).query.__wrapped__
    with dynamodb.DYNAMODB_WRITE_LOCK:
        if query.get("index_name"):
            items, _, _ = original(
                table,
                None,
                None,
                [],
                None,
                None,
                True,
                None,
                query["index_name"],
                hash_key_conditions=[("gsi1pk", DynamoType({"S": query["value"]}))],
            )
        else:
            items, _, _ = original(
                table, DynamoType({"S": query["value"]}), None, [], None, None, True, None
            )
    return [item.to_json()["Attributes"] for item in items]


def _answers(client: Any, table: str, **query: Any) -> list[dict[str, Any]]:
    if query.get("index_name"):
        response = client.query(
            TableName=table,
            IndexName=query["index_name"],
            KeyConditionExpression="gsi1pk = :v",
            ExpressionAttributeValues={":v": {"S": query["value"]}},
        )
    else:
        response = client.query(
            TableName=table,
            KeyConditionExpression="pk = :v",
            ExpressionAttributeValues={":v": {"S": query["value"]}},
        )
    return response["Items"]


def test_queries_answer_as_the_whole_table_pass_after_random_writes(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    name = _table(aws)
    client = aws.client("dynamodb")
    backend = _backend(local_cloud)
    sweeper = TtlSweeper(backend.account_id, backend.region_name)
    rng = random.Random(17)
    for item in (_item(rng) for _ in range(30)):  # before the first index query: built later
        client.put_item(TableName=name, Item=item)
    for round_ in range(40):
        for _ in range(6):
            _write(client, name, rng)
        if round_ % 10 == 9:
            sweeper.sweep(now=2000.0)  # TTL deletions go through the table's delete_item
        table = backend.get_table(name)
        for value in INDEX_PARTITIONS:
            expected = _whole_table_answer(table, index_name="gsi1", value=value)
            assert _answers(client, name, index_name="gsi1", value=value) == expected
        for value in PARTITIONS:
            expected = _whole_table_answer(table, value=value)
            assert _answers(client, name, value=value) == expected


def test_a_query_reads_only_the_items_it_can_match(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    name = _table(aws)
    client = aws.client("dynamodb")
    for first in range(0, 200, 25):
        client.batch_write_item(
            RequestItems={
                name: [
                    {
                        "PutRequest": {
                            "Item": {
                                "pk": {"S": f"filler-{n}"},
                                "sk": {"S": "x"},
                                "gsi1pk": {"S": f"g-{n}"},
                                "gsi1sk": {"S": "x"},
                            }
                        }
                    }
                    for n in range(first, first + 25)
                ]
            }
        )
    table = _backend(local_cloud).get_table(name)
    with dynamodb.DYNAMODB_WRITE_LOCK:
        by_index = dynamodb_queries.candidates(
            table, None, "gsi1", [("gsi1pk", DynamoType({"S": "g-7"}))]
        )
        by_partition = dynamodb_queries.candidates(table, DynamoType({"S": "filler-9"}), None, None)
        partial_key = dynamodb_queries.candidates(table, None, "gsi1", [])
    assert by_index is not None and [i.hash_key.value for i in by_index] == ["filler-7"]
    assert by_partition is not None and [i.hash_key.value for i in by_partition] == ["filler-9"]
    assert partial_key is None  # moto's whole-table pass answers (or refuses) that one

"""The in-memory DynamoDB (tests/fakes/dynamodb.py) answers as a boto3 client on moto does."""

from __future__ import annotations

from typing import Any

import pytest

from steps.core import aws
from steps.core.aws import error_code
from steps.core.table import Table
from tests.fakes.dynamodb import FakeDynamoDB
from tests.steps.conftest import TABLE, create_table
from tests.steps.conftest import aws_mock as aws_mock
from tests.steps.conftest import test_config as test_config  # autouse: no real AWS set-up


def item(pk: str, sk: str = "S", **attributes: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **attributes}


@pytest.fixture
def client() -> FakeDynamoDB:
    fake = FakeDynamoDB()
    create_table(fake)
    return fake


def test_a_conditional_put_fails_as_dynamodb_fails_it(client: FakeDynamoDB) -> None:
    table = Table.from_client(client, TABLE)
    table.put_new(item("USER#a", n={"N": "1"}))
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as failed:
        table.put_new(item("USER#a", n={"N": "2"}))
    assert error_code(failed.value) == "ConditionalCheckFailedException"
    assert failed.value.response["Error"]["Message"] == "The conditional request failed"
    assert table.get(item("USER#a"))["n"] == {"N": "1"}  # nothing written
    # the repository's own reading of the same failure
    assert not table.update_if(
        item("USER#a"),
        update="SET n = :two",
        condition="n = :two",
        names={},
        values={":two": {"N": "2"}},
    )


def test_a_cancelled_transaction_names_its_reasons_and_writes_nothing(
    client: FakeDynamoDB,
) -> None:
    client.put_item(TableName=TABLE, Item=item("RECEIPT#x"))
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item("USER#new")}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": item("RECEIPT#x"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert error_code(cancelled.value) == "TransactionCanceledException"
    assert cancelled.value.response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
    ]
    assert "Item" not in client.get_item(TableName=TABLE, Key=item("USER#new"))
    # Table.put_once reads the receipt's reason: done before, not an error.
    assert not Table.from_client(client, TABLE).put_once(item("RECEIPT#x"), item("USER#new"))


def test_a_query_on_gsi1_keeps_the_sort_order_and_follows_every_page(
    client: FakeDynamoDB,
) -> None:
    for n in (3, 1, 4, 2):
        client.put_item(
            TableName=TABLE,
            Item=item(f"FAMILY#{n}", gsi1pk={"S": "USERID#u-1"}, gsi1sk={"S": f"FAMILY#{n}"}),
        )
    client.put_item(
        TableName=TABLE,
        Item=item("USER#a", gsi1pk={"S": "USERID#u-1"}, gsi1sk={"S": "PROFILE"}),
    )
    client.put_item(
        TableName=TABLE,
        Item=item("FAMILY#9", gsi1pk={"S": "USERID#u-2"}, gsi1sk={"S": "FAMILY#9"}),
    )
    table = Table.from_client(client, TABLE)
    found = table.query_gsi1("USERID#u-1", sk_prefix="FAMILY#")
    assert [i["pk"]["S"] for i in found] == ["FAMILY#1", "FAMILY#2", "FAMILY#3", "FAMILY#4"]
    pages = client.get_paginator("query").paginate(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "USERID#u-1"}},
        PaginationConfig={"PageSize": 2},
    )
    assert [[i["gsi1sk"]["S"] for i in page["Items"]] for page in pages] == [
        ["FAMILY#1", "FAMILY#2"],
        ["FAMILY#3", "FAMILY#4"],
        ["PROFILE"],
    ]


def test_each_client_is_its_own_table_and_answers_are_copies(client: FakeDynamoDB) -> None:
    client.put_item(TableName=TABLE, Item=item("A", roles={"L": [{"S": "user"}]}))
    answer = client.get_item(TableName=TABLE, Key=item("A"))["Item"]
    answer["roles"]["L"].append({"S": "admin"})
    assert client.get_item(TableName=TABLE, Key=item("A"))["Item"]["roles"] == {
        "L": [{"S": "user"}]
    }
    with pytest.raises(FakeDynamoDB().exceptions.ResourceNotFoundException):
        FakeDynamoDB().get_item(TableName=TABLE, Key=item("A"))


def _calls(client: Any) -> list[Any]:
    """The same calls on any client: each answer, or the error's code and modeled reasons."""

    def answer(call: Any) -> Any:
        try:
            result = call()
        except Exception as error:  # the error is the answer being compared
            response = getattr(error, "response", {})
            return error_code(error), response.get("CancellationReasons")
        return {k: v for k, v in result.items() if k not in ("ResponseMetadata",)}

    create_table(client)
    user = item("USER#a", gsi1pk={"S": "USERID#1"}, gsi1sk={"S": "PROFILE"}, n={"N": "1"})
    new = {"ConditionExpression": "attribute_not_exists(pk)"}
    return [
        answer(lambda: client.put_item(TableName=TABLE, Item=user, **new)),
        answer(lambda: client.put_item(TableName=TABLE, Item=user, **new)),
        answer(
            lambda: client.update_item(
                TableName=TABLE,
                Key=item("USER#a"),
                UpdateExpression="ADD n :one SET s = :s",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"SS": ["b", "a"]}},
                ReturnValues="ALL_NEW",
            )
        ),
        answer(lambda: client.get_item(TableName=TABLE, Key=item("USER#b"))),
        answer(
            lambda: client.query(
                TableName=TABLE,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "USERID#1"}},
            )
        ),
        answer(
            lambda: client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": item("B")}},
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": item("USER#a"),
                            "ConditionExpression": "n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "7"}},
                        }
                    },
                ]
            )
        ),
        answer(
            lambda: client.batch_get_item(
                RequestItems={TABLE: {"Keys": [item("USER#a"), item("B")], "ConsistentRead": True}}
            )
        ),
        answer(lambda: client.delete_item(TableName=TABLE, Key=item("USER#a"))),
        answer(lambda: client.scan(TableName=TABLE)),
        answer(lambda: client.get_item(TableName="no-such-table", Key=item("A"))),
    ]


def test_answers_equal_a_boto3_client_on_moto(aws_mock: None) -> None:
    assert _calls(FakeDynamoDB()) == _calls(aws.client("dynamodb"))

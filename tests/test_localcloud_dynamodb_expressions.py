"""Each DynamoDB expression string is read once (localcloud/dynamodb_expressions.py)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from tests.fakes.tables import create_pk_sk_table

CONDITIONS = [
    "attribute_not_exists(pk)",
    "#status = :active AND #spent_at < :now",
    "attribute_exists(#pk) AND #status = :active AND #user_id = :user_id AND #expires_at > :now",
    "(a <> :b OR size(c) >= :d) AND NOT begins_with(e, :f)",
    "x IN (:one, :two, :three) AND y BETWEEN :low AND :high",
    "m.n[1].o = :p",
]


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _moto_lexer() -> Any:
    """moto's own lexer (the one the local cloud keeps the answers of)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression
    return lex.tokens.__wrapped__ if getattr(lex, "keeps_tokens", False) else None


@pytest.mark.usefixtures("local_cloud")
@pytest.mark.parametrize("expression", CONDITIONS)
def test_kept_tokens_are_moto_s_tokens_as_new_nodes(expression: str) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    assert _moto_lexer() is not None, "the local cloud does not keep condition tokens"
    parser = ConditionExpressionParser(expression, None, None)
    first, second = parser._lex_condition_expression(), parser._lex_condition_expression()
    node = ConditionExpressionParser.Node
    literal = ConditionExpressionParser.Kind.LITERAL
    expected = [
        node(nonterminal=kind, kind=literal, text=text, value=text, children=[])
        for kind, text in _moto_lexer()(expression)
    ]
    assert list(first) == expected == list(second)
    # Each call gets its own nodes: a later stage that fills a node's children changes only its
    # own parse.
    first[0].children.append("changed")
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert parser._lex_condition_expression()[0].children == []


@pytest.mark.usefixtures("local_cloud")
def test_a_malformed_condition_raises_on_every_call() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    for _ in range(2):
        with pytest.raises(ValueError, match="Cannot parse condition"):
            ConditionExpressionParser("a = :b ; drop", None, None)._lex_condition_expression()


@pytest.mark.usefixtures("local_cloud")
def test_an_update_expression_is_parsed_once_per_string() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = f"SET #a = :a, #b = :b REMOVE #c_{uuid.uuid4().hex[:6]}"
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)


def _key(pk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def test_calls_with_the_same_expressions_and_other_values_stay_independent(
    aws: boto3.Session,
) -> None:
    # The kept syntax tree is shared by every call with that string: moto's validator must keep
    # working on a copy, or the values of one call would leak into the next.
    client = aws.client("dynamodb")
    name = f"expr-{uuid.uuid4().hex[:8]}"
    create_pk_sk_table(client, name)
    update = "SET #status = :status, #count = if_not_exists(#count, :zero) + :one"
    condition = "attribute_not_exists(#status) OR #status <> :status"
    names = {"#status": "status", "#count": "count"}
    for pk, status in (("a", "active"), ("b", "spent"), ("a", "spent")):
        client.update_item(
            TableName=name,
            Key=_key(pk),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
        )
    items = {
        pk: client.get_item(TableName=name, Key=_key(pk), ConsistentRead=True)["Item"]
        for pk in ("a", "b")
    }
    assert items["a"]["status"] == {"S": "spent"} and items["a"]["count"] == {"N": "2"}
    assert items["b"]["status"] == {"S": "spent"} and items["b"]["count"] == {"N": "1"}
    # The same condition with the values that now fail it: refused, nothing written.
    with pytest.raises(ClientError) as refused:
        client.update_item(
            TableName=name,
            Key=_key("a"),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":status": {"S": "spent"},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
        )
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    again = client.get_item(TableName=name, Key=_key("a"), ConsistentRead=True)["Item"]
    assert again["count"] == {"N": "2"}

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


def _shape(node: Any) -> Any:
    """A tree as nested (class, fields) values, to compare two trees."""
    if isinstance(node, list | tuple):
        return [_shape(child) for child in node]
    if hasattr(node, "__dict__"):
        return (type(node).__name__, {key: _shape(value) for key, value in vars(node).items()})
    return node


CONDITION_CALLS = [
    ("attribute_not_exists(pk)", None, None),
    ("#status = :active", {"#status": "status"}, {":active": {"S": "active"}}),
    (
        "attribute_exists(#pk) AND #status = :active AND #user_id = :user_id AND #n > :now",
        {"#pk": "pk", "#status": "status", "#user_id": "user_id", "#n": "expires_at"},
        {":active": {"S": "active"}, ":user_id": {"S": "u-1"}, ":now": {"N": "17"}},
    ),
    ("x IN (:one, :two) AND size(m.n[1]) >= :two", None, {":one": {"N": "1"}, ":two": {"N": "2"}}),
]


@pytest.mark.usefixtures("local_cloud")
@pytest.mark.parametrize(("expression", "names", "values"), CONDITION_CALLS)
def test_a_kept_condition_tree_is_moto_s_tree(expression, names, values) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    assert getattr(parse, "keeps_trees", False), "the local cloud does not keep condition trees"
    first = ConditionExpressionParser(expression, names, values)
    second = ConditionExpressionParser(expression, names, values)
    moto = ConditionExpressionParser(expression, names, values)
    tree = first.parse()
    assert second.parse() is tree  # one tree for the same expression, names and values
    assert _shape(tree) == _shape(parse.moto_parse(moto))
    # Each parser is left as moto's parse leaves it: the names and values it found.
    for parser in (first, second):
        assert parser.expr_attr_names_found == moto.expr_attr_names_found
        assert parser.expr_attr_values_found == moto.expr_attr_values_found
    if values:
        other = {key: {"N": "99"} for key in values}
        assert ConditionExpressionParser(expression, names, other).parse() is not tree


@pytest.mark.usefixtures("local_cloud")
def test_an_update_expression_is_parsed_once_per_string() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expression = f"SET #a = :a, #b = :b REMOVE #c_{uuid.uuid4().hex[:6]}"
    assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)


def _key(pk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def _new_table(aws: boto3.Session) -> tuple[Any, str]:
    """A DynamoDB client and the name of a new empty pk/sk table of this test's own."""
    client = aws.client("dynamodb")
    name = f"expr-{uuid.uuid4().hex[:8]}"
    create_pk_sk_table(client, name)
    return client, name


def test_calls_with_the_same_expressions_and_other_values_stay_independent(
    aws: boto3.Session,
) -> None:
    # The kept syntax tree is shared by every call with that string: moto's validator must keep
    # working on a copy, or the values of one call would leak into the next.
    client, name = _new_table(aws)
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


def test_a_kept_condition_decides_each_item_and_still_refuses_unused_values(
    aws: boto3.Session,
) -> None:
    client, name = _new_table(aws)
    for _ in range(2):  # the second call of each uses the kept tree
        client.put_item(
            TableName=name,
            Item=_key(f"new-{uuid.uuid4().hex[:6]}"),
            ConditionExpression="attribute_not_exists(pk)",
        )
    client.put_item(TableName=name, Item=_key("taken"))
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            client.put_item(
                TableName=name, Item=_key("taken"), ConditionExpression="attribute_not_exists(pk)"
            )
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"

    # UpdateItem checks that the condition and the update used every value: the kept tree must
    # report what it found as a parse does.
    def set_a_on_a_new_item(condition: str, values: dict[str, Any]) -> None:
        client.update_item(
            TableName=name,
            Key=_key(f"new-{uuid.uuid4().hex[:6]}"),
            UpdateExpression="SET a = :a",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    for _ in range(2):
        with pytest.raises(ClientError) as unused:
            set_a_on_a_new_item(
                "attribute_not_exists(pk)", {":a": {"S": "x"}, ":unused": {"S": "x"}}
            )
        assert unused.value.response["Error"]["Code"] == "ValidationException"
        assert ":unused" in unused.value.response["Error"]["Message"]
        set_a_on_a_new_item(
            "attribute_not_exists(pk) AND :b = :b", {":a": {"S": "x"}, ":b": {"S": "x"}}
        )


@pytest.mark.parametrize("operation", ["put_item", "delete_item"])
def test_a_value_no_expression_uses_is_refused_as_dynamodb_refuses_it(
    aws: boto3.Session, operation: str
) -> None:
    """moto checks unused ExpressionAttributeValues only in UpdateItem; DynamoDB in every
    operation. The local cloud refuses them in PutItem and DeleteItem too, and writes nothing."""
    client, name = _new_table(aws)
    client.put_item(TableName=name, Item=_key("kept") | {"status": {"S": "active"}})
    target = {"Item": _key("kept")} if operation == "put_item" else {"Key": _key("kept")}
    call = getattr(client, operation)
    for condition, values in (
        ("#s = :active", {":active": {"S": "active"}, ":unused": {"S": "x"}}),
        (None, {":unused": {"S": "x"}}),
    ):
        extra = {"ConditionExpression": condition, "ExpressionAttributeNames": {"#s": "status"}}
        with pytest.raises(ClientError) as refused:
            call(
                TableName=name,
                **target,
                **(extra if condition else {}),
                ExpressionAttributeValues=values,
            )
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert ":unused" in refused.value.response["Error"]["Message"]
    kept = client.get_item(TableName=name, Key=_key("kept"), ConsistentRead=True)["Item"]
    assert kept["status"] == {"S": "active"}  # neither refused call wrote
    # Every value used: the call goes through.
    call(
        TableName=name,
        **target,
        ConditionExpression="#s = :active",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":active": {"S": "active"}},
    )
    after = client.get_item(TableName=name, Key=_key("kept"), ConsistentRead=True).get("Item")
    assert after == (_key("kept") if operation == "put_item" else None)

"""In-process DynamoDB calls skip moto's generic layers (localcloud/dynamodb_inprocess.py).

Every script of calls runs twice on tables of its own: once on the in-process path, once on moto's
own (the path switched off), and the client must get the same answers: items, counts, pages,
consumed capacity, and for errors the same exception with the same code, message and details.
The in-process run must not have used moto's request parser (else it proved nothing); a binary
value must send the call down moto's own path.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import dynamodb_inprocess, inprocess
from localcloud.cloud import free_port
from tests.fakes.tables import create_pk_sk_table

Call = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An endpoint answered in this process only: nothing listens on its port."""
    port = free_port()
    inprocess.serve_in_process("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        inprocess.stop_serving(port)


def _new_client(endpoint: str) -> Any:
    # A session of its own: boto3's default one may predate the in-process handler (botocore
    # copies its built-in handlers when a session is created), and then calls would go out.
    return boto3.session.Session().client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="AKIAINPROCESSTEST",
        aws_secret_access_key="secret",  # noqa: S106 - moto's fake credentials
    )


@pytest.fixture
def client(endpoint: str) -> Any:
    return _new_client(endpoint)


class _ParserCalls:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> _ParserCalls:
    """Counts the requests moto's own parser decoded (its path, not the in-process one)."""
    from moto.dynamodb.responses import DynamoHandler

    calls = _ParserCalls()
    original = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        calls.count += 1
        original(self, request)

    monkeypatch.setattr(DynamoHandler, "parse_parameters", parse_parameters)
    return calls


def _create_table(client: Any, name: str) -> None:
    create_pk_sk_table(client, name, index=("gpk",))


def _named(value: Any, placeholder: str, name: str) -> Any:
    """``value`` with every ``placeholder`` (a dict key or a string) replaced by ``name``."""
    if isinstance(value, dict):
        return {
            (name if key == placeholder else key): _named(item, placeholder, name)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_named(item, placeholder, name) for item in value]
    if isinstance(value, str):
        return value.replace(placeholder, name)
    return value


def _outcome(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the client got, without what differs by nature (request ids, headers)."""
    try:
        response = getattr(client, operation)(**params)
    except ClientError as error:
        details = {k: v for k, v in error.response.items() if k != "ResponseMetadata"}
        return {"error": type(error).__name__, "code": error.response["Error"]["Code"], **details}
    response.pop("ResponseMetadata")
    return {"response": response}


def _run(
    client: Any, calls: list[Call], parser_calls: _ParserCalls
) -> tuple[list[dict[str, Any]], int]:
    """The outcomes of ``calls`` on a new table, and how many of them moto's parser decoded."""
    table = f"parity-{uuid.uuid4().hex[:10]}"
    _create_table(client, table)
    before = parser_calls.count
    outcomes = [_outcome(client, op, _named(params, "TABLE", table)) for op, params in calls]
    return _named(outcomes, table, "TABLE"), parser_calls.count - before


def _both_ways(
    client: Any, calls: list[Call], parser_calls: _ParserCalls, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[dict[str, Any]], int]:
    in_process, parsed_in_process = _run(client, calls, parser_calls)
    monkeypatch.setattr(dynamodb_inprocess, "enabled", False)
    by_moto, parsed_by_moto = _run(client, calls, parser_calls)
    monkeypatch.setattr(dynamodb_inprocess, "enabled", True)
    assert parsed_by_moto == len(calls)
    assert in_process == by_moto
    return in_process, parsed_in_process


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _random_value(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kinds = ["S", "N", "BOOL", "NULL", "SS", "NS"] + (["L", "M"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "S":
        return {"S": "".join(rng.choice('aé€😀"\\/\n x') for _ in range(rng.randint(1, 12)))}
    if kind == "N":
        return {"N": rng.choice(["0", "-1", "3.25", "1e-5", "12345678901234567890", "-0.5"])}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": sorted({f"s{rng.randint(0, 9)}" for _ in range(rng.randint(1, 4))})}
    if kind == "NS":
        return {"NS": sorted({str(rng.randint(-5, 5)) for _ in range(rng.randint(1, 4))})}
    if kind == "L":
        return {"L": [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    return {"M": {f"m{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}}


def _random_item(rng: random.Random, pk: str, sk: str) -> dict[str, Any]:
    item = {**_key(pk, sk), "gpk": {"S": f"g{rng.randint(0, 2)}"}}
    for index in range(rng.randint(0, 6)):
        item[f"a{index}"] = _random_value(rng)
    return item


def _random_calls(seed: int) -> list[Call]:
    rng = random.Random(seed)
    keys = [(f"p{rng.randint(0, 2)}", f"s{i}") for i in range(12)]
    calls: list[Call] = []
    for pk, sk in keys:
        calls.append(("put_item", {"TableName": "TABLE", "Item": _random_item(rng, pk, sk)}))
    for _ in range(25):
        pk, sk = rng.choice(keys)
        choice = rng.randint(0, 7)
        if choice == 0:
            calls.append(
                ("get_item", {"TableName": "TABLE", "Key": _key(pk, sk), "ConsistentRead": True})
            )
        elif choice == 1:
            calls.append(
                (
                    "update_item",
                    {
                        "TableName": "TABLE",
                        "Key": _key(pk, sk),
                        "UpdateExpression": "SET #v = :v ADD #c :one",
                        "ExpressionAttributeNames": {"#v": "v", "#c": "count"},
                        "ExpressionAttributeValues": {":v": _random_value(rng), ":one": {"N": "1"}},
                        "ReturnValues": rng.choice(["ALL_NEW", "ALL_OLD", "UPDATED_NEW", "NONE"]),
                    },
                )
            )
        elif choice == 2:
            calls.append(
                (
                    "query",
                    {
                        "TableName": "TABLE",
                        "KeyConditionExpression": "pk = :pk",
                        "ExpressionAttributeValues": {":pk": {"S": pk}},
                        "Limit": rng.randint(1, 4),
                        "ScanIndexForward": rng.random() < 0.5,
                        "ReturnConsumedCapacity": "TOTAL",
                    },
                )
            )
        elif choice == 3:
            calls.append(
                (
                    "query",
                    {
                        "TableName": "TABLE",
                        "IndexName": "gsi1",
                        "KeyConditionExpression": "gpk = :g",
                        "ExpressionAttributeValues": {":g": {"S": f"g{rng.randint(0, 2)}"}},
                        "Select": rng.choice(["COUNT", "ALL_ATTRIBUTES"]),
                    },
                )
            )
        elif choice == 4:
            other = rng.choice(keys)
            calls.append(
                (
                    "batch_get_item",
                    {
                        "RequestItems": {
                            "TABLE": {
                                "Keys": [_key(pk, sk), _key(*other), _key("absent", "x")]
                                if other != (pk, sk)
                                else [_key(pk, sk), _key("absent", "x")],
                                "ConsistentRead": True,
                            }
                        }
                    },
                )
            )
        elif choice == 5:
            calls.append(
                (
                    "delete_item",
                    {"TableName": "TABLE", "Key": _key(pk, sk), "ReturnValues": "ALL_OLD"},
                )
            )
        elif choice == 6:
            calls.append(
                (
                    "transact_get_items",
                    {"TransactItems": [{"Get": {"TableName": "TABLE", "Key": _key(pk, sk)}}]},
                )
            )
        else:
            calls.append(
                ("scan", {"TableName": "TABLE", "Limit": 5, "ReturnConsumedCapacity": "INDEXES"})
            )
    return calls


@pytest.mark.parametrize("seed", range(6))
def test_random_calls_answer_the_same_both_ways(
    client: Any, parser_calls: _ParserCalls, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    outcomes, parsed = _both_ways(client, _random_calls(seed), parser_calls, monkeypatch)
    assert parsed == 0  # every call took the in-process path
    assert any("Item" in o.get("response", {}) for o in outcomes)


_ERRORS: list[Call] = [
    ("put_item", {"TableName": "TABLE", "Item": {**_key("a", "1"), "n": {"N": "1"}}}),
    # a condition that fails, with the item returned
    (
        "put_item",
        {
            "TableName": "TABLE",
            "Item": _key("a", "1"),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    # a transaction cancelled, with its reasons
    (
        "transact_write_items",
        {
            "TransactItems": [
                {"Put": {"TableName": "TABLE", "Item": _key("b", "1")}},
                {
                    "Update": {
                        "TableName": "TABLE",
                        "Key": _key("a", "1"),
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "n = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        },
    ),
    # a transaction that commits
    (
        "transact_write_items",
        {
            "TransactItems": [
                {"Put": {"TableName": "TABLE", "Item": _key("b", "1")}},
                {"Delete": {"TableName": "TABLE", "Key": _key("a", "1")}},
            ],
            "ReturnConsumedCapacity": "TOTAL",
        },
    ),
    ("get_item", {"TableName": "TABLE", "Key": _key("b", "1"), "ConsistentRead": True}),
    # validation errors DynamoDB answers itself
    ("get_item", {"TableName": "TABLE", "Key": {"pk": {"S": "only the hash"}}}),
    ("update_item", {"TableName": "TABLE", "Key": _key("b", "1"), "UpdateExpression": "SET"}),
    (
        "query",
        {
            "TableName": "TABLE",
            "KeyConditionExpression": "nope = :x",
            "ExpressionAttributeValues": {":x": {"S": "x"}},
        },
    ),
    ("get_item", {"TableName": "TABLE", "Key": _key("b", "1"), "ReturnConsumedCapacity": "ALL"}),
    ("get_item", {"TableName": "no-such-table", "Key": _key("b", "1")}),
    (
        "batch_write_item",
        {
            "RequestItems": {
                "TABLE": [{"PutRequest": {"Item": _key("c", str(i))}} for i in range(3)]
            }
        },
    ),
]


def test_errors_and_transactions_answer_the_same_both_ways(
    client: Any, parser_calls: _ParserCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, parsed = _both_ways(client, _ERRORS, parser_calls, monkeypatch)
    assert parsed == 0  # errors too: moto's serializer writes them, its parser is not needed
    codes = [o.get("code") for o in outcomes]
    assert "ConditionalCheckFailedException" in codes
    assert "TransactionCanceledException" in codes
    assert "ValidationException" in codes
    assert "ResourceNotFoundException" in codes
    cancelled = outcomes[codes.index("TransactionCanceledException")]
    assert [r["Code"] for r in cancelled["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    assert cancelled["CancellationReasons"][1]["Item"]["n"] == {"N": "1"}


def test_a_binary_value_takes_moto_s_own_path(
    client: Any, parser_calls: _ParserCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = {**_key("bin", "1"), "blob": {"B": b"\x00\xffraw"}, "set": {"BS": [b"a", b"\x01"]}}
    calls: list[Call] = [
        ("put_item", {"TableName": "TABLE", "Item": binary}),
        ("get_item", {"TableName": "TABLE", "Key": _key("bin", "1")}),
        (
            "query",
            {
                "TableName": "TABLE",
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "bin"}},
            },
        ),
    ]
    outcomes, parsed = _both_ways(client, calls, parser_calls, monkeypatch)
    assert outcomes[1]["response"]["Item"]["blob"] == {"B": b"\x00\xffraw"}
    assert outcomes[2]["response"]["Items"][0]["set"] == {"BS": [b"a", b"\x01"]}
    assert parsed == 1  # only the put carried a binary value; the reads' results went back


# -- optimized DynamoDB Tasks (inprocess.call_dynamodb_task) ------------------------------------

_TASK_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("PutItem", {"TableName": "TABLE", "Item": {**_key("t", "1"), "n": {"N": "1"}}}),
    ("GetItem", {"TableName": "TABLE", "Key": _key("t", "1"), "ConsistentRead": True}),
    ("GetItem", {"TableName": "TABLE", "Key": _key("t", "absent")}),
    (
        "PutItem",
        {
            "TableName": "TABLE",
            "Item": _key("t", "1"),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    (
        "UpdateItem",
        {
            "TableName": "TABLE",
            "Key": _key("t", "1"),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    ("UpdateItem", {"TableName": "TABLE", "Key": _key("t", "1"), "UpdateExpression": "SET"}),
    ("DeleteItem", {"TableName": "TABLE", "Key": _key("t", "1"), "ReturnValues": "ALL_OLD"}),
    ("GetItem", {"TableName": "no-such-table", "Key": _key("t", "1")}),
    ("PutItem", {"TableName": "TABLE", "Item": {**_key("t", "2"), "b": {"B": b"\x00\x01"}}}),
    ("GetItem", {"TableName": "TABLE", "Key": _key("t", "2")}),
]


def _task_outcome(call: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = call(operation, params)
    except ClientError as error:
        metadata = error.response["ResponseMetadata"]
        details = {k: v for k, v in error.response.items() if k != "ResponseMetadata"}
        return {"error": type(error).__name__, "status": metadata["HTTPStatusCode"], **details}
    metadata = response.pop("ResponseMetadata")
    assert metadata["HTTPStatusCode"] == 200 and metadata["RequestId"]
    return {"response": response}


def _task_run(client: Any, call: Any) -> list[dict[str, Any]]:
    table = f"task-{uuid.uuid4().hex[:10]}"
    _create_table(client, table)
    outcomes = [_task_outcome(call, op, _named(p, "TABLE", table)) for op, p in _TASK_CALLS]
    return _named(outcomes, table, "TABLE")  # type: ignore[no-any-return]


def test_a_dynamodb_task_gets_what_the_client_got(
    client: Any, parser_calls: _ParserCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore import xform_name

    from localcloud import iam

    decisions: list[tuple[str, str]] = []
    authorize = iam.authorize_call

    def recorded(service: str, operation: str, params: dict[str, Any]) -> None:
        decisions.append((service, operation))
        authorize(service, operation, params)

    monkeypatch.setattr(iam, "authorize_call", recorded)
    direct = _task_run(client, lambda op, p: inprocess.call_dynamodb_task(client, op, p))
    parsed_directly = parser_calls.count
    decided_directly = [d for d in decisions if d != ("dynamodb", "CreateTable")]  # the client's
    by_client = _task_run(client, lambda op, p: getattr(client, xform_name(op))(**p))
    assert direct == by_client
    assert [o.get("error") for o in direct].count("ConditionalCheckFailedException") == 1
    assert direct[3]["Item"] == {**_key("t", "1"), "n": {"N": "1"}}  # the modeled field
    assert direct[4]["response"]["Attributes"]["n"] == {"N": "2"}
    assert direct[9]["response"]["Item"]["b"] == {"B": b"\x00\x01"}
    # every call answered directly had IAM's decision (the binary put went through the client,
    # whose own hook decides when IAM is installed), and only that put used moto's parser: the
    # binary read was answered directly, its result parsed by botocore's parser
    expected = [("dynamodb", op) for op, _ in _TASK_CALLS]
    assert decided_directly in (expected, expected[:8] + expected[9:])
    assert parsed_directly == 2  # the table's creation (the control plane) and that put


def test_a_dynamodb_task_gets_an_injected_fault_as_the_client_did(endpoint: str) -> None:
    from localcloud import faults

    faults.install()  # clients created from now on have the fault hook (the local cloud's do)
    client = _new_client(endpoint)
    table = f"task-{uuid.uuid4().hex[:10]}"
    _create_table(client, table)
    item = {"TableName": table, "Item": _key("f", "1")}
    with faults.inject(faults.FaultRule("dynamodb", "PutItem", "throttle", times=2)):
        with pytest.raises(ClientError) as direct:
            inprocess.call_dynamodb_task(client, "PutItem", item)
        with pytest.raises(ClientError) as by_client:
            client.put_item(**item)
    assert direct.value.response["Error"] == by_client.value.response["Error"]
    assert "Item" not in client.get_item(TableName=table, Key=_key("f", "1"))

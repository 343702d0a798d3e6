"""The lean DynamoDB client answers as the botocore client it wraps: same signature, same
answers and errors, botocore's retries, events and X-Ray subsegment."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EndpointConnectionError

from steps.core import aws
from steps.core import dynamodb_client as lean
from steps.core.dynamodb_client import DynamoDBClient
from tests.steps.conftest import TABLE, create_table

KEY = {"pk": {"S": "USER#ada@example.com"}, "sk": {"S": "PROFILE"}}


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _answer(status: int, document: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return AWSResponse(
        "https://dynamodb", status, headers or {}, _Body(json.dumps(document).encode())
    )


@pytest.fixture
def canned(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[DynamoDBClient, list[Any], list[Any]]]:
    """A lean client whose requests are answered from a list (``answers``), with every request
    sent and every retry delay recorded, and no real waiting."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset_clients()
    client = aws.client("dynamodb")
    answers: list[Any] = []
    sent: list[Any] = []
    delays: list[float] = []
    monkeypatch.setattr(lean.time, "sleep", delays.append)

    def answer(request: Any, **_: Any) -> Any:
        sent.append(request)
        next_answer = answers.pop(0)
        if isinstance(next_answer, Exception):
            raise next_answer
        return next_answer

    client.meta.events.register_first("before-send.dynamodb", answer)
    try:
        yield client, answers, sent, delays  # type: ignore[misc]
    finally:
        aws.reset_clients()


def test_the_dynamodb_client_is_the_lean_one_over_botocore(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset_clients()
    try:
        client = aws.client("dynamodb")
        assert isinstance(client, DynamoDBClient)
        # Everything else is the botocore client's.
        assert client.meta.endpoint_url == "http://127.0.0.1:4566"
        assert client.get_paginator("query").paginate is not None
        assert issubclass(client.exceptions.ConditionalCheckFailedException, ClientError)
        assert not isinstance(aws.client("secretsmanager"), DynamoDBClient)
    finally:
        aws.reset_clients()


@pytest.mark.parametrize("token", [None, "session-token"])
@pytest.mark.parametrize(
    "endpoint", ["https://dynamodb.eu-west-1.amazonaws.com", "http://127.0.0.1:4566"]
)
def test_the_signature_is_botocores(token, endpoint, monkeypatch):
    """The same request at the same second gets botocore's own SigV4 Authorization header."""
    botocore_client = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        region_name="eu-west-1",
    ).client("dynamodb", endpoint_url=endpoint)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    now = 1_800_000_000.0
    client = DynamoDBClient(botocore_client, credentials, clock=lambda: now)
    body = b'{"TableName":"t","Key":{"pk":{"S":"x"}}}'
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.GetItem",
        "Content-Type": "application/x-amz-json-1.0",
        "User-Agent": "anything",
        "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793",
    }
    ours = client._signed_headers(dict(headers), body)

    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=dict(headers))
    signer = SigV4Auth(credentials, "dynamodb", "eu-west-1")
    at = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    assert ours["X-Amz-Date"] == "20270115T080000Z"  # 1_800_000_000 in UTC
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == (token and request.headers["X-Amz-Security-Token"])


def test_answers_and_errors_match_the_botocore_client(aws_mock):
    """Against moto: the same items, the same modelled exceptions with the same details."""
    aws.reset_clients()
    client = aws.client("dynamodb")
    create_table(client)
    botocore_client = client._client
    item = {**KEY, "name": {"S": "Ada"}, "logins": {"N": "3"}, "roles": {"SS": ["admin"]}}
    client.put_item(TableName=TABLE, Item=item)
    for reader in (client, botocore_client):
        got = reader.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
        assert got["Item"] == item and got["ResponseMetadata"]["HTTPStatusCode"] == 200
        batch = reader.batch_get_item(RequestItems={TABLE: {"Keys": [KEY]}})
        assert batch["Responses"][TABLE] == [item]
    # A failed condition: botocore's exception class, code and message.
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as lean_error:
        client.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as botocore_error:
        botocore_client.put_item(
            TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)"
        )
    assert lean_error.value.response["Error"] == botocore_error.value.response["Error"]
    # A cancelled transaction carries its reasons, as botocore parses them.
    put = {
        "Put": {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
    }
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(TransactItems=[put])
    assert cancelled.value.response["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed"
    assert aws.error_code(cancelled.value) == "TransactionCanceledException"
    # Binary values are refused before anything is sent (the table holds none).
    with pytest.raises(TypeError):
        client.put_item(TableName=TABLE, Item={**KEY, "blob": {"B": b"\x00"}})


def test_a_transaction_gets_botocores_idempotency_token(canned):
    client, answers, sent, _ = canned
    answers.append(_answer(200, {}))
    client.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": KEY}}])
    body = json.loads(sent[0].body)
    assert len(body["ClientRequestToken"]) == 36  # a uuid4, from botocore's handler


def test_a_throttled_call_is_retried_once_after_50_ms(canned):
    """botocore's legacy DynamoDB policy under the client's limit of two attempts in all."""
    client, answers, sent, delays = canned
    throttled = {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "slow",
    }
    answers.extend([_answer(400, throttled), _answer(200, {"Item": KEY})])
    answer = client.get_item(TableName="t", Key=KEY)
    assert answer["Item"] == KEY and answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert delays == [0.05] and len(sent) == 2
    # Each attempt is signed again.
    assert all("Signature=" in request.headers["Authorization"] for request in sent)

    answers.extend([_answer(400, throttled), _answer(400, throttled)])
    with pytest.raises(ClientError) as error:
        client.get_item(TableName="t", Key=KEY)
    assert aws.error_code(error.value) == "ThrottlingException"
    assert error.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(sent) == 4


def test_a_client_error_is_not_retried(canned):
    client, answers, sent, delays = canned
    invalid = {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad key"}
    answers.append(_answer(400, invalid))
    with pytest.raises(ClientError) as error:
        client.get_item(TableName="t", Key=KEY)
    assert aws.error_code(error.value) == "ValidationException"
    assert error.value.response["Error"]["Message"] == "bad key"
    assert len(sent) == 1 and delays == []


def test_a_damaged_answer_is_retried(canned):
    """DynamoDB's CRC32 header: an answer that does not match it is sent again."""
    client, answers, sent, _ = canned
    good = json.dumps({"Item": KEY}).encode()
    answers.extend(
        [
            AWSResponse("https://d", 200, {"x-amz-crc32": str(zlib.crc32(good) + 1)}, _Body(good)),
            AWSResponse("https://d", 200, {"x-amz-crc32": str(zlib.crc32(good))}, _Body(good)),
        ]
    )
    assert client.get_item(TableName="t", Key=KEY)["Item"] == KEY
    assert len(sent) == 2


def test_a_connection_failure_is_retried_then_raised_as_botocore_does(canned):
    client, answers, sent, delays = canned
    answers.extend(
        [EndpointConnectionError(endpoint_url="x"), EndpointConnectionError(endpoint_url="x")]
    )
    with pytest.raises(EndpointConnectionError):
        client.get_item(TableName="t", Key=KEY)
    assert len(sent) == 2 and delays == [0.05]


def test_a_before_call_answer_is_final(canned):
    """A ``before-call`` answer (the local cloud's injected faults) sends nothing and is not
    retried: one injected fault is one failure, as with botocore."""
    client, answers, sent, _ = canned
    throttled = {"Error": {"Code": "ThrottlingException", "Message": "injected"}}

    def fault(**_: Any) -> Any:
        return AWSResponse("http://injected", 400, {}, None), throttled

    client.meta.events.register("before-call.dynamodb.GetItem", fault)
    with pytest.raises(client.exceptions.ClientError) as error:
        client.get_item(TableName="t", Key=KEY)
    assert aws.error_code(error.value) == "ThrottlingException" and sent == []


def test_the_parameters_pass_the_before_parameter_build_event(canned):
    """Where the local cloud's IAM check sits: it sees the call's parameters and may refuse."""
    client, answers, sent, _ = canned
    seen: list[tuple[str, dict[str, Any]]] = []

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))
        if model.name == "DeleteItem":
            raise PermissionError("denied")

    client.meta.events.register("before-parameter-build.dynamodb", check)
    answers.append(_answer(200, {}))
    client.update_item(TableName="t", Key=KEY, UpdateExpression="SET a = :a")
    with pytest.raises(PermissionError):
        client.delete_item(TableName="t", Key=KEY)
    assert [name for name, _ in seen] == ["UpdateItem", "DeleteItem"]
    assert seen[0][1]["Key"] == KEY and len(sent) == 1


def test_a_traced_call_records_botocores_subsegment(canned, monkeypatch):
    from aws_xray_sdk.core import xray_recorder

    client, answers, _, _ = canned
    monkeypatch.setattr(lean, "botocore_traced", lambda: True)
    answers.append(_answer(200, {"Item": KEY}, {"x-amzn-requestid": "req-1"}))
    recorded: list[Any] = []

    def record(wrapped: Any, instance: Any, args: Any, kwargs: Any, **options: Any) -> Any:
        recorded.append((instance, args, options))
        return wrapped(*args)

    monkeypatch.setattr(xray_recorder, "record_subsegment", record)
    assert client.get_item(TableName="t", Key=KEY)["Item"] == KEY
    instance, args, options = recorded[0]
    assert instance is client._client and args[0] == "GetItem"
    assert options["name"] == "dynamodb" and options["namespace"] == "aws"


def test_a_traced_call_carries_its_subsegment_s_trace_header(canned, monkeypatch):
    """As the X-Ray SDK's patch of ``Endpoint.prepare_request`` (never called by this client)
    puts it on a botocore request: the call's subsegment as parent, after signing, unsigned."""
    from aws_xray_sdk.core import xray_recorder

    client, answers, sent, _ = canned
    answers += [_answer(200, {"Item": KEY}), _answer(200, {"Item": KEY})]
    client.get_item(TableName="t", Key=KEY)
    assert "X-Amzn-Trace-Id" not in sent[0].headers  # untraced: no header
    monkeypatch.setattr(lean, "botocore_traced", lambda: True)
    segment = xray_recorder.begin_segment("stepauth-test", sampling=1)
    try:
        client.get_item(TableName="t", Key=KEY)
        call = segment.subsegments[-1]
    finally:
        xray_recorder.clear_trace_entities()
    assert call.name == "dynamodb"
    header = sent[1].headers["X-Amzn-Trace-Id"]
    assert header == f"Root={segment.trace_id};Parent={call.id};Sampled=1"
    assert "x-amzn-trace-id" not in sent[1].headers["Authorization"].lower()


def test_tracing_follows_the_x_ray_patch_of_botocore(monkeypatch):
    """Traced exactly when botocore's own calls are: when the X-Ray SDK wrapped them."""
    import wrapt
    from botocore.client import BaseClient

    assert not lean.botocore_traced()
    original = BaseClient.__dict__["_make_api_call"]
    patched = wrapt.FunctionWrapper(
        original, lambda wrapped, _i, args, kwargs: wrapped(*args, **kwargs)
    )
    monkeypatch.setattr(BaseClient, "_make_api_call", patched)
    assert lean.botocore_traced()


def test_the_x_ray_sdks_own_patch_turns_tracing_on():
    """In a fresh interpreter, as Powertools' Tracer patches botocore in Lambda."""
    code = (
        "from steps.core.dynamodb_client import botocore_traced\n"
        "before = botocore_traced()\n"
        "from aws_xray_sdk.core import patch\n"
        "patch(['botocore'])\n"
        "print(before, botocore_traced())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True"]


def test_over_http_to_a_dynamodb_endpoint(monkeypatch):
    """The network path: botocore's HTTP session sends the signed request to a real server
    (moto's, on a port of its own) and the answer and an error come back parsed."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        aws.reset_clients()
        client = aws.client("dynamodb")
        create_table(client)
        sent: list[Any] = []
        client.meta.events.register(
            "before-send.dynamodb", lambda request, **_: sent.append(request)
        )
        client.put_item(TableName=TABLE, Item={**KEY, "name": {"S": "Ada"}})
        got = client.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True)
        assert got["Item"]["name"] == {"S": "Ada"}
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName=TABLE, Item=KEY, ConditionExpression="attribute_not_exists(pk)"
            )
        assert [request.url for request in sent] == [f"http://{host}:{port}/"] * 3
    finally:
        aws.reset_clients()
        server.stop()

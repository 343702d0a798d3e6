"""In-process AWS calls (localcloud/inprocess.py): no loopback HTTP inside the local cloud."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import boto3
import pytest

from localcloud import inprocess
from localcloud.cloud import LocalCloud


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


class _Requests:
    """Counts what moto's HTTP server answers (requests that came over a socket)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, original: Any) -> Any:
        def handle(handler: Any) -> Any:
            self.count += 1
            return original(handler)

        return handle


@pytest.fixture
def served_over_http(monkeypatch: pytest.MonkeyPatch) -> _Requests:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    counter = _Requests()
    monkeypatch.setattr(
        MotoRequestHandler, "handle_one_request", counter(MotoRequestHandler.handle_one_request)
    )
    return counter


def _table(aws: boto3.Session) -> str:
    name = f"inproc-{uuid.uuid4().hex[:8]}"
    aws.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    return name


def test_calls_inside_the_process_never_reach_the_http_server(
    aws: boto3.Session, local_cloud: LocalCloud, served_over_http: _Requests
) -> None:
    table = _table(aws)
    client = aws.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    assert client.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(
            TableName=table,
            Item={"pk": {"S": "a"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    # A whole login through the gateway: VTL, StartSyncExecution, Tasks, handlers, the table.
    body = json.dumps({"email": "nobody@example.com", "password": "not the password 1"}).encode()
    request = urllib.request.Request(
        f"{local_cloud.settings.gateway_url}/v1/login",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310 - the local gateway
    assert refused.value.code == 401
    assert served_over_http.count == 0


def test_before_call_hooks_still_fire_and_can_refuse(aws: boto3.Session) -> None:
    table = _table(aws)
    client = aws.client("dynamodb")
    seen: list[str] = []

    class Refused(Exception):
        pass

    def refuse_deletes(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append(model.name)
        if model.name == "DeleteItem":
            raise Refused(model.name)  # as an injected fault would

    client.meta.events.register("before-call.dynamodb", refuse_deletes)
    client.put_item(TableName=table, Item={"pk": {"S": "a"}})
    with pytest.raises(Refused):
        client.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    assert seen == ["PutItem", "DeleteItem"]
    assert "Item" in client.get_item(TableName=table, Key={"pk": {"S": "a"}})


def test_clients_outside_the_process_still_use_the_server(
    aws: boto3.Session, local_cloud: LocalCloud, served_over_http: _Requests
) -> None:
    table = _table(aws)
    outside = aws.client("dynamodb")
    outside.meta.events.unregister("before-send", inprocess.before_send)
    outside.put_item(TableName=table, Item={"pk": {"S": "from-outside"}})
    assert served_over_http.count == 1
    inside = aws.client("dynamodb")
    assert "Item" in inside.get_item(TableName=table, Key={"pk": {"S": "from-outside"}})
    assert served_over_http.count == 1
    assert inprocess.serves(f"127.0.0.1:{local_cloud.settings.aws_port}")
    assert not inprocess.serves("dynamodb.us-east-1.amazonaws.com")


def _function_and_roles(local_cloud: LocalCloud, handler: str) -> tuple[str, str, str]:
    """A stack function's ARN, a state machine role allowed to invoke it, and one that is not."""
    from localcloud import iam

    stack = local_cloud.stack
    assert stack is not None
    (function_id,) = [
        logical_id
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == handler
    ]
    arn = str(stack.resolve({"Fn::GetAtt": [function_id, "Arn"]}))
    evaluator = iam.evaluator()
    assert evaluator is not None
    allowed = [
        role
        for role in evaluator.roles
        if evaluator.decide(role, "lambda:InvokeFunction", arn).allowed
    ]
    refused = [
        role
        for role in evaluator.roles
        if not evaluator.decide(role, "lambda:InvokeFunction", arn).allowed
    ]
    return arn, allowed[0], refused[0]


def test_a_lambda_task_invokes_its_function_without_a_client_and_under_iam(
    local_cloud: LocalCloud, served_over_http: _Requests
) -> None:
    from botocore.exceptions import ClientError

    from localcloud import faults, iam

    arn, allowed, refused = _function_and_roles(local_cloud, "steps.validate_refresh.handler")
    event = {"body": {"refresh_token": 7}, "request_id": "r-1"}
    parameters = {"FunctionName": arn, "Payload": json.dumps(event).encode()}
    with iam.acting_as(allowed):
        answer = inprocess.invoke_lambda_task(dict(parameters), local_cloud.settings.region)
    assert answer["StatusCode"] == 200
    assert json.loads(answer["Payload"].read())  # the handler's own answer, as JSON
    with iam.acting_as(refused), pytest.raises(ClientError) as denied:
        inprocess.invoke_lambda_task(dict(parameters), local_cloud.settings.region)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    rule = faults.FaultRule("lambda", "Invoke", "throttle", function="ValidateRefresh")
    with iam.acting_as(allowed), faults.inject(rule), pytest.raises(ClientError) as throttled:
        inprocess.invoke_lambda_task(dict(parameters), local_cloud.settings.region)
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert served_over_http.count == 0


def test_a_lambda_task_reports_the_function_error_as_the_client_did(
    local_cloud: LocalCloud,
) -> None:
    from localcloud import iam

    arn, allowed, _ = _function_and_roles(local_cloud, "steps.validate_refresh.handler")
    parameters = {"FunctionName": arn, "Payload": b"[1, 2]"}  # not an event
    with iam.acting_as(allowed):
        answer = inprocess.invoke_lambda_task(parameters, local_cloud.settings.region)
    assert answer["FunctionError"] == "Handled"
    assert "errorType" in json.loads(answer["Payload"].read())

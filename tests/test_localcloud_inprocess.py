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


def _machine_and_roles(local_cloud: LocalCloud, machine: str) -> tuple[str, str, str]:
    """A stack state machine's ARN, a role allowed to start it synchronously, one that is not."""
    from localcloud import iam

    stack = local_cloud.stack
    assert stack is not None
    arn = stack.outputs.get(f"{machine}StateMachineArn") or next(
        str(stack.resolve({"Ref": logical_id}))
        for logical_id, resource in stack.template["Resources"].items()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
        and logical_id.startswith(f"{machine}StateMachine")
    )
    evaluator = iam.evaluator()
    assert evaluator is not None
    decide = evaluator.decide
    allowed = [r for r in evaluator.roles if decide(r, "states:StartSyncExecution", arn).allowed]
    refused = [
        r for r in evaluator.roles if not decide(r, "states:StartSyncExecution", arn).allowed
    ]
    return arn, allowed[0], refused[0]


def _gateway_states_client(local_cloud: LocalCloud) -> Any:
    gateway = local_cloud.gateway
    assert gateway is not None
    return gateway._client("states")


def test_the_gateway_starts_an_execution_without_the_client_and_under_iam(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.responses import StepFunctionResponse

    from localcloud import faults, iam

    through_moto_responses: list[str] = []
    original = StepFunctionResponse.start_sync_execution

    def counted(self: Any) -> Any:
        through_moto_responses.append("StartSyncExecution")
        return original(self)

    monkeypatch.setattr(StepFunctionResponse, "start_sync_execution", counted)
    client = _gateway_states_client(local_cloud)
    arn, allowed, refused = _machine_and_roles(local_cloud, "Refresh")
    body = json.dumps({"body": {"refresh_token": 7}, "request_id": "direct-1"})
    parameters = {"stateMachineArn": arn, "name": f"direct-{uuid.uuid4().hex}", "input": body}
    with iam.acting_as(allowed):
        answer = inprocess.start_sync_execution(client, dict(parameters))
    # What the client returned, less its ResponseMetadata; dates as Step Functions' epoch seconds.
    assert answer["status"] == "FAILED" and type(answer["status"]) is str  # the workflow refused
    assert answer["error"] == "stepauth.ClientError" and json.loads(answer["cause"])
    assert answer["name"] == parameters["name"]
    assert answer["stateMachineArn"] == arn
    assert isinstance(answer["startDate"], float) and answer["stopDate"] >= answer["startDate"]
    assert "output" not in answer
    assert "ResponseMetadata" not in answer
    assert through_moto_responses == []
    with iam.acting_as(refused), pytest.raises(ClientError) as denied:
        inprocess.start_sync_execution(client, dict(parameters, name="direct-refused"))
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    rule = faults.FaultRule("states", "StartSyncExecution", "throttle")
    with iam.acting_as(allowed), faults.inject(rule), pytest.raises(ClientError) as throttled:
        inprocess.start_sync_execution(client, dict(parameters, name="direct-throttled"))
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    # moto refuses before anything runs: the client's own call gives the error it always gave.
    with iam.acting_as(allowed), pytest.raises(ClientError) as refused_input:
        inprocess.start_sync_execution(client, dict(parameters, input="{not json"))
    assert refused_input.value.response["Error"]["Code"] == "InvalidExecutionInput"
    assert through_moto_responses == ["StartSyncExecution"]
    # (as the local administrator: the integration's role may start only the stack's machines)
    with iam.acting_as(None), pytest.raises(ClientError) as missing:
        inprocess.start_sync_execution(client, dict(parameters, stateMachineArn=arn + "-gone"))
    assert missing.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_the_gateway_s_direct_start_validates_as_the_client_did(local_cloud: LocalCloud) -> None:
    from botocore.exceptions import ParamValidationError

    client = _gateway_states_client(local_cloud)
    with pytest.raises(ParamValidationError):
        inprocess.start_sync_execution(client, {"input": "{}"})  # no stateMachineArn
    with pytest.raises(ParamValidationError):
        inprocess.start_sync_execution(client, {"stateMachineArn": 7})


def test_a_workflow_s_dynamodb_tasks_call_the_handler_directly(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, served_over_http: _Requests
) -> None:
    """A login's FindUser (getItem) and its audit record (putItem) take the direct path."""
    direct: list[str] = []
    original = inprocess.call_dynamodb_task

    def recorded(client: Any, operation: str, parameters: dict[str, Any]) -> Any:
        direct.append(operation)
        return original(client, operation, parameters)

    monkeypatch.setattr(inprocess, "call_dynamodb_task", recorded)
    body = json.dumps({"email": "direct-task@example.com", "password": "not the password 1"})
    request = urllib.request.Request(
        f"{local_cloud.settings.gateway_url}/v1/login",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310 - the local gateway
    assert refused.value.code == 401
    assert direct[0] == "GetItem" and "PutItem" in direct[1:]
    assert served_over_http.count == 0

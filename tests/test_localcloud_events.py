"""EventBridge targets, idempotent StartExecution, task-token waits and the SES mailbox
(localcloud/events.py, localcloud/mail.py), against the running local cloud."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.events import json_path_value, target_input
from localcloud.mail import captured_message
from tests import localcloud_handlers
from tests.test_localcloud_patches import ROLE, _function, _machine
from tests.test_localcloud_patches import aws as aws  # noqa: F401 - the module's fixture

ACCOUNT = "123456789012"


def eventually(probe: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Polls an asynchronous delivery (EventBridge delivers off the caller's thread)."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture
def bus(aws: boto3.Session) -> str:  # noqa: F811
    name = f"test-bus-{uuid.uuid4().hex[:8]}"
    aws.client("events").create_event_bus(Name=name)
    return name


def _rule(aws: boto3.Session, bus: str, targets: list[dict[str, Any]]) -> None:  # noqa: F811
    events = aws.client("events")
    name = f"rule-{uuid.uuid4().hex[:8]}"
    events.put_rule(
        Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["test.lifecycle"]})
    )
    events.put_targets(Rule=name, EventBusName=bus, Targets=targets)


def _queue(aws: boto3.Session) -> tuple[str, str]:  # noqa: F811
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _put(aws: boto3.Session, bus: str, detail: dict[str, Any], kind: str = "Thing") -> None:  # noqa: F811
    answer = aws.client("events").put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "test.lifecycle",
                "DetailType": kind,
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def _received(aws: boto3.Session, url: str) -> list[Any]:  # noqa: F811
    messages = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


# Pure parts ---------------------------------------------------------------------------------
EVENT = {
    "version": "0",
    "id": "e1",
    "detail-type": "UserRegistered",
    "source": "stepauth",
    "account": ACCOUNT,
    "time": "2026-12-01T04:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"user_id": "u1", "email": "a@example.com", "n": 3},
}


def test_json_paths_reach_fields_with_dashes_and_indexes() -> None:
    assert json_path_value(EVENT, "$") is EVENT
    assert json_path_value(EVENT, "$.detail.user_id") == "u1"
    assert json_path_value(EVENT, "$['detail-type']") == "UserRegistered"
    assert json_path_value(EVENT, "$.detail-type") == "UserRegistered"
    assert json_path_value({"a": [1, 2]}, "$.a[1]") == 2
    assert json_path_value(EVENT, "$.detail.missing") is None


def test_target_input_is_the_event_a_constant_a_part_or_a_template() -> None:
    assert json.loads(target_input({}, EVENT)) == EVENT
    assert target_input({"Input": '{"fixed":true}'}, EVENT) == '{"fixed":true}'
    assert json.loads(target_input({"InputPath": "$.detail"}, EVENT)) == EVENT["detail"]
    transformer = {
        "InputPathsMap": {"user": "$.detail.user_id", "n": "$.detail.n", "d": "$.detail"},
        "InputTemplate": '{"name": "<user>", "count": <n>, "text": "n=<n>", "whole": <d>}',
    }
    rendered = json.loads(target_input({"InputTransformer": transformer}, EVENT))
    assert rendered == {"name": "u1", "count": 3, "text": "n=3", "whole": EVENT["detail"]}
    plain = {"InputPathsMap": {"user": "$.detail.user_id"}, "InputTemplate": "user <user> joined"}
    assert target_input({"InputTransformer": plain}, EVENT) == "user u1 joined"
    quoted = {"InputPathsMap": {"user": "$.detail.user_id"}, "InputTemplate": '"user <user>"'}
    assert json.loads(target_input({"InputTransformer": quoted}, EVENT)) == "user u1"


def test_a_quote_in_a_value_cannot_break_out_of_the_template_string() -> None:
    event = {**EVENT, "detail": {"user_id": 'x", "admin": true, "y": "'}}
    transformer = {
        "InputPathsMap": {"user": "$.detail.user_id"},
        "InputTemplate": '{"u": "<user>"}',
    }
    assert json.loads(target_input({"InputTransformer": transformer}, event)) == {
        "u": 'x", "admin": true, "y": "'
    }


def test_the_mailbox_keeps_both_parts_of_a_simple_message() -> None:
    import datetime

    request = {
        "FromEmailAddress": "no-reply@example.com",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": "Hi"},
                "Body": {"Text": {"Data": "plain"}, "Html": {"Data": "<p>html</p>"}},
            }
        },
    }
    now = datetime.datetime(2026, 12, 1, 4, 0, tzinfo=datetime.UTC)
    assert captured_message("m1", "us-east-1", request, now) == {
        "Id": "m1",
        "Region": "us-east-1",
        "Source": "no-reply@example.com",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Subject": "Hi",
        "Body": {"text_part": "plain", "html_part": "<p>html</p>"},
        "Timestamp": "2026-12-01T04:00:00.000+00:00",
    }
    assert captured_message("m2", "us-east-1", {"Content": {"Raw": {"Data": ""}}}, now) is None


# Against the local cloud --------------------------------------------------------------------
def test_an_sqs_target_receives_the_event_as_aws_shapes_it(aws: boto3.Session, bus: str) -> None:  # noqa: F811
    url, arn = _queue(aws)
    _rule(aws, bus, [{"Id": "queue", "Arn": arn}])
    _put(aws, bus, {"user_id": "u1"}, kind="UserRegistered")
    [event] = eventually(lambda: _received(aws, url))
    assert event["source"] == "test.lifecycle"
    assert event["detail-type"] == "UserRegistered"
    assert event["detail"] == {"user_id": "u1"}
    assert event["account"] == ACCOUNT
    assert event["time"].endswith("Z") and "T" in event["time"]


def test_a_state_machine_target_starts_an_execution_with_the_chosen_input(
    aws: boto3.Session,  # noqa: F811
    bus: str,
) -> None:
    machine = _machine(
        aws, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, "STANDARD"
    )
    _rule(
        aws,
        bus,
        [{"Id": "flow", "Arn": machine, "RoleArn": ROLE, "InputPath": "$.detail"}],
    )
    _put(aws, bus, {"user_id": "u2"})
    sfn = aws.client("stepfunctions")
    [execution] = eventually(lambda: sfn.list_executions(stateMachineArn=machine)["executions"])
    described = eventually(
        lambda: (
            d
            if (d := sfn.describe_execution(executionArn=execution["executionArn"]))["status"]
            == "SUCCEEDED"
            else None
        )
    )
    assert json.loads(described["input"]) == {"user_id": "u2"}


def test_a_state_machine_target_without_a_role_starts_nothing(
    aws: boto3.Session,  # noqa: F811
    bus: str,
) -> None:
    machine = _machine(
        aws, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, "STANDARD"
    )
    url, arn = _queue(aws)
    _rule(aws, bus, [{"Id": "flow", "Arn": machine}, {"Id": "queue", "Arn": arn}])
    _put(aws, bus, {"user_id": "u3"})
    # The queue target of the same rule got it: delivery to the machine was attempted too.
    assert eventually(lambda: _received(aws, url))
    sfn = aws.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_a_lambda_target_is_invoked_with_the_transformed_input(
    aws: boto3.Session,  # noqa: F811
    bus: str,
) -> None:
    function = _function(aws, "tests.localcloud_handlers.event_recorder")
    arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    marker = uuid.uuid4().hex
    transformer = {
        "InputPathsMap": {"user": "$.detail.user_id", "kind": "$.detail-type"},
        "InputTemplate": '{"user": "<user>", "kind": "<kind>"}',
    }
    _rule(aws, bus, [{"Id": "fn", "Arn": arn, "InputTransformer": transformer}])
    _put(aws, bus, {"user_id": marker}, kind="UserDeleted")
    delivered = eventually(
        lambda: [e for e in localcloud_handlers.EVENT_DELIVERIES if e.get("user") == marker]
    )
    assert delivered == [{"user": marker, "kind": "UserDeleted"}]


WAIT_FOR_TOKEN = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "QUEUE", "MessageBody": {"token.$": "$$.Task.Token"}},
            "End": True,
        }
    },
}


def _waiting_machine(aws: boto3.Session, url: str, **limits: int) -> str:  # noqa: F811
    definition = json.loads(json.dumps(WAIT_FOR_TOKEN).replace("QUEUE", url))
    definition["States"]["Wait"].update(limits)
    return _machine(aws, definition, "STANDARD")


def _status(aws: boto3.Session, arn: str, wanted: str) -> dict[str, Any] | None:  # noqa: F811
    described = aws.client("stepfunctions").describe_execution(executionArn=arn)
    return described if described["status"] == wanted else None


def test_a_second_start_with_the_same_name_and_input_is_the_running_execution(
    aws: boto3.Session,  # noqa: F811
) -> None:
    url, _ = _queue(aws)
    machine = _waiting_machine(aws, url)
    sfn = aws.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=machine, name="user-1", input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=machine, name="user-1", input='{ "a" : 1 }')
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=machine, name="user-1", input='{"a": 2}')
    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    # Finished executions keep their name: a new start with it is refused.
    [message] = eventually(lambda: _received(aws, url))
    sfn.send_task_success(taskToken=message["token"], output='{"ok": true}')
    assert eventually(lambda: _status(aws, first["executionArn"], "SUCCEEDED"))
    with pytest.raises(ClientError) as ended:
        sfn.start_execution(stateMachineArn=machine, name="user-1", input='{"a": 1}')
    assert ended.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_task_success_resumes_a_waiting_execution_with_its_output(
    aws: boto3.Session,  # noqa: F811
) -> None:
    url, _ = _queue(aws)
    machine = _waiting_machine(aws, url, TimeoutSeconds=60)
    sfn = aws.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, input="{}")
    [message] = eventually(lambda: _received(aws, url))
    sfn.send_task_success(taskToken=message["token"], output='{"verified": true}')
    done = eventually(lambda: _status(aws, started["executionArn"], "SUCCEEDED"))
    assert json.loads(done["output"]) == {"verified": True}


@pytest.mark.parametrize("limit", ["TimeoutSeconds", "HeartbeatSeconds"])
def test_a_wait_that_is_never_completed_times_out(aws: boto3.Session, limit: str) -> None:  # noqa: F811
    url, _ = _queue(aws)
    machine = _waiting_machine(aws, url, **{limit: 1})
    sfn = aws.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=machine, input="{}")
    failed = eventually(lambda: _status(aws, started["executionArn"], "FAILED"), seconds=15)
    assert failed["error"] == "States.Timeout"
    [message] = _received(aws, url)
    with pytest.raises(ClientError) as late:
        sfn.send_task_success(taskToken=message["token"], output="{}")
    assert late.value.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken")


def test_sent_email_is_served_at_the_mailbox_endpoint(
    aws: boto3.Session,  # noqa: F811
    local_cloud: LocalCloud,
) -> None:
    ses = aws.client("sesv2")
    sender = f"sender-{uuid.uuid4().hex[:6]}@example.com"
    recipient = f"r-{uuid.uuid4().hex[:6]}@example.com"
    content = {
        "Simple": {
            "Subject": {"Data": "Your code"},
            "Body": {"Text": {"Data": "code 123456"}, "Html": {"Data": "<b>123456</b>"}},
        }
    }
    with pytest.raises(ClientError):  # SES sends only from a verified identity
        ses.send_email(
            FromEmailAddress=sender, Destination={"ToAddresses": [recipient]}, Content=content
        )
    ses.create_email_identity(EmailIdentity=sender)
    sent = ses.send_email(
        FromEmailAddress=sender, Destination={"ToAddresses": [recipient]}, Content=content
    )
    with urllib.request.urlopen(f"{local_cloud.settings.aws_endpoint}/_aws/ses") as answer:  # noqa: S310
        mailbox = json.loads(answer.read())
    mine = [m for m in mailbox["messages"] if recipient in m["Destination"]["ToAddresses"]]
    assert len(mine) == 1
    assert mine[0]["Id"] == sent["MessageId"]
    assert mine[0]["Source"] == sender
    assert mine[0]["Subject"] == "Your code"
    assert mine[0]["Body"] == {"text_part": "code 123456", "html_part": "<b>123456</b>"}
    assert mine[0]["Timestamp"]
    url = f"{local_cloud.settings.aws_endpoint}/_aws/ses?id={sent['MessageId']}"
    with urllib.request.urlopen(url) as answer:  # noqa: S310
        assert [m["Id"] for m in json.loads(answer.read())["messages"]] == [sent["MessageId"]]


def test_an_sdk_tasks_error_is_named_after_the_code_the_service_answered() -> None:
    """AWS: ``ServiceName.ErrorName``; a throttled sfn call is ``Sfn.ThrottlingException`` (the
    name the workflows' Retry lists), though botocore's sfn model has no such error."""
    from botocore.exceptions import ClientError

    from localcloud.events import sdk_error_name

    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "StartExecution")
    assert sdk_error_name("Sfn", throttled) == "Sfn.ThrottlingException"
    unnamed = ClientError({"Error": {}}, "StartExecution")
    assert sdk_error_name("Sfn", unnamed) == "Sfn.SfnException"

    class ExecutionAlreadyExists(ClientError):  # a modeled error keeps its name
        pass

    modeled = ExecutionAlreadyExists({"Error": {"Code": "x"}}, "StartExecution")
    assert sdk_error_name("Sfn", modeled) == "Sfn.ExecutionAlreadyExistsException"

"""Execution timelines: built from history events, and read from CloudWatch Logs in the format
Step Functions writes for Express workflows (the AWS path of `stepauth executions`)."""

from __future__ import annotations

import datetime
import json
import uuid

import boto3
import pytest

from localcloud.cloud import LocalCloud
from stepauth.execution_sources import LogsSource, Workflow, Workflows
from stepauth.history import (
    HistoryEvent,
    build_timeline,
    describe_cause,
    event_from_api,
    event_from_log,
    parse_log_message,
)
from stepauth.target import TargetError

T0 = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
ARN = "arn:aws:states:us-east-1:123456789012:express:stepauth-Login:req-1:0a1b"
LAMBDA_CAUSE = json.dumps(
    {"errorMessage": "table not found", "errorType": "ValueError", "stackTrace": ["..."]}
)
REJECTED = json.dumps(
    {
        "statusCode": 401,
        "body": json.dumps({"error": "invalid_grant", "error_description": "Bad token."}),
    }
)


def events(*specs: tuple[str, int, dict]) -> list[HistoryEvent]:
    """(type, milliseconds after T0, details) -> events with ids in order."""
    return [
        HistoryEvent(i, i - 1, kind, T0 + datetime.timedelta(milliseconds=ms), details)
        for i, (kind, ms, details) in enumerate(specs, start=1)
    ]


def test_a_retried_task_counts_its_attempts() -> None:
    timeline = build_timeline(
        ARN,
        "Login",
        events(
            ("ExecutionStarted", 0, {}),
            ("TaskStateEntered", 1, {"name": "FindUser"}),
            ("TaskScheduled", 2, {"resourceType": "dynamodb", "resource": "getItem"}),
            ("TaskFailed", 10, {"error": "DynamoDB.ThrottlingException", "cause": "slow down"}),
            ("TaskScheduled", 60, {"resourceType": "dynamodb", "resource": "getItem"}),
            ("TaskSucceeded", 70, {}),
            ("TaskStateExited", 71, {"name": "FindUser"}),
            ("PassStateEntered", 72, {"name": "RespondOk"}),
            ("PassStateExited", 73, {"name": "RespondOk"}),
            ("ExecutionSucceeded", 74, {}),
        ),
    )
    assert (timeline.status, timeline.duration_ms, timeline.name) == ("SUCCEEDED", 74, "req-1")
    find, respond = timeline.states
    assert (find.kind, find.resource, find.attempts, find.retries) == (
        "Task",
        "dynamodb:getItem",
        2,
        1,
    )
    assert (find.outcome, find.error, find.duration_ms) == (
        "retried",
        "DynamoDB.ThrottlingException",
        70,
    )
    assert (respond.kind, respond.outcome) == ("Pass", "ok")
    assert timeline.failed_state is None


def test_an_uncaught_step_error_is_the_failing_state() -> None:
    timeline = build_timeline(
        ARN,
        "Login",
        events(
            ("ExecutionStarted", 0, {}),
            ("TaskStateEntered", 1, {"name": "VerifyPassword"}),
            ("LambdaFunctionScheduled", 2, {"resource": "arn:aws:lambda:r:1:function:f-Verify"}),
            ("LambdaFunctionFailed", 30, {"error": "ValueError", "cause": LAMBDA_CAUSE}),
            ("ExecutionFailed", 31, {"error": "ValueError", "cause": LAMBDA_CAUSE}),
        ),
    )
    failed = timeline.failed_state
    assert failed is not None and failed.name == "VerifyPassword"
    assert (failed.outcome, failed.resource, failed.duration_ms) == (
        "failed",
        "lambda:f-Verify",
        30,
    )
    assert describe_cause(timeline.error, timeline.cause) == "table not found"
    document = timeline.to_json()
    assert document["failed_state"] == "VerifyPassword"
    assert document["started_at"] == "2026-01-02T03:04:05.678Z"


def test_a_rejection_fails_in_its_fail_state_with_the_response_as_cause() -> None:
    timeline = build_timeline(
        ARN,
        "Refresh",
        events(
            ("ExecutionStarted", 0, {}),
            ("TaskStateEntered", 1, {"name": "RotateRefreshToken"}),
            ("TaskScheduled", 2, {"resourceType": "lambda", "resource": "invoke"}),
            ("TaskFailed", 9, {"error": "InvalidGrant", "cause": LAMBDA_CAUSE}),
            ("TaskStateExited", 10, {"name": "RotateRefreshToken"}),
            ("FailStateEntered", 11, {"name": "RejectInvalidGrant"}),
            ("ExecutionFailed", 12, {"error": "stepauth.ClientError", "cause": REJECTED}),
        ),
    )
    rotate, reject = timeline.states
    assert (rotate.outcome, rotate.resource) == ("caught", "lambda:invoke")
    assert timeline.failed_state is reject
    assert (reject.kind, reject.outcome, reject.error) == ("Fail", "failed", "stepauth.ClientError")
    assert describe_cause(reject.error, reject.cause) == "401 invalid_grant: Bad token."


def test_a_timed_out_execution_has_no_failing_state_but_ends_its_last_state() -> None:
    timeline = build_timeline(
        ARN,
        "Login",
        events(
            ("ExecutionStarted", 0, {}),
            ("TaskStateEntered", 1, {"name": "HashPassword"}),
            ("ExecutionTimedOut", 30_000, {"error": "States.Timeout"}),
        ),
    )
    assert timeline.status == "TIMED_OUT" and timeline.failed_state is None
    assert timeline.states[0].duration_ms == 29_999


def test_both_sources_give_the_same_events() -> None:
    api_event = event_from_api(
        {
            "id": 4,
            "previousEventId": 3,
            "type": "TaskFailed",
            "timestamp": T0,
            "taskFailedEventDetails": {"error": "E", "cause": "C"},
        }
    )
    log_event = event_from_log(
        {
            "id": "4",
            "type": "TaskFailed",
            "details": {"error": "E", "cause": "C"},
            "previous_event_id": "3",
            "event_timestamp": "1767323045678",
            "execution_arn": ARN,
        }
    )
    assert api_event == log_event


@pytest.mark.parametrize(
    "message",
    ["START RequestId: 1", "[1, 2]", '{"id": "1", "type": "ExecutionStarted"}', "{not json"],
)
def test_other_log_lines_are_not_history_events(message: str) -> None:
    assert parse_log_message(message) is None


def test_describe_cause_reads_what_it_can() -> None:
    assert describe_cause("X", None) == "X"
    assert describe_cause("X", "plain text") == "plain text"
    assert describe_cause("stepauth.ClientError", json.dumps({"statusCode": 413})) == "413"
    assert describe_cause("Y", json.dumps({"something": "else"})) == '{"something": "else"}'


def test_workflows_come_from_the_stack_outputs() -> None:
    workflows = Workflows.from_outputs(
        {
            "DisableUserStateMachineArn": "arn:aws:states:r:1:stateMachine:s-DisableUser",
            "DisableUserWorkflowLogGroup": "/aws/vendedlogs/states/s-DisableUser",
            "LoginStateMachineArn": "arn:aws:states:r:1:stateMachine:s-Login",
            "TableName": "s-table",
        }
    )
    assert [w.name for w in workflows.all] == ["DisableUser", "Login"]
    assert workflows.select("disable-user")[0].log_group == "/aws/vendedlogs/states/s-DisableUser"
    assert workflows.select("LOGIN")[0].machine == "s-Login"
    assert workflows.of_execution("arn:aws:states:r:1:express:s-Login:n:u").name == "Login"
    with pytest.raises(TargetError, match="no workflow named nope"):
        workflows.select("nope")


# -- the AWS path: CloudWatch Logs, events written as Step Functions writes them --------------


def _log_event(arn: str, event_id: int, kind: str, at: datetime.datetime, **details) -> dict:
    message = {
        "id": str(event_id),
        "type": kind,
        "details": details,
        "previous_event_id": str(event_id - 1),
        "event_timestamp": str(int(at.timestamp() * 1000)),
        "execution_arn": arn,
    }
    return {"timestamp": int(at.timestamp() * 1000), "message": json.dumps(message)}


@pytest.fixture(scope="module")
def logged(local_cloud: LocalCloud) -> tuple[LogsSource, Workflow, dict[str, str]]:
    """A log group holding two Express executions in the Step Functions log format."""
    logs = boto3.Session(region_name=local_cloud.settings.region).client("logs")
    group = f"/aws/vendedlogs/states/cli-test-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="states/x/2026-01-02-03-04/abc")
    now = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:cli-test-Login"
    arns = {
        name: f"arn:aws:states:us-east-1:123456789012:express:cli-test-Login:{name}:{uuid.uuid4()}"
        for name in ("req-ok", "req-fault")
    }
    ms = datetime.timedelta(milliseconds=1)
    ok, fault = arns["req-ok"], arns["req-fault"]
    entries = [
        _log_event(ok, 1, "ExecutionStarted", now, roleArn="arn:aws:iam::1:role/r"),
        _log_event(ok, 2, "TaskStateEntered", now + ms, name="FindUser"),
        _log_event(
            ok, 3, "TaskScheduled", now + 2 * ms, resourceType="dynamodb", resource="getItem"
        ),
        _log_event(ok, 4, "TaskFailed", now + 5 * ms, error="DynamoDB.Throttling", cause="slow"),
        _log_event(
            ok, 5, "TaskScheduled", now + 9 * ms, resourceType="dynamodb", resource="getItem"
        ),
        _log_event(
            ok, 6, "TaskSucceeded", now + 12 * ms, resourceType="dynamodb", resource="getItem"
        ),
        _log_event(ok, 7, "TaskStateExited", now + 13 * ms, name="FindUser"),
        _log_event(ok, 8, "ExecutionSucceeded", now + 14 * ms),
        _log_event(fault, 1, "ExecutionStarted", now + 20 * ms, roleArn="arn:aws:iam::1:role/r"),
        _log_event(fault, 2, "TaskStateEntered", now + 21 * ms, name="VerifyPassword"),
        _log_event(
            fault, 3, "TaskScheduled", now + 22 * ms, resourceType="lambda", resource="invoke"
        ),
        _log_event(fault, 4, "TaskFailed", now + 40 * ms, error="ValueError", cause=LAMBDA_CAUSE),
        _log_event(
            fault, 5, "ExecutionFailed", now + 41 * ms, error="ValueError", cause=LAMBDA_CAUSE
        ),
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="states/x/2026-01-02-03-04/abc",
        logEvents=[{"timestamp": entries[0]["timestamp"], "message": "not a history event"}]
        + entries,
    )
    return LogsSource(logs), Workflow("Login", machine, group), arns


def test_the_logs_list_executions_with_status_and_error(logged) -> None:
    source, workflow, arns = logged
    since = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=1)
    found = {s.name: s for s in source.list([workflow], status=None, since=since)}
    assert set(found) == {"req-ok", "req-fault"}
    assert (found["req-ok"].status, found["req-ok"].duration_ms) == ("SUCCEEDED", 14)
    assert (found["req-fault"].status, found["req-fault"].error) == ("FAILED", "ValueError")
    (failed,) = source.list([workflow], status="FAILED", since=since)
    assert failed.execution_arn == arns["req-fault"]
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(minutes=5)
    assert source.list([workflow], status=None, since=later) == []


def test_the_logs_find_an_execution_by_request_id_and_replay_it(logged) -> None:
    source, workflow, arns = logged
    assert source.find([workflow], "req-fault") == [arns["req-fault"]]
    assert source.find([workflow], "req") == []  # a name, not a prefix
    with pytest.raises(TargetError, match="not an execution name"):
        source.find([workflow], 'req" OR "x')
    timeline = source.timeline(workflow, arns["req-fault"])
    assert timeline.failed_state is not None and timeline.failed_state.name == "VerifyPassword"
    assert describe_cause(timeline.error, timeline.cause) == "table not found"
    retried = source.timeline(workflow, arns["req-ok"]).states[0]
    assert (retried.outcome, retried.attempts, retried.retries) == ("retried", 2, 1)
    with pytest.raises(TargetError, match="no log events"):
        source.timeline(workflow, arns["req-ok"].replace("req-ok", "req-gone"))

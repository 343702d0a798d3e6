"""localcloud/stepfunctions_logs.py: workflows log their history to CloudWatch Logs in the
format Step Functions writes for Express workflows, so the AWS path of `stepauth executions`
(which reads those logs) runs against the local cloud."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config

from localcloud.cloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/local-test"
LOG_FIELDS = {"id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn"}

DEFINITION = {
    "StartAt": "Greet",
    "States": {
        "Greet": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hello {}', $.who)"},
            "Next": "Refuse",
        },
        "Refuse": {"Type": "Fail", "Error": "Nope", "Cause": "because"},
    },
}


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _logged_machine(aws: boto3.Session, *, level: str, include_data: bool) -> tuple[str, str]:
    group = f"/aws/vendedlogs/states/test-{uuid.uuid4().hex[:8]}"
    aws.client("logs").create_log_group(logGroupName=group)
    arn = aws.client("stepfunctions").create_state_machine(
        name=f"test-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(DEFINITION),
        roleArn=ROLE,
        type="EXPRESS",
        loggingConfiguration={
            "level": level,
            "includeExecutionData": include_data,
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
                    }
                }
            ],
        },
    )["stateMachineArn"]
    return arn, group


def _run(aws: boto3.Session, arn: str) -> str:
    sync = aws.client("stepfunctions", config=Config(inject_host_prefix=False))
    answer = sync.start_sync_execution(stateMachineArn=arn, input='{"who": "s3cr3t-value"}')
    assert answer["status"] == "FAILED"
    return answer["executionArn"]


def _records(aws: boto3.Session, group: str) -> list[dict]:
    events = aws.client("logs").filter_log_events(logGroupName=group)["events"]
    return [json.loads(e["message"]) for e in events]


def test_an_execution_logs_each_history_event_in_the_step_functions_format(aws) -> None:
    arn, group = _logged_machine(aws, level="ALL", include_data=False)
    execution_arn = _run(aws, arn)
    records = _records(aws, group)
    assert [r["type"] for r in records] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]
    for record in records:
        assert set(record) == LOG_FIELDS
        assert record["execution_arn"] == execution_arn
        assert all(isinstance(record[k], str) for k in LOG_FIELDS - {"details"})
        assert record["event_timestamp"].isdigit() and len(record["event_timestamp"]) == 13
    assert [r["id"] for r in records] == ["1", "2", "3", "4", "5"]
    assert records[1]["details"] == {"name": "Greet"}
    assert records[-1]["details"] == {"error": "Nope", "cause": "because"}
    # Without includeExecutionData neither the input nor any state's output is logged.
    assert "s3cr3t-value" not in json.dumps(records)
    streams = aws.client("logs").describe_log_streams(logGroupName=group)["logStreams"]
    assert all(s["logStreamName"].startswith(f"states/{arn.split(':')[-1]}/") for s in streams)


def test_execution_data_is_logged_only_when_asked_for(aws) -> None:
    arn, group = _logged_machine(aws, level="ALL", include_data=True)
    _run(aws, arn)
    assert "s3cr3t-value" in json.dumps(_records(aws, group))


def test_the_log_level_decides_which_events_are_logged(aws) -> None:
    arn, group = _logged_machine(aws, level="ERROR", include_data=False)
    _run(aws, arn)
    assert [r["type"] for r in _records(aws, group)] == ["FailStateEntered", "ExecutionFailed"]


def test_the_stack_workflows_log_into_their_log_groups(aws, local_cloud: LocalCloud) -> None:
    group = local_cloud.stack.outputs["LoginWorkflowLogGroup"]
    before = len(_records(aws, group))
    sync = aws.client("stepfunctions", config=Config(inject_host_prefix=False))
    sync.start_sync_execution(
        stateMachineArn=local_cloud.stack.outputs["LoginStateMachineArn"],
        input=json.dumps({"request": {"body": "", "sourceIp": "", "userAgent": ""}}),
    )
    records = _records(aws, group)[before:]
    assert records[0]["type"] == "ExecutionStarted" and records[-1]["type"] == "ExecutionFailed"


def test_a_log_record_leaves_the_data_out_into_a_dict_of_its_own() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType

    from localcloud.stepfunctions_logs import workflow_log_record

    details = {"resource": "invoke", "output": '{"token": "s3cr3t-value"}'}
    arn = "arn:aws:states:us-east-1:123456789012:express:m:e:e"
    event_details = {"taskSucceededEventDetails": details}
    record = workflow_log_record(
        7,
        6,
        HistoryEventType.TaskSucceeded,
        1_764_615_600_123,
        arn,
        event_details,
        include_execution_data=False,
    )
    assert record == {
        "id": "7",
        "type": "TaskSucceeded",
        "details": {"resource": "invoke"},
        "previous_event_id": "6",
        "event_timestamp": "1764615600123",
        "execution_arn": arn,
    }
    # The event keeps its own details, output included (the history decides on its own).
    assert details["output"] == '{"token": "s3cr3t-value"}'
    kept = workflow_log_record(
        7, 6, HistoryEventType.TaskSucceeded, 0, arn, event_details, include_execution_data=True
    )
    assert kept["details"] == details and kept["details"] is not details
    empty = workflow_log_record(1, 0, "ExecutionStarted", 0, arn, None, include_execution_data=True)
    assert empty["details"] == {} and empty["type"] == "ExecutionStarted"


def _session(level: str, include_data: bool):
    from localcloud.stepfunctions_logs import workflow_log_session

    return workflow_log_session(
        "arn:aws:states:us-east-1:123456789012:express:m:e:e",
        {
            "level": level,
            "includeExecutionData": include_data,
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:g:*"
                    }
                }
            ],
        },
    )


@pytest.mark.parametrize("include_data", [False, True])
def test_a_history_event_is_moto_s_event_and_its_log_record(
    include_data: bool, local_cloud
) -> None:
    """stepfunctions.add_history_event, which replaces moto's add_event: the same event (ids,
    moto's time format, the data left out when the machine says so) and the log record with the
    same time in milliseconds."""
    import calendar
    import datetime

    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import (
        EventHistoryContext,
        EventManager,
    )

    from localcloud.stepfunctions import add_history_event

    assert EventManager.add_event is add_history_event
    session = _session("ALL", include_data)
    manager = EventManager(cloud_watch_logging_session=session)
    manager.include_execution_data = include_data
    context = EventHistoryContext.of_program_start()
    # 999 µs past the millisecond: both formats cut, neither rounds.
    moment = datetime.datetime(2026, 12, 1, 19, 0, 0, 123_999, tzinfo=datetime.UTC)
    details = {"resource": "invoke", "output": '{"token": "s3cr3t-value"}'}
    first = manager.add_event(context, HistoryEventType.ExecutionStarted, timestamp=moment)
    second = manager.add_event(
        context,
        HistoryEventType.TaskSucceeded,
        {"taskSucceededEventDetails": details},
        timestamp=moment,
        update_source_event_id=False,
    )
    third = manager.add_event(context, HistoryEventType.ExecutionSucceeded)
    assert (first, second, third) == (1, 2, 3)
    history = manager.get_event_history()
    assert [(e["id"], e["previousEventId"]) for e in history] == [(1, 0), (2, 1), (3, 1)]
    assert history[0]["timestamp"] == iso_8601_datetime_with_milliseconds(moment)
    assert history[0]["timestamp"] == "2026-12-01T19:00:00.123Z"
    assert history[0]["type"] == HistoryEventType.ExecutionStarted
    expected = details if include_data else {"resource": "invoke"}
    assert history[1]["taskSucceededEventDetails"] == expected
    assert details["output"] == '{"token": "s3cr3t-value"}'  # the caller's dict is not changed
    records = session._pending
    assert [r["id"] for r in records] == ["1", "2", "3"]
    assert records[1]["details"] == expected
    millis = calendar.timegm((2026, 12, 1, 19, 0, 0)) * 1000 + 123
    assert records[0]["event_timestamp"] == records[1]["event_timestamp"] == str(millis)
    now = datetime.datetime.now(tz=datetime.UTC)
    logged = datetime.datetime.fromtimestamp(
        int(records[2]["event_timestamp"]) / 1000, datetime.UTC
    )
    assert abs((now - logged).total_seconds()) < 60  # no timestamp given: the current time


def test_a_session_keeps_only_the_events_of_its_level(local_cloud) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import (
        EventHistoryContext,
        EventManager,
    )

    session = _session("ERROR", False)
    manager = EventManager(cloud_watch_logging_session=session)
    context = EventHistoryContext.of_program_start()
    for event_type in (HistoryEventType.ExecutionStarted, HistoryEventType.ExecutionFailed):
        manager.add_event(context, event_type)
    assert [e["type"] for e in manager.get_event_history()] == [
        HistoryEventType.ExecutionStarted,
        HistoryEventType.ExecutionFailed,
    ]
    assert [r["type"] for r in session._pending] == ["ExecutionFailed"]


@pytest.mark.parametrize(
    ("millis", "stream"),
    [
        (0, "states/Login/1970-01-01-00-00/local"),
        (1_764_547_199_999, "states/Login/2025-11-30-23-59/local"),
        (1_764_547_200_000, "states/Login/2025-12-01-00-00/local"),
        (1_764_547_259_999, "states/Login/2025-12-01-00-00/local"),
        (1_764_547_260_000, "states/Login/2025-12-01-00-01/local"),
    ],
)
def test_an_event_goes_to_the_stream_of_its_machine_and_utc_minute(millis, stream) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:execution:Login:abc"
    from localcloud.stepfunctions_logs import workflow_log_stream

    assert workflow_log_stream(arn, millis) == stream
    assert workflow_log_stream(arn.replace(":Login:", ":Refresh:"), millis) == stream.replace(
        "/Login/", "/Refresh/"
    )

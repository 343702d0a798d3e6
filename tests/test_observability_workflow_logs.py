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


def test_a_history_log_leaves_the_data_out_without_copying_the_event(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    from localcloud.stepfunctions_logs import workflow_log_record

    details = {"resource": "invoke", "output": '{"token": "s3cr3t-value"}'}
    log = EventManager._create_history_log(
        event_id=7,
        source_event_id=6,
        event_type=HistoryEventType.TaskSucceeded,
        timestamp="2026-12-01T19:00:00.000Z",
        execution_arn="arn:aws:states:us-east-1:123456789012:express:m:e:e",
        event_details={"taskSucceededEventDetails": details},
        include_execution_data=False,
    )
    # moto deep-copied the details (output included) to delete the data from the copy; the
    # record drops it itself, into a new dict, and the event keeps its own.
    assert log["details"] is details
    record = workflow_log_record(log, include_execution_data=False)
    assert record["details"] == {"resource": "invoke"}
    assert details["output"] == '{"token": "s3cr3t-value"}'


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

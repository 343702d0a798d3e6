"""Bounded memory (localcloud/retention.py): executions, logs and threads are dropped."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud import retention
from localcloud.cloud import LocalCloud
from localcloud.retention import RetentionSettings

ROLE = "arn:aws:iam::123456789012:role/local-test"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
NO_LIMITS = RetentionSettings(
    max_executions_per_machine=10**9,
    max_log_events_per_stream=10**9,
    max_log_streams_per_group=10**9,
    max_age_seconds=None,
    sweep_seconds=None,
)


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _executions_of(arn: str, local_cloud: LocalCloud) -> list[Any]:
    from moto.stepfunctions.responses import get_backend

    assert local_cloud.stack is not None
    backend = get_backend(local_cloud.stack.account_id, local_cloud.settings.region)
    return backend.describe_state_machine(arn).executions


@dataclass
class _Execution:
    exec_status: str
    start_date: datetime.datetime


def _at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def test_only_finished_executions_at_the_front_are_dropped() -> None:
    executions = [
        _Execution("SUCCEEDED", _at(100)),
        _Execution("FAILED", _at(200)),
        _Execution("RUNNING", _at(300)),
        _Execution("SUCCEEDED", _at(400)),
    ]
    assert retention.droppable_prefix(executions, keep=1, oldest_kept=None, now=1000) == 2
    assert retention.droppable_prefix(executions, keep=3, oldest_kept=None, now=1000) == 1
    assert retention.droppable_prefix(executions, keep=10, oldest_kept=150, now=1000) == 1
    assert retention.droppable_prefix(executions, keep=10, oldest_kept=None, now=1000) == 0


def test_executions_beyond_the_count_or_the_age_are_dropped(
    aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    arn = aws.client("stepfunctions").create_state_machine(
        name=f"keep-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(PASS),
        roleArn=ROLE,
        type="EXPRESS",
    )["stateMachineArn"]
    sfn = aws.client("stepfunctions", config=Config(inject_host_prefix=False))
    names = [f"run-{n}" for n in range(7)]
    for name in names:
        sfn.start_sync_execution(stateMachineArn=arn, name=name, input="{}")
    executions = _executions_of(arn, local_cloud)
    assert [e.name for e in executions] == names

    now = time.time()
    kept_three = RetentionSettings(
        max_executions_per_machine=3, max_age_seconds=3600, sweep_seconds=None
    )
    assert retention.sweep(kept_three, now).executions >= 4
    assert [e.name for e in _executions_of(arn, local_cloud)] == names[-3:]

    # A day later nothing of it is left, whatever the count allows.
    one_day = RetentionSettings(max_age_seconds=86400, sweep_seconds=None)
    retention.sweep(one_day, now + 86400 + 60)
    assert _executions_of(arn, local_cloud) == []
    # New executions are kept as before.
    sfn.start_sync_execution(stateMachineArn=arn, name="after", input="{}")
    assert [e.name for e in _executions_of(arn, local_cloud)] == ["after"]


def test_log_events_and_streams_are_bounded(aws: boto3.Session) -> None:
    logs = aws.client("logs")
    group = f"/retention/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    for stream in ("old", "busy", "recent"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="old",
        logEvents=[{"timestamp": now_ms - 7_200_000, "message": "two hours ago"}],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName="busy",
        logEvents=[{"timestamp": now_ms - 20 + n, "message": f"event {n}"} for n in range(20)],
    )
    logs.put_log_events(
        logGroupName=group,
        logStreamName="recent",
        logEvents=[{"timestamp": now_ms, "message": "now"}],
    )

    def stream_names() -> list[str]:
        described = logs.describe_log_streams(logGroupName=group)["logStreams"]
        return sorted(s["logStreamName"] for s in described)

    retention.sweep(NO_LIMITS, now_ms / 1000)
    assert stream_names() == ["busy", "old", "recent"]

    bounded = RetentionSettings(
        max_log_events_per_stream=5,
        max_log_streams_per_group=10,
        max_age_seconds=3600,
        sweep_seconds=None,
    )
    report = retention.sweep(bounded, now_ms / 1000)
    assert (report.log_events, report.log_streams) == (16, 1)  # 15 busy + 1 old; stream "old"
    assert stream_names() == ["busy", "recent"]
    busy = logs.get_log_events(logGroupName=group, logStreamName="busy", startFromHead=True)
    assert [e["message"] for e in busy["events"]] == [f"event {n}" for n in range(15, 20)]

    one_stream = RetentionSettings(max_log_streams_per_group=1, sweep_seconds=None)
    retention.sweep(one_stream, now_ms / 1000)
    assert stream_names() == ["recent"]  # the most recently written one stays


def test_threads_of_ended_executions_are_forgotten(aws: boto3.Session) -> None:
    from moto.stepfunctions.parser.utils import TMP_THREADS

    arn = aws.client("stepfunctions").create_state_machine(
        name=f"threads-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(PASS),
        roleArn=ROLE,
        type="EXPRESS",
    )["stateMachineArn"]
    sfn = aws.client("stepfunctions", config=Config(inject_host_prefix=False))
    for _ in range(3):
        sfn.start_sync_execution(stateMachineArn=arn, input="{}")
    assert any(not thread.is_alive() for thread in TMP_THREADS)
    retention.sweep(NO_LIMITS)
    assert all(thread.is_alive() for thread in list(TMP_THREADS))


def test_the_local_cloud_runs_a_sweeper_with_its_settings(local_cloud: LocalCloud) -> None:
    assert local_cloud.retention is not None
    assert local_cloud.retention.settings == local_cloud.settings.retention
    assert local_cloud.settings.retention.max_executions_per_machine > 0

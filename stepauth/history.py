"""Execution histories as timelines: which states ran, how long, what failed, how often retried.

Two sources give the same events in different dress:

* Step Functions' ``GetExecutionHistory`` (the local cloud keeps Express executions and answers
  it): ``{"id": 3, "previousEventId": 2, "type": "TaskFailed", "timestamp": datetime,
  "taskFailedEventDetails": {...}}``;
* CloudWatch Logs, where AWS writes Express histories (log level ALL): one JSON event per history
  event, ``{"id": "3", "previous_event_id": "2", "type": "TaskFailed", "event_timestamp":
  "1767323045678", "execution_arn": "...", "details": {...}}``.

Both become :class:`HistoryEvent`, and :func:`build_timeline` turns a list of them into a
:class:`Timeline`. Pure functions, no AWS calls.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The error of a rejected request's Fail state (see cdk/workflows.py).
CLIENT_ERROR = "stepauth.ClientError"

_TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded")
_FAILED = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "ActivityFailed",
    "ActivityTimedOut",
)


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    previous_id: int
    type: str
    at: datetime.datetime
    details: Mapping[str, Any]


def _aware(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def event_from_api(event: Mapping[str, Any]) -> HistoryEvent:
    """One event of ``GetExecutionHistory`` (boto3 shape)."""
    details: Mapping[str, Any] = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            details = value
    return HistoryEvent(
        id=int(event["id"]),
        previous_id=int(event.get("previousEventId", 0)),
        type=str(event["type"]),
        at=_aware(event["timestamp"]),
        details=details,
    )


def event_from_log(record: Mapping[str, Any]) -> HistoryEvent:
    """One CloudWatch Logs event written by Step Functions (its message, parsed)."""
    details = record.get("details")
    return HistoryEvent(
        id=int(record["id"]),
        previous_id=int(record.get("previous_event_id") or 0),
        type=str(record["type"]),
        at=datetime.datetime.fromtimestamp(int(record["event_timestamp"]) / 1000, tz=datetime.UTC),
        details=details if isinstance(details, Mapping) else {},
    )


def parse_log_message(message: str) -> dict[str, Any] | None:
    """A log event's message as a Step Functions history record, or None if it is not one."""
    try:
        record = json.loads(message)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if not {"id", "type", "event_timestamp", "execution_arn"} <= set(record):
        return None
    return record


def execution_name(execution_arn: str) -> str:
    """``arn:aws:states:r:a:express:machine:NAME:uuid`` (or ``…:execution:machine:NAME``)."""
    parts = execution_arn.split(":")
    return parts[7] if len(parts) > 7 else execution_arn


def machine_name(execution_arn: str) -> str:
    parts = execution_arn.split(":")
    return parts[6] if len(parts) > 6 else ""


def _ms(start: datetime.datetime | None, end: datetime.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def describe_cause(error: str | None, cause: str | None) -> str:
    """A one-line reading of an error and its cause.

    A rejected request's cause is the response: ``401 invalid_credentials: The email or
    password is incorrect.``; a Lambda error's cause is its JSON report: its message.
    """
    if not cause:
        return error or ""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    if not isinstance(document, dict):
        return cause
    if error == CLIENT_ERROR and "statusCode" in document:
        try:
            body = json.loads(document.get("body") or "{}")
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("error"):
            return f"{document['statusCode']} {body['error']}: {body.get('error_description', '')}"
        return str(document["statusCode"])
    if isinstance(document.get("errorMessage"), str):
        return document["errorMessage"]
    return cause


@dataclass
class StateRun:
    """One state's part in an execution."""

    name: str
    kind: str  # Task, Pass, Choice, Fail, Succeed, Wait, Parallel, Map
    entered_at: datetime.datetime
    exited_at: datetime.datetime | None = None
    resource: str = ""
    attempts: int = 0
    succeeded: bool = False
    error: str | None = None
    cause: str | None = None
    outcome: str = "running"

    @property
    def duration_ms(self) -> int | None:
        return _ms(self.entered_at, self.exited_at)

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "resource": self.resource or None,
            "entered_at": _iso(self.entered_at),
            "exited_at": _iso(self.exited_at),
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "retries": self.retries,
            "outcome": self.outcome,
            "error": self.error,
            "cause": self.cause,
        }


def _iso(moment: datetime.datetime | None) -> str | None:
    if moment is None:
        return None
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass
class Timeline:
    execution_arn: str
    workflow: str
    status: str = "RUNNING"
    started_at: datetime.datetime | None = None
    stopped_at: datetime.datetime | None = None
    error: str | None = None
    cause: str | None = None
    states: list[StateRun] = field(default_factory=list)

    @property
    def name(self) -> str:
        return execution_name(self.execution_arn)

    @property
    def duration_ms(self) -> int | None:
        return _ms(self.started_at, self.stopped_at)

    @property
    def failed_state(self) -> StateRun | None:
        """The state the execution failed in (a Fail state, or a step whose error was not
        caught); None unless the execution failed."""
        if self.status != "FAILED":
            return None
        for state in reversed(self.states):
            if state.outcome == "failed":
                return state
        return self.states[-1] if self.states else None

    def to_json(self) -> dict[str, Any]:
        failed = self.failed_state
        return {
            "execution_arn": self.execution_arn,
            "name": self.name,
            "workflow": self.workflow,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(self.stopped_at),
            "duration_ms": self.duration_ms,
            "error": self.error,
            "cause": self.cause,
            "failed_state": failed.name if failed else None,
            "states": [state.to_json() for state in self.states],
        }


def build_timeline(execution_arn: str, workflow: str, events: Iterable[HistoryEvent]) -> Timeline:
    """Replay the events in order into one :class:`StateRun` per state entered."""
    timeline = Timeline(execution_arn=execution_arn, workflow=workflow)
    current: StateRun | None = None
    for event in sorted(events, key=lambda e: e.id):
        kind = event.type
        if kind == "ExecutionStarted":
            timeline.started_at = event.at
        elif kind.endswith("StateEntered"):
            current = StateRun(
                name=str(event.details.get("name", "?")),
                kind=kind[: -len("StateEntered")],
                entered_at=event.at,
            )
            timeline.states.append(current)
        elif kind.endswith("StateExited") and current is not None:
            current.exited_at = event.at
            current.outcome = _settled(current)
        elif kind in _SCHEDULED and current is not None:
            current.attempts += 1
            current.resource = _resource(event.details) or current.resource
        elif kind in _SUCCEEDED and current is not None:
            current.succeeded = True
        elif kind in _FAILED and current is not None:
            current.error = _text(event.details.get("error")) or kind
            current.cause = _text(event.details.get("cause"))
        elif kind in _TERMINAL:
            timeline.status = _TERMINAL[kind]
            timeline.stopped_at = event.at
            timeline.error = _text(event.details.get("error"))
            timeline.cause = _text(event.details.get("cause"))
    _settle_end(timeline)
    return timeline


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _resource(details: Mapping[str, Any]) -> str:
    """``dynamodb:putItem``, ``lambda:invoke``; a function ARN becomes ``lambda:<name>``."""
    kind, name = details.get("resourceType"), details.get("resource")
    if isinstance(name, str) and name.startswith("arn:"):
        parts = name.split(":")
        return f"{parts[2]}:{parts[-1]}" if len(parts) > 6 else name
    if kind and name:
        return f"{kind}:{name}"
    return str(kind or name or "")


def _settled(state: StateRun) -> str:
    """The outcome of a state that exited normally."""
    if state.error is None:
        return "ok"
    if state.succeeded:
        return "retried"  # failed, then a retry succeeded
    return "caught"  # its error went to a Catch


def _settle_end(timeline: Timeline) -> None:
    if not timeline.states:
        return
    last = timeline.states[-1]
    if last.exited_at is not None:
        return
    if timeline.status == "RUNNING":
        return
    last.exited_at = timeline.stopped_at
    if timeline.status == "SUCCEEDED":
        last.outcome = "ok"
        return
    last.outcome = "failed"
    if last.error is None:  # a Fail state, or a time-out: the execution's error is its
        last.error, last.cause = timeline.error, timeline.cause

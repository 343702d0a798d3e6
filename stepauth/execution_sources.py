"""Where execution histories are read: the Step Functions API, or the workflows' log groups.

* :class:`HistorySource`: ``ListExecutions``, ``DescribeExecution`` and
  ``GetExecutionHistory``. The local cloud keeps Express executions and answers these for them
  (AWS does not: it keeps no history of Express executions).
* :class:`LogsSource`: CloudWatch Logs ``FilterLogEvents`` on each workflow's log group (stack
  output ``<Workflow>WorkflowLogGroup``), where AWS writes Express histories at log level ALL.
  Filter patterns narrow the search on AWS; every event is checked again here, so a service
  that ignores a pattern (moto ignores JSON patterns) still gives the right answer.

Both return :class:`ExecutionSummary` lists and :class:`~stepauth.history.Timeline` objects.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .exits import NotFound, UsageError
from .history import (
    Timeline,
    build_timeline,
    event_from_api,
    event_from_log,
    execution_name,
    machine_name,
    parse_log_message,
)
from .target import TargetError

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
#: Execution-level events only (AWS evaluates it; moto lets every event through).
EXECUTION_EVENTS_PATTERN = (
    '{ ($.type = "ExecutionStarted") || ($.type = "ExecutionSucceeded") || '
    '($.type = "ExecutionFailed") || ($.type = "ExecutionTimedOut") || '
    '($.type = "ExecutionAborted") }'
)
#: What Step Functions accepts as an execution name (no quotes, spaces or wildcards).
_EXECUTION_NAME = re.compile(r"[^\s\"#%\\^|~`$&,;:/<>{}\[\]?*]{1,80}")
_TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


@dataclass(frozen=True)
class Workflow:
    name: str  # Login, Register …
    state_machine_arn: str
    log_group: str | None

    @property
    def machine(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[-1]


class Workflows:
    """The stack's workflows, from its outputs ``<Name>StateMachineArn`` and
    ``<Name>WorkflowLogGroup``."""

    def __init__(self, workflows: list[Workflow]) -> None:
        self.all = sorted(workflows, key=lambda w: w.name)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str]) -> Workflows:
        suffix = "StateMachineArn"
        return cls(
            [
                Workflow(
                    key[: -len(suffix)], arn, outputs.get(f"{key[: -len(suffix)]}WorkflowLogGroup")
                )
                for key, arn in outputs.items()
                if key.endswith(suffix)
            ]
        )

    def select(self, name: str | None) -> list[Workflow]:
        """All workflows, or the one called ``name`` (case, '-' and '_' ignored)."""
        if not name:
            return self.all

        def simple(text: str) -> str:
            return text.replace("-", "").replace("_", "").lower()

        chosen = [w for w in self.all if simple(w.name) == simple(name)]
        if not chosen:
            known = ", ".join(w.name for w in self.all) or "none"
            raise NotFound(f"no workflow named {name} (the stack has: {known})")
        return chosen

    def of_execution(self, execution_arn: str) -> Workflow:
        machine = machine_name(execution_arn)
        for workflow in self.all:
            if workflow.machine == machine:
                return workflow
        raise NotFound(f"{execution_arn} is not an execution of this stack's workflows")


@dataclass(frozen=True)
class ExecutionSummary:
    execution_arn: str
    workflow: str
    status: str
    started_at: datetime.datetime | None
    stopped_at: datetime.datetime | None
    error: str | None = None
    cause: str | None = None

    @property
    def name(self) -> str:
        return execution_name(self.execution_arn)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.stopped_at is None:
            return None
        return max(0, round((self.stopped_at - self.started_at).total_seconds() * 1000))


class ExecutionSource(Protocol):
    def list(
        self, workflows: list[Workflow], *, status: str | None, since: datetime.datetime
    ) -> list[ExecutionSummary]: ...

    def find(self, workflows: list[Workflow], name: str) -> list[str]: ...

    def timeline(self, workflow: Workflow, execution_arn: str) -> Timeline: ...


def _aware(moment: Any) -> datetime.datetime | None:
    if not isinstance(moment, datetime.datetime):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class HistorySource:
    """The Step Functions API (local cloud; on AWS only for STANDARD workflows)."""

    def __init__(self, stepfunctions: Any) -> None:
        self.client = stepfunctions

    def _executions(self, workflow: Workflow, status: str | None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"stateMachineArn": workflow.state_machine_arn}
        if status:
            params["statusFilter"] = status
        for page in self.client.get_paginator("list_executions").paginate(**params):
            yield from page.get("executions", [])

    def list(
        self, workflows: list[Workflow], *, status: str | None, since: datetime.datetime
    ) -> list[ExecutionSummary]:
        found = []
        for workflow in workflows:
            for item in self._executions(workflow, status):
                started = _aware(item.get("startDate"))
                if started is not None and started < since:
                    continue
                found.append(
                    ExecutionSummary(
                        execution_arn=item["executionArn"],
                        workflow=workflow.name,
                        status=item["status"],
                        started_at=started,
                        stopped_at=_aware(item.get("stopDate")),
                    )
                )
        return found

    def with_errors(self, summaries: list[ExecutionSummary]) -> list[ExecutionSummary]:
        """The summaries with the error and cause of each failed one (one call per failure)."""
        detailed = []
        for summary in summaries:
            if summary.status in ("FAILED", "TIMED_OUT", "ABORTED"):
                answer = self.client.describe_execution(executionArn=summary.execution_arn)
                summary = dataclasses.replace(
                    summary, error=answer.get("error"), cause=answer.get("cause")
                )
            detailed.append(summary)
        return detailed

    def find(self, workflows: list[Workflow], name: str) -> list[str]:
        return [
            item["executionArn"]
            for workflow in workflows
            for item in self._executions(workflow, None)
            if item.get("name") == name
        ]

    def timeline(self, workflow: Workflow, execution_arn: str) -> Timeline:
        events = []
        paginator = self.client.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events += [event_from_api(e) for e in page.get("events", [])]
        return build_timeline(execution_arn, workflow.name, events)


class LogsSource:
    """CloudWatch Logs: the Express workflows' histories on AWS."""

    def __init__(self, logs: Any) -> None:
        self.client = logs

    def _records(
        self,
        workflow: Workflow,
        *,
        pattern: str,
        since: datetime.datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        if not workflow.log_group:
            raise TargetError(f"the stack names no log group for workflow {workflow.name}")
        params: dict[str, Any] = {"logGroupName": workflow.log_group, "filterPattern": pattern}
        if since is not None:
            params["startTime"] = int(since.timestamp() * 1000)
        for page in self.client.get_paginator("filter_log_events").paginate(**params):
            for event in page.get("events", []):
                record = parse_log_message(event.get("message", ""))
                if record is not None:
                    yield record

    def list(
        self, workflows: list[Workflow], *, status: str | None, since: datetime.datetime
    ) -> list[ExecutionSummary]:
        found = []
        for workflow in workflows:
            runs: dict[str, dict[str, Any]] = {}
            for record in self._records(workflow, pattern=EXECUTION_EVENTS_PATTERN, since=since):
                kind = record["type"]
                if kind != "ExecutionStarted" and kind not in _TERMINAL:
                    continue
                event = event_from_log(record)
                run = runs.setdefault(str(record["execution_arn"]), {"status": "RUNNING"})
                if kind == "ExecutionStarted":
                    run["started_at"] = event.at
                else:
                    run.update(
                        status=_TERMINAL[kind],
                        stopped_at=event.at,
                        error=event.details.get("error"),
                        cause=event.details.get("cause"),
                    )
            found += [
                ExecutionSummary(
                    execution_arn=arn,
                    workflow=workflow.name,
                    status=run["status"],
                    started_at=run.get("started_at"),
                    stopped_at=run.get("stopped_at"),
                    error=run.get("error"),
                    cause=run.get("cause"),
                )
                for arn, run in runs.items()
                if status is None or run["status"] == status
            ]
        return found

    def with_errors(self, summaries: list[ExecutionSummary]) -> list[ExecutionSummary]:
        return summaries  # the terminal log event carries them

    def find(self, workflows: list[Workflow], name: str) -> list[str]:
        if not _EXECUTION_NAME.fullmatch(name):
            raise UsageError(f"{name!r} is not an execution name or ARN")
        found: set[str] = set()
        for workflow in workflows:
            for record in self._records(workflow, pattern=f'"{name}"'):
                arn = str(record["execution_arn"])
                if execution_name(arn) == name:
                    found.add(arn)
        return sorted(found)

    def timeline(self, workflow: Workflow, execution_arn: str) -> Timeline:
        events = [
            event_from_log(record)
            for record in self._records(workflow, pattern=f'"{execution_name(execution_arn)}"')
            if record["execution_arn"] == execution_arn
        ]
        if not events:
            raise NotFound(f"no log events for {execution_arn} in {workflow.log_group}")
        return build_timeline(execution_arn, workflow.name, events)

"""``stepauth executions list|show``: which requests failed, where, why and how long it took.

Every API request runs one Express execution named after the API request id, so the request id
a client quotes (``x-amzn-RequestId``) finds its execution. Rejected requests (4xx) end in a
``Fail`` state with the error ``stepauth.ClientError``; server faults fail with any other error.

``--source history`` reads the Step Functions history API (the local cloud's default);
``--source logs`` reads the workflows' CloudWatch Logs groups, where AWS keeps Express
histories (the default for any other target).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from typing import Any

from . import output
from .execution_sources import (
    STATUSES,
    ExecutionSource,
    ExecutionSummary,
    HistorySource,
    LogsSource,
    Workflows,
)
from .exits import NotFound
from .history import StateRun, Timeline, describe_cause
from .target import Target, TargetError

Command = Callable[[argparse.Namespace, Target], int]


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def since_option(text: str) -> datetime.timedelta:
    """argparse type for ``--since``: a duration like 30m, 1h, 7d."""
    try:
        return output.parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _source(args: argparse.Namespace, target: Target) -> ExecutionSource:
    choice = args.source or ("history" if target.is_local else "logs")
    if choice == "history":
        return HistorySource(target.client("stepfunctions"))
    return LogsSource(target.client("logs"))


def _summary_json(summary: ExecutionSummary) -> dict[str, Any]:
    return {
        "execution_arn": summary.execution_arn,
        "name": summary.name,
        "workflow": summary.workflow,
        "status": summary.status,
        "started_at": output.iso(summary.started_at),
        "stopped_at": output.iso(summary.stopped_at),
        "duration_ms": summary.duration_ms,
        "error": summary.error,
        "cause": summary.cause,
    }


def list_executions(args: argparse.Namespace, target: Target) -> int:
    workflows = Workflows.from_outputs(target.outputs).select(args.workflow)
    source = _source(args, target)
    since = _now() - args.since
    found = source.list(workflows, status=args.status, since=since)
    oldest = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    found.sort(key=lambda s: s.started_at or oldest, reverse=True)
    shown = source.with_errors(found[: args.limit])
    if output.wants_json(args):
        output.json_document({"executions": [_summary_json(s) for s in shown]})
        return 0
    if not shown:
        status = f"{args.status.lower()} " if args.status else ""
        print(f"no {status}executions since {output.utc(since)}")
        return 0
    output.table(
        ("STARTED (UTC)", "WORKFLOW", "STATUS", "DURATION", "REQUEST ID", "ERROR"),
        [
            (
                output.utc(s.started_at),
                s.workflow,
                s.status,
                output.millis(s.duration_ms),
                output.clean(s.name),
                output.clean(_error_text(s.error, s.cause), 90) if s.error else "",
            )
            for s in shown
        ],
        right=(3,),
    )
    if len(found) > len(shown):
        print(f"({len(found) - len(shown)} older not shown; see --limit)", file=sys.stderr)
    return 0


def _error_text(error: str | None, cause: str | None) -> str:
    reading = describe_cause(error, cause)
    return f"{error}: {reading}" if reading and reading != error else (error or "")


def execution_name(request_id: str) -> str:
    """The name of the execution that served a request: its extended request id with '/' and
    '+' (not allowed in an execution name) as '_' and '-', as the API's request template does."""
    return request_id.replace("/", "_").replace("+", "-")


def resolve_execution(reference: str, workflows: Workflows, source: ExecutionSource) -> str:
    """An execution ARN, or the ARN of the one execution named after ``reference`` (the
    request id a client quotes: the x-amzn-RequestId header, API Gateway's extended id)."""
    if reference.startswith("arn:"):
        return reference
    found = source.find(workflows.all, execution_name(reference))
    if not found:
        raise NotFound(f"no execution named {output.clean(reference, 80)} in any workflow")
    if len(found) > 1:
        raise TargetError(f"{reference} names several executions: {', '.join(found)}")
    return found[0]


def _outcome(state: StateRun) -> str:
    if state.outcome == "retried":
        return f"ok after {state.retries} retries (last error {state.error})"
    if state.outcome in ("caught", "failed"):
        return f"{state.outcome} {_error_text(state.error, state.cause)}".strip()
    return state.outcome


def _print_timeline(timeline: Timeline) -> None:
    failed = timeline.failed_state
    rows: list[tuple[str, Any]] = [
        ("execution", timeline.execution_arn),
        ("workflow", timeline.workflow),
        ("request id", timeline.name),
        ("status", f"{timeline.status} {timeline.error or ''}".strip()),
        ("started", output.utc(timeline.started_at)),
        ("duration", output.millis(timeline.duration_ms)),
    ]
    if failed is not None:
        rows.append(("failed in", f"{failed.name} ({failed.kind})"))
    if timeline.cause or timeline.error:
        rows.append(("cause", describe_cause(timeline.error, timeline.cause)))
    output.fields(rows)
    print()
    start = timeline.started_at
    output.table(
        ("#", "STATE", "TYPE", "RESOURCE", "AT", "DURATION", "RETRIES", "OUTCOME"),
        [
            (
                index,
                output.clean(state.name),
                state.kind,
                state.resource or "-",
                "-" if start is None else f"+{output.millis(_offset(start, state))}",
                output.millis(state.duration_ms),
                state.retries,
                output.clean(_outcome(state), 100),
            )
            for index, state in enumerate(timeline.states, start=1)
        ],
        right=(0, 4, 5, 6),
    )


def _offset(start: datetime.datetime, state: StateRun) -> int:
    return max(0, round((state.entered_at - start).total_seconds() * 1000))


def show_execution(args: argparse.Namespace, target: Target) -> int:
    workflows = Workflows.from_outputs(target.outputs)
    source = _source(args, target)
    arn = resolve_execution(args.execution, workflows, source)
    timeline = source.timeline(workflows.of_execution(arn), arn)
    if output.wants_json(args):
        output.json_document(timeline.to_json())
    else:
        _print_timeline(timeline)
    return 0


def add_execution_commands(
    commands: Any,
    aws_options: Callable[[argparse.ArgumentParser], None],
    with_target: Callable[[Command], Callable[..., int]],
) -> None:
    """Registers ``stepauth executions list|show``."""
    executions = commands.add_parser(
        "executions",
        help="workflow executions: list, show (the timeline of one request)",
        description="Inspect workflow executions. Each API request runs one execution named "
        "after its request id (the x-amzn-RequestId header). Rejected requests (4xx) are "
        "FAILED executions with the error stepauth.ClientError; any other error is a server "
        "fault (500).",
    ).add_subparsers(dest="executions_command", required=True, metavar="ACTION")

    def source_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--source",
            choices=("history", "logs"),
            help="where histories are read: the Step Functions history API ('history', the "
            "default for the local cloud) or the workflows' CloudWatch Logs groups ('logs', the "
            "default on AWS, where Express executions have no history API)",
        )
        output.add_output_option(parser)

    listing = executions.add_parser(
        "list",
        help="recent executions, newest first",
        description="Recent executions of every workflow (or one), newest first: start time, "
        "workflow, status, duration, request id and, for failures, the error and its cause. "
        "Example: stepauth executions list --workflow login --status FAILED --since 1h",
    )
    aws_options(listing)
    listing.add_argument(
        "--workflow", help="only this workflow: login, register, refresh, logout, disable-user …"
    )
    listing.add_argument(
        "--status", type=str.upper, choices=STATUSES, help="only executions with this status"
    )
    listing.add_argument(
        "--since",
        type=since_option,
        default=datetime.timedelta(hours=1),
        help="how far back: 30m, 1h, 7d … (default 1h)",
    )
    listing.add_argument(
        "--limit",
        type=output.positive_int,
        default=50,
        help="at most this many (default 50, newest first)",
    )
    source_option(listing)
    listing.set_defaults(run=with_target(list_executions))

    show = executions.add_parser(
        "show",
        help="the timeline of one execution: states, durations, retries, error and cause",
        description="The timeline of one execution: every state it entered, its type, the "
        "service it called, when and for how long, retries, and the error and cause of a "
        "failure. ID is an execution ARN or an execution name, which is the API request id "
        "(x-amzn-RequestId) of the request that ran it. Example: stepauth executions show "
        "3f1c0a52-6c55-4b7e-9d0e-2a9d1f6c8b11",
    )
    aws_options(show)
    show.add_argument("execution", metavar="ID", help="execution ARN, or API request id")
    source_option(show)
    show.set_defaults(run=with_target(show_execution))

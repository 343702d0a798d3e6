"""Express workflow logs in CloudWatch Logs, as Step Functions writes them (moto 5.2.5 does not).

Workflows log their history to CloudWatch Logs as Step Functions does for Express workflows: one
JSON event per history event (``id, type, details, previous_event_id, event_timestamp,
execution_arn``) in the state machine's log group, at its log level and without execution data
unless ``includeExecutionData`` is true. moto's interpreter has a logging session for this, but
never creates it for these executions and its own writer cannot store an event
(``WorkflowLogSession`` replaces it, and ``stepfunctions.add_history_event`` hands it each
event); an execution's events are written in one batch when it ends
(``localcloud/interpreter.py``). ``apply()`` installs it (``patches.apply`` calls it). Test:
``tests/test_observability_workflow_logs.py``.
"""

from __future__ import annotations

import datetime
import json
import threading
from functools import lru_cache
from typing import Any

from .stepfunctions import EXECUTION_DATA_KEYS


def apply() -> None:
    _patch_workflow_logs()


#: Serializes the local cloud's writes to log streams (moto's stream is not thread-safe).
_WORKFLOW_LOG_LOCK = threading.Lock()


def workflow_log_record(
    event_id: int,
    previous_event_id: int,
    event_type: Any,
    millis: int,
    execution_arn: str,
    event_details: dict[str, Any] | None,
    *,
    include_execution_data: bool,
) -> dict[str, Any]:
    """One history event in the shape Step Functions writes to CloudWatch Logs: the details are
    the event's one details member (as moto's history log), into a new dict."""
    details: dict[str, Any] = {}
    if event_details:
        details = dict(next(iter(event_details.values())) or {})
        if not include_execution_data:
            details = {k: v for k, v in details.items() if k not in EXECUTION_DATA_KEYS}
    return {
        "id": str(event_id),
        "type": str(getattr(event_type, "value", event_type)),  # moto's enum or a name
        "details": details,
        "previous_event_id": str(previous_event_id),
        "event_timestamp": str(millis),
        "execution_arn": execution_arn,
    }


def workflow_log_stream(execution_arn: str, millis: int) -> str:
    """``states/<state machine>/<yyyy-mm-dd-HH-MM>/local``: one stream per machine and minute."""
    return _log_stream_of_minute(execution_arn.split(":")[6], millis // 60_000)


@lru_cache(maxsize=256)
def _log_stream_of_minute(machine: str, minute: int) -> str:
    # Kept: every event of every execution in that minute asks (formatting the date was ~25 µs).
    start = datetime.datetime.fromtimestamp(minute * 60, tz=datetime.UTC)
    return f"states/{machine}/{start:%Y-%m-%d-%H-%M}/local"


class WorkflowLogSession:
    """What the interpreter's event manager calls for every history event of one execution."""

    def __init__(self, execution_arn: str, configuration: Any) -> None:
        self.execution_arn = execution_arn
        self.configuration = configuration  # moto's CloudWatchLoggingConfiguration
        self._pending: list[dict[str, Any]] = []  # records not yet written, see flush()

    def record_event(
        self,
        event_id: int,
        previous_event_id: int,
        event_type: Any,
        millis: int,
        event_details: dict[str, Any] | None,
    ) -> None:
        """Keep the event for :meth:`flush` if the log level takes it (called by
        ``stepfunctions.add_history_event``); a logging failure never fails the execution."""
        from moto.stepfunctions.parser.asl.eval.event.logging import is_logging_enabled_for

        try:
            if not is_logging_enabled_for(self.configuration.log_level, event_type):
                return
            record = workflow_log_record(
                event_id,
                previous_event_id,
                event_type,
                millis,
                self.execution_arn,
                event_details,
                include_execution_data=bool(self.configuration.include_execution_data),
            )
            self._pending.append(record)
        except Exception:  # noqa: BLE001 - as on AWS, delivery problems do not fail executions
            import logging

            logging.getLogger(__name__).debug("workflow log event not recorded", exc_info=True)

    def flush(self) -> None:
        """Append the execution's events to the log group in one call per log stream.

        Called when the execution ends (``localcloud/interpreter.py``): one locked write per
        execution instead of one per history event.
        """
        from moto.logs.models import logs_backends

        config = self.configuration
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            by_stream: dict[str, list[dict[str, Any]]] = {}
            for record in pending:
                millis = int(record["event_timestamp"])
                by_stream.setdefault(workflow_log_stream(self.execution_arn, millis), []).append(
                    {
                        "timestamp": millis,
                        "message": json.dumps(record, separators=(",", ":"), default=str),
                    }
                )
            backend = logs_backends[config.log_account_id][config.log_region]
            with _WORKFLOW_LOG_LOCK:
                if config.log_group_name not in backend.groups:
                    return  # AWS refuses such a logging configuration when it is set
                for stream, events in by_stream.items():
                    backend.ensure_log_stream(config.log_group_name, stream)
                    backend.put_log_events(config.log_group_name, stream, events)
        except Exception:  # noqa: BLE001 - as on AWS, delivery problems do not fail executions
            import logging

            logging.getLogger(__name__).debug("workflow log events not delivered", exc_info=True)


def workflow_log_session(
    execution_arn: str, logging_configuration: Any
) -> WorkflowLogSession | None:
    """The session for an execution of a machine with this logging configuration (None: off)."""
    from moto.stepfunctions.parser.asl.eval.event.logging import CloudWatchLoggingConfiguration

    if not logging_configuration:
        return None
    configuration = CloudWatchLoggingConfiguration.from_logging_configuration(
        state_machine_arn=execution_arn,
        logging_configuration={
            "includeExecutionData": False,
            **logging_configuration,
        },
    )
    return None if configuration is None else WorkflowLogSession(execution_arn, configuration)


def _patch_workflow_logs() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # moto's own session (standard executions of the provider) cannot store events either.
        configuration = getattr(self.state_machine, "loggingConfiguration", None)
        self._cloud_watch_logging_session = workflow_log_session(self.exec_arn, configuration)

    Execution.__init__ = __init__

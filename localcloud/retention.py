"""Bounded memory: what the local cloud keeps of past work is dropped by count and by age.

moto keeps everything forever: every execution of every state machine (with its environment and
event history), every log event, and every thread it ever started for an execution (in
``TMP_THREADS``). A long ``make dev`` or bench run therefore grows without bound. On AWS,
Express executions keep nothing in Step Functions and log groups have a retention period; here
the sweeper below drops, on a timer and on demand:

- finished executions beyond the newest ``max_executions_per_machine`` of each state machine, or
  older than ``max_age_seconds`` (running executions are never dropped);
- log events older than ``max_age_seconds``, events beyond the newest
  ``max_log_events_per_stream`` of each stream, empty streams, and the least recently written
  streams beyond ``max_log_streams_per_group``;
- moto's references to threads that have ended.

Operators read recent executions and logs locally as before; anything older is gone, as a log
group with a retention period would have it on AWS.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RetentionSettings:
    #: Finished executions kept per state machine (the newest).
    max_executions_per_machine: int = 1000
    #: Log events kept per log stream (the newest).
    max_log_events_per_stream: int = 10_000
    #: Log streams kept per log group (the most recently written).
    max_log_streams_per_group: int = 1000
    #: Executions and log events older than this are dropped (None: no age limit).
    max_age_seconds: float | None = 24 * 3600.0
    #: How often the sweeper runs (None: only when ``sweep()`` is called).
    sweep_seconds: float | None = 60.0


@dataclass
class SweepReport:
    executions: int = 0
    log_events: int = 0
    log_streams: int = 0
    threads: int = 0
    details: dict[str, int] = field(default_factory=dict)


def _epoch(moment: Any) -> float | None:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    if isinstance(moment, int | float):
        return float(moment)
    return None


def _finished(execution: Any) -> bool:
    status = getattr(execution, "exec_status", None)
    if status is None:
        status = getattr(execution, "status", None)
    name = str(getattr(status, "value", status))
    return name not in ("RUNNING", "PENDING_REDRIVE", "None")


def droppable_prefix(
    executions: list[Any], keep: int, oldest_kept: float | None, now: float
) -> int:
    """How many executions at the front (the oldest, in start order) may be dropped."""
    excess = len(executions) - keep
    count = 0
    for execution in executions:
        if not _finished(execution):
            break  # never drop a running execution, nor anything after it (start order)
        started = _epoch(getattr(execution, "start_date", None))
        too_old = oldest_kept is not None and started is not None and started < oldest_kept
        if count >= excess and not too_old:
            break
        count += 1
    return count


def sweep_executions(settings: RetentionSettings, now: float) -> int:
    """Drop finished executions over the count or age bound, in every Step Functions backend."""
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    oldest_kept = None if settings.max_age_seconds is None else now - settings.max_age_seconds
    dropped = 0
    accounts = [*stepfunctions_backends.values(), *stepfunctions_parser_backends.values()]
    for account in accounts:
        for backend in list(account.values()):
            for machine in list(getattr(backend, "state_machines", [])):
                executions = machine.executions
                count = droppable_prefix(
                    executions, settings.max_executions_per_machine, oldest_kept, now
                )
                if count:
                    del executions[:count]  # atomic; executions started meanwhile are appended
                    dropped += count
    return dropped


def _trim_stream(stream: Any, settings: RetentionSettings, oldest_ms: float | None) -> int:
    events = stream.events
    count = max(0, len(events) - settings.max_log_events_per_stream)
    if oldest_ms is not None:
        while count < len(events) and events[count].timestamp < oldest_ms:
            count += 1
    if count:
        del events[:count]
    return count


def sweep_logs(settings: RetentionSettings, now: float) -> tuple[int, int]:
    """Drop old log events and streams; returns (events, streams) dropped."""
    from moto.logs.models import logs_backends

    from .stepfunctions_logs import _WORKFLOW_LOG_LOCK

    oldest_ms = (
        None if settings.max_age_seconds is None else (now - settings.max_age_seconds) * 1000
    )
    events_dropped = streams_dropped = 0
    with _WORKFLOW_LOG_LOCK:
        for account in list(logs_backends.values()):
            for backend in list(account.values()):
                for group in list(backend.groups.values()):
                    streams = group.streams
                    for name, stream in list(streams.items()):
                        events_dropped += _trim_stream(stream, settings, oldest_ms)
                        if not stream.events and _epoch_ms(stream) < (oldest_ms or 0):
                            del streams[name]
                            streams_dropped += 1
                    excess = len(streams) - settings.max_log_streams_per_group
                    if excess > 0:
                        by_age = sorted(streams.items(), key=lambda item: _epoch_ms(item[1]))
                        for name, stream in by_age[:excess]:
                            events_dropped += len(stream.events)
                            del streams[name]
                            streams_dropped += 1
    return events_dropped, streams_dropped


def _epoch_ms(stream: Any) -> float:
    """When the stream was last written (ms), its creation if it never was."""
    last = getattr(stream, "last_event_timestamp", None)
    if isinstance(last, int | float):
        return float(last)
    created = _epoch(getattr(stream, "creation_time", None))  # moto: a naive UTC datetime
    return 0.0 if created is None else created * 1000


def sweep_threads() -> int:
    """Forget the threads moto started for executions that have ended."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    ended = [thread for thread in list(TMP_THREADS) if not thread.is_alive()]
    for thread in ended:
        try:
            TMP_THREADS.remove(thread)
        except ValueError:
            pass
    return len(ended)


def sweep(settings: RetentionSettings, now: float | None = None) -> SweepReport:
    """Apply every bound once, at ``now`` (default: the clock)."""
    moment = time.time() if now is None else now
    report = SweepReport()
    report.executions = sweep_executions(settings, moment)
    report.log_events, report.log_streams = sweep_logs(settings, moment)
    report.threads = sweep_threads()
    return report


class RetentionSweeper:
    """Runs :func:`sweep` every ``settings.sweep_seconds`` on a daemon thread."""

    def __init__(self, settings: RetentionSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: float | None = None) -> SweepReport:
        return sweep(self.settings, self._clock() if now is None else now)

    def start(self) -> RetentionSweeper:
        if self.settings.sweep_seconds is not None:
            self._thread = threading.Thread(
                target=self._run, name="localcloud-retention", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        import logging

        interval = float(self.settings.sweep_seconds or 60.0)
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - a failed sweep is retried at the next tick
                logging.getLogger(__name__).warning("retention sweep failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

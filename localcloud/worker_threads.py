"""Threads for the interpreter's short jobs, reused instead of started anew.

moto's interpreter starts an OS thread for every execution and for every Task state (so that it
can wait with the state's timeout): six per login. Starting and joining one costs about 0.1 ms
of CPU and two context switches, against some 0.03 ms to hand a job to a thread that is already
waiting. :class:`PooledThread` looks like a ``threading.Thread`` to moto (``start``, ``join``,
``is_alive``, ``daemon``) but runs its target on an idle worker of :data:`WORKERS`, or on a new
worker when none is idle: a job never waits for another job, so a Task that outlives its
timeout (and keeps its worker) cannot starve the others. Workers idle for
:data:`IDLE_SECONDS` end. Like ``stepfunctions.ContextThread``, the target runs in a copy of its
creator's context (the IAM principal among it).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

LOG = logging.getLogger(__name__)

#: How long a worker with nothing to do waits for a job before it ends.
IDLE_SECONDS = 30.0


class _Worker:
    """One daemon thread of a pool and the job handed to it (``wake`` is released with it)."""

    def __init__(self) -> None:
        self.job: Callable[[], None] | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


class WorkerPool:
    """Daemon threads that run jobs; a job goes to an idle worker, or to a new one.

    The worker that went idle last takes the next job (a stack, not a queue): it is the one whose
    memory is still in the caches (an argon2 verification reuses its thread's 19 MiB block, as a
    Lambda execution environment does under steady load), and the workers a quieter load no
    longer needs stay at the bottom until they end.
    """

    def __init__(self, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the last to go idle at the end
        self._started = 0

    def run(self, job: Callable[[], None]) -> None:
        """Runs ``job`` now on a thread of the pool."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.release()
                return
            self._started += 1
            number = self._started
        worker = _Worker()
        worker.job = job
        threading.Thread(
            target=self._work, args=(worker,), name=f"{self._name}-{number}", daemon=True
        ).start()

    def idle_workers(self) -> int:
        with self._lock:
            return len(self._idle)

    def _work(self, worker: _Worker) -> None:
        while True:
            job, worker.job = worker.job, None
            try:
                if job is not None:
                    job()
            except BaseException:  # a job's own errors are its business; the worker goes on
                LOG.exception("A pooled job raised.")
            del job  # the job's values are not kept while the worker waits
            with self._lock:
                self._idle.append(worker)
            if worker.wake.acquire(timeout=self._idle_seconds):
                continue
            with self._lock:
                if worker in self._idle:  # no job was handed to it: it ends
                    self._idle.remove(worker)
                    return
            # A job was handed out under the lock just as the wait ended: it is this worker's.
            worker.wake.acquire()


#: The pool of the interpreter's execution and Task-state threads.
WORKERS = WorkerPool("stepfunctions-worker")


class PooledThread:
    """What moto's interpreter uses as ``threading.Thread``: the target runs on :data:`WORKERS`."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self.name = name or "pooled"
        self.daemon = True if daemon is None else daemon
        self._creator_context = contextvars.copy_context()
        self._started = False
        self._done = threading.Event()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        WORKERS.run(self._run)

    def _run(self) -> None:
        try:
            if self._target is not None:
                self._creator_context.run(self._target, *self._args, **self._kwargs)
        finally:
            self._target = None  # the job's values are not kept by the thread object
            self._done.set()

    def run(self) -> None:
        self._run()

    def join(self, timeout: float | None = None) -> None:
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()

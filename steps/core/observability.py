"""Logs, metrics and tracing for the step handlers (AWS Lambda Powertools).

Logs are Powertools' JSON lines. Only safe facts are logged: the step, the outcome, the error
name, a user id; never an event, a payload, a password, a hash or a token. :func:`step_log` puts
the step and the correlation id (the API request id when the step input carries one) on every
line of the invocation with Powertools' thread-safe context keys: its ``append_context_keys``
changes keys shared by every thread, and the local cloud runs concurrent invocations on threads
of one process, which would then log each other's correlation ids. (The authorizer keeps a
lean logger of its own: importing Powertools would add to its cold start on every request path.)

Metrics are CloudWatch embedded-metric-format (EMF) lines in namespace ``stepauth``, dimension
``service``, written by Powertools ``EphemeralMetrics``: each invocation's metrics are its own
(Powertools' ``Metrics`` keeps one buffer per process, which concurrent invocations in the local
cloud would share and flush for each other), written when its block ends, even when it raises.
A metric carries a name and a count, never a user id or anything else about a person.

Tracing is X-Ray through the Powertools ``Tracer``, built on the first traced invocation (so
importing a handler stays cheap), patching botocore only (the DynamoDB and Secrets Manager
calls). It is never built outside Lambda (no ``LAMBDA_TASK_ROOT``, e.g. the local cloud) or
with ``POWERTOOLS_TRACE_DISABLED=true``: then no X-Ray SDK is imported and no daemon is called.
Responses are never put on a trace (they carry tokens); an exception is recorded by X-Ray with
its message, which never holds a secret (see :mod:`steps.core.errors`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from steps.core.api_request import correlation_id
from steps.core.errors import ClientError

#: The Powertools service name of every step (logs, metrics, traces).
SERVICE = "stepauth"
NAMESPACE = "stepauth"

#: Metric names the steps emit.
LOGIN_SUCCEEDED = "LoginSucceeded"
LOGIN_FAILED = "LoginFailed"
LOGIN_LOCKED = "LoginLocked"
REFRESH_TOKEN_REUSED = "RefreshTokenReused"  # noqa: S105 - a metric name
#: A step failed with anything but a client error: the execution answers 500.
SERVER_FAULT = "ServerFault"

_TRUTHY = ("1", "true", "yes", "on")
_tracer: Any = None
_tracer_lock = threading.Lock()


logger = Logger(service=SERVICE)


@contextmanager
def invocation_metrics() -> Iterator[EphemeralMetrics]:
    """Metrics of one invocation, written as one EMF line when the block ends."""
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    try:
        yield metrics
    finally:
        metrics.flush_metrics()


def count(name: str, value: int = 1) -> None:
    """Emit one count metric now (one EMF line on stdout)."""
    with invocation_metrics() as metrics:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process traces: in Lambda, unless POWERTOOLS_TRACE_DISABLED says no."""
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in _TRUTHY:
        return False
    return bool(env.get("LAMBDA_TASK_ROOT"))


def tracer() -> Any:
    """The process's Powertools Tracer, built on first use (None while tracing is off)."""
    global _tracer
    if _tracer is None and tracing_enabled():
        with _tracer_lock:
            if _tracer is None:
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(service=SERVICE, auto_patch=False, patch_modules=("botocore",))
                _tracer.patch(modules=("botocore",))
    return _tracer


@contextmanager
def trace_step(name: str) -> Iterator[None]:
    """Run the block inside an X-Ray subsegment ``## <name>`` when tracing is on."""
    active = tracer()
    if active is None:
        yield
        return
    with active.provider.in_subsegment(f"## {name}") as subsegment:
        subsegment.put_annotation(key="step", value=name)
        yield


# -- logs --------------------------------------------------------------------------------------


class StepLog:
    """Logging for one invocation of one step (its step and correlation id are context keys)."""

    def succeeded(self, **facts: str | None) -> None:
        logger.info("step succeeded", extra={"outcome": "succeeded", **facts})

    def warning(self, message: str, **facts: str | None) -> None:
        """A security-relevant event (e.g. refresh token reuse); ``message`` is a fixed text."""
        logger.warning(message, extra=facts)

    def unavailable(self) -> None:
        logger.warning("signing keys are not initialised", extra={"outcome": "unavailable"})


@contextmanager
def log_context(**keys: str | None) -> Iterator[None]:
    """Put ``keys`` on every log line of this thread inside the block (see the module's note)."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)


@contextmanager
def step_log(step: str, event: Any) -> Iterator[StepLog]:
    """Log the outcome of a step: rejected (client error) or failed (server fault).

    The block runs in the step's trace subsegment (when tracing is on); a server fault is also
    counted (metric ``ServerFault``), a client error is not.
    """
    with log_context(step=step, correlation_id=correlation_id(event)), trace_step(step):
        try:
            yield StepLog()
        except ClientError as exc:
            logger.info(
                "step rejected the request",
                extra={"outcome": "rejected", "error": type(exc).__name__},
            )
            raise
        except Exception as exc:
            logger.error("step failed", extra={"outcome": "failed", "error": type(exc).__name__})
            count(SERVER_FAULT)
            raise

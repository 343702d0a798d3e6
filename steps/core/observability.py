"""Metrics and tracing for the step handlers (AWS Lambda Powertools).

Metrics are CloudWatch embedded-metric-format (EMF) lines in namespace ``stepauth``, dimension
``service``. Each one is written at once (Powertools ``single_metric``): there is no buffer to
flush at the end of a handler, nothing is lost when a handler raises, and concurrent invocations
in one process (the local cloud) never share or flush each other's metrics. A metric carries a
name and a count, never a user id or anything else about a person.

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

from aws_lambda_powertools.metrics import MetricUnit, single_metric

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


def count(name: str, value: int = 1) -> None:
    """Emit one count metric now (one EMF line on stdout)."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ):
        pass


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

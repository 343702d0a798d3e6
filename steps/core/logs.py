"""Structured logging for the step handlers (AWS Lambda Powertools).

Only safe facts are logged: the step, the outcome, the error name, a user id. Never an event,
a payload, a password, a hash or a token. The correlation id is the API request id when the
step input carries one. Facts are passed per message (no shared logger state), so concurrent
in-process invocations do not mix their correlation ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.logging import Logger

from steps.core.api_request import correlation_id
from steps.core.errors import ClientError
from steps.core.observability import SERVER_FAULT, SERVICE, count, trace_step

__all__ = ["SERVICE", "StepLog", "logger", "step_log"]

logger = Logger(service=SERVICE)


class StepLog:
    """Logging for one invocation of one step."""

    def __init__(self, step: str, correlation: str | None) -> None:
        self.step = step
        self.correlation_id = correlation

    def facts(self, **facts: str | None) -> dict[str, str | None]:
        return {"step": self.step, "correlation_id": self.correlation_id, **facts}

    def succeeded(self, **facts: str | None) -> None:
        logger.info("step succeeded", extra=self.facts(outcome="succeeded", **facts))

    def warning(self, message: str, **facts: str | None) -> None:
        """A security-relevant event (e.g. refresh token reuse); ``message`` is a fixed text."""
        logger.warning(message, extra=self.facts(**facts))

    def unavailable(self) -> None:
        logger.warning("signing keys are not initialised", extra=self.facts(outcome="unavailable"))


@contextmanager
def step_log(step: str, event: Any) -> Iterator[StepLog]:
    """Log the outcome of a step: rejected (client error) or failed (server fault).

    The block runs in the step's trace subsegment (when tracing is on); a server fault is also
    counted (metric ``ServerFault``), a client error is not.
    """
    log = StepLog(step, correlation_id(event))
    with trace_step(step):
        try:
            yield log
        except ClientError as exc:
            logger.info(
                "step rejected the request",
                extra=log.facts(outcome="rejected", error=type(exc).__name__),
            )
            raise
        except Exception as exc:
            logger.error("step failed", extra=log.facts(outcome="failed", error=type(exc).__name__))
            count(SERVER_FAULT)
            raise

"""The moment after which a workflow's step must not commit: the client has given up by then.

An EXPRESS workflow answers 503 when it times out (25 s, cdk/resilience.py), but a Lambda step
still running at that moment runs on and could commit afterwards: a registration would keep an
account the client was told nothing about (its retry: 409), a refresh would spend the token the
client still holds (its retry: reuse). So the committing steps get the execution's start and a
budget (``{"startedAt": "$$.Execution.StartTime", "withinSeconds": N}``, N the workflow's
timeout less the time its states after the commit need) and refuse to commit after it: the step
fails with :class:`DeadlinePassed`, nothing written, and the workflow answers 503 (its
compensation, if any, runs first), so the client's retry starts from a clean state.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any


class DeadlinePassed(Exception):
    """The execution's commit deadline passed before the step committed (nothing written)."""

    def __init__(self) -> None:
        super().__init__("The request ran past its deadline; nothing was committed.")


def commit_deadline(data: Any) -> float | None:
    """The epoch second after which nothing may be committed, from a step input's ``deadline``
    (``{"startedAt": ISO 8601, "withinSeconds": number}``); None when the input has none.

    The input comes from the state machine: a garbled one is a server fault (ValueError).
    """
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValueError("The step input's deadline must be an object.")
    started, within = data.get("startedAt"), data.get("withinSeconds")
    if not isinstance(started, str) or isinstance(within, bool):
        raise ValueError("The step input's deadline needs startedAt and withinSeconds.")
    if not isinstance(within, int | float) or within <= 0:
        raise ValueError("The step input's deadline needs a positive withinSeconds.")
    moment = datetime.datetime.fromisoformat(started.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp() + within


def check_deadline(deadline: float | None, now: float | None = None) -> None:
    """Raise DeadlinePassed when ``now`` is past ``deadline`` (None: no deadline).

    ``now`` defaults to the wall clock: the deadline is elapsed time on Step Functions' clock,
    not the clock that decides expiry (which tests move forward by days).
    """
    moment = time.time() if now is None else now
    if deadline is not None and moment > deadline:
        raise DeadlinePassed

"""Step: the caller ends one of their sessions (``DELETE /v1/sessions/{id}``).

``{"caller", "target": {"sessionId"}}`` -> ``{"ended": "<id>"}``; raises SessionNotFound (404)
when the id is not one of the caller's active sessions. One conditional write: the stream
clean-up removes the session's refresh tokens afterwards. The caller's access token is not
denied (it may belong to another session); it lives out its short lifetime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.observability import step_log
from steps.core.session_requests import parse_caller, parse_target
from steps.core.sessions import end_session
from steps.core.table import Table, committing_table


def end_session_for_state(event: Any, *, table: Table, now: float) -> dict[str, str]:
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    caller = parse_caller(event.get("caller"))
    session_id = parse_target(event, "sessionId")
    end_session(table, caller["userId"], session_id, now=now)
    return {"ended": session_id}


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    with step_log("end_session", event) as log:
        result = end_session_for_state(event, table=committing_table(event), now=system_clock.now())
        log.succeeded(user_id=event["caller"]["userId"], family_id=result["ended"])
        return result

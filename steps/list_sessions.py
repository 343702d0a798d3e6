"""Step: the caller's active sessions (``GET /v1/sessions``).

``{"caller", "request"}`` -> ``{"sessions": [{"id", "created_at", "last_used_at", "expires_at",
"user_agent", "current"}]}``, most recently used first. Expired and revoked sessions never
appear, whether or not TTL or the stream clean-up has removed them yet. The caller's own session
(its token's ``sid``) is read consistently and marked ``current``, even while gsi1 trails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.observability import step_log
from steps.core.session_requests import parse_caller
from steps.core.sessions import active_sessions, describe_session
from steps.core.table import Table, default_table


def list_sessions(event: Any, *, table: Table, now: float) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    caller = parse_caller(event.get("caller"))
    current = caller.get("sid")
    sessions = active_sessions(table, caller["userId"], now=now, current_session_id=current)
    return {
        "sessions": [describe_session(family, current_session_id=current) for family in sessions]
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("list_sessions", event) as log:
        result = list_sessions(event, table=default_table(), now=system_clock.now())
        log.succeeded(user_id=event["caller"]["userId"], sessions=str(len(result["sessions"])))
        return result

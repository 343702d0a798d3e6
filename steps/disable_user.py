"""Step: disable a user and revoke all of their sessions (admin route).

``{"userId", "caller", "context"}`` -> ``{"user": {"id", "email", "status": "disabled"}}``;
raises UserNotFound (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.observability import step_log
from steps.core.session_requests import parse_caller
from steps.core.sessions import disable_user
from steps.core.table import Table, committing_table


def disable_user_for_state(event: Any, *, table: Table, now: float) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    parse_caller(event.get("caller"))  # only an authorised admin gets here
    user_id = event.get("userId")
    if not isinstance(user_id, str):
        raise ValueError("The step input userId must be a string.")
    user = disable_user(table, user_id, now=now)
    return {"user": {"id": user.user_id, "email": user.email, "status": user.status}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("disable_user", event) as log:
        result = disable_user_for_state(
            event, table=committing_table(event), now=system_clock.now()
        )
        log.succeeded(user_id=result["user"]["id"], admin_id=event["caller"]["userId"])
        return result

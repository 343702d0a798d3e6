"""Step: a user deletes their own account (``DELETE /v1/me``).

``{"caller", "context"}`` -> ``{"user": {"id"}}``; raises UserNotFound (the account is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.observability import step_log
from steps.core.session_requests import parse_caller
from steps.core.sessions import delete_account
from steps.core.table import Table, committing_table


def delete_account_for_state(event: Any, *, table: Table, now: float) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    caller = parse_caller(event.get("caller"))
    user = delete_account(table, caller["userId"], now=now, session_id=caller.get("sid"))
    return {"user": {"id": user.user_id}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("delete_account", event) as log:
        result = delete_account_for_state(
            event, table=committing_table(event), now=system_clock.now()
        )
        log.succeeded(user_id=result["user"]["id"])
        return result

"""Step: whose password may be reset? (``POST /v1/password/forgot``)

Execution input → ``{"known": bool, "user_id"?, "email"?, "context"}``: ``known`` only for an
active account. The route answers the same 202 either way; the recovery (code, email, wait)
runs in a STANDARD execution started after the answer is decided, so the timing is the same.
"""

from __future__ import annotations

from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.observability import step_log
from steps.core.table import Table, default_table, user_from_item, user_key


def find_for_state(event: Any, *, table: Table) -> dict[str, Any]:
    body = read_json_body(event)
    if set(body) != {"email"}:
        raise InvalidRequest('The body must be {"email": "..."}.')
    email = normalise_email(body["email"])
    context = request_context(event)
    user = user_from_item(table.get(user_key(email)))
    if user is None or not user.is_active:
        return {"known": False, "email": email, "context": context}
    return {"known": True, "user_id": user.user_id, "email": email, "context": context}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("request_password_reset", event) as log:
        result = find_for_state(event, table=default_table())
        log.succeeded(known=str(result["known"]).lower())
        return result

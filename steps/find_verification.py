"""Step: may this resend request get a fresh code? (``POST /v1/email/verify/resend``)

Execution input → ``{"resend": bool, "kind", "user_id"?, "email"?, "context"}``. ``resend`` is
true only for an existing, unverified account with a pending verification under its resend
bound; the route answers 202 either way, so nobody learns which emails have accounts.
"""

from __future__ import annotations

from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.observability import step_log
from steps.core.table import Table, default_table, user_key
from steps.core.verification import MailSettings, resends_used

KIND = "verify_email"


def find_for_state(event: Any, *, table: Table, settings: MailSettings) -> dict[str, Any]:
    body = read_json_body(event)
    if set(body) != {"email"}:
        raise InvalidRequest('The body must be {"email": "..."}.')
    email = normalise_email(body["email"])
    answer: dict[str, Any] = {"resend": False, "kind": KIND, "context": request_context(event)}
    item = table.get(user_key(email))
    if item is None or item.get("email_verified", {}).get("BOOL", True):
        return answer
    user_id = item["user_id"]["S"]
    used = resends_used(table, KIND, user_id)
    if used is None or used >= settings.max_resends:
        return answer
    return {**answer, "resend": True, "user_id": user_id, "email": email}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("find_verification", event) as log:
        result = find_for_state(event, table=default_table(), settings=MailSettings.from_env())
        log.succeeded(resend=str(result["resend"]).lower())
        return result

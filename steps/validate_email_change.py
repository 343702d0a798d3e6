"""Step: check an email change request (``POST /v1/me/email``, signed in).

Execution input (``request`` + ``caller``) → ``{"change": {"email", "new_email", "password"},
"user_id", "context"}``. The new address must be valid, differ from the current one and be
free (409 ``email_taken``, as registration answers); the workflow then verifies the password
behind the login lockout. Raises InvalidRequest, EmailTaken or InvalidToken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.emails import normalise_email
from steps.core.errors import EmailTaken, InvalidRequest, InvalidToken
from steps.core.observability import step_log
from steps.core.sessions import find_user_by_id
from steps.core.table import Table, default_table, user_key

STEP_UP_FIELDS = {"code", "recovery_code"}
FIELDS = {"new_email", "password"}


def validate_for_state(event: Any, *, table: Table) -> dict[str, Any]:
    body = read_json_body(event)
    # A second factor for the step-up (steps/core/mfa_step_up.py) may come along.
    if set(body) - STEP_UP_FIELDS != FIELDS or not isinstance(body["password"], str):
        raise InvalidRequest("Send 'new_email' and 'password'.")
    new_email = normalise_email(body["new_email"], field="new_email")
    caller = event.get("caller") if isinstance(event, Mapping) else None
    user_id = caller.get("userId") if isinstance(caller, Mapping) else None
    sid = caller.get("sid") if isinstance(caller, Mapping) else None
    session_id = sid if isinstance(sid, str) and sid else None
    user = find_user_by_id(table, str(user_id), session_id=session_id) if user_id else None
    if user is None or not user.is_active:
        raise InvalidToken
    if new_email == user.email:
        raise InvalidRequest("The new email is the account's current email.")
    if table.get(user_key(new_email)) is not None:
        raise EmailTaken
    return {
        "change": {"email": user.email, "new_email": new_email, "password": body["password"]},
        "user_id": user.user_id,
        "context": request_context(event),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_email_change", event) as log:
        result = validate_for_state(event, table=default_table())
        log.succeeded(user_id=result["user_id"])
        return result

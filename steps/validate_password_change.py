"""Step: check a password change (``POST /v1/password``, signed in).

Execution input (``request`` + the authorizer's ``caller``, and ``stepUp`` on an account with
MFA) → ``{"change": {"email", "current_password", "new_password"}, "context",
"authentication"}``. The new password must pass the policy and differ from the current one; the
workflow then verifies the current one behind the login lockout. ``authentication`` is the
step-up's (steps/core/mfa_step_up.py), or null: the new session keeps the caller's second
factor. Raises InvalidRequest, WeakPassword, or InvalidToken (the caller's account is gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.errors import InvalidRequest, InvalidToken, WeakPassword
from steps.core.observability import step_log
from steps.core.password_policy import check_password_policy, context_words_for
from steps.core.sessions import find_user_by_id
from steps.core.table import Table, default_table

STEP_UP_FIELDS = {"code", "recovery_code"}
FIELDS = {"current_password", "new_password"}


def validate_for_state(event: Any, *, table: Table) -> dict[str, Any]:
    body = read_json_body(event)
    # A second factor for the step-up (steps/core/mfa_step_up.py) may come along.
    if set(body) - STEP_UP_FIELDS != FIELDS or not all(isinstance(body[f], str) for f in FIELDS):
        raise InvalidRequest("Send 'current_password' and 'new_password' (strings).")
    caller = event.get("caller") if isinstance(event, Mapping) else None
    user_id = caller.get("userId") if isinstance(caller, Mapping) else None
    sid = caller.get("sid") if isinstance(caller, Mapping) else None
    session_id = sid if isinstance(sid, str) and sid else None
    user = find_user_by_id(table, str(user_id), session_id=session_id) if user_id else None
    if user is None or not user.is_active:
        raise InvalidToken
    new_password = check_password_policy(
        body["new_password"], context_words=context_words_for(user.email)
    )
    if new_password == body["current_password"]:
        raise WeakPassword("The new password must differ from the current one.")
    return {
        "change": {
            "email": user.email,
            "current_password": body["current_password"],
            "new_password": new_password,
        },
        "context": request_context(event),
        "authentication": _step_up_authentication(event),
    }


def _step_up_authentication(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """How the step-up found the caller signed in (CheckStepUp's result; the client cannot set
    it), or None: no step-up, or an account without MFA."""
    step_up = event.get("stepUp")
    authentication = step_up.get("authentication") if isinstance(step_up, Mapping) else None
    return dict(authentication) if isinstance(authentication, Mapping) else None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_password_change", event) as log:
        result = validate_for_state(event, table=default_table())
        log.succeeded()
        return result

"""Step: check an emailed code or link (IssueTokens spends it and marks the email verified).

Execution input (``{"request": …}``, body ``{"email", "code"}`` or ``{"token"}``) →
``{"user": {id, email, roles, created_at, email_verified}, "task_token", "context"}``: the task
token names the pending verification IssueTokens spends and resumes the waiting
EmailVerification execution. Raises InvalidRequest, InvalidCode (a
wrong code, counted) or CodeExpired (expired, spent, unknown, too many wrong codes: a new code
is needed). Unknown emails and accounts without a pending verification get CodeExpired too.
"""

from __future__ import annotations

import re
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.clock import system_clock
from steps.core.contract.errors import CODE_SPENT, LINK_SPENT
from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.observability import step_log
from steps.core.table import Table, default_table, user_from_item, user_key
from steps.core.verification import (
    CODE_DIGITS,
    CodeExpired,
    MailSettings,
    check_code,
    check_link,
)
from steps.send_email import code_key

KIND = "verify_email"
_CODE = re.compile(rf"\d{{{CODE_DIGITS}}}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def verify_for_state(
    event: Any, *, table: Table, key: bytes, now: float, settings: MailSettings
) -> dict[str, Any]:
    body = read_json_body(event)
    context = request_context(event)
    if set(body) == {"token"}:
        token = body["token"]
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise InvalidRequest("The field 'token' must be the token from the emailed link.")
        kind, checked = check_link(table, token=token, now=now, spend=False)
        if kind != KIND:
            raise CodeExpired(LINK_SPENT.description)
    elif set(body) == {"email", "code"}:
        email = normalise_email(body["email"])
        code = body["code"]
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise InvalidRequest(f"The field 'code' must be the {CODE_DIGITS}-digit emailed code.")
        user = user_from_item(table.get(user_key(email)))
        if user is None:
            raise CodeExpired(CODE_SPENT.description)
        checked = check_code(
            table,
            key,
            kind=KIND,
            user_id=user.user_id,
            code=code,
            now=now,
            settings=settings,
            spend=False,
        )
    else:
        raise InvalidRequest("Send either 'email' and 'code', or 'token'.")
    # Checked, not spent: IssueTokens spends the code and marks the account verified in the
    # transaction that starts the session (the commit), so a failure anywhere before it leaves
    # the code usable and the account as it was, and the client's retry succeeds.
    user = user_from_item(table.get(user_key(checked.email)))
    if user is None or user.user_id != checked.user_id:
        raise CodeExpired(CODE_SPENT.description)
    return {
        "user": {
            "id": user.user_id,
            "email": user.email,
            "roles": list(user.roles),
            "created_at": user.created_at,
            "email_verified": True,
        },
        "task_token": checked.task_token,
        "context": context,
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("verify_email", event) as log:
        result = verify_for_state(
            event,
            table=default_table(),
            key=code_key(),
            now=system_clock.now(),
            settings=MailSettings.from_env(),
        )
        log.succeeded(user_id=result["user"]["id"])
        return result

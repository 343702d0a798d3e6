"""Step: check a password reset (``POST /v1/password/reset``) and its code.

Body ``{"email", "code", "new_password"}`` or ``{"token", "new_password"}`` →
``{"user": {"id", "email"}, "password", "task_token", "context"}``. The new password is checked
against the policy before the code is checked (a weak password does not burn the code). The
code is spent by StorePassword, in the transaction that stores the new hash: a fault between
the two leaves the code usable for the client's retry. Raises
InvalidRequest, WeakPassword, InvalidCode or CodeExpired. The new password stays in this
EXPRESS workflow (no execution data logged); it never reaches the STANDARD one.
"""

from __future__ import annotations

import re
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.clock import system_clock
from steps.core.contract.errors import CODE_SPENT
from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.observability import step_log
from steps.core.password_policy import check_password_policy, context_words_for
from steps.core.table import Table, default_table, user_from_item, user_key
from steps.core.verification import (
    CODE_DIGITS,
    CodeExpired,
    MailSettings,
    check_code,
    check_link,
)
from steps.send_email import code_key

KIND = "reset_password"
_CODE = re.compile(rf"\d{{{CODE_DIGITS}}}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_EXPIRED = CODE_SPENT.description


def check_for_state(
    event: Any, *, table: Table, key: bytes, now: float, settings: MailSettings
) -> dict[str, Any]:
    body = read_json_body(event)
    context = request_context(event)
    fields = set(body)
    if fields == {"token", "new_password"}:
        token = body["token"]
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise InvalidRequest("The field 'token' must be the token from the emailed link.")
        email = None
    elif fields == {"email", "code", "new_password"}:
        email = normalise_email(body["email"])
        if not isinstance(body["code"], str) or not _CODE.fullmatch(body["code"]):
            raise InvalidRequest(f"The field 'code' must be the {CODE_DIGITS}-digit emailed code.")
    else:
        raise InvalidRequest("Send 'new_password' with either 'email' and 'code', or 'token'.")
    if email is None:
        kind, checked = check_link(table, token=body["token"], now=now, spend=False)
        if kind != KIND:
            raise CodeExpired(_EXPIRED)
        email = checked.email
    password = check_password_policy(body["new_password"], context_words=context_words_for(email))
    user = user_from_item(table.get(user_key(email)))
    if user is None or not user.is_active:
        raise CodeExpired(_EXPIRED)
    if "code" in body:
        checked = check_code(
            table,
            key,
            kind=KIND,
            user_id=user.user_id,
            code=body["code"],
            now=now,
            settings=settings,
            spend=False,
        )
    else:
        _, checked = check_link(table, token=body["token"], now=now, spend=False)
    if checked.user_id != user.user_id:
        raise CodeExpired(_EXPIRED)
    return {
        "user": {"id": user.user_id, "email": user.email},
        "password": password,
        "task_token": checked.task_token,
        "context": context,
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("check_reset", event) as log:
        result = check_for_state(
            event,
            table=default_table(),
            key=code_key(),
            now=system_clock.now(),
            settings=MailSettings.from_env(),
        )
        log.succeeded(user_id=result["user"]["id"])
        return result

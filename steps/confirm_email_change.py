"""Step: confirm an email change with the code sent to the new address, and switch.

Execution input (``request`` + ``caller``; body ``{"code"}`` or ``{"token"}``) →
``{"user": {"id", "email", "old_email"}, "task_token", "context"}``. The profile moves from
``USER#<old>`` to ``USER#<new>`` in one transaction, which also spends the code (the new key
must still be free: 409 ``email_taken`` otherwise, the code still usable). Raises
InvalidRequest, InvalidCode, CodeExpired, EmailTaken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.clock import system_clock
from steps.core.contract.errors import CODE_SPENT
from steps.core.errors import EmailTaken, InvalidRequest
from steps.core.observability import step_log
from steps.core.sessions import find_user_by_id
from steps.core.table import Table, committing_table, pending_key, user_key
from steps.core.verification import (
    CODE_DIGITS,
    CodeExpired,
    MailSettings,
    check_code,
    check_link,
    spend_operation,
)
from steps.send_email import code_key

KIND = "change_email"
_CODE = re.compile(rf"\d{{{CODE_DIGITS}}}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
_EXPIRED = CODE_SPENT.description


def confirm_for_state(
    event: Any, *, table: Table, key: bytes, now: float, settings: MailSettings
) -> dict[str, Any]:
    body = read_json_body(event)
    caller = event.get("caller") if isinstance(event, Mapping) else None
    user_id = str(caller.get("userId")) if isinstance(caller, Mapping) else ""
    sid = caller.get("sid") if isinstance(caller, Mapping) else None
    user = find_user_by_id(table, user_id, session_id=sid if isinstance(sid, str) and sid else None)
    if user is None:
        raise CodeExpired(_EXPIRED)
    # Checked, not spent: the code is spent in the transaction that switches the address (the
    # commit), so a failure before it leaves the code usable for the client's retry.
    if set(body) == {"code"} and isinstance(body["code"], str) and _CODE.fullmatch(body["code"]):
        checked = check_code(
            table,
            key,
            kind=KIND,
            user_id=user_id,
            code=body["code"],
            now=now,
            settings=settings,
            spend=False,
        )
    elif (
        set(body) == {"token"}
        and isinstance(body["token"], str)
        and _TOKEN.fullmatch(body["token"])
    ):
        kind, checked = check_link(table, token=body["token"], now=now, spend=False)
        if kind != KIND or checked.user_id != user_id:
            raise CodeExpired(_EXPIRED)
    else:
        raise InvalidRequest(f"Send the {CODE_DIGITS}-digit 'code' or the link's 'token'.")
    old = table.get(user_key(user.email))
    if old is None:
        raise CodeExpired(_EXPIRED)
    moved = {**old, **user_key(checked.email), "email": {"S": checked.email}}
    moved["email_verified"] = {"BOOL": True}
    switched = table.transact(
        [
            {"Put": {"Item": moved, "ConditionExpression": "attribute_not_exists(pk)"}},
            {
                "Delete": {
                    "Key": user_key(user.email),
                    "ConditionExpression": "user_id = :uid",
                    "ExpressionAttributeValues": {":uid": {"S": user_id}},
                }
            },
            spend_operation(KIND, user_id, checked.task_token, now),
        ]
    )
    if not switched:
        pending = table.get(pending_key(KIND, user_id))
        if (
            pending is None
            or pending["task_token"]["S"] != checked.task_token
            or int(pending["code_expires_at"]["N"]) <= now
        ):
            raise CodeExpired(_EXPIRED)  # spent or expired meanwhile (a concurrent confirmation)
        raise EmailTaken
    return {
        "user": {"id": user_id, "email": checked.email, "old_email": user.email},
        "task_token": checked.task_token,
        "context": request_context(event),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("confirm_email_change", event) as log:
        result = confirm_for_state(
            event,
            table=committing_table(event),
            key=code_key(),
            now=system_clock.now(),
            settings=MailSettings.from_env(),
        )
        log.succeeded(user_id=result["user"]["id"])
        return result

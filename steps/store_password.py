"""Step: store a new password hash and revoke every session of the user (password reset).

``{"user": {"id", "email"}, "password_hash", "task_token"?}`` → ``{"revoked": n}``. For a reset
(``task_token``: the waiting recovery whose code CheckReset checked) the code is spent in the
same transaction as the hash is stored. Raises CodeExpired when the account is gone (or is
another one), or the code was spent or replaced, since the code was checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.contract.errors import CODE_SPENT
from steps.core.observability import step_log
from steps.core.sessions import end_access_tokens, revoke_all_families
from steps.core.table import Table, committing_table, user_key
from steps.core.verification import CodeExpired, spend_operation

#: The kind of the pending verification a reset spends (steps/check_reset.py).
RESET_KIND = "reset_password"


def store_for_state(event: Any, *, table: Table, now: float) -> dict[str, int]:
    if not isinstance(event, Mapping) or not isinstance(event.get("user"), Mapping):
        raise ValueError("The step input needs the user and the password hash.")
    user_id, email = str(event["user"]["id"]), str(event["user"]["email"])
    store = {
        "Key": user_key(email),
        "UpdateExpression": "SET #hash = :hash, #changed = :now",
        "ConditionExpression": "#uid = :uid",
        "ExpressionAttributeNames": {
            "#hash": "password_hash",
            "#changed": "password_changed_at",
            "#uid": "user_id",
        },
        "ExpressionAttributeValues": {
            ":hash": {"S": str(event["password_hash"])},
            ":now": {"N": str(int(now))},
            ":uid": {"S": user_id},
        },
    }
    task_token = event.get("task_token")
    if isinstance(task_token, str) and task_token:
        stored = table.transact(
            [{"Update": store}, spend_operation(RESET_KIND, user_id, task_token, now)]
        )
    else:
        stored = table.update_if(
            store["Key"],
            update=store["UpdateExpression"],
            condition=store["ConditionExpression"],
            names=store["ExpressionAttributeNames"],
            values=store["ExpressionAttributeValues"],
        )
    if not stored:
        raise CodeExpired(CODE_SPENT.description)
    # A reset (emailed code) or a change (signed in); the caller of a change gets a new pair.
    reason = "password_changed" if event.get("reason") == "password_changed" else "password_reset"
    revoked = revoke_all_families(table, user_id, reason=reason, now=now)
    if reason == "password_reset":
        # Whoever knew the old password may hold access tokens too: a reset ends them, like a
        # disable. (A change does not: its caller's new pair is issued in this very second.)
        end_access_tokens(table, user_id, now=now)
    return {"revoked": revoked}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("store_password", {}) as log:
        result = store_for_state(event, table=committing_table(event), now=system_clock.now())
        log.succeeded(user_id=str(event["user"]["id"]), revoked=str(result["revoked"]))
        return result

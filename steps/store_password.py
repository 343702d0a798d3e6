"""Step: store a new password hash and revoke every session of the user (password reset).

``{"user": {"id", "email"}, "password_hash"}`` → ``{"revoked": n}``. Raises CodeExpired when
the account is gone (or is another one) since the code was checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.clock import system_clock
from steps.core.contract.errors import CODE_SPENT
from steps.core.logs import step_log
from steps.core.sessions import end_access_tokens, revoke_all_families
from steps.core.table import Table, default_table, user_key
from steps.core.verification import CodeExpired


def store_for_state(event: Any, *, table: Table, now: float) -> dict[str, int]:
    if not isinstance(event, Mapping) or not isinstance(event.get("user"), Mapping):
        raise ValueError("The step input needs the user and the password hash.")
    user_id, email = str(event["user"]["id"]), str(event["user"]["email"])
    stored = table.update_if(
        user_key(email),
        update="SET #hash = :hash, #changed = :now",
        condition="#uid = :uid",
        names={"#hash": "password_hash", "#changed": "password_changed_at", "#uid": "user_id"},
        values={
            ":hash": {"S": str(event["password_hash"])},
            ":now": {"N": str(int(now))},
            ":uid": {"S": user_id},
        },
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
        result = store_for_state(event, table=default_table(), now=system_clock.now())
        log.succeeded(user_id=str(event["user"]["id"]), revoked=str(result["revoked"]))
        return result

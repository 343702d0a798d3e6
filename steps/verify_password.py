"""Step: verify a login password against the stored user, behind the lockout.

``{"email", "password", "found"}`` -> ``{"user", "locked": false, "mfa"}`` (``mfa``: the
account signs in with a second factor next) or
``{"locked": true, "retry_after", "problem"}``; raises InvalidCredentials. Counts each
outcome (metrics ``LoginSucceeded``, ``LoginFailed``, ``LoginLocked``); the workflow writes
the audit record. The lockout count and the TOTP record are read in one call
(:func:`steps.core.credentials.guarded_login`).
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.credentials import guarded_login
from steps.core.errors import InvalidCredentials
from steps.core.mfa import TOTP_SECOND_FACTOR
from steps.core.observability import LOGIN_FAILED, LOGIN_LOCKED, LOGIN_SUCCEEDED, count, step_log
from steps.core.passwords import default_hasher
from steps.core.table import default_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("verify_password", event) as log:
        try:
            result = guarded_login(
                event,
                hasher=default_hasher(),
                table=default_table(),
                now=system_clock.now(),
                config=get_config(),
                second_factor=TOTP_SECOND_FACTOR,
            )
        except InvalidCredentials:
            count(LOGIN_FAILED)
            raise
        if result["locked"]:
            count(LOGIN_LOCKED)
            log.warning("account locked", outcome="locked")
        else:
            count(LOGIN_SUCCEEDED)
            log.succeeded(user_id=result["user"]["id"])
        return result

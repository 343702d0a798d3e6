"""Step: the password was right and the account has MFA: a sign-in challenge instead of tokens.

``{"user", "context"}`` → the API body ``{"mfa_required": true, "mfa_token", "methods",
"expires_in"}``. The mfa_token is created here and stored only as its SHA-256.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.mfa import METHODS, MfaSettings, new_challenge
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("start_mfa_challenge", event) as log:
        user = event["user"]
        token, ttl = new_challenge(
            committing_table(event),
            user=user,
            context=event.get("context") or {},
            now=system_clock.now(),
            settings=MfaSettings.from_env(),
        )
        log.succeeded(user_id=str(user["id"]))
        return {
            "mfa_required": True,
            "mfa_token": token,
            "methods": list(METHODS),
            "expires_in": ttl,
        }

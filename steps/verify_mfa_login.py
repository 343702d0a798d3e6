"""Step: answer a sign-in challenge with a TOTP code or a recovery code, behind the lockout.

``{"challenge": {"token_hash"}, "answer", "context"}`` → ``{"outcome": "accepted", "user",
"authentication", "context"}`` | ``{"outcome": "rejected", "user_id"}`` | ``{"outcome":
"locked", "user_id", "retry_after", "problem"}``. Raises MfaChallengeInvalid.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.mfa_cipher import default_cipher
from steps.core.mfa_requests import answer_from_state
from steps.core.mfa_signin import answer_challenge
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("verify_mfa_login", event) as log:
        challenge = event.get("challenge") or {}
        result = answer_challenge(
            committing_table(event),
            default_cipher(),
            token_hash=str(challenge.get("token_hash", "")),
            answer=answer_from_state(event.get("answer")),
            context=event.get("context") or {},
            now=system_clock.now(),
            config=get_config(),
        )
        if result["outcome"] == "accepted":
            log.succeeded(user_id=str(result["user"]["id"]))
        else:
            log.warning("second factor refused", outcome=result["outcome"])
        return result

"""Step: check a step-up second factor behind the login lockout.

``{"user_id", "email", "answer": {"method", "value"}}`` → ``{"locked": false, "amr"}`` or the
lockout's ``{"locked": true, "retry_after", "problem"}``. Raises MfaCodeRejected (counted toward
the lockout) or MfaNotEnabled.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.mfa_cipher import default_cipher
from steps.core.mfa_requests import answer_from_state
from steps.core.mfa_signin import guarded_second_factor
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("verify_second_factor", event) as log:
        result = guarded_second_factor(
            committing_table(event),
            default_cipher(),
            user_id=str(event["user_id"]),
            email=str(event["email"]),
            answer=answer_from_state(event.get("answer")),
            now=system_clock.now(),
            config=get_config(),
        )
        log.succeeded(user_id=str(event["user_id"]))
        return result

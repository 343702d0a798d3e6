"""Step: confirm a TOTP enrolment with its first code (``POST /v1/mfa/totp/confirm``).

Execution input (``request`` + ``caller``) → ``{"user_id", "confirmed": {"mfa": "on",
"recovery_codes": [10 codes]}}``: the codes are created here, stored only as hashes and answered
once. Raises InvalidRequest, InvalidToken, MfaCodeRejected, EnrolmentNotStarted,
MfaAlreadyEnabled.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.mfa import confirm_enrolment
from steps.core.mfa_cipher import default_cipher
from steps.core.mfa_requests import confirm_request
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("confirm_totp", event) as log:
        table = committing_table(event)
        request = confirm_request(event, table=table)
        codes = confirm_enrolment(
            table,
            default_cipher(),
            user_id=request["user_id"],
            code=request["code"],
            now=system_clock.now(),
        )
        log.succeeded(user_id=request["user_id"])
        return {"user_id": request["user_id"], "confirmed": {"mfa": "on", "recovery_codes": codes}}

"""Step: start a TOTP enrolment (``POST /v1/mfa/totp``, signed in).

Execution input (``request`` + ``caller``) → ``{"user_id", "enrolment": {"secret", "otpauth_uri",
"qr_svg", "status": "pending"}}``. The secret is created here, stored only as KMS ciphertext and
answered once; the workflow hands the ``enrolment`` to the client (its history holds no data).
Raises InvalidRequest, InvalidToken, MfaAlreadyEnabled.
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.mfa import MfaSettings, start_enrolment
from steps.core.mfa_cipher import default_cipher
from steps.core.mfa_requests import enrolment_request
from steps.core.observability import step_log
from steps.core.table import committing_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("start_totp_enrolment", event) as log:
        table = committing_table(event)
        request = enrolment_request(event, table=table)
        enrolment = start_enrolment(
            table,
            default_cipher(),
            user_id=request["user_id"],
            email=request["email"],
            now=system_clock.now(),
            settings=MfaSettings.from_env(),
        )
        log.succeeded(user_id=request["user_id"])
        return {
            "user_id": request["user_id"],
            "enrolment": {
                "secret": enrolment.secret,
                "otpauth_uri": enrolment.otpauth_uri,
                "qr_svg": enrolment.qr_svg,
                "status": "pending",
                "next": "confirm with POST /v1/mfa/totp/confirm and a code from the app",
            },
        }

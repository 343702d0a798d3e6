"""Step: read a request that must prove the caller (``DELETE /v1/mfa/totp``: a code, a recovery
code or the password; ``POST /v1/mfa/recovery-codes``: a code).

``{"request", "caller", "password_allowed"}`` → ``{"change": {"user_id", "email", "method"},
"answer" | "password", "context"}``. Raises InvalidRequest or InvalidToken.
"""

from __future__ import annotations

from typing import Any

from steps.core.mfa_requests import proof_request
from steps.core.observability import step_log
from steps.core.table import default_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_mfa_proof", event) as log:
        result = proof_request(
            event, table=default_table(), password_allowed=event.get("password_allowed") is True
        )
        log.succeeded(user_id=result["change"]["user_id"])
        return result

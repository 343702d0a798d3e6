"""Step: validate ``POST /v1/login/mfa`` (execution input → ``{"challenge": {"token_hash"},
"answer", "context"}``; the mfa_token is hashed here and not carried further)."""

from __future__ import annotations

from typing import Any

from steps.core.mfa_requests import mfa_login_request
from steps.core.observability import step_log


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_mfa_login", event) as log:
        result = mfa_login_request(event)
        log.succeeded()
        return result

"""Step: validate a logout request (execution input with the caller -> what to end)."""

from __future__ import annotations

from typing import Any

from steps.core.observability import step_log
from steps.core.session_requests import validate_logout


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_logout", event) as log:
        result = validate_logout(event)
        log.succeeded(user_id=result["caller"]["userId"])
        return result

"""Step: validate a refresh request (execution input -> refresh token hash + context)."""

from __future__ import annotations

from typing import Any

from steps.core.observability import step_log
from steps.core.session_requests import validate_refresh


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_refresh", event) as log:
        result = validate_refresh(event)
        log.succeeded()
        return result

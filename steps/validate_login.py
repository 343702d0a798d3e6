"""Step: validate a login request (execution input -> credentials + context)."""

from __future__ import annotations

from typing import Any

from steps.core.observability import step_log
from steps.core.validation import validate_login


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_login", event) as log:
        result = validate_login(event)
        log.succeeded()
        return result

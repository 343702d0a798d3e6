"""Step: validate a registration request (execution input -> registration + context)."""

from __future__ import annotations

from typing import Any

from steps.core.observability import step_log
from steps.core.validation import validate_registration


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("validate_registration", event) as log:
        result = validate_registration(event)
        log.succeeded()
        return result

"""Step: verify a login password against the stored user ({"password", "found"} -> user)."""

from __future__ import annotations

from typing import Any

from steps.core.credentials import verify_login
from steps.core.logs import step_log
from steps.core.passwords import default_hasher


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("verify_password", event) as log:
        result = verify_login(event, hasher=default_hasher())
        log.succeeded(user_id=result["user"]["id"])
        return result

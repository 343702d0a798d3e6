"""Step: hash a new password with argon2id ({"password"} -> {"password_hash"})."""

from __future__ import annotations

from typing import Any

from steps.core.credentials import hash_password
from steps.core.observability import step_log
from steps.core.passwords import default_hasher


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    with step_log("hash_password", event) as log:
        result = hash_password(event, hasher=default_hasher())
        log.succeeded()
        return result

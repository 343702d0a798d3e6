"""Step: spend a refresh token ({"refresh": {"token_hash"}, "context"} -> user + family).

Raises InvalidGrant, or RefreshTokenReused after revoking the family (both HTTP 401
invalid_grant; a Catch must name both errors).
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.errors import RefreshTokenReused
from steps.core.logs import step_log
from steps.core.refresh_rotation import spend_refresh_token
from steps.core.session_requests import parse_refresh_state
from steps.core.table import default_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("rotate_refresh_token", event) as log:
        token_hash, request_context = parse_refresh_state(event)
        try:
            grant = spend_refresh_token(
                default_table(),
                token_hash,
                now=system_clock.now(),
                reuse_grace_seconds=get_config().refresh_reuse_grace_seconds,
            )
        except RefreshTokenReused as reused:
            log.warning(
                "refresh token reuse: family revoked",
                user_id=reused.user_id,
                family_id=reused.family_id,
            )
            raise
        log.succeeded(user_id=grant.user["id"])
        return {"user": grant.user, "family_id": grant.family_id, "context": request_context}

"""Step: revoke the caller's refresh families on logout ({"logout", "caller"} -> revoked count).

``all``: every family of the caller. Otherwise the family of the given refresh token, only if
it belongs to the caller; a token that is unknown or someone else's is silently ignored (the
answer never reveals whether a token exists). The access token's denylist entry is written by
the workflow itself (a direct putItem).
"""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.observability import step_log
from steps.core.session_requests import parse_logout_state
from steps.core.sessions import family_of_refresh_token, revoke_all_families, revoke_family
from steps.core.table import Table, committing_table


def end_sessions(event: Any, *, table: Table, now: float) -> dict[str, int]:
    token_hash, everything, caller = parse_logout_state(event)
    user_id = caller["userId"]
    if everything:
        return {"revoked": revoke_all_families(table, user_id, reason="logout_all", now=now)}
    if token_hash is None:
        return {"revoked": 0}
    family_id = family_of_refresh_token(table, token_hash, now=now)
    if family_id is None:
        return {"revoked": 0}
    revoked = revoke_family(table, family_id, reason="logout", now=now, owner_user_id=user_id)
    return {"revoked": int(revoked)}


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    with step_log("end_sessions", event) as log:
        result = end_sessions(event, table=committing_table(event), now=system_clock.now())
        log.succeeded(user_id=event["caller"]["userId"], revoked=str(result["revoked"]))
        return result

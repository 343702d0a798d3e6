"""Step: the whole refresh ({"refresh": {"token_hash"}, "context", "executionId"?} -> API body).

Spends the presented token and stores its successor in one transaction, then answers the token
pair (the same body as IssueTokens). A replay within the grace window answers the family's
current token again. Raises InvalidGrant (HTTP 400 invalid_grant) or RotationConflict
(transient: retried).

A reuse that this call detected (it revoked the family) is not raised but answered
``{"reuse": {"user_id", "session_id"}}`` (ids only, never a token or hash): the workflow
publishes ``RefreshTokenReuseDetected`` from it, then answers 400 invalid_grant. Reuse is
audited here (action ``refresh``, outcome ``reuse_detected``, under the family's user) and
counted (metric ``RefreshTokenReused``): only this step knows whose family was revoked, and only
the call that revoked it reports it, so a reuse is recorded once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.audit import write_audit
from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.deadline import commit_deadline
from steps.core.errors import RefreshTokenReused
from steps.core.observability import REFRESH_TOKEN_REUSED, count, step_log
from steps.core.refresh_key import load_refresh_key
from steps.core.refresh_rotation import spend_refresh_token
from steps.core.session_requests import parse_refresh_state
from steps.core.signing_keys import load_signing_keys
from steps.core.table import Table, default_table
from steps.core.tokens import (
    SessionContext,
    TokenUser,
    family_grant,
    issue_access_token,
    token_response,
)


def audit_reuse(
    table: Table,
    reused: RefreshTokenReused,
    *,
    context: Mapping[str, Any],
    execution_id: Any,
    now: float,
) -> None:
    """The audit record of a detected reuse: who, from where, which session was revoked."""

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    write_audit(
        table,
        action="refresh",
        outcome="reuse_detected",
        user_id=text(reused.user_id),
        source_ip=text(context.get("sourceIp")),
        user_agent=text(context.get("userAgent")),
        request_id=text(context.get("requestId")),
        execution_id=text(execution_id),
        at=now,
        detail=f"session {reused.family_id} revoked" if reused.family_id else None,
    )


def reuse_outcome(reused: RefreshTokenReused) -> dict[str, Any]:
    """What the workflow publishes of a detected reuse: whose session was revoked."""
    return {"reuse": {"user_id": reused.user_id, "session_id": reused.family_id}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("rotate_refresh_token", event) as log:
        token_hash, request_context = parse_refresh_state(event)
        config = get_config()
        # Keys first: a missing key fails the request before anything is spent.
        key_set, refresh_key = load_signing_keys(), load_refresh_key()
        table, now = default_table(), system_clock.now()
        asked = SessionContext.from_state(request_context)
        try:
            grant = spend_refresh_token(
                table,
                token_hash,
                now=now,
                reuse_grace_seconds=config.refresh_reuse_grace_seconds,
                key=refresh_key,
                # The family's client and scopes, narrowed to what the request asks (RFC 6749
                # section 6): checked before the token is spent.
                grant_for_family=lambda item: family_grant(item, asked, config),
                commit_by=commit_deadline(event.get("deadline")),
            )
        except RefreshTokenReused as reused:
            count(REFRESH_TOKEN_REUSED)
            audit_reuse(
                table,
                reused,
                context=request_context,
                execution_id=event.get("executionId"),
                now=now,
            )
            log.warning(
                "refresh token reuse: family revoked",
                user_id=reused.user_id,
                family_id=reused.family_id,
            )
            return reuse_outcome(reused)
        user = TokenUser.from_state(grant.user)
        access_token, _ = issue_access_token(
            user.id,
            user.roles,
            key_set=key_set,
            clock=system_clock,
            config=config,
            client=grant.family_grant.client,
            scopes=grant.family_grant.scopes,
            session_id=grant.family_id,
            email_verified=user.email_verified,
            # The sign-in's second factor and time, kept by the family (OIDC: auth_time is the
            # sign-in's, not the refresh's).
            authentication=grant.authentication,
        )
        log.succeeded(user_id=user.id, replayed="yes" if grant.replayed else "no")
        return token_response(user, access_token, grant.refresh_token, config=config)

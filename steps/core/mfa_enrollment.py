"""The enrolment token of ``mfa=required``: what a sign-in without MFA gets instead of a session.

An access token (same keys, ``typ: at+jwt``) with no roles, no refresh token, a 10-minute
lifetime, the single scope :data:`ENROLLMENT_SCOPE` and an audience of its own
(``Config.enrollment_audience``, ``<token_audience>:mfa-enroll`` by default): a JWT authorizer
configured with stepauth's audience refuses it. stepauth's authorizer accepts that audience on
its own routes only (authorizer/check.py, the rule in ``steps.core.tokens``), and its policy for
the token allows only :data:`ENROLLMENT_ROUTES` (authorizer/policy.py), so that even its cached
answer never opens another route; other APIs refuse it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

ENROLLMENT_SCOPE = "mfa:enroll"
ENROLLMENT_TTL_SECONDS = 600
#: (method, path) of the routes an enrolment token may call: start and confirm a TOTP enrolment.
ENROLLMENT_ROUTES = (("POST", "v1/mfa/totp"), ("POST", "v1/mfa/totp/confirm"))
#: The ``purpose`` of the issue_tokens step's input that asks for an enrolment token instead.
PURPOSE = "mfa_enrollment"


def is_enrollment_token(claims: Mapping[str, Any]) -> bool:
    return claims.get("scope") == ENROLLMENT_SCOPE


def enrollment_body(event: Any, *, key_set: Any, clock: Any, config: Any) -> dict[str, Any]:
    """``{"user": {"id", "email", "created_at", ...}}`` -> ``{"user", "mfa_enrollment_required":
    true, "enrollment_token", "expires_in"}``: the body of a registration or email verification
    under ``mfa=required``; the Login workflow answers its token in a 403
    (``steps.core.contract.errors.MFA_ENROLLMENT_REQUIRED``).
    Nothing is stored: the token lives only until its ``exp``."""
    from steps.core.tokens import TokenUser, issue_access_token

    user = TokenUser.from_state(event.get("user") if isinstance(event, Mapping) else None)
    token, _ = issue_access_token(
        user.id,
        [],
        key_set=key_set,
        clock=clock,
        config=dataclasses.replace(config, access_token_ttl_seconds=ENROLLMENT_TTL_SECONDS),
        client=dataclasses.replace(config.clients[0], audience=config.enrollment_audience),
        scopes=[ENROLLMENT_SCOPE],
    )
    return {
        "user": {"id": user.id, "email": user.email, "created_at": user.created_at},
        "mfa_enrollment_required": True,
        "enrollment_token": token,
        "expires_in": ENROLLMENT_TTL_SECONDS,
    }

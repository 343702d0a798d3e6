"""Step: issue an access token and a refresh token ({"user", "context"} -> API body), or, with
``"purpose": "mfa_enrollment"`` (``mfa=required``, an account without MFA), an enrolment token
and no session (steps/core/mfa_enrollment.py). With ``"verification"`` (POST /v1/email/verify)
the account is marked verified and its code spent in the same commit."""

from __future__ import annotations

from typing import Any

from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.observability import step_log
from steps.core.signing_keys import load_signing_keys
from steps.core.table import committing_table
from steps.core.tokens import commit_verification, issue_tokens_for_state


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("issue_tokens", event) as log:
        if event.get("purpose") == "mfa_enrollment":
            from steps.core.mfa_enrollment import enrollment_body

            enrollment = enrollment_body(
                event, key_set=load_signing_keys(), clock=system_clock, config=get_config()
            )
            commit_verification(event, committing_table(event), now=system_clock.now())
            log.succeeded(user_id=enrollment["user"]["id"], purpose="mfa_enrollment")
            return enrollment
        body = issue_tokens_for_state(
            event,
            key_set=load_signing_keys(),
            table=committing_table(event),
            clock=system_clock,
            config=get_config(),
        )
        log.succeeded(user_id=body["user"]["id"])
        return body

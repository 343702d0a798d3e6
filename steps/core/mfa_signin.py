"""The second factor of a sign-in and of a step-up, behind the login lockout.

Wrong codes count toward the same per-email lockout as wrong passwords
(:mod:`steps.core.lockout`): a right password does not clear the count of an account with MFA
(:func:`steps.core.credentials.guarded_login`), a right second factor does. A locked account is
refused before any code is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.config import Config
from steps.core.lockout import clear_failures, failed_logins, record_failure
from steps.core.mfa import (
    ACR_MFA,
    MfaChallengeInvalid,
    MfaCodeRejected,
    MfaNotEnabled,
    SecondFactorAnswer,
    SecretCipher,
    count_wrong_answer,
    load_challenge,
    spend_challenge,
    verify_second_factor,
)
from steps.core.table import Table


def locked_answer(retry_after: int) -> dict[str, Any]:
    """The lockout's answer, as the password step gives it (429 with Retry-After)."""
    return {
        "locked": True,
        "retry_after": str(retry_after),
        "problem": {
            "error": "account_locked",
            "error_description": (
                f"Too many failed sign-in attempts. Try again in {retry_after} seconds."
            ),
        },
    }


def _lock(table: Table, email: str, *, now: float, config: Config) -> tuple[bool, int]:
    """(whether a count exists, seconds until the next attempt is allowed)."""
    previous = failed_logins(table, email, now=now, config=config)
    if previous is None:
        return False, 0
    return True, previous.retry_after(now, config)


def guarded_second_factor(
    table: Table,
    cipher: SecretCipher,
    *,
    user_id: str,
    email: str,
    answer: SecondFactorAnswer,
    now: float,
    config: Config,
) -> dict[str, Any]:
    """A step-up proof: ``{"locked": false, "amr"}``, the lockout's answer, MfaCodeRejected (a
    counted failure) or MfaNotEnabled."""
    counted, wait = _lock(table, email, now=now, config=config)
    if wait > 0:
        return locked_answer(wait)
    try:
        verify_second_factor(table, cipher, user_id=user_id, answer=answer, now=now)
    except MfaCodeRejected:
        record_failure(table, email, now=now, config=config)
        raise
    if counted:
        clear_failures(table, email)
    return {"locked": False, "amr": answer.amr}


def answer_challenge(
    table: Table,
    cipher: SecretCipher,
    *,
    token_hash: str,
    answer: SecondFactorAnswer,
    context: Mapping[str, Any],
    now: float,
    config: Config,
) -> dict[str, Any]:
    """The answer to an mfa_token: ``{"outcome": "accepted", "user", "authentication",
    "context"}`` (the challenge is spent), ``{"outcome": "rejected", "user_id"}`` (counted on the
    challenge and the lockout), ``{"outcome": "locked", "user_id", ...}``; MfaChallengeInvalid
    for an unknown, expired or spent token."""
    challenge = load_challenge(table, token_hash, now=now)
    counted, wait = _lock(table, challenge.email, now=now, config=config)
    if wait > 0:
        return {"outcome": "locked", "user_id": challenge.user_id, **locked_answer(wait)}
    try:
        verify_second_factor(table, cipher, user_id=challenge.user_id, answer=answer, now=now)
    except MfaCodeRejected:
        record_failure(table, challenge.email, now=now, config=config)
        count_wrong_answer(table, token_hash)
        return {"outcome": "rejected", "user_id": challenge.user_id}
    except MfaNotEnabled:  # MFA was reset since the password step: log in again
        spend_challenge(table, token_hash, now=now)
        raise MfaChallengeInvalid from None
    if not spend_challenge(table, token_hash, now=now):
        raise MfaChallengeInvalid  # a concurrent answer spent it
    if counted:
        clear_failures(table, challenge.email)
    session_context = dict(context)
    for name, value in (("client_id", challenge.client_id), ("scope", challenge.scope)):
        if value is not None:
            session_context[name] = value
    return {
        "outcome": "accepted",
        "user": challenge.user,
        "authentication": {
            "amr": ["pwd", answer.amr],
            "acr": ACR_MFA,
            "auth_time": challenge.auth_time,
        },
        "context": session_context,
    }

"""Step-up: a change of credentials on an account with MFA needs a recent second factor.

Changing the password or the email, and deleting the account, are allowed for an account with
MFA on when the caller's access token came from a sign-in with a second factor (``amr`` holds
``otp`` or ``rcode``) no longer than :data:`STEP_UP_MAX_AGE_SECONDS` ago (``auth_time``), or
when the request itself carries a current ``code`` or a ``recovery_code`` (checked behind the
login lockout). Otherwise the answer is 403 ``mfa_required``. Turning MFA off needs its own
proof (``DELETE /v1/mfa/totp``); accounts without MFA are not affected.

A step-up also says how the caller has signed in (``authentication``: ``amr``, ``acr``,
``auth_time``): the session a password change continues in keeps its second factor, so the
user is not asked for a code again at the next change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.config import Config
from steps.core.errors import ClientError, InvalidRequest, InvalidToken
from steps.core.mfa import ACR_MFA, SecretCipher, read_answer, totp_record
from steps.core.mfa_requests import optional_body
from steps.core.mfa_signin import guarded_second_factor
from steps.core.sessions import find_user_by_id
from steps.core.table import Table

#: How recent a sign-in with a second factor must be to change credentials without a code.
STEP_UP_MAX_AGE_SECONDS = 300
#: The ``amr`` values of a second factor (RFC 8176).
SECOND_FACTORS = frozenset({"otp", "rcode"})


class SecondFactorRequired(ClientError):
    """Status, code and the fixed description: steps/core/contract/errors.py."""


def _caller(event: Any) -> Mapping[str, Any]:
    caller = event.get("caller") if isinstance(event, Mapping) else None
    if not isinstance(caller, Mapping) or not isinstance(caller.get("userId"), str):
        raise ValueError("The step input has no caller.")
    return caller


def recent_second_factor(caller: Mapping[str, Any], *, now: float) -> bool:
    """Whether the caller's token came from a sign-in with a second factor, recently enough."""
    return _recent_sign_in(caller, now=now) is not None


def _recent_sign_in(caller: Mapping[str, Any], *, now: float) -> dict[str, Any] | None:
    """The caller's sign-in (``amr``, ``acr``, ``auth_time``) when it had a second factor no
    longer than :data:`STEP_UP_MAX_AGE_SECONDS` ago; None otherwise."""
    methods = str(caller.get("amr") or "").split()
    try:
        auth_time = int(str(caller.get("authTime") or "0"))
    except ValueError:
        return None
    if not (
        set(methods) & SECOND_FACTORS
        and 0 < auth_time
        and now - auth_time <= (STEP_UP_MAX_AGE_SECONDS)
    ):
        return None
    return {"amr": methods, "acr": ACR_MFA, "auth_time": auth_time}


def check_step_up(
    table: Table, cipher: SecretCipher, event: Any, *, now: float, config: Config
) -> dict[str, Any]:
    """``{"request", "caller"}`` → ``{"locked": false, "step_up": "not_needed" | "recent_sign_in"
    | "code", "authentication"?}`` or the lockout's answer; SecondFactorRequired,
    MfaCodeRejected, InvalidToken. ``authentication`` (not for "not_needed"): the caller's recent
    sign-in, or for a code ``{"amr": ["pwd", "otp" | "rcode"], "acr", "auth_time": now}``."""
    caller = _caller(event)
    user_id = str(caller["userId"])
    record = totp_record(table, user_id)
    if record is None or not record.is_active:
        return {"locked": False, "step_up": "not_needed"}
    signed_in = _recent_sign_in(caller, now=now)
    if signed_in is not None:
        return {"locked": False, "step_up": "recent_sign_in", "authentication": signed_in}
    try:
        body = optional_body(event)
    except InvalidRequest:
        body = {}
    proof = {k: body[k] for k in ("code", "recovery_code") if k in body}
    answer = read_answer(proof) if proof else None
    if answer is None:
        raise SecondFactorRequired
    user = find_user_by_id(table, user_id)
    if user is None or not user.is_active:
        raise InvalidToken("The access token is missing, invalid, expired or revoked.")
    result = guarded_second_factor(
        table, cipher, user_id=user_id, email=user.email, answer=answer, now=now, config=config
    )
    if result["locked"]:
        return result
    # This request's proof: the password the workflow checks and the code, both now.
    now_proven = {"amr": ["pwd", result["amr"]], "acr": ACR_MFA, "auth_time": int(now)}
    return {**result, "step_up": "code", "authentication": now_proven}

"""Step-up: a change of credentials on an account with MFA needs a recent second factor.

Changing the password or the email, and deleting the account, are allowed for an account with
MFA on when the caller's access token came from a sign-in with a second factor (``amr`` holds
``otp`` or ``rcode``) no longer than :data:`STEP_UP_MAX_AGE_SECONDS` ago (``auth_time``), or
when the request itself carries a current ``code`` or a ``recovery_code`` (checked behind the
login lockout). Otherwise the answer is 403 ``mfa_required``. Turning MFA off needs its own
proof (``DELETE /v1/mfa/totp``); accounts without MFA are not affected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.config import Config
from steps.core.errors import ClientError, InvalidRequest, InvalidToken
from steps.core.mfa import SecretCipher, read_answer, totp_record
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
    methods = set(str(caller.get("amr") or "").split())
    try:
        auth_time = int(str(caller.get("authTime") or "0"))
    except ValueError:
        return False
    return (
        bool(methods & SECOND_FACTORS)
        and 0 < auth_time
        and now - auth_time <= (STEP_UP_MAX_AGE_SECONDS)
    )


def check_step_up(
    table: Table, cipher: SecretCipher, event: Any, *, now: float, config: Config
) -> dict[str, Any]:
    """``{"request", "caller"}`` → ``{"locked": false, "step_up": "not_needed" | "recent_sign_in"
    | "code"}`` or the lockout's answer; SecondFactorRequired, MfaCodeRejected, InvalidToken."""
    caller = _caller(event)
    user_id = str(caller["userId"])
    record = totp_record(table, user_id)
    if record is None or not record.is_active:
        return {"locked": False, "step_up": "not_needed"}
    if recent_second_factor(caller, now=now):
        return {"locked": False, "step_up": "recent_sign_in"}
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
    return {**result, "step_up": "code"} if not result["locked"] else result

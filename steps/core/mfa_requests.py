"""Reading the MFA routes' requests (execution input → the state the MFA workflows carry).

Client input is hostile: every problem is an InvalidRequest whose message never echoes a value.
The ``caller`` comes from the authorizer (a verified token); a caller whose account is gone or
disabled is InvalidToken. The mfa_token is replaced by its SHA-256 right here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.config import get_config
from steps.core.errors import InvalidRequest, InvalidToken
from steps.core.mfa import SecondFactorAnswer, challenge_token_hash, read_answer
from steps.core.sessions import find_user_by_id
from steps.core.table import Table, UserRecord

_MFA_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")

CODE_REQUIRED = "Send 'code': the six digits your authenticator app shows."
ANSWER_REQUIRED = (
    "Send 'mfa_token' and either 'code' (six digits from the authenticator app) or 'recovery_code'."
)
PROOF_REQUIRED = (
    "Send one of 'code' (six digits from the authenticator app), 'recovery_code' or 'password'."
)


def optional_body(event: Any) -> dict[str, Any]:
    request = event.get("request") if isinstance(event, Mapping) else None
    if isinstance(request, Mapping) and request.get("body") in (None, ""):
        request_context(event)  # still checks the envelope
        return {}
    return read_json_body(event)


def caller_account(event: Any, table: Table) -> UserRecord:
    """The signed-in caller's active account, or InvalidToken."""
    caller = event.get("caller") if isinstance(event, Mapping) else None
    user_id = caller.get("userId") if isinstance(caller, Mapping) else None
    user = find_user_by_id(table, str(user_id)) if isinstance(user_id, str) and user_id else None
    if user is None or not user.is_active:
        raise InvalidToken("The access token is missing, invalid, expired or revoked.")
    return user


def enrolment_request(event: Any, *, table: Table) -> dict[str, Any]:
    """``POST /v1/mfa/totp`` (no body, or ``{}``) → the caller."""
    if optional_body(event):
        raise InvalidRequest("The request body must be empty or {}.")
    user = caller_account(event, table)
    return {"user_id": user.user_id, "email": user.email, "context": request_context(event)}


def confirm_request(event: Any, *, table: Table) -> dict[str, Any]:
    """``POST /v1/mfa/totp/confirm {code}`` → the caller and the code."""
    body = read_json_body(event)
    answer = read_answer(body) if set(body) == {"code"} else None
    if answer is None:
        raise InvalidRequest(CODE_REQUIRED)
    user = caller_account(event, table)
    return {"user_id": user.user_id, "code": answer.value, "context": request_context(event)}


def _answer_state(answer: SecondFactorAnswer) -> dict[str, str]:
    return {"method": answer.method, "value": answer.value}


def proof_request(event: Any, *, table: Table, password_allowed: bool) -> dict[str, Any]:
    """``DELETE /v1/mfa/totp {code | recovery_code | password}`` and ``POST
    /v1/mfa/recovery-codes {code}`` → ``{"change": {"user_id", "email", "method"}, "answer" |
    "password", "context"}``."""
    body = optional_body(event)
    allowed = {"code", "recovery_code", "password"} if password_allowed else {"code"}
    if len(body) != 1 or not set(body) <= allowed:
        raise InvalidRequest(PROOF_REQUIRED if password_allowed else CODE_REQUIRED)
    user = caller_account(event, table)
    change: dict[str, Any] = {"user_id": user.user_id, "email": user.email}
    result: dict[str, Any] = {"change": change, "context": request_context(event)}
    if "password" in body:
        password = body["password"]
        if not isinstance(password, str) or not password or len(password) > 1024:
            raise InvalidRequest("'password' must be a non-empty string.")
        change["method"] = "password"
        result["password"] = password
        return result
    answer = read_answer(body)
    if answer is None:
        raise InvalidRequest(PROOF_REQUIRED if password_allowed else CODE_REQUIRED)
    change["method"] = answer.method
    result["answer"] = _answer_state(answer)
    return result


def mfa_login_request(event: Any) -> dict[str, Any]:
    """``POST /v1/login/mfa {mfa_token, code | recovery_code}`` → ``{"challenge": {"token_hash"},
    "answer", "context"}``."""
    config = get_config()
    body = read_json_body(event, max_body_bytes=config.max_body_bytes)
    token = body.get("mfa_token")
    rest = {k: v for k, v in body.items() if k != "mfa_token"}
    answer = read_answer(rest) if set(rest) in ({"code"}, {"recovery_code"}) else None
    if not isinstance(token, str) or not _MFA_TOKEN.fullmatch(token) or answer is None:
        raise InvalidRequest(ANSWER_REQUIRED)
    # The client and scope are the login's, kept on the challenge.
    context = request_context(event)
    return {
        "challenge": {"token_hash": challenge_token_hash(token)},
        "answer": _answer_state(answer),
        "context": context,
    }


def answer_from_state(data: Any) -> SecondFactorAnswer:
    """The ``answer`` a validate step put in the state (a trusted shape)."""
    if not isinstance(data, Mapping) or data.get("method") not in ("totp", "recovery_code"):
        raise ValueError("The step input has no second-factor answer.")
    value = data.get("value")
    if not isinstance(value, str) or not value:
        raise ValueError("The step input has no second-factor answer.")
    return SecondFactorAnswer(data["method"], value)

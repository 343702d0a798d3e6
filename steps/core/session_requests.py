"""Validation of the refresh and logout requests, and of the session steps' inputs.

Client input (the request body) is hostile: every problem is an InvalidRequest whose message
never echoes a value. The raw refresh token is replaced by its SHA-256 right here and never
carried further through the workflow. Inputs built by the state machine or the API mapping
template (``caller``, ``refresh.token_hash`` ...) are trusted shapes: a bad one is a server
fault (ValueError).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from steps.core.api_request import read_json_body, request_context
from steps.core.clients import client_request
from steps.core.config import Config, get_config
from steps.core.errors import InvalidRequest
from steps.core.refresh_tokens import hash_refresh_token

REFRESH_TOKEN_MIN_LENGTH = 20
REFRESH_TOKEN_MAX_LENGTH = 256
_REFRESH_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")
CALLER_VALUE_MAX = 256

REFRESH_FIELDS = ("refresh_token", "client_id", "scope")
LOGOUT_FIELDS = ("refresh_token", "all")

REFRESH_TOKEN_REQUIRED = "refresh_token is required."  # noqa: S105 - a message
REFRESH_TOKEN_MALFORMED = (
    f"refresh_token must be a string of {REFRESH_TOKEN_MIN_LENGTH} to {REFRESH_TOKEN_MAX_LENGTH}"
    " URL-safe base64 characters."
)
ALL_NOT_BOOLEAN = "all must be true or false."


def _check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if any(key not in allowed for key in body):
        listed = (
            f"the only field is {allowed[0]}"
            if len(allowed) == 1
            else "the fields are " + ", ".join(allowed[:-1]) + " and " + allowed[-1]
        )
        raise InvalidRequest(f"The request body has an unknown field; {listed}.")


def refresh_token_hash(value: Any) -> str:
    """Check a refresh token's shape and return its SHA-256 hex digest."""
    if (
        not isinstance(value, str)
        or not REFRESH_TOKEN_MIN_LENGTH <= len(value) <= REFRESH_TOKEN_MAX_LENGTH
        or not _REFRESH_TOKEN.fullmatch(value)
    ):
        raise InvalidRequest(REFRESH_TOKEN_MALFORMED)
    return hash_refresh_token(value)


def validate_refresh(event: Any, *, config: Config | None = None) -> dict[str, Any]:
    """API envelope -> ``{"refresh": {"token_hash"}, "context"}``."""
    cfg = config or get_config()
    body = read_json_body(event, max_body_bytes=cfg.max_body_bytes)
    context = request_context(event)
    _check_fields(body, REFRESH_FIELDS)
    if body.get("refresh_token") is None or body.get("refresh_token") == "":
        raise InvalidRequest(REFRESH_TOKEN_REQUIRED)
    return {
        "refresh": {"token_hash": refresh_token_hash(body["refresh_token"])},
        "context": {**context, **client_request(body, cfg)},
    }


def _optional_body(event: Any, config: Config) -> dict[str, Any]:
    """The JSON body, or ``{}`` when the request has no body at all."""
    request = event.get("request") if isinstance(event, Mapping) else None
    if isinstance(request, Mapping) and request.get("body") in (None, ""):
        request_context(event)  # still checks the envelope
        return {}
    return read_json_body(event, max_body_bytes=config.max_body_bytes)


def parse_caller(data: Any) -> dict[str, Any]:
    """The authorizer facts the mapping template put in the input: ``{"userId", "jti", "exp",
    "sid"?}``.

    ``exp`` may arrive as a string (authorizer context values are strings in templates); it is
    returned as an int. Raises ValueError: the route is protected, so a missing or garbled
    caller is a server fault, never a client's doing.
    """
    if not isinstance(data, Mapping):
        raise ValueError("The step input has no caller object.")
    caller: dict[str, Any] = {}
    for name in ("userId", "jti"):
        value = data.get(name)
        if not isinstance(value, str) or not value or len(value) > CALLER_VALUE_MAX:
            raise ValueError(f"The caller attribute {name} is missing or not a string.")
        caller[name] = value
    exp = data.get("exp")
    if isinstance(exp, str) and _DIGITS.fullmatch(exp.strip()):
        exp = int(exp.strip())
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= 0:
        raise ValueError("The caller attribute exp is missing or not an epoch time.")
    caller["exp"] = exp
    # The session the token was issued with (its sid claim); "" or absent: none.
    sid = data.get("sid")
    if isinstance(sid, str) and sid and len(sid) <= CALLER_VALUE_MAX:
        caller["sid"] = sid
    return caller


def validate_logout(event: Any, *, config: Config | None = None) -> dict[str, Any]:
    """API envelope plus ``caller`` -> ``{"logout": {"token_hash", "all"}, "caller", "context"}``.

    The body is optional: none, ``{}``, ``{"refresh_token"}``, ``{"all": true}`` or both.
    """
    cfg = config or get_config()
    caller = parse_caller(event.get("caller") if isinstance(event, Mapping) else None)
    body = _optional_body(event, cfg)
    context = request_context(event)
    _check_fields(body, LOGOUT_FIELDS)
    raw_token = body.get("refresh_token")
    token_hash = None if raw_token is None else refresh_token_hash(raw_token)
    everything = body.get("all")
    if everything is None:
        everything = False
    if not isinstance(everything, bool):
        raise InvalidRequest(ALL_NOT_BOOLEAN)
    return {
        "logout": {"token_hash": token_hash, "all": everything},
        "caller": caller,
        "context": context,
    }


def parse_token_hash(value: Any) -> str:
    """A SHA-256 hex digest from a step input (ValueError otherwise)."""
    if not isinstance(value, str) or not _TOKEN_HASH.fullmatch(value):
        raise ValueError("The step input token_hash must be a SHA-256 hex digest.")
    return value


def parse_refresh_state(event: Any) -> tuple[str, dict[str, Any]]:
    """``{"refresh": {"token_hash"}, "context"?}`` -> (token hash, context)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("refresh"), Mapping):
        raise ValueError("The step input has no refresh object.")
    context = event.get("context")
    return parse_token_hash(event["refresh"].get("token_hash")), (
        dict(context) if isinstance(context, Mapping) else {}
    )


def parse_logout_state(event: Any) -> tuple[str | None, bool, dict[str, Any]]:
    """The output of validate_logout -> (token hash or None, all, caller)."""
    if not isinstance(event, Mapping) or not isinstance(event.get("logout"), Mapping):
        raise ValueError("The step input has no logout object.")
    logout = event["logout"]
    raw_hash = logout.get("token_hash")
    token_hash = None if raw_hash is None else parse_token_hash(raw_hash)
    everything = logout.get("all", False)
    if not isinstance(everything, bool):
        raise ValueError("The step input logout.all must be a boolean.")
    return token_hash, everything, parse_caller(event.get("caller"))


def parse_target(event: Any, name: str) -> str:
    """The path parameter the mapping template put in ``target.<name>`` (may be empty).

    A missing ``target`` is a server fault (ValueError); what the client typed is returned as
    is, for the step to look up (an id that names nothing is the step's 404, not a 400).
    """
    target = event.get("target") if isinstance(event, Mapping) else None
    if not isinstance(target, Mapping) or not isinstance(target.get(name), str):
        raise ValueError(f"The step input has no target.{name} string.")
    return str(target[name])

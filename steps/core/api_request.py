"""Decoding of the execution input built by the API gateway.

The input is exactly::

    {"request": {"body": "<base64 of the raw HTTP body>", "bodyTooLarge": false,
                 "contentType": "...", "sourceIp": "1.2.3.4", "userAgent": "...",
                 "requestId": "<API Gateway's extended request id>"}}

``bodyTooLarge`` is true (and ``body`` empty) when the request template found the body over
MAX_BODY_BYTES: the body is then not handed over at all.

Everything the client controls is treated as hostile: a garbled envelope, a body that is not
base64, not UTF-8, not JSON, too deeply nested or with duplicate keys all raise
:class:`InvalidRequest` with a message that never echoes the body; a body over MAX_BODY_BYTES
raises :class:`PayloadTooLarge` (a subclass of InvalidRequest, answered with HTTP 413).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from steps.core.config import get_config
from steps.core.contract.errors import BODY_TOO_LARGE
from steps.core.errors import InvalidRequest, PayloadTooLarge
from steps.core.user_agent import sanitize_user_agent

MAX_DEPTH = 5
ACCEPTED_MEDIA_TYPES = ("application/json", "application/x-www-form-urlencoded")
SOURCE_IP_MAX = 64
REQUEST_ID_MAX = 128

UNREADABLE = (
    "The request could not be read; send a JSON object with Content-Type: application/json."
)
TOO_LARGE = BODY_TOO_LARGE.describe()
NOT_JSON = "The request body is not valid JSON."
NOT_UTF8 = "The request body must be UTF-8 encoded JSON."
WRONG_TYPE = "The request body must be JSON; send it with Content-Type: application/json."
NOT_OBJECT = "The request body must be a JSON object."
TOO_DEEP = f"The request body is nested too deeply (at most {MAX_DEPTH} levels)."
DUPLICATE_KEY = "The request body contains the same key more than once."
BAD_UNICODE = "The request body contains invalid Unicode (unpaired surrogate escapes)."


def _envelope(event: Any) -> Mapping[str, Any]:
    if not isinstance(event, Mapping):
        raise InvalidRequest(UNREADABLE)
    request = event.get("request")
    if not isinstance(request, Mapping):
        raise InvalidRequest(UNREADABLE)
    return request


def _check_content_type(content_type: Any) -> None:
    if content_type is None or content_type == "":
        return
    if not isinstance(content_type, str):
        raise InvalidRequest(UNREADABLE)
    media_type, _, params = content_type.partition(";")
    # curl -d sends application/x-www-form-urlencoded: accepted, the body must still be JSON.
    if media_type.strip().lower() not in ACCEPTED_MEDIA_TYPES:
        raise InvalidRequest(WRONG_TYPE)
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            if value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                raise InvalidRequest(NOT_UTF8)


def _exceeds_depth(text: str, limit: int) -> bool:
    """True when arrays/objects nest deeper than ``limit`` (scan, no recursion)."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


class _DuplicateKeyError(ValueError):
    pass


class _BadConstantError(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError
        result[key] = value
    return result


def _reject_constant(_name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON.
    raise _BadConstantError


def _has_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogates(k) or _has_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogates(v) for v in value)
    return False


def read_json_body(event: Any, *, max_body_bytes: int | None = None) -> dict[str, Any]:
    """Decode, check and parse the request body; return the top-level JSON object."""
    request = _envelope(event)
    limit = get_config().max_body_bytes if max_body_bytes is None else max_body_bytes
    if request.get("bodyTooLarge") is True:
        raise PayloadTooLarge(TOO_LARGE)
    encoded = request.get("body")
    if encoded is None:
        encoded = ""
    if not isinstance(encoded, str):
        raise InvalidRequest(UNREADABLE)
    _check_content_type(request.get("contentType"))
    if len(encoded) > 4 * -(-limit // 3):
        raise PayloadTooLarge(TOO_LARGE)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(UNREADABLE) from None
    if len(raw) > limit:
        raise PayloadTooLarge(TOO_LARGE)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(NOT_UTF8) from None
    if _exceeds_depth(text, MAX_DEPTH):
        raise InvalidRequest(TOO_DEEP)
    try:
        parsed = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_reject_constant,
        )
    except _DuplicateKeyError:
        raise InvalidRequest(DUPLICATE_KEY) from None
    except (ValueError, RecursionError):
        raise InvalidRequest(NOT_JSON) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(NOT_OBJECT)
    if _has_surrogates(parsed):
        raise InvalidRequest(BAD_UNICODE)
    return parsed


def _clean_text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    # Drop control characters (terminal escapes, newlines) before the value reaches audit logs.
    cleaned = "".join(ch for ch in value if ch.isprintable())
    return cleaned[:limit]


def request_context(event: Any) -> dict[str, str]:
    """The facts about the caller worth keeping for audit: source IP, user agent, request id."""
    request = _envelope(event)
    return {
        "sourceIp": _clean_text(request.get("sourceIp"), SOURCE_IP_MAX),
        # The request template has applied this rule already; applying it again is harmless
        # and keeps a hand-made input (tests, direct invocations) to the same rule.
        "userAgent": sanitize_user_agent(request.get("userAgent")),
        "requestId": _clean_text(request.get("requestId"), REQUEST_ID_MAX),
    }


def correlation_id(event: Any) -> str | None:
    """The API request id carried by a step input, if any (for log correlation only)."""
    if not isinstance(event, Mapping):
        return None
    for container, key in (("request", "requestId"), ("context", "requestId")):
        section = event.get(container)
        if isinstance(section, Mapping):
            value = _clean_text(section.get(key), REQUEST_ID_MAX)
            if value:
                return value
    request_context_ = event.get("requestContext")  # API Gateway proxy events
    if isinstance(request_context_, Mapping):
        value = _clean_text(request_context_.get("requestId"), REQUEST_ID_MAX)
        if value:
            return value
    return None

"""Cheap checks of the Authorization header, before any cryptography.

Everything here is pure and rejects with :class:`Rejected`, whose ``reason`` is a fixed,
loggable word (never a piece of the token).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

#: Longest access token looked at, checked before any parsing (a huge header costs nothing).
MAX_TOKEN_BYTES = 4096
SCHEME = "bearer"
ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE header value, not a secret
MAX_KID_LENGTH = 128
_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class Rejected(Exception):
    """The request carries no acceptable access token (answered with 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bearer_token(header: Any) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive).

    Rejects a missing header, another scheme, a token over MAX_TOKEN_BYTES (checked first) and
    a token that is not three base64url segments.
    """
    if not isinstance(header, str) or not header.strip():
        raise Rejected("missing_token")
    if len(header) > MAX_TOKEN_BYTES + len(SCHEME) + 8:
        raise Rejected("token_too_large")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip(" ")
    if scheme.lower() != SCHEME or not token:
        raise Rejected("not_bearer")
    if not token.isascii() or len(token) > MAX_TOKEN_BYTES:
        raise Rejected("token_too_large" if len(token) > MAX_TOKEN_BYTES else "malformed")
    if not _JWS_COMPACT.fullmatch(token):
        raise Rejected("malformed")
    return token


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def key_id(token: str) -> str:
    """The ``kid`` of a token whose header pins ``alg: EdDSA`` and ``typ: at+jwt``.

    The header is not trusted beyond choosing the key: the signature check that follows pins
    the algorithm again.
    """
    try:
        header = json.loads(_b64url_decode(token.split(".", 1)[0]))
    except (ValueError, binascii.Error, RecursionError):
        raise Rejected("malformed") from None
    if not isinstance(header, dict):
        raise Rejected("malformed")
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE or "crit" in header:
        raise Rejected("bad_header")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise Rejected("bad_header")
    return kid

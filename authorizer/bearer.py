"""Cheap checks of the Authorization header, before any cryptography.

Everything here is pure and rejects with :class:`Rejected`, whose ``reason`` is a fixed,
loggable word (never a piece of the token).
"""

from __future__ import annotations

from typing import Any

#: Longest access token looked at, checked before any parsing (a huge header costs nothing).
MAX_TOKEN_BYTES = 4096
SCHEME = "bearer"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE header value, not a secret
MAX_KID_LENGTH = 128


class Rejected(Exception):
    """The request carries no acceptable access token (answered with 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bearer_token(header: Any) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive).

    Rejects a missing header, another scheme, a token over MAX_TOKEN_BYTES (checked first) and
    a token that is not three ASCII segments joined by dots. The segments' characters are
    checked by their strict base64url decoding, before any cryptography (``verify_compact``;
    the header's, when it is not one decoded before, by ``split_compact``): checking them here
    too cost as much as the decoding.
    """
    if not isinstance(header, str):
        raise Rejected("missing_token")
    if len(header) > MAX_TOKEN_BYTES + len(SCHEME) + 8:
        raise Rejected("token_too_large")
    value = header.strip()
    if not value:
        raise Rejected("missing_token")
    scheme, _, token = value.partition(" ")
    token = token.strip(" ")
    if scheme.lower() != SCHEME or not token:
        raise Rejected("not_bearer")
    if not token.isascii() or len(token) > MAX_TOKEN_BYTES:
        raise Rejected("token_too_large" if len(token) > MAX_TOKEN_BYTES else "malformed")
    if not has_three_segments(token):
        raise Rejected("malformed")
    return token


def has_three_segments(token: str) -> bool:
    """Three non-empty segments joined by two dots (``find`` and ``rfind`` of one character
    are ``memchr`` calls: the whole check costs less than reading the token once)."""
    first = token.find(".")
    second = token.find(".", first + 1)
    return 0 < first < second - 1 and second == token.rfind(".") < len(token) - 1


def key_id(header: Any) -> str:
    """The ``kid`` of a decoded JOSE header that claims ``typ: at+jwt`` and has no ``crit``.

    The header is not trusted beyond choosing the key: the algorithm is the key's, and the
    header must name that same one (checked with the signature).
    """
    if not isinstance(header, dict):
        raise Rejected("malformed")
    if header.get("typ") != TOKEN_TYPE or "crit" in header:
        raise Rejected("bad_header")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise Rejected("bad_header")
    return kid

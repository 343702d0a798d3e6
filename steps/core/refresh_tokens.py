"""Opaque refresh tokens: made here, stored only as their SHA-256.

Kept apart from :mod:`steps.core.tokens` so that steps which only hash a presented token do not
import PyJWT and cryptography at cold start.
"""

from __future__ import annotations

import hashlib


def new_refresh_token() -> str:
    """A new opaque refresh token: 256 random bits, url-safe."""
    import secrets  # not at module level: the authorizer imports this module and never issues

    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

"""Access and refresh tokens: every token is issued here, in one place.

Access token: a JWT signed with EdDSA (Ed25519), header ``{"typ": "at+jwt", "kid", "alg"}``,
claims ``iss, aud, sub, iat, exp, jti, roles``. Refresh token: 256 random bits, opaque; only
its SHA-256 hex digest is stored, with its family id, user id and absolute expiry.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from steps.core.clock import Clock
from steps.core.config import Config
from steps.core.errors import InvalidToken
from steps.core.signing_keys import ALGORITHM, SigningKeySet
from steps.core.table import DEFAULT_ROLES, RefreshTokenRecord, Table, refresh_token_item

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE header value, not a secret
TOKEN_TYPE = "Bearer"  # noqa: S105
#: Clock skew tolerated when checking iat and exp.
LEEWAY_SECONDS = 30
#: Longest token string verify_access_token will look at.
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti")

INVALID_MESSAGE = "The access token is invalid."
EXPIRED_MESSAGE = "The access token has expired."


@dataclass(frozen=True)
class TokenUser:
    """The user a token pair is issued to."""

    id: str
    email: str
    created_at: str
    roles: tuple[str, ...] = DEFAULT_ROLES

    @classmethod
    def from_state(cls, data: Any) -> TokenUser:
        """Read ``{"id", "email", "created_at", "roles"?}`` from a state input.

        This input comes from the state machine, not the client: a bad shape is a server fault
        (ValueError). Missing roles default to ["user"].
        """
        if not isinstance(data, Mapping):
            raise ValueError("The user to issue tokens to must be an object.")
        values: dict[str, str] = {}
        for name in ("id", "email", "created_at"):
            value = data.get(name)
            if not isinstance(value, str) or (name == "id" and not value):
                raise ValueError(f"The user attribute {name} is missing or not a string.")
            values[name] = value
        roles = data.get("roles")
        if roles is None:
            roles = list(DEFAULT_ROLES)
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise ValueError("The user attribute roles must be a list of strings.")
        return cls(roles=tuple(roles), **values)


def issue_access_token(
    user_id: str,
    roles: Sequence[str],
    *,
    key_set: SigningKeySet,
    clock: Clock,
    config: Config,
) -> tuple[str, dict[str, Any]]:
    """Sign an access token with the active key; return the token and its claims."""
    iat = int(clock.now())
    claims: dict[str, Any] = {
        "iss": config.token_issuer,
        "aud": config.token_audience,
        "sub": user_id,
        "iat": iat,
        "exp": iat + config.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
    }
    headers = {"typ": ACCESS_TOKEN_TYPE, "kid": key_set.active.kid, "alg": ALGORITHM}
    token = jwt.encode(claims, key_set.active.private_key, algorithm=ALGORITHM, headers=headers)
    return token, claims


def verify_access_token(
    token: Any, *, key_set: SigningKeySet, clock: Clock, config: Config
) -> dict[str, Any]:
    """Verify an access token; return its claims or raise InvalidToken.

    Pins the algorithm (EdDSA), the type (at+jwt), the key id (one of the key set), the issuer,
    the audience, and checks iat and exp against the injected clock with a 30 s leeway.
    The denylist check belongs to the caller.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(INVALID_MESSAGE)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken(INVALID_MESSAGE) from None
    if (
        header.get("alg") != ALGORITHM
        or header.get("typ") != ACCESS_TOKEN_TYPE
        or "crit" in header
        or not isinstance(header.get("kid"), str)
    ):
        raise InvalidToken(INVALID_MESSAGE)
    key = key_set.get(header["kid"])
    if key is None:
        raise InvalidToken(INVALID_MESSAGE)
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            audience=config.token_audience,
            issuer=config.token_issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                # Time claims are checked below against the injected clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        raise InvalidToken(INVALID_MESSAGE) from None
    _check_claims(claims, clock.now())
    return claims


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_claims(claims: dict[str, Any], now: float) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_int(iat) or not _is_int(exp) or exp <= iat:
        raise InvalidToken(INVALID_MESSAGE)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidToken(INVALID_MESSAGE)
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidToken(INVALID_MESSAGE)
    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidToken(INVALID_MESSAGE)
    if iat > now + LEEWAY_SECONDS:
        raise InvalidToken(INVALID_MESSAGE)
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_int(nbf) or nbf > now + LEEWAY_SECONDS):
        raise InvalidToken(INVALID_MESSAGE)
    if now >= exp + LEEWAY_SECONDS:
        raise InvalidToken(EXPIRED_MESSAGE)


def new_refresh_token() -> str:
    """A new opaque refresh token: 256 random bits, url-safe."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 hex digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_tokens(
    user: TokenUser,
    *,
    key_set: SigningKeySet,
    table: Table,
    clock: Clock,
    config: Config,
    family_id: str | None = None,
) -> dict[str, Any]:
    """Issue an access token and a refresh token (new family unless one is given).

    Stores the refresh token's hash (never the token) with a conditional put, and returns the
    API response body.
    """
    access_token, claims = issue_access_token(
        user.id, user.roles, key_set=key_set, clock=clock, config=config
    )
    refresh_token = new_refresh_token()
    issued_at = claims["iat"]
    record = RefreshTokenRecord(
        token_hash=hash_refresh_token(refresh_token),
        family_id=family_id or uuid.uuid4().hex,
        user_id=user.id,
        issued_at=issued_at,
        expires_at=issued_at + config.refresh_token_ttl_seconds,
    )
    table.put_new(refresh_token_item(record))
    return {
        "user": {"id": user.id, "email": user.email, "created_at": user.created_at},
        "access_token": access_token,
        "token_type": TOKEN_TYPE,
        "expires_in": config.access_token_ttl_seconds,
        "refresh_token": refresh_token,
    }


def issue_tokens_for_state(
    event: Any, *, key_set: SigningKeySet, table: Table, clock: Clock, config: Config
) -> dict[str, Any]:
    """``{"user": {"id", "email", "created_at", "roles"?, ...}, "context"?}`` -> API body."""
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    user = TokenUser.from_state(event.get("user"))
    return issue_tokens(user, key_set=key_set, table=table, clock=clock, config=config)

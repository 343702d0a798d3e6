"""Access and refresh tokens: every token is issued here, in one place.

Access token: a JWT signed with EdDSA (Ed25519), header ``{"typ": "at+jwt", "kid", "alg"}``,
claims ``iss, aud, sub, iat, exp, jti, roles``. Refresh token: 256 random bits, opaque; only
its SHA-256 hex digest is stored, with its family id, user id and absolute expiry.

A login or registration starts a new refresh family (family item and first token written in one
transaction); a refresh continues it in :mod:`steps.core.refresh_rotation` (spend and successor
in one transaction). Every token of a family expires with the family: rotation never extends its
absolute lifetime.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from steps.core.clock import Clock
from steps.core.config import Config
from steps.core.errors import InvalidToken
from steps.core.public_keys import KeyLookup
from steps.core.refresh_tokens import hash_refresh_token, new_refresh_token
from steps.core.signing_keys import ALGORITHM, SigningKeySet
from steps.core.table import (
    DEFAULT_ROLES,
    RefreshFamilyRecord,
    RefreshTokenRecord,
    Table,
    refresh_family_item,
    refresh_token_item,
)

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
    token: Any,
    *,
    key_set: KeyLookup,
    clock: Clock,
    config: Config,
    exp_leeway_seconds: int = LEEWAY_SECONDS,
) -> dict[str, Any]:
    """Verify an access token; return its claims or raise InvalidToken.

    Pins the algorithm (EdDSA), the type (at+jwt), the key id (one of the key set: private or
    public keys), the issuer, the audience, and checks iat and nbf against the injected clock
    with a 30 s leeway, exp with ``exp_leeway_seconds`` (30 s by default). The denylist check
    belongs to the caller: a caller that checks it should pass ``exp_leeway_seconds=0``, since
    a denylist entry lasts only until the token's ``exp``.
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
    _check_claims(claims, clock.now(), exp_leeway_seconds)
    return claims


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_claims(claims: dict[str, Any], now: float, exp_leeway: int) -> None:
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
    if now >= exp + exp_leeway:
        raise InvalidToken(EXPIRED_MESSAGE)


@dataclass(frozen=True)
class SessionContext:
    """Where a session was started from (kept on its refresh family, for the user and audit)."""

    user_agent: str = ""
    source_ip: str = ""

    @classmethod
    def from_state(cls, data: Any) -> SessionContext:
        """Read the ``context`` of a step input (``{"userAgent", "sourceIp", ...}``), if any."""
        if not isinstance(data, Mapping):
            return cls()
        agent, ip = data.get("userAgent"), data.get("sourceIp")
        return cls(
            user_agent=agent if isinstance(agent, str) else "",
            source_ip=ip if isinstance(ip, str) else "",
        )


def _start_family(
    table: Table,
    user: TokenUser,
    token_hash: str,
    *,
    now: int,
    config: Config,
    context: SessionContext,
) -> None:
    family = RefreshFamilyRecord(
        family_id=uuid.uuid4().hex,
        user_id=user.id,
        email=user.email,
        created_at=now,
        last_used_at=now,
        expires_at=now + config.refresh_token_ttl_seconds,
        user_agent=context.user_agent,
        source_ip=context.source_ip,
    )
    token = RefreshTokenRecord(
        token_hash=token_hash,
        family_id=family.family_id,
        user_id=user.id,
        issued_at=now,
        expires_at=family.expires_at,
    )
    table.put_all_new([refresh_family_item(family), refresh_token_item(token)])


def issue_tokens(
    user: TokenUser,
    *,
    key_set: SigningKeySet,
    table: Table,
    clock: Clock,
    config: Config,
    context: SessionContext | None = None,
) -> dict[str, Any]:
    """Issue an access token and a refresh token that starts a new family; return the API body.

    The family item and the token item are written in one transaction, each only if new, with
    ``context`` recorded on the family. Only the refresh token's hash is stored. (A refresh
    continues a family in :mod:`steps.core.refresh_rotation` instead.)
    """
    access_token, claims = issue_access_token(
        user.id, user.roles, key_set=key_set, clock=clock, config=config
    )
    refresh_token = new_refresh_token()
    token_hash = hash_refresh_token(refresh_token)
    now = claims["iat"]
    _start_family(
        table, user, token_hash, now=now, config=config, context=context or SessionContext()
    )
    return token_response(user, access_token, refresh_token, config=config)


def token_response(
    user: TokenUser, access_token: str, refresh_token: str, *, config: Config
) -> dict[str, Any]:
    """The API body of a token pair (login, registration and refresh alike)."""
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
    """``{"user": {"id", "email", "created_at", "roles"?, ...}, "context"?}`` -> API body (a new
    family)."""
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    user = TokenUser.from_state(event.get("user"))
    return issue_tokens(
        user,
        key_set=key_set,
        table=table,
        clock=clock,
        config=config,
        context=SessionContext.from_state(event.get("context")),
    )

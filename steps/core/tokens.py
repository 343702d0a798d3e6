"""Access and refresh tokens: every token is issued here, in one place.

Access token: a JWT (RFC 9068) signed with the active key's algorithm (ES256 by default,
Ed25519 as an option), header ``{"typ": "at+jwt", "alg", "kid"}``, claims ``iss`` (the issuer
URL), ``aud`` and ``client_id`` (the client's), ``sub, iat, exp, jti, roles`` and ``scope``
(space-separated) when the client has scopes, ``sid`` (the refresh family, i.e. the session,
the token was issued with) and ``email_verified`` when the account's verification state is known
(it is not stored under ``email_verification=off``). Refresh token: 256 random bits, opaque; only
its SHA-256 hex digest is stored, with its family id, user id and absolute expiry.

A login or registration starts a new refresh family (family item and first token written in one
transaction); a refresh continues it in :mod:`steps.core.refresh_rotation` (spend and successor
in one transaction). Every token of a family expires with the family: rotation never extends its
absolute lifetime. A family started by a sign-in with a second factor records its ``amr``,
``acr`` and ``auth_time``: every access token of the family carries them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from steps.core.clock import Clock
from steps.core.config import Client, Config
from steps.core.contract.errors import CODE_SPENT
from steps.core.deadline import check_deadline, commit_deadline
from steps.core.errors import CodeExpired, InvalidGrant, InvalidToken
from steps.core.mfa_enrollment import ENROLLMENT_SCOPE
from steps.core.refresh_tokens import hash_refresh_token, new_refresh_token
from steps.core.signing_keys import (
    InvalidJws,
    KeyLookup,
    SigningKeySet,
    sign_compact,
    split_compact,
    verify_compact,
)
from steps.core.table import (
    DEFAULT_ROLES,
    PK,
    RefreshFamilyRecord,
    RefreshTokenRecord,
    Table,
    from_item,
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
    #: None when the account's verification state is not known (not stored).
    email_verified: bool | None = None

    @classmethod
    def from_state(cls, data: Any) -> TokenUser:
        """Read ``{"id", "email", "created_at", "roles"?}`` from a state input.

        This input comes from the state machine, not the client: a bad shape is a server fault
        (ValueError). Missing roles default to ["user"]; ``email_verified`` is kept when it is a
        boolean.
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
        verified = data.get("email_verified")
        return cls(
            roles=tuple(roles),
            email_verified=verified if isinstance(verified, bool) else None,
            **values,
        )


def issue_access_token(
    user_id: str,
    roles: Sequence[str],
    *,
    key_set: SigningKeySet,
    clock: Clock,
    config: Config,
    client: Client | None = None,
    scopes: Sequence[str] | None = None,
    session_id: str | None = None,
    email_verified: bool | None = None,
    authentication: Authentication | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign an access token with the active key; return the token and its claims.

    ``client`` (default: the configured default client) gives ``client_id`` and ``aud``;
    ``scopes`` (default: all of the client's) become the space-separated ``scope`` claim;
    ``session_id`` (the refresh family) the ``sid`` claim; ``email_verified``, when known, the
    claim of that name.
    ``authentication`` (a sign-in with a second factor) adds ``amr``, ``acr`` and ``auth_time``.
    """
    client = client or config.clients[0]
    granted = list(client.scopes if scopes is None else scopes)
    iat = int(clock.now())
    claims: dict[str, Any] = {
        "iss": config.token_issuer,
        "aud": client.audience,
        "sub": user_id,
        "client_id": client.client_id,
        "iat": iat,
        "exp": iat + config.access_token_ttl_seconds,
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
    }
    if granted:
        claims["scope"] = " ".join(granted)
    if session_id is not None:
        claims["sid"] = session_id
    if email_verified is not None:
        claims["email_verified"] = email_verified
    if authentication is not None:
        claims.update(authentication.claims())
    token = sign_compact({"typ": ACCESS_TOKEN_TYPE}, claims, key_set.active)
    return token, claims


def verify_access_token(
    token: Any,
    *,
    key_set: KeyLookup,
    clock: Clock,
    config: Config,
    exp_leeway_seconds: int = LEEWAY_SECONDS,
    audiences: Collection[str] | None = None,
) -> dict[str, Any]:
    """Verify an access token; return its claims or raise InvalidToken.

    The token is split and decoded once. The key is found by ``kid`` and its algorithm (one of
    the pinned ``VERIFY_ALGORITHMS``) must be the one the header names; then the type
    (at+jwt), the issuer, the audience (one of ``audiences``, default: stepauth's own and its
    clients'), and iat and nbf against the injected clock with a 30 s leeway, exp with
    ``exp_leeway_seconds`` (30 s by default). The denylist check belongs to the caller: a caller
    that checks it should pass ``exp_leeway_seconds=0``, since a denylist entry lasts only until
    the token's ``exp``.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(INVALID_MESSAGE)
    try:
        header, *segments = split_compact(token)
    except InvalidJws:
        raise InvalidToken(INVALID_MESSAGE) from None
    kid = header.get("kid")
    if header.get("typ") != ACCESS_TOKEN_TYPE or "crit" in header or not isinstance(kid, str):
        raise InvalidToken(INVALID_MESSAGE)
    key = key_set.get(kid)
    if key is None:
        raise InvalidToken(INVALID_MESSAGE)
    try:
        claims = verify_compact(header, (segments[0], segments[1], segments[2]), key)
    except InvalidJws:
        raise InvalidToken(INVALID_MESSAGE) from None
    check_claims(
        claims,
        now=clock.now(),
        issuer=config.token_issuer,
        audiences=config.accepted_audiences if audiences is None else audiences,
        exp_leeway=exp_leeway_seconds,
    )
    return claims


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_claims(
    claims: dict[str, Any],
    *,
    now: float,
    issuer: str,
    audiences: Collection[str],
    exp_leeway: int,
) -> None:
    """Every claim check of a verified access token; InvalidToken when one fails.

    ``claims`` are a JSON object's (``verify_compact``): an integer claim is an ``int``, never a
    subclass of it, so ``type(x) is int`` refuses booleans. Written for the authorizer, which
    runs it on every request: each claim read once, no helper calls.
    """
    get = claims.get
    iat, exp, sub, jti, aud = get("iat"), get("exp"), get("sub"), get("jti"), get("aud")
    # A missing claim reads as None, which no check below accepts (REQUIRED_CLAIMS).
    if (
        "iss" not in claims
        or claims["iss"] != issuer
        or type(iat) is not int
        or type(exp) is not int
        or exp <= iat
        or type(sub) is not str
        or not sub
        or type(jti) is not str
        or not jti
    ):
        raise InvalidToken(INVALID_MESSAGE)
    if type(aud) is list:
        if not any(type(a) is str and a in audiences for a in aud):
            raise InvalidToken(INVALID_MESSAGE)
    elif type(aud) is not str or aud not in audiences:
        raise InvalidToken(INVALID_MESSAGE)
    roles = get("roles")
    if type(roles) is not list:
        raise InvalidToken(INVALID_MESSAGE)
    for role in roles:
        if type(role) is not str:
            raise InvalidToken(INVALID_MESSAGE)
    scope = get("scope")
    if scope is not None and type(scope) is not str:
        raise InvalidToken(INVALID_MESSAGE)
    if iat > now + LEEWAY_SECONDS:
        raise InvalidToken(INVALID_MESSAGE)
    nbf = get("nbf")
    if nbf is not None and (type(nbf) is not int or nbf > now + LEEWAY_SECONDS):
        raise InvalidToken(INVALID_MESSAGE)
    if now >= exp + exp_leeway:
        raise InvalidToken(EXPIRED_MESSAGE)


def check_enrollment_audience(claims: Mapping[str, Any], *, enrollment_audience: str) -> None:
    """The enrolment token's audience is its own (steps/core/mfa_enrollment.py): a token naming
    it must be an enrolment token and nothing else (that one audience, scope ``mfa:enroll``), and
    an enrolment token must name it. InvalidToken otherwise. For verifiers that accept that
    audience (stepauth's authorizer on its own routes), after :func:`check_claims`."""
    aud = claims.get("aud")
    names_it = aud == enrollment_audience or (isinstance(aud, list) and enrollment_audience in aud)
    if names_it != (claims.get("scope") == ENROLLMENT_SCOPE):
        raise InvalidToken(INVALID_MESSAGE)
    if names_it and aud not in (enrollment_audience, [enrollment_audience]):
        raise InvalidToken(INVALID_MESSAGE)


@dataclass(frozen=True)
class Authentication:
    """How the user signed in, when more than a password (RFC 8176 ``amr``, OIDC ``acr`` and
    ``auth_time``): steps/core/mfa_signin.py."""

    amr: tuple[str, ...]
    acr: str
    auth_time: int

    @classmethod
    def from_state(cls, data: Any) -> Authentication | None:
        """``{"amr": [...], "acr", "auth_time"}`` from a state input, or None when absent."""
        if data is None:
            return None
        amr = data.get("amr") if isinstance(data, Mapping) else None
        acr, auth_time = (data.get("acr"), data.get("auth_time")) if amr is not None else (0, 0)
        if (
            not isinstance(amr, list)
            or not amr
            or not all(isinstance(m, str) and m for m in amr)
            or not isinstance(acr, str)
            or not _is_int(auth_time)
        ):
            raise ValueError("The step input authentication must be {amr, acr, auth_time}.")
        return cls(tuple(amr), acr, auth_time)

    @classmethod
    def from_family_item(cls, item: Mapping[str, Any]) -> Authentication | None:
        """What a refresh family recorded of its sign-in (see :meth:`attributes`), or None for a
        sign-in without a second factor (or a family stored before families recorded it)."""
        if "amr" not in item:
            return None
        plain = from_item({k: item[k] for k in ("amr", "acr", "auth_time") if k in item})
        try:
            return cls.from_state(plain)
        except ValueError:
            return None  # a broken record grants no second factor

    def claims(self) -> dict[str, Any]:
        return {"amr": list(self.amr), "acr": self.acr, "auth_time": self.auth_time}

    def attributes(self) -> dict[str, Any]:
        """Kept on the refresh family: every refresh issues access tokens with the same claims
        (``auth_time`` stays the sign-in's, per OIDC)."""
        return self.claims()


@dataclass(frozen=True)
class SessionContext:
    """Where a session was started from (kept on its refresh family, for the user and audit)."""

    user_agent: str = ""
    source_ip: str = ""
    #: The client and scope the request asked for (checked by the validate step); None: default.
    client_id: str | None = None
    scope: str | None = None

    @classmethod
    def from_state(cls, data: Any) -> SessionContext:
        """Read the ``context`` of a step input (``{"userAgent", "sourceIp", ...}``), if any."""
        if not isinstance(data, Mapping):
            return cls()
        agent, ip = data.get("userAgent"), data.get("sourceIp")
        client_id, scope = data.get("client_id"), data.get("scope")
        return cls(
            user_agent=agent if isinstance(agent, str) else "",
            source_ip=ip if isinstance(ip, str) else "",
            client_id=client_id if isinstance(client_id, str) else None,
            scope=scope if isinstance(scope, str) else None,
        )


@dataclass(frozen=True)
class Grant:
    """What a token pair is for: a client and the scopes granted to it."""

    client: Client
    scopes: tuple[str, ...]

    @classmethod
    def requested(cls, context: SessionContext, config: Config) -> Grant:
        """The grant of a new session: the named client (or the default), the asked scopes (or
        all of the client's). Unknown clients or scopes are server faults here: the validate
        step refused them already."""
        client = config.client(context.client_id)
        if client is None:
            raise ValueError("The step input names an unknown client.")
        scopes = client.scopes if context.scope is None else tuple(context.scope.split())
        if any(s not in client.scopes for s in scopes):
            raise ValueError("The step input asks for a scope the client does not have.")
        return cls(client, scopes)

    def attributes(self) -> dict[str, str]:
        """Kept on the refresh family, so that a refresh never widens the grant."""
        return {"client_id": self.client.client_id, "scope": " ".join(self.scopes)}


def family_grant(item: Mapping[str, Any], context: SessionContext, config: Config) -> Grant:
    """The grant of a refresh: the family's, narrowed to the asked scopes (RFC 6749 §6).

    A family written before grants existed is the default client's with all its scopes.
    InvalidGrant when the request names another client or a scope the family was not granted.
    """
    stored_client = item.get("client_id", {}).get("S")
    client = config.client(stored_client)
    if client is None:  # the client was removed from the configuration
        raise InvalidGrant
    stored_scope = item.get("scope", {}).get("S")
    granted = client.scopes if stored_scope is None else tuple(stored_scope.split())
    if context.client_id is not None and context.client_id != client.client_id:
        raise InvalidGrant
    if context.scope is None:
        return Grant(client, granted)
    asked = tuple(context.scope.split())
    if any(s not in granted for s in asked):
        raise InvalidGrant
    return Grant(client, asked)


def _start_family(
    table: Table,
    user: TokenUser,
    token_hash: str,
    *,
    family_id: str,
    now: int,
    config: Config,
    context: SessionContext,
    grant: Grant,
    authentication: Authentication | None,
    also: Sequence[Mapping[str, Any]] = (),
) -> bool:
    """Write the family and its first token (each only if new), with ``also`` in the same
    transaction; False when ``also``'s conditions refused it (nothing written)."""
    family = RefreshFamilyRecord(
        family_id=family_id,
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
    signed_in = authentication.attributes() if authentication is not None else {}
    family_item = refresh_family_item(family, **grant.attributes(), **signed_in)
    # The token names the account's email: a refresh reads the family and user in one call.
    items = [family_item, {**refresh_token_item(token), "email": {"S": user.email}}]
    if not also:
        table.put_all_new(items)
        return True
    new = f"attribute_not_exists({PK})"
    return table.transact(
        [*({"Put": {"Item": item, "ConditionExpression": new}} for item in items), *also]
    )


def issue_tokens(
    user: TokenUser,
    *,
    key_set: SigningKeySet,
    table: Table,
    clock: Clock,
    config: Config,
    context: SessionContext | None = None,
    commit_by: float | None = None,
    authentication: Authentication | None = None,
    also: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Issue an access token and a refresh token that starts a new family; return the API body.

    ``also``: writes committed in the family's transaction (an email verification's: the account
    verified, the code spent); CodeExpired when their conditions refuse it (nothing written).

    The family item and the token item are written in one transaction, each only if new, with
    ``context`` recorded on the family. Only the refresh token's hash is stored. (A refresh
    continues a family in :mod:`steps.core.refresh_rotation` instead.) Past ``commit_by`` (the
    workflow's deadline) nothing is written: DeadlinePassed.
    """
    context = context or SessionContext()
    grant = Grant.requested(context, config)
    family_id = uuid.uuid4().hex
    access_token, claims = issue_access_token(
        user.id,
        user.roles,
        key_set=key_set,
        clock=clock,
        config=config,
        client=grant.client,
        scopes=grant.scopes,
        session_id=family_id,
        email_verified=user.email_verified,
        authentication=authentication,
    )
    refresh_token = new_refresh_token()
    token_hash = hash_refresh_token(refresh_token)
    check_deadline(commit_by)
    started = _start_family(
        table,
        user,
        token_hash,
        family_id=family_id,
        now=claims["iat"],
        config=config,
        context=context,
        grant=grant,
        authentication=authentication,
        also=also,
    )
    if not started:
        raise CodeExpired(CODE_SPENT.description)
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
    """``{"user": {"id", "email", "created_at", "roles"?, ...}, "context"?, "authentication"?,
    "deadline"?, "verification"?}`` -> API body (a new family; nothing written past the
    deadline, see :mod:`steps.core.deadline`; with ``verification`` the email verification is
    committed with it, :func:`steps.core.verification.verified_account_operations`)."""
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    user = TokenUser.from_state(event.get("user"))
    also = verification_operations(event, user.id, user.email, clock.now())
    return issue_tokens(
        user,
        key_set=key_set,
        table=table,
        clock=clock,
        config=config,
        context=SessionContext.from_state(event.get("context")),
        commit_by=commit_deadline(event.get("deadline")),
        authentication=Authentication.from_state(event.get("authentication")),
        also=also,
    )


def commit_verification(event: Mapping[str, Any], table: Table, *, now: float) -> None:
    """The step input's ``verification`` committed alone (an enrolment token starts no session);
    CodeExpired when the code was spent or replaced meanwhile."""
    user = TokenUser.from_state(event.get("user"))
    operations = verification_operations(event, user.id, user.email, now)
    if operations and not table.transact(operations):
        raise CodeExpired(CODE_SPENT.description)


def verification_operations(
    event: Mapping[str, Any], user_id: str, email: str, now: float
) -> list[dict[str, Any]]:
    """The writes of the step input's ``verification`` (none without one)."""
    if event.get("verification") is None:
        return []
    from steps.core.verification import verified_account_operations

    return verified_account_operations(event["verification"], user_id=user_id, email=email, now=now)

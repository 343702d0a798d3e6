"""The authorizer's decision: a verified, non-revoked access token, or Rejected.

Order: cheap header checks, the key by ``kid`` (cached; unknown kids refetch rate-limited),
the signature (the key's algorithm, ES256/Ed25519, which the header must name) and claims
(``steps.core.tokens.check_claims``: ``typ``, ``iss``, ``aud``, ``iat``/``nbf`` with 30 s
leeway, ``exp`` without, ``sub`` and ``jti`` required), then the denylist entry of its ``jti``
and the user's "tokens valid after" marker (one consistent BatchGetItem; a denylist entry
counts until its expiry).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from authorizer.bearer import Rejected, bearer_token, key_id
from authorizer.keys import PublicKeyCache
from authorizer.policy import (
    AUDIENCE_VARIABLE,
    ROUTE_SCOPES_VARIABLE,
    allow_response,
    parse_route_scopes,
    scoped_allow_response,
)
from steps.core.clock import Clock
from steps.core.config import Config
from steps.core.errors import InvalidToken
from steps.core.mfa_enrollment import is_enrollment_token
from steps.core.sessions import access_token_refusal
from steps.core.signing_keys import InvalidJws, split_compact, verify_compact
from steps.core.table import Table
from steps.core.tokens import EXPIRED_MESSAGE, check_claims, check_enrollment_audience

#: Decoded JOSE headers by their segment. Every token one key signed carries the same header,
#: so it is decoded once per key rather than once per request. Bounded: forged headers can only
#: make it start again. The dicts are shared: nothing may change them.
_HEADERS: dict[str, dict[str, Any]] = {}
_MAX_HEADERS = 32


def _split(token: str) -> tuple[dict[str, Any], str, str, str]:
    """``split_compact`` of a token ``bearer_token`` accepted, its header decoded once."""
    protected, _, rest = token.partition(".")
    header = _HEADERS.get(protected)
    if header is None:
        header, protected, payload, signature = split_compact(token)
        if len(_HEADERS) >= _MAX_HEADERS:
            _HEADERS.clear()
        _HEADERS[protected] = header
        return header, protected, payload, signature
    payload, _, signature = rest.partition(".")
    return header, protected, payload, signature


def verified_claims(
    header: Any,
    *,
    keys: PublicKeyCache,
    clock: Clock,
    config: Config,
    audiences: Collection[str] | None = None,
) -> dict[str, Any]:
    """The claims of the bearer token in ``header``; Rejected when it is not a valid token.

    The token is split once and each segment decoded once (the header once per key, see
    :func:`_split`); the signature is checked with ``cryptography`` by the key found by
    ``kid``, whose algorithm the header must name.
    ``audiences`` default to stepauth's own and its clients'.
    """
    token = bearer_token(header)
    try:
        jose_header, protected, payload, signature = _split(token)
    except InvalidJws as invalid:
        raise Rejected(invalid.reason) from None
    key = keys.lookup(key_id(jose_header))
    if key is None:
        raise Rejected("unknown_kid")
    try:
        claims = verify_compact(jose_header, (protected, payload, signature), key)
        # No leeway on exp: a denylist entry lasts until exp, so a revoked token must not
        # pass in the seconds after it (issuer and authorizer share AWS's synced clocks).
        check_claims(
            claims,
            now=clock.now(),
            issuer=config.token_issuer,
            audiences=config.accepted_audiences if audiences is None else audiences,
            exp_leeway=0,
        )
    except InvalidJws as invalid:
        raise Rejected(invalid.reason) from None
    except InvalidToken as exc:
        raise Rejected("expired" if str(exc) == EXPIRED_MESSAGE else "invalid") from None
    except Exception:  # a parser surprise on hostile input: fail closed, as a rejection
        raise Rejected("invalid") from None
    return claims


def authorize(
    event: Any,
    *,
    keys: PublicKeyCache,
    table: Callable[[], Table],
    clock: Clock,
    config: Config,
) -> dict[str, Any]:
    """A TOKEN authorizer event -> the allow response; Rejected for a bad or revoked token.

    ``table`` is called only once a token verified (the DynamoDB client is created lazily).
    AWS errors (reading keys or the denylist) propagate: API Gateway answers 500, and the
    answer is not cached.
    """
    if not isinstance(event, dict):
        raise Rejected("missing_token")
    if event.get("type") == "REQUEST":
        return _authorize_other_api(event, keys=keys, table=table, clock=clock, config=config)
    claims = verified_claims(
        event.get("authorizationToken"),
        keys=keys,
        clock=clock,
        config=config,
        audiences=config.authorizer_audiences,
    )
    try:
        check_enrollment_audience(claims, enrollment_audience=config.enrollment_audience)
    except InvalidToken:
        raise Rejected("invalid") from None
    _refuse_if_revoked(claims, table=table, clock=clock)
    return allow_response(claims, event.get("methodArn"))


def _refuse_if_revoked(claims: dict[str, Any], *, table: Callable[[], Table], clock: Clock) -> None:
    """Rejected when the token's jti is denylisted or it predates the user's marker."""
    refusal = access_token_refusal(
        table(),
        jti=claims["jti"],
        user_id=claims["sub"],
        issued_at=int(claims["iat"]),
        now=clock.now(),
    )
    if refusal is not None:
        raise Rejected(refusal)


def _authorize_other_api(
    event: dict[str, Any],
    *,
    keys: PublicKeyCache,
    table: Callable[[], Table],
    clock: Clock,
    config: Config,
) -> dict[str, Any]:
    """A REQUEST authorizer event of another API (``cdk/protect.py``'s Lambda authorizer).

    The API's stage variables say which audience it is (``stepauthAudience``) and which
    scope each route needs (``stepauthRouteScopes``); the answer allows the whole stage except
    the routes whose scopes the token lacks (403), so that it is right for every route while
    API Gateway caches it.
    """
    variables = event.get("stageVariables") or {}
    audience = variables.get(AUDIENCE_VARIABLE) if isinstance(variables, dict) else None
    if not isinstance(audience, str) or not audience:
        raise ValueError(f"The API's stage has no {AUDIENCE_VARIABLE} variable.")
    headers = event.get("headers") or {}
    header = next(
        (v for k, v in headers.items() if isinstance(k, str) and k.lower() == "authorization"),
        None,
    )
    claims = verified_claims(header, keys=keys, clock=clock, config=config, audiences={audience})
    if is_enrollment_token(claims):  # it may only enrol with stepauth itself
        raise Rejected("enrollment_token")
    _refuse_if_revoked(claims, table=table, clock=clock)
    route_scopes = parse_route_scopes(variables.get(ROUTE_SCOPES_VARIABLE, ""))
    return scoped_allow_response(claims, event.get("methodArn"), route_scopes)

"""The authorizer's decision: a verified, non-revoked access token, or Rejected.

Order: cheap header checks, the key by ``kid`` (cached; unknown kids refetch rate-limited),
the signature and claims (``steps.core.tokens.verify_access_token``: EdDSA pinned, ``typ``,
``iss``, ``aud``, ``iat``/``nbf`` with 30 s leeway, ``exp`` without, ``sub`` and ``jti``
required), then the denylist entry of its ``jti`` and the user's "tokens valid after" marker
(one consistent BatchGetItem; a denylist entry counts until its expiry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authorizer.bearer import Rejected, bearer_token, key_id
from authorizer.keys import PublicKeyCache
from authorizer.policy import allow_response
from steps.core.clock import Clock
from steps.core.config import Config
from steps.core.errors import InvalidToken
from steps.core.public_keys import PublicKeySet
from steps.core.sessions import access_token_refusal
from steps.core.table import Table
from steps.core.tokens import EXPIRED_MESSAGE, verify_access_token


def verified_claims(
    header: Any, *, keys: PublicKeyCache, clock: Clock, config: Config
) -> dict[str, Any]:
    """The claims of the bearer token in ``header``; Rejected when it is not a valid token."""
    token = bearer_token(header)
    kid = key_id(token)
    key = keys.lookup(kid)
    if key is None:
        raise Rejected("unknown_kid")
    try:
        # No leeway on exp: a denylist entry lasts until exp, so a revoked token must not
        # pass in the seconds after it (issuer and authorizer share AWS's synced clocks).
        return verify_access_token(
            token,
            key_set=PublicKeySet((key,)),
            clock=clock,
            config=config,
            exp_leeway_seconds=0,
        )
    except InvalidToken as exc:
        raise Rejected("expired" if str(exc) == EXPIRED_MESSAGE else "invalid") from None
    except Exception:  # a parser surprise on hostile input: fail closed, as a rejection
        raise Rejected("invalid") from None


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
    claims = verified_claims(event.get("authorizationToken"), keys=keys, clock=clock, config=config)
    refusal = access_token_refusal(
        table(),
        jti=claims["jti"],
        user_id=claims["sub"],
        issued_at=int(claims["iat"]),
        now=clock.now(),
    )
    if refusal is not None:
        raise Rejected(refusal)
    return allow_response(claims, event.get("methodArn"))

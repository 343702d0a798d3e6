"""API Gateway's native JWT authorizer (REST APIs), emulated as AWS documents its checks.

For a method with ``AuthorizationType: JWT``: the token comes from the identity source header
(with or without ``Bearer``); its algorithm must be one of ``DefaultAlgorithms``; ``iss`` must
equal a configured issuer exactly; the key is the issuer's JWKS key with the token's ``kid``
(the JWKS is found through ``<issuer>/.well-known/openid-configuration``, fetched over HTTP as
API Gateway does, and cached); the signature must verify; ``aud`` (or ``client_id`` when there
is no ``aud``) must be one of the issuer's audiences; ``exp`` after now, ``nbf`` and ``iat``
not after now. Any failure is 401. A valid token that carries none of the method's scopes
(``scope`` or ``scp``) is 403.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from steps.core.signing_keys import (
    InvalidJws,
    PublicKeySet,
    b64url_decode,
    parse_public_jwks,
    split_compact,
    verify_compact,
)

#: How long a fetched discovery document and key set are used (an unknown kid refetches).
KEYS_MAX_AGE_SECONDS = 300.0


@dataclass(frozen=True)
class JwtAuthorizerConfig:
    """The ``JwtConfiguration`` of an ``AWS::ApiGateway::Authorizer`` of type JWT."""

    logical_id: str
    header: str
    algorithms: tuple[str, ...]
    issuers: Mapping[str, tuple[str, ...]]  # issuer -> audiences

    @classmethod
    def from_properties(cls, logical_id: str, properties: Mapping[str, Any]) -> JwtAuthorizerConfig:
        configuration = properties.get("JwtConfiguration") or {}
        return cls(
            logical_id=logical_id,
            header=str(properties.get("IdentitySource", "")).rsplit(".", 1)[-1],
            algorithms=tuple(configuration.get("DefaultAlgorithms") or ()),
            issuers={
                str(issuer["Issuer"]): tuple(issuer.get("Audiences") or ())
                for issuer in configuration.get("Issuers") or ()
            },
        )


@dataclass
class Decision:
    """401 (``status``) or 403, with the reason API Gateway gives; claims when allowed."""

    status: int | None
    reason: str = ""
    claims: dict[str, Any] = field(default_factory=dict)


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the issuer's URL
        return json.loads(response.read())


class JwtAuthorizer:
    """One JWT authorizer; ``decide`` is the whole check (transport-free, clock injected)."""

    def __init__(
        self,
        config: JwtAuthorizerConfig,
        *,
        clock: Callable[[], float],
        fetch: Callable[[str], Any] = fetch_json,
    ) -> None:
        self.config = config
        self._clock = clock
        self._fetch = fetch
        self._keys: dict[str, tuple[float, PublicKeySet]] = {}
        self._lock = threading.Lock()

    def _issuer_keys(self, issuer: str, *, refresh: bool = False) -> PublicKeySet:
        now = self._clock()
        with self._lock:
            cached = self._keys.get(issuer)
            if cached and not refresh and 0 <= now - cached[0] < KEYS_MAX_AGE_SECONDS:
                return cached[1]
        discovery = self._fetch(f"{issuer}/.well-known/openid-configuration")
        keys = parse_public_jwks(self._fetch(str(discovery["jwks_uri"])))
        with self._lock:
            self._keys[issuer] = (now, keys)
        return keys

    def decide(self, header_value: str | None, scopes: Sequence[str]) -> Decision:
        token = (header_value or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return Decision(401, "no token")
        try:
            header, protected, payload, signature = split_compact(token)
            unverified = json.loads(b64url_decode(payload))
        except (InvalidJws, ValueError, RecursionError):
            return Decision(401, "the token is malformed")
        if not isinstance(unverified, dict):
            return Decision(401, "the token is malformed")
        if header.get("alg") not in self.config.algorithms:
            return Decision(401, "the token's algorithm is not allowed")
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or issuer not in self.config.issuers:
            return Decision(401, "the token does not have a valid issuer")
        kid = header.get("kid")
        try:
            key = self._issuer_keys(issuer).get(str(kid))
            if key is None:
                key = self._issuer_keys(issuer, refresh=True).get(str(kid))
        except Exception:  # the issuer's metadata cannot be read: API Gateway refuses (401)
            return Decision(401, "the issuer's keys could not be fetched")
        if key is None:
            return Decision(401, "no key of the issuer has the token's kid")
        try:
            claims = verify_compact(header, (protected, payload, signature), key)
        except InvalidJws:
            return Decision(401, "the token's signature is invalid")
        return self._check_claims(claims, issuer, scopes)

    def _check_claims(self, claims: dict[str, Any], issuer: str, scopes: Sequence[str]) -> Decision:
        audiences = self.config.issuers[issuer]
        aud = claims.get("aud")
        if aud is not None:
            given = aud if isinstance(aud, list) else [aud]
        else:  # API Gateway looks at client_id only when there is no aud
            given = [claims.get("client_id")]
        if not any(isinstance(a, str) and a in audiences for a in given):
            return Decision(401, "the token does not have a valid audience")
        now = self._clock()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
            return Decision(401, "the token has expired")
        for name, value in (("nbf", nbf), ("iat", iat)):
            if value is not None and (not isinstance(value, int | float) or value > now):
                return Decision(401, f"the token's {name} is in the future")
        if scopes:
            scp = claims.get("scope", claims.get("scp", ""))
            granted = set(scp.split() if isinstance(scp, str) else scp or [])
            if not granted.intersection(scopes):
                return Decision(403, "the token does not have the method's scope")
        return Decision(None, claims=claims)

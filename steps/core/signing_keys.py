"""Ed25519 signing keys stored as private JWKs in a Secrets Manager secret.

The secret's SecretString is::

    {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "...", "d": "...",
               "kid": "...", "alg": "EdDSA", "use": "sig",
               "created_at": 1700000000, "retired_at": 1700086400}, ...],
     "active_kid": "<kid>"}

``created_at`` (epoch seconds) is set when a key is generated; ``retired_at`` once another key
became active (see :mod:`steps.core.keyset_admin` for rotation). Both are optional when
reading, for documents written before they existed. Only IssueTokens and the key
administration read this secret; everyone else reads the public keys from the table.

Error messages never contain key material (they name the key by position only).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from steps.core.aws import error_code
from steps.core.clock import Clock, system_clock
from steps.core.config import Config, get_config
from steps.core.errors import SigningKeysUnavailable

ALGORITHM = "EdDSA"
PUBLIC_JWK_FIELDS = ("kty", "crv", "x", "kid", "alg", "use")
#: How long a fetched key set is reused in-process before the secret is read again. This is
#: also the bound on how long IssueTokens may keep signing with a key after a rotation
#: retired it (the rotation keeps retired keys published long enough for that).
CACHE_SECONDS = 300.0
NOT_INITIALISED = "Signing keys are not initialised."


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    created_at: int | None = None
    retired_at: int | None = None

    def public_jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(raw),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(kid={self.kid!r})"


@dataclass(frozen=True)
class SigningKeySet:
    active: SigningKey
    keys: tuple[SigningKey, ...]

    def get(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def default_kid() -> str:
    """A fresh key id: the UTC date and 8 random url-safe characters, e.g. 20250101-AbC..."""
    return f"{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_urlsafe(6)}"


def generate_signing_key(
    kid: str | None = None, *, created_at: float | None = None
) -> dict[str, Any]:
    """A new private Ed25519 JWK, stamped with ``created_at`` (default: now)."""
    private = Ed25519PrivateKey.generate()
    d = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    x = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(x),
        "d": _b64url(d),
        "kid": kid or default_kid(),
        "alg": ALGORITHM,
        "use": "sig",
        "created_at": int(time.time() if created_at is None else created_at),
    }


def new_key_set(kid: str | None = None, *, now: float | None = None) -> dict[str, Any]:
    """A secret document holding one freshly generated key, which is active."""
    key = generate_signing_key(kid, created_at=now)
    return {"keys": [key], "active_kid": key["kid"]}


def _invalid(reason: str) -> SigningKeysUnavailable:
    return SigningKeysUnavailable(
        f"The signing key secret does not hold a valid key set: {reason}."
    )


def _parse_key(jwk: Any, position: int) -> SigningKey:
    where = f"key {position}"
    if not isinstance(jwk, dict):
        raise _invalid(f"{where} is not a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise _invalid(f"{where} is not an Ed25519 OKP key")
    if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise _invalid(f"{where} is not an EdDSA signing key")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128 or not kid.isprintable():
        raise _invalid(f"{where} has no usable kid")
    try:
        d = _b64url_decode(jwk.get("d"))
        x = _b64url_decode(jwk.get("x"))
    except (ValueError, binascii.Error):
        raise _invalid(f"{where} has a malformed x or d value") from None
    if len(d) != 32 or len(x) != 32:
        raise _invalid(f"{where} has a malformed x or d value")
    private = Ed25519PrivateKey.from_private_bytes(d)
    public = private.public_key()
    if public.public_bytes(Encoding.Raw, PublicFormat.Raw) != x:
        raise _invalid(f"{where} has a public part that does not match its private part")
    times = {}
    for name in ("created_at", "retired_at"):
        value = jwk.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _invalid(f"{where} has a {name} that is not an integer")
        times[name] = value
    return SigningKey(kid=kid, private_key=private, public_key=public, **times)


def parse_key_set(secret_string: Any) -> SigningKeySet:
    """Parse and check a secret document; SigningKeysUnavailable when it is not a valid set."""
    if not isinstance(secret_string, str) or not secret_string.strip():
        raise SigningKeysUnavailable(NOT_INITIALISED)
    try:
        document = json.loads(secret_string)
    except ValueError:
        raise _invalid("it is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _invalid("there is no keys list")
    if not document["keys"]:
        raise SigningKeysUnavailable(NOT_INITIALISED)
    keys = tuple(_parse_key(jwk, i) for i, jwk in enumerate(document["keys"], start=1))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise _invalid("two keys share a kid")
    active_kid = document.get("active_kid")
    active = next((key for key in keys if key.kid == active_kid), None)
    if active is None:
        raise _invalid("active_kid does not name one of the keys")
    return SigningKeySet(active=active, keys=keys)


def public_jwks(key_set: SigningKeySet) -> dict[str, list[dict[str, str]]]:
    """The public JWK Set: the active key first, then the retired keys still kept.

    Only the public fields (``PUBLIC_JWK_FIELDS``); never ``d``, nor the key's timestamps.
    """
    ordered = [key_set.active, *(k for k in key_set.keys if k is not key_set.active)]
    return {"keys": [{f: key.public_jwk()[f] for f in PUBLIC_JWK_FIELDS} for key in ordered]}


_cache: tuple[str, float, SigningKeySet] | None = None


def clear_signing_keys_cache() -> None:
    global _cache
    _cache = None


def load_signing_keys(
    secrets_client: Any = None,
    *,
    clock: Clock = system_clock,
    config: Config | None = None,
    max_age: float = CACHE_SECONDS,
) -> SigningKeySet:
    """Fetch and parse the key set from SIGNING_KEYS_SECRET_ID, cached for ``max_age`` seconds.

    A missing, empty or invalid secret raises SigningKeysUnavailable (and is not cached, so an
    initialised secret is picked up on the next call). Other AWS errors propagate.
    """
    global _cache
    secret_id = (config or get_config()).required_signing_keys_secret_id
    now = clock.now()
    if _cache is not None:
        cached_id, fetched_at, key_set = _cache
        if cached_id == secret_id and 0 <= now - fetched_at < max_age:
            return key_set
    if secrets_client is None:
        from steps.core.aws import client

        secrets_client = client("secretsmanager")
    secret_string = _fetch_secret_string(secrets_client, secret_id)
    key_set = parse_key_set(secret_string)
    _cache = (secret_id, now, key_set)
    return key_set


def _fetch_secret_string(secrets_client: Any, secret_id: str) -> str | None:
    try:
        response = secrets_client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise SigningKeysUnavailable(NOT_INITIALISED) from None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) else None

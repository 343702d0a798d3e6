"""Public signing keys, as verifiers see them: the JWK Set item in the table.

The key administration writes the public JWK Set to the table item ``SIGNING_KEYS / PUBLIC``
whenever it changes the private keys; the authorizer and the JWKS endpoint read it from there
and never touch the private key secret (least privilege).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from steps.core.table import Table, public_jwks_text_from_item, public_keys_key

ALGORITHM = "EdDSA"
PUBLIC_JWK_FIELDS = ("kty", "crv", "x", "kid", "alg", "use")
MAX_KID_LENGTH = 128


class VerificationKey(Protocol):
    """A key that can check signatures: what token verification needs of a key."""

    @property
    def kid(self) -> str: ...

    @property
    def public_key(self) -> Ed25519PublicKey: ...


class KeyLookup(Protocol):
    """Anything that finds a verification key by its ``kid`` (a private or public key set)."""

    def get(self, kid: str) -> VerificationKey | None: ...


@dataclass(frozen=True)
class PublicKey:
    kid: str
    public_key: Ed25519PublicKey

    def __repr__(self) -> str:
        return f"PublicKey(kid={self.kid!r})"


@dataclass(frozen=True)
class PublicKeySet:
    keys: tuple[PublicKey, ...] = ()

    def get(self, kid: str) -> PublicKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)


def _b64url_decode(text: Any) -> bytes:
    if not isinstance(text, str) or not text.isascii() or "=" in text:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _invalid(reason: str) -> ValueError:
    return ValueError(f"The public signing keys are invalid: {reason}.")


def _public_jwk(jwk: Any, position: int) -> dict[str, str]:
    where = f"key {position}"
    if not isinstance(jwk, Mapping):
        raise _invalid(f"{where} is not a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise _invalid(f"{where} is not an Ed25519 OKP key")
    if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise _invalid(f"{where} is not an EdDSA signing key")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH or not kid.isprintable():
        raise _invalid(f"{where} has no usable kid")
    try:
        x = _b64url_decode(jwk.get("x"))
    except (ValueError, binascii.Error):
        raise _invalid(f"{where} has a malformed x value") from None
    if len(x) != 32:
        raise _invalid(f"{where} has a malformed x value")
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def public_jwks_document(document: Any) -> dict[str, list[dict[str, str]]]:
    """Check a JWK Set and keep only the public fields of each key (drops ``d`` and the rest).

    Raises ValueError (naming keys by position only) when it is not a set of Ed25519 keys.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise _invalid("it is not JSON") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _invalid("there is no keys list")
    keys = [_public_jwk(jwk, i) for i, jwk in enumerate(document["keys"], start=1)]
    kids = [key["kid"] for key in keys]
    if len(set(kids)) != len(kids):
        raise _invalid("two keys share a kid")
    return {"keys": keys}


def parse_public_jwks(document: Any) -> PublicKeySet:
    """The verification keys of a JWK Set (see :func:`public_jwks_document`)."""
    checked = public_jwks_document(document)
    return PublicKeySet(
        tuple(
            PublicKey(
                kid=jwk["kid"],
                public_key=Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"])),
            )
            for jwk in checked["keys"]
        )
    )


def read_public_jwks(table: Table, *, consistent: bool = True) -> dict[str, Any] | None:
    """The published public JWK Set, or None when no key has been published yet.

    Only the public fields of each key are returned, whatever the item holds. A malformed item
    raises ValueError (a server fault).
    """
    text = public_jwks_text_from_item(table.get(public_keys_key(), consistent=consistent))
    if text is None:
        return None
    document = public_jwks_document(text)
    return document if document["keys"] else None

"""Public signing keys, as verifiers see them: the JWK Set item in the table.

The key administration writes the public JWK Set to the table item ``SIGNING_KEYS / PUBLIC``
whenever it changes the private keys; the authorizer and the JWKS endpoint read it from there
and never touch the private key secret (least privilege). Parsing and the key types live in
:mod:`steps.core.signing_keys` (one module for every algorithm); this module reads the table.
"""

from __future__ import annotations

from typing import Any

from steps.core.signing_keys import (
    MAX_KID_LENGTH,
    PUBLIC_JWK_FIELDS,
    KeyLookup,
    PublicKey,
    PublicKeySet,
    VerificationKey,
    parse_public_jwks,
    public_jwks_document,
)
from steps.core.table import Table, public_jwks_text_from_item, public_keys_key

__all__ = [
    "MAX_KID_LENGTH",
    "PUBLIC_JWK_FIELDS",
    "KeyLookup",
    "PublicKey",
    "PublicKeySet",
    "VerificationKey",
    "parse_public_jwks",
    "public_jwks_document",
    "read_public_jwks",
]


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

"""Public signing keys, as verifiers see them: the JWK Set item in the table.

The key administration writes the public JWK Set to the table item ``SIGNING_KEYS / PUBLIC``
whenever it changes the private keys; the authorizer and the JWKS endpoint read it from there
and never touch the private key secret (least privilege). Parsing and the key types live in
:mod:`steps.core.signing_keys` (one module for every algorithm); this module reads the table and
answers the JWKS endpoint. It stays apart so that the authorizer (cold start) and the JWKS
endpoint import the read side only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from steps.core.contract.errors import SIGNING_KEYS_NOT_INITIALISED
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
    "jwks_response",
    "parse_public_jwks",
    "public_jwks_document",
    "read_public_jwks",
    "unavailable_response",
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


# -- the JWKS endpoint's responses (API Gateway proxy format) ---------------------------------

CACHE_CONTROL = "public, max-age=300"


def jwks_response(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """200 with the JWK Set (the caller passes public keys only, see ``read_public_jwks``)."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": CACHE_CONTROL},
        "body": json.dumps(jwks),
    }


def unavailable_response() -> dict[str, Any]:
    return {
        "statusCode": 503,
        "headers": {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "Retry-After": "30",
        },
        "body": json.dumps(SIGNING_KEYS_NOT_INITIALISED.body()),
    }

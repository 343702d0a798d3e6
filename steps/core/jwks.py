"""HTTP responses of the public JWK Set endpoint (API Gateway proxy format)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from steps.core.contract.errors import SIGNING_KEYS_NOT_INITIALISED

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

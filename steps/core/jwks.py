"""HTTP responses of the public JWK Set endpoint (API Gateway proxy format)."""

from __future__ import annotations

import json
from typing import Any

from steps.core.signing_keys import NOT_INITIALISED, SigningKeySet, public_jwks

CACHE_CONTROL = "public, max-age=300"


def jwks_response(key_set: SigningKeySet) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": CACHE_CONTROL},
        "body": json.dumps(public_jwks(key_set)),
    }


def unavailable_response() -> dict[str, Any]:
    return {
        "statusCode": 503,
        "headers": {
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "Retry-After": "30",
        },
        "body": json.dumps(
            {"error": "temporarily_unavailable", "error_description": NOT_INITIALISED}
        ),
    }

"""API Gateway proxy handler for GET /.well-known/jwks.json (public keys only)."""

from __future__ import annotations

from typing import Any

from steps.core.errors import SigningKeysUnavailable
from steps.core.jwks import jwks_response, unavailable_response
from steps.core.logs import step_log
from steps.core.signing_keys import load_signing_keys


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("publish_jwks", event) as log:
        try:
            key_set = load_signing_keys()
        except SigningKeysUnavailable:
            log.unavailable()
            return unavailable_response()
        log.succeeded()
        return jwks_response(key_set)

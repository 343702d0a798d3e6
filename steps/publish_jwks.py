"""API Gateway proxy handler for GET /.well-known/jwks.json (public keys only).

The keys come from the table's public signing keys item, never from the private key secret.
"""

from __future__ import annotations

from typing import Any

from steps.core.observability import step_log
from steps.core.public_keys import jwks_response, read_public_jwks, unavailable_response
from steps.core.table import default_table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("publish_jwks", event) as log:
        jwks = read_public_jwks(default_table(), consistent=False)
        if jwks is None:
            log.unavailable()
            return unavailable_response()
        log.succeeded()
        return jwks_response(jwks)

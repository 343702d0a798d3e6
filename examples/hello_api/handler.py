"""The hello API's only function: greets the caller the authorizer let through."""

from __future__ import annotations

import json
from typing import Any


def caller(event: Any) -> str:
    """The user id the authorizer put in the request context (either authorizer kind)."""
    authorizer = ((event or {}).get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer.get("claims"), dict) else {}
    return str(authorizer.get("principalId") or authorizer.get("sub") or claims.get("sub") or "")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": "hello", "user": caller(event)}),
    }

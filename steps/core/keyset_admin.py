"""Administration of the signing key secret (used by the local cloud and the command line)."""

from __future__ import annotations

import json
from typing import Any

from steps.core.errors import SigningKeysUnavailable
from steps.core.signing_keys import clear_signing_keys_cache, new_key_set, parse_key_set

_NOT_FOUND = "ResourceNotFoundException"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _current_secret_string(secrets_client: Any, secret_id: str) -> str | None:
    try:
        response = secrets_client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        if _error_code(exc) == _NOT_FOUND:  # no secret, or a secret without a value yet
            return None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) else None


def _write(secrets_client: Any, secret_id: str, secret_string: str) -> None:
    try:
        secrets_client.put_secret_value(SecretId=secret_id, SecretString=secret_string)
    except Exception as exc:
        # A secret that does not exist at all is created, when it is named (not an ARN).
        if _error_code(exc) != _NOT_FOUND or secret_id.startswith("arn:"):
            raise
        secrets_client.create_secret(Name=secret_id, SecretString=secret_string)


def initialise_signing_keys(secrets_client: Any, secret_id: str) -> str:
    """Make sure the secret holds a valid key set; return the active kid.

    Idempotent: a valid key set is left alone. A missing value, a placeholder or an invalid
    document is replaced by a fresh set with one new key. Never returns or logs key material.
    """
    current = _current_secret_string(secrets_client, secret_id)
    if current is not None:
        try:
            return parse_key_set(current).active.kid
        except SigningKeysUnavailable:
            pass
    document = new_key_set()
    _write(secrets_client, secret_id, json.dumps(document))
    clear_signing_keys_cache()
    return str(document["active_kid"])

"""Administration of the signing keys (used by the local cloud and the command line).

The private keys live in the Secrets Manager secret (see :mod:`steps.core.signing_keys`); the
public JWK Set is copied to the table item ``SIGNING_KEYS / PUBLIC`` whenever they change, and
always BEFORE the secret is written, so that a token signed with a new key can be verified as
soon as anyone can sign one.

Rotation timeline: ``rotate_signing_keys`` adds a new active key and retires the previous one.
IssueTokens caches the private key set for at most ``CACHE_SECONDS`` (300 s), so it may sign
with the retired key for that long; tokens live ``access_token_ttl_seconds``, and verification
allows ``LEEWAY_SECONDS`` (30 s) of clock skew. A retired key therefore stays published for
``access_token_ttl_seconds + 300 + 30`` seconds and is dropped by the first rotation after that.
"""

from __future__ import annotations

import json
import time
from typing import Any

from steps.core.aws import error_code
from steps.core.errors import SigningKeysUnavailable
from steps.core.signing_keys import (
    CACHE_SECONDS,
    DEFAULT_ALGORITHM,
    SigningKeySet,
    clear_signing_keys_cache,
    generate_signing_key,
    new_key_set,
    parse_key_set,
    public_jwks,
    public_jwks_document,
)
from steps.core.table import Table, public_jwks_text_from_item, public_keys_item, public_keys_key
from steps.core.tokens import LEEWAY_SECONDS

_NOT_FOUND = "ResourceNotFoundException"


def _current_secret_string(secrets_client: Any, secret_id: str) -> str | None:
    try:
        response = secrets_client.get_secret_value(SecretId=secret_id)
    except Exception as exc:
        if error_code(exc) == _NOT_FOUND:  # no secret, or a secret without a value yet
            return None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) else None


def _write(secrets_client: Any, secret_id: str, secret_string: str) -> None:
    try:
        secrets_client.put_secret_value(SecretId=secret_id, SecretString=secret_string)
    except Exception as exc:
        # A secret that does not exist at all is created, when it is named (not an ARN).
        if error_code(exc) != _NOT_FOUND or secret_id.startswith("arn:"):
            raise
        secrets_client.create_secret(Name=secret_id, SecretString=secret_string)


def publish_public_keys(table: Table, key_set: SigningKeySet, *, now: float) -> bool:
    """Write the public JWK Set of ``key_set`` to the table; False when it was already there."""
    document = public_jwks(key_set)
    current = public_jwks_text_from_item(table.get(public_keys_key(), consistent=True))
    if current is not None:
        try:
            if public_jwks_document(current) == document:
                return False
        except ValueError:
            pass  # a malformed item is replaced
    table.put(public_keys_item(document, updated_at=int(now)))
    return True


def initialise_signing_keys(
    secrets_client: Any,
    secret_id: str,
    table: Table | None = None,
    *,
    now: float | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """Make sure the secret holds a valid key set and the table its public keys; return the kid.

    Idempotent: a valid key set is left alone (and its public item written only if missing or
    different). A missing value, a placeholder or an invalid document is replaced by a fresh set
    with one new key. Never returns or logs key material.

    ``table`` should always be given: the authorizer and the JWKS endpoint read the public keys
    from it. It is optional only so that callers written before the public item existed keep
    running (they then publish nothing).
    """
    now = time.time() if now is None else now
    current = _current_secret_string(secrets_client, secret_id)
    if current is not None:
        try:
            key_set = parse_key_set(current)
        except SigningKeysUnavailable:
            pass
        else:
            if table is not None:
                publish_public_keys(table, key_set, now=now)
            return key_set.active.kid
    document = new_key_set(now=now, algorithm=algorithm)
    secret_string = json.dumps(document)
    if table is not None:
        publish_public_keys(table, parse_key_set(secret_string), now=now)
    _write(secrets_client, secret_id, secret_string)
    clear_signing_keys_cache()
    return str(document["active_kid"])


def retention_seconds(access_token_ttl_seconds: int) -> int:
    """How long a retired key stays published: it may still verify a live token until then."""
    return access_token_ttl_seconds + int(CACHE_SECONDS) + LEEWAY_SECONDS


def rotate_signing_keys(
    secrets_client: Any,
    secret_id: str,
    table: Table,
    *,
    access_token_ttl_seconds: int,
    now: float | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
) -> str:
    """Add a new active key, retire the previous one, prune long-retired keys; return the kid.

    The new key uses ``algorithm`` (the configured ``token_signing_algorithm``): switching the
    algorithm is a rotation, and keys of the previous algorithm stay published, and verify the
    tokens they signed, until those expire.

    Keys retired more than ``retention_seconds(access_token_ttl_seconds)`` ago are dropped:
    no live token can carry their kid. The public item is written before the secret. Raises
    SigningKeysUnavailable when the secret holds no valid key set (initialise it first).
    """
    now = time.time() if now is None else now
    stamp = int(now)
    current = _current_secret_string(secrets_client, secret_id)
    parse_key_set(current)  # a valid set, or SigningKeysUnavailable
    document = json.loads(str(current))
    keep_until = retention_seconds(access_token_ttl_seconds)
    keys: list[dict[str, Any]] = []
    for jwk in document["keys"]:
        jwk = dict(jwk)
        if jwk.get("retired_at") is None:  # the active key, or a legacy key without the stamp
            jwk["retired_at"] = stamp
        if stamp - jwk["retired_at"] > keep_until:
            continue
        keys.append(jwk)
    new_key = generate_signing_key(created_at=now, algorithm=algorithm)
    while any(jwk["kid"] == new_key["kid"] for jwk in keys):
        new_key = generate_signing_key(created_at=now, algorithm=algorithm)
    rotated = {"keys": [new_key, *keys], "active_kid": new_key["kid"]}
    secret_string = json.dumps(rotated)
    key_set = parse_key_set(secret_string)
    publish_public_keys(table, key_set, now=now)
    _write(secrets_client, secret_id, secret_string)
    clear_signing_keys_cache()
    return key_set.active.kid

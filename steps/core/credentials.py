"""Hashing a new password and verifying a login (the argon2 steps)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from steps.core.errors import InvalidCredentials
from steps.core.passwords import Hasher
from steps.core.table import user_from_item


def _password_from_state(event: Any) -> str:
    # The password was checked by a validation step; a bad shape here is a server fault.
    if not isinstance(event, Mapping):
        raise ValueError("The step input must be an object.")
    password = event.get("password")
    if not isinstance(password, str) or not password:
        raise ValueError("The step input has no password string.")
    return unicodedata.normalize("NFKC", password)  # idempotent; the validators normalised it


def hash_password(event: Any, *, hasher: Hasher) -> dict[str, str]:
    """``{"password"}`` -> ``{"password_hash"}``."""
    return {"password_hash": hasher.hash(_password_from_state(event))}


def verify_login(event: Any, *, hasher: Hasher) -> dict[str, Any]:
    """``{"password", "found"}`` -> ``{"user", "needs_rehash"}`` or InvalidCredentials.

    ``found`` is the raw DynamoDB getItem result (``{"Item": {...}}``, or ``{}`` when there is
    no such user). Every path runs exactly one argon2 verification, so an unknown user, a wrong
    password and a disabled account take the same time and give the same error.
    """
    password = _password_from_state(event)
    # Computed once per process; asked for on every path so that the first login in a new
    # process costs the same whether or not the user exists.
    dummy = hasher.dummy_hash()
    found = event.get("found")
    if found is None:
        found = {}
    if not isinstance(found, Mapping):
        raise ValueError("The step input found must be a getItem result object.")
    user = user_from_item(found.get("Item"))
    if user is None:
        hasher.verify(dummy, password)
        raise InvalidCredentials
    if not hasher.verify(user.password_hash, password):
        raise InvalidCredentials
    if not user.is_active:
        raise InvalidCredentials
    return {
        "user": {
            "id": user.user_id,
            "email": user.email,
            "name": user.name,
            "roles": list(user.roles),
            "created_at": user.created_at,
        },
        "needs_rehash": hasher.needs_rehash(user.password_hash),
    }

"""The typed records of the items the Python code reads and writes, and their items.

Each ``*_item`` builds its item through the contract (:mod:`steps.core.contract.entities`), so
an attribute the contract does not declare fails here; each ``*_from_item`` reads one back
(ValueError for a malformed item: a required attribute missing or of the wrong type).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from steps.core.contract.entities import (
    DENIED_TOKEN,
    PK,
    REFRESH_FAMILY,
    REFRESH_TOKEN,
    SIGNING_KEYS,
    TTL_ATTRIBUTE,
    USER,
    KeyTemplate,
)
from steps.core.table.codec import Item, entity_item, from_item
from steps.core.table.layout import DEFAULT_ROLES, STATUS_ACTIVE


def _text(plain: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = plain.get(name)
    if isinstance(value, str):
        return value
    if value is None and default is not None:
        return default
    raise ValueError(f"The item attribute {name} is missing or not a string.")


def _number(plain: Mapping[str, Any], name: str) -> int:
    value = plain.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"The item attribute {name} is missing or not an integer.")


def _optional_number(plain: Mapping[str, Any], name: str) -> int | None:
    return None if plain.get(name) is None else _number(plain, name)


def _strings(plain: Mapping[str, Any], name: str, default: Sequence[str]) -> tuple[str, ...]:
    value = plain.get(name)
    if value is None:
        return tuple(default)
    if isinstance(value, set):  # a string set (SS)
        value = sorted(value)
    if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
        return tuple(value)
    raise ValueError(f"The item attribute {name} is not a list of strings.")


def _id_in_key(plain: Mapping[str, Any], template: str, field: str, what: str) -> str:
    fields = KeyTemplate(template).parse(_text(plain, PK))
    if fields is None:
        raise ValueError(f"The item is not a {what}.")
    return fields[field]


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    email: str
    password_hash: str
    name: str = ""
    roles: tuple[str, ...] = DEFAULT_ROLES
    status: str = STATUS_ACTIVE
    created_at: str = ""
    #: None when not stored (registered under ``email_verification=off``).
    email_verified: bool | None = None

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def __repr__(self) -> str:  # keep the hash out of logs and tracebacks
        return f"UserRecord(user_id={self.user_id!r}, status={self.status!r})"


def user_item(user: UserRecord) -> Item:
    """The DynamoDB item for a user."""
    return entity_item(
        USER,
        {
            "user_id": user.user_id,
            "email": user.email,
            "name": user.name,
            "password_hash": user.password_hash,
            "roles": list(user.roles),
            "status": user.status,
            "created_at": user.created_at,
        },
    )


def user_from_item(item: Mapping[str, Any] | None) -> UserRecord | None:
    """A user from its item (None for no item). Optional attributes get their defaults.

    Raises ValueError when a required attribute (user_id, email, password_hash) is missing.
    """
    if not item:
        return None
    plain = from_item(item)
    return UserRecord(
        user_id=_text(plain, "user_id"),
        email=_text(plain, "email"),
        password_hash=_text(plain, "password_hash"),
        name=_text(plain, "name", ""),
        roles=_strings(plain, "roles", DEFAULT_ROLES),
        status=_text(plain, "status", STATUS_ACTIVE),
        created_at=_text(plain, "created_at", ""),
        email_verified=_optional_bool(plain, "email_verified"),
    )


def _optional_bool(plain: Mapping[str, Any], name: str) -> bool | None:
    value = plain.get(name)
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class RefreshTokenRecord:
    token_hash: str
    family_id: str
    user_id: str
    issued_at: int
    #: The family's absolute expiry.
    expires_at: int
    status: str = STATUS_ACTIVE
    spent_at: int | None = None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def is_spent(self) -> bool:
        return self.status != STATUS_ACTIVE


def refresh_token_item(record: RefreshTokenRecord) -> Item:
    """The DynamoDB item for a refresh token (only its hash is stored)."""
    return entity_item(
        REFRESH_TOKEN,
        {
            "family_id": record.family_id,
            "user_id": record.user_id,
            "issued_at": record.issued_at,
            TTL_ATTRIBUTE: record.expires_at,
            "status": record.status,
            "spent_at": record.spent_at,
        },
        token_hash=record.token_hash,
    )


def refresh_token_from_item(item: Mapping[str, Any] | None) -> RefreshTokenRecord | None:
    if not item:
        return None
    plain = from_item(item)
    return RefreshTokenRecord(
        token_hash=_id_in_key(plain, REFRESH_TOKEN.pk, "token_hash", "refresh token"),
        family_id=_text(plain, "family_id"),
        user_id=_text(plain, "user_id"),
        issued_at=_number(plain, "issued_at"),
        expires_at=_number(plain, TTL_ATTRIBUTE),
        status=_text(plain, "status", STATUS_ACTIVE),
        spent_at=_optional_number(plain, "spent_at"),
    )


@dataclass(frozen=True)
class RefreshFamilyRecord:
    """A chain of rotated refresh tokens that started with one login or registration."""

    family_id: str
    user_id: str
    email: str
    created_at: int
    last_used_at: int
    #: Absolute expiry of the family and of every token in it.
    expires_at: int
    status: str = STATUS_ACTIVE
    user_agent: str = ""
    source_ip: str = ""
    revoked_reason: str | None = None
    revoked_at: int | None = None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def is_usable(self, now: float) -> bool:
        """Active and not expired (whether or not TTL has deleted it yet)."""
        return self.status == STATUS_ACTIVE and not self.is_expired(now)


def refresh_family_item(record: RefreshFamilyRecord, **grant: Any) -> Item:
    """The DynamoDB item for a refresh family (``grant``: its ``client_id`` and ``scope``, and
    the sign-in's ``amr``, ``acr`` and ``auth_time`` after a second factor)."""
    return entity_item(
        REFRESH_FAMILY,
        {
            "family_id": record.family_id,
            "user_id": record.user_id,
            "email": record.email,
            "status": record.status,
            "created_at": record.created_at,
            "last_used_at": record.last_used_at,
            TTL_ATTRIBUTE: record.expires_at,
            "user_agent": record.user_agent,
            "source_ip": record.source_ip,
            "revoked_reason": record.revoked_reason,
            "revoked_at": record.revoked_at,
            **grant,
        },
    )


def refresh_family_from_item(item: Mapping[str, Any] | None) -> RefreshFamilyRecord | None:
    if not item:
        return None
    plain = from_item(item)
    _id_in_key(plain, REFRESH_FAMILY.pk, "family_id", "refresh family")
    reason = plain.get("revoked_reason")
    return RefreshFamilyRecord(
        family_id=_text(plain, "family_id"),
        user_id=_text(plain, "user_id"),
        email=_text(plain, "email"),
        created_at=_number(plain, "created_at"),
        last_used_at=_number(plain, "last_used_at"),
        expires_at=_number(plain, TTL_ATTRIBUTE),
        status=_text(plain, "status", STATUS_ACTIVE),
        user_agent=_text(plain, "user_agent", ""),
        source_ip=_text(plain, "source_ip", ""),
        revoked_reason=None if reason is None else _text(plain, "revoked_reason"),
        revoked_at=_optional_number(plain, "revoked_at"),
    )


def denied_token_item(jti: str, exp: int) -> Item:
    """The denylist item of an access token, kept until the token's own ``exp``.

    The logout workflow writes this item with a direct putItem from the same contract entity.
    """
    return entity_item(DENIED_TOKEN, {TTL_ATTRIBUTE: exp}, jti=jti)


def public_keys_item(jwks: Mapping[str, Any], *, updated_at: int) -> Item:
    """The item holding the public JWK Set (the caller passes public parts only)."""
    text = json.dumps(jwks, separators=(",", ":"), sort_keys=True)
    return entity_item(SIGNING_KEYS, {"jwks": text, "updated_at": updated_at})


def public_jwks_text_from_item(item: Mapping[str, Any] | None) -> str | None:
    """The stored JWK Set JSON text, or None when there is no such item."""
    if not item:
        return None
    return _text(from_item(item), "jwks")

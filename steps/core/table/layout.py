"""The table's keys, names and values, from the contract (:mod:`steps.core.contract.entities`).

README ("Data layout") shows the whole layout; this module gives the Python code its keys.
"""

from __future__ import annotations

from steps.core.contract.entities import (
    AUDIT,
    DENIED_TOKEN,
    GSI1_NAME,
    GSI1PK,
    GSI1SK,
    LOCKOUT,
    PK,
    RECEIPT,
    REFRESH_FAMILY,
    REFRESH_TOKEN,
    SEND_LIMIT,
    SIGNING_KEYS,
    SK,
    TOKENS_VALID_AFTER,
    TTL_ATTRIBUTE,
    USER,
    VERIFICATION,
    VERIFICATION_LINK,
    KeyTemplate,
)
from steps.core.table.codec import Item, key

__all__ = ["GSI1_NAME", "GSI1PK", "GSI1SK", "PK", "SK", "TTL_ATTRIBUTE"]

USER_SK = USER.sk
USER_ID_PREFIX = KeyTemplate(USER.gsi1pk or "").prefix
REFRESH_PREFIX = KeyTemplate(REFRESH_TOKEN.pk).prefix
FAMILY_PREFIX = KeyTemplate(REFRESH_FAMILY.pk).prefix
DENY_PREFIX = KeyTemplate(DENIED_TOKEN.pk).prefix
AUDIT_PREFIX = KeyTemplate(AUDIT.pk).prefix
RECEIPT_PREFIX = KeyTemplate(RECEIPT.pk).prefix
RECEIPT_SK = RECEIPT.sk

STATUS_ACTIVE = "active"
STATUS_DISABLED = "disabled"
STATUS_SPENT = "spent"
STATUS_REVOKED = "revoked"
DEFAULT_ROLES: tuple[str, ...] = ("user",)

#: Why a refresh family was revoked.
REVOKE_REASONS: tuple[str, ...] = (
    "logout",
    "logout_all",
    "reuse",
    "user_disabled",
    "admin",
    "account_deleted",
    "session_ended",
    "password_reset",
    "password_changed",
)

ENTITY_USER = USER.name
ENTITY_REFRESH_TOKEN = REFRESH_TOKEN.name
ENTITY_REFRESH_FAMILY = REFRESH_FAMILY.name
ENTITY_DENIED_TOKEN = DENIED_TOKEN.name
ENTITY_AUDIT = AUDIT.name
ENTITY_RECEIPT = RECEIPT.name


def user_key(email: str) -> Item:
    """Primary key of the user item for a normalised email."""
    return key(USER, email=email)


def refresh_token_key(token_hash: str) -> Item:
    """Primary key of a refresh token item (by the token's SHA-256 hex digest)."""
    return key(REFRESH_TOKEN, token_hash=token_hash)


def family_key(family_id: str) -> Item:
    """Primary key of a refresh family item."""
    return key(REFRESH_FAMILY, family_id=family_id)


def deny_key(jti: str) -> Item:
    """Primary key of the denylist item of an access token (by its ``jti``)."""
    return key(DENIED_TOKEN, jti=jti)


def tokens_valid_after_key(user_id: str) -> Item:
    """Primary key of a user's "tokens valid after" marker (by user id, as tokens carry it)."""
    return key(TOKENS_VALID_AFTER, user_id=user_id)


def public_keys_key() -> Item:
    """Primary key of the item holding the public signing keys (JWKS)."""
    return key(SIGNING_KEYS)


def lockout_key(email: str) -> Item:
    """Primary key of an email's failed-login counter."""
    return key(LOCKOUT, email=email)


def pending_key(kind: str, user_id: str) -> Item:
    """Primary key of a user's pending emailed code of one kind."""
    return key(VERIFICATION, kind=kind, user_id=user_id)


def link_key(hashed_token: str) -> Item:
    """Primary key of an emailed link (by the SHA-256 of its token)."""
    return key(VERIFICATION_LINK, token_hash=hashed_token)


def send_limit_key(email: str, hour: int) -> Item:
    """Primary key of the send counter of one address in one epoch hour."""
    return key(SEND_LIMIT, email=email, hour=hour)


def user_id_partition(user_id: str) -> str:
    """The gsi1 partition of everything that belongs to a user."""
    return KeyTemplate(USER.gsi1pk or "").format({"user_id": user_id})

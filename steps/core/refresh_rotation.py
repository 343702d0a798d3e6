"""Refresh token rotation with reuse detection: the one place where a refresh token is spent.

Every refresh token is single-use. Spending one is a conditional update (``status`` from
``active`` to ``spent``), so of several concurrent refreshes with the same token exactly one
wins. Presenting a spent token again is reuse (RFC 9700 section 4.14.2): a stolen token and its
legitimate twin cannot be told apart, so the whole family is revoked and both parties must log
in again. An optional grace period (REFRESH_REUSE_GRACE_SECONDS, default 0) refuses a token
spent only moments ago without revoking its family, for clients that retry a refresh whose
response they lost.

Expiry is checked here on every read: TTL deletes late.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steps.core.errors import InvalidGrant, RefreshTokenReused
from steps.core.sessions import revoke_family
from steps.core.table import (
    STATUS_ACTIVE,
    STATUS_SPENT,
    RefreshFamilyRecord,
    RefreshTokenRecord,
    Table,
    family_key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_key,
    user_from_item,
    user_key,
)


@dataclass(frozen=True)
class RotationGrant:
    """What a successful refresh hands to IssueTokens."""

    #: ``{"id", "email", "roles", "created_at"}``, read fresh from the user item.
    user: dict[str, Any]
    family_id: str


def _load_token(table: Table, token_hash: str) -> RefreshTokenRecord | None:
    return refresh_token_from_item(table.get(refresh_token_key(token_hash), consistent=True))


def _load_usable_family(table: Table, token: RefreshTokenRecord, now: float) -> RefreshFamilyRecord:
    family = refresh_family_from_item(table.get(family_key(token.family_id), consistent=True))
    if family is None or not family.is_usable(now) or family.user_id != token.user_id:
        raise InvalidGrant
    return family


def _refuse_spent(
    table: Table, token: RefreshTokenRecord, *, now: float, reuse_grace_seconds: int
) -> RefreshTokenReused | InvalidGrant:
    """The error for presenting a spent token; revokes the family unless within the grace."""
    # A spent_at slightly ahead of ``now`` (clock skew between Lambdas) counts as "just now".
    if (
        reuse_grace_seconds > 0
        and token.spent_at is not None
        and now - token.spent_at <= reuse_grace_seconds
    ):
        return InvalidGrant()
    revoke_family(table, token.family_id, reason="reuse", now=now)
    return RefreshTokenReused(user_id=token.user_id, family_id=token.family_id)


def _mark_spent(table: Table, token_hash: str, now: int) -> bool:
    return table.update_if(
        refresh_token_key(token_hash),
        update="SET #status = :spent, #spent_at = :now",
        condition="#status = :active",
        names={"#status": "status", "#spent_at": "spent_at"},
        values={
            ":spent": {"S": STATUS_SPENT},
            ":active": {"S": STATUS_ACTIVE},
            ":now": {"N": str(now)},
        },
    )


def _active_user(table: Table, family: RefreshFamilyRecord) -> dict[str, Any]:
    user = user_from_item(table.get(user_key(family.email), consistent=True))
    # The id check refuses a family whose account was deleted and registered again.
    if user is None or not user.is_active or user.user_id != family.user_id:
        raise InvalidGrant
    return {
        "id": user.user_id,
        "email": user.email,
        "roles": list(user.roles),
        "created_at": user.created_at,
    }


def spend_refresh_token(
    table: Table, token_hash: str, *, now: float, reuse_grace_seconds: int
) -> RotationGrant:
    """Spend the refresh token stored under ``token_hash``; return who gets the next pair.

    Raises InvalidGrant when the token or its family is missing, expired or revoked, when the
    token was spent within the grace period, or when the user is gone or not active; raises
    RefreshTokenReused (an InvalidGrant) after revoking the family when a spent token comes
    back, including when a concurrent refresh with the same token won the race.
    """
    token = _load_token(table, token_hash)
    if token is None or token.is_expired(now):
        raise InvalidGrant
    family = _load_usable_family(table, token, now)
    if token.is_spent:
        raise _refuse_spent(table, token, now=now, reuse_grace_seconds=reuse_grace_seconds)
    if not _mark_spent(table, token_hash, int(now)):
        # Someone spent it between our read and our write: a concurrent use of one token.
        current = _load_token(table, token_hash)
        if current is None or not current.is_spent:
            raise InvalidGrant
        raise _refuse_spent(table, current, now=now, reuse_grace_seconds=reuse_grace_seconds)
    return RotationGrant(user=_active_user(table, family), family_id=family.family_id)

"""Refresh token rotation with reuse detection: the one place where a refresh token is spent.

Every refresh token is single-use. Spending one and storing its successor are ONE DynamoDB
transaction: the presented token goes from ``active`` to ``spent`` (conditional), the next token
is put (only if new) and the family's ``last_used_at`` moves (only while the family is active,
owned and unexpired). A failure anywhere before that commit leaves the presented token current;
after it, a retry of the same request is a replay (below), never theft.

The successor is not random: it is ``HMAC-SHA256(refresh key, sha256(presented token))``, so
the step can compute the family's current token again from the presented one without storing
anything in clear. The key is a secret only the refresh step reads (see :mod:`refresh_key`).

Presenting a spent token again:

* within ``reuse_grace_seconds`` of its spend, while its successor is still the family's current
  (active) token, is a replay (two tabs, a lost response, a retried request): the answer is the
  same successor again, and nothing is written or revoked;
* otherwise (outside the window, or an older ancestor whose successor was spent too) it is reuse
  (RFC 9700 section 4.14.2): a stolen token and its legitimate twin cannot be told apart, so the
  whole family is revoked, by one conditional write. Only the caller whose write revoked it gets
  :class:`RefreshTokenReused` (one audit record, one metric); the others get InvalidGrant.

``reuse_grace_seconds = 0`` keeps the strict behaviour: any second presentation is reuse.
Expiry is checked here on every read: TTL deletes late.

An email change keeps the account's sessions (only a password change or reset ends them): the
token and family name the email they were stored with, and when that key no longer holds the
family's account the account is read by its id (gsi1); the rotation then writes the current
email on the successor and the family, so the refresh after that reads one key again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from steps.core.deadline import check_deadline
from steps.core.errors import InvalidGrant, RefreshTokenReused
from steps.core.refresh_tokens import hash_refresh_token
from steps.core.sessions import find_user_by_id, revoke_family
from steps.core.table import (
    PK,
    STATUS_ACTIVE,
    STATUS_SPENT,
    RefreshFamilyRecord,
    RefreshTokenRecord,
    Table,
    UserRecord,
    family_key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_item,
    refresh_token_key,
    user_from_item,
    user_key,
)
from steps.core.tokens import Authentication

#: Shortest refresh key accepted (bytes): HMAC-SHA256 wants at least its output size.
REFRESH_KEY_MIN_BYTES = 32
#: Transactions tried when a concurrent writer (not a condition) cancels ours.
_COMMIT_ATTEMPTS = 3


class RotationConflict(Exception):
    """The rotation's transaction kept conflicting with concurrent writes (transient: the
    workflow retries the step; nothing was written)."""


@dataclass(frozen=True)
class RotationGrant:
    """What a successful refresh answers with (besides a fresh access token)."""

    #: ``{"id", "email", "roles", "created_at", "email_verified"?}``, read fresh from the user
    #: item (``email_verified`` when stored).
    user: dict[str, Any]
    family_id: str
    #: The family's current refresh token: the new successor, or the same one again (replay).
    refresh_token: str
    #: True when this answer repeats an earlier rotation (a replay within the grace window).
    replayed: bool = False
    #: What ``grant_for_family`` answered for the family (its client and scopes), checked
    #: before anything was spent.
    family_grant: Any = None
    #: The family's sign-in with a second factor (``amr``, ``acr``, ``auth_time``), if any:
    #: the refreshed access token carries it.
    authentication: Authentication | None = None


#: The account email kept on each refresh token item, so that a refresh reads the family and the
#: user in one call (a hint: the email when the token was stored, see :func:`_account_of`).
TOKEN_EMAIL = "email"  # noqa: S105 - an attribute name


def token_item_with_email(record: RefreshTokenRecord, email: str) -> dict[str, Any]:
    """A refresh token's item with the account's email (see :data:`TOKEN_EMAIL`)."""
    return {**refresh_token_item(record), TOKEN_EMAIL: {"S": email}}


def derive_successor_token(token_hash: str, key: bytes) -> str:
    """The refresh token that follows the token stored under ``token_hash``.

    Same shape as a random token (43 url-safe characters, 256 bits); unpredictable without the
    key, even for someone who has read the table.
    """
    if len(key) < REFRESH_KEY_MIN_BYTES:
        raise ValueError("The refresh key is too short.")
    digest = hmac.new(key, token_hash.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _load_token(table: Table, token_hash: str) -> RefreshTokenRecord | None:
    return _token_with_email(table, token_hash)[0]


def _token_with_email(
    table: Table, token_hash: str
) -> tuple[RefreshTokenRecord | None, str | None]:
    """The token and the account email it was stored with (None for a token stored before
    tokens carried it)."""
    item = table.get(refresh_token_key(token_hash), consistent=True)
    email = item.get(TOKEN_EMAIL, {}).get("S") if item else None
    return refresh_token_from_item(item), email if isinstance(email, str) else None


def _family_and_user_items(
    table: Table, token: RefreshTokenRecord, email: str | None
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The family item and the user item: one consistent BatchGetItem when the token names the
    account's email, else the family first and the user by the family's email (two reads)."""
    family_item_key = family_key(token.family_id)
    if email is None:
        family_item = table.get(family_item_key, consistent=True)
        family = refresh_family_from_item(family_item)
        if family is None:
            return family_item, None
        return family_item, table.get(user_key(family.email), consistent=True)
    wanted_user = user_key(email)
    family_item = user_item = None
    for item in table.get_many([family_item_key, wanted_user]):
        if item.get(PK) == family_item_key[PK]:
            family_item = item
        elif item.get(PK) == wanted_user[PK]:
            user_item = item
    return family_item, user_item


def _usable_family(
    item: Mapping[str, Any] | None, token: RefreshTokenRecord, now: float
) -> RefreshFamilyRecord:
    family = refresh_family_from_item(item)
    if item is None or family is None or not family.is_usable(now):
        raise InvalidGrant
    if family.user_id != token.user_id:
        raise InvalidGrant
    return family


def _account_of(
    table: Table, item: Mapping[str, Any] | None, family: RefreshFamilyRecord
) -> UserRecord:
    """The family's account, active: read by the email the token and family name, else (that
    key is free or holds another account: the email changed since) by its id through gsi1.

    The id check refuses a family whose account was deleted (and the address registered again);
    an email change keeps the sessions, which follow the account to its new address.
    """
    user = user_from_item(item)
    if user is None or user.user_id != family.user_id:
        user = find_user_by_id(table, family.user_id)
    if user is None or user.user_id != family.user_id or not user.is_active:
        raise InvalidGrant
    return user


def _described(user: UserRecord) -> dict[str, Any]:
    described: dict[str, Any] = {
        "id": user.user_id,
        "email": user.email,
        "roles": list(user.roles),
        "created_at": user.created_at,
    }
    if user.email_verified is not None:
        described["email_verified"] = user.email_verified
    return described


def _commit_rotation(
    table: Table, token: RefreshTokenRecord, successor_hash: str, now: int, *, email: str
) -> bool:
    """Spend ``token`` and store its successor in one transaction; False when cancelled.

    ``email``: the account's current email, written on the successor and the family (after an
    email change the next refresh reads the account with one call again).
    """
    successor = RefreshTokenRecord(
        token_hash=successor_hash,
        family_id=token.family_id,
        user_id=token.user_id,
        issued_at=now,
        expires_at=token.expires_at,  # the family's absolute expiry: rotation never extends it
    )
    return table.transact(
        [
            {
                "Update": {
                    "Key": refresh_token_key(token.token_hash),
                    "UpdateExpression": "SET #status = :spent, #spent_at = :now",
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status", "#spent_at": "spent_at"},
                    "ExpressionAttributeValues": {
                        ":spent": {"S": STATUS_SPENT},
                        ":active": {"S": STATUS_ACTIVE},
                        ":now": {"N": str(now)},
                    },
                }
            },
            {
                "Put": {
                    "Item": token_item_with_email(successor, email),
                    "ConditionExpression": f"attribute_not_exists({PK})",
                }
            },
            {
                "Update": {
                    "Key": family_key(token.family_id),
                    "UpdateExpression": "SET #last_used_at = :now, #email = :email",
                    "ConditionExpression": (
                        "attribute_exists(#pk) AND #status = :active AND #user_id = :user_id "
                        "AND #expires_at > :now"
                    ),
                    "ExpressionAttributeNames": {
                        "#pk": PK,
                        "#status": "status",
                        "#last_used_at": "last_used_at",
                        "#email": TOKEN_EMAIL,
                        "#user_id": "user_id",
                        "#expires_at": "expires_at",
                    },
                    "ExpressionAttributeValues": {
                        ":now": {"N": str(now)},
                        ":active": {"S": STATUS_ACTIVE},
                        ":user_id": {"S": token.user_id},
                        ":email": {"S": email},
                    },
                }
            },
        ]
    )


def _answer_spent(
    table: Table,
    token: RefreshTokenRecord,
    *,
    user: dict[str, Any],
    key: bytes,
    now: float,
    reuse_grace_seconds: int,
    family_grant: Any,
    authentication: Authentication | None,
) -> RotationGrant:
    """A spent token presented again: a replay within the grace window, else reuse."""
    successor = derive_successor_token(token.token_hash, key)
    # A spent_at slightly ahead of ``now`` (clock skew between Lambdas) counts as "just now".
    if (
        reuse_grace_seconds > 0
        and token.spent_at is not None
        and now - token.spent_at <= reuse_grace_seconds
    ):
        current = _load_token(table, hash_refresh_token(successor))
        if (
            current is not None
            and not current.is_spent
            and not current.is_expired(now)
            and current.family_id == token.family_id
        ):
            return RotationGrant(
                user=user,
                family_id=token.family_id,
                refresh_token=successor,
                replayed=True,
                family_grant=family_grant,
                authentication=authentication,
            )
    if revoke_family(table, token.family_id, reason="reuse", now=now):
        raise RefreshTokenReused(user_id=token.user_id, family_id=token.family_id)
    raise InvalidGrant  # already revoked, by a concurrent reuse or before


def spend_refresh_token(
    table: Table,
    token_hash: str,
    *,
    now: float,
    reuse_grace_seconds: int,
    key: bytes,
    grant_for_family: Callable[[Mapping[str, Any]], Any] | None = None,
    commit_by: float | None = None,
) -> RotationGrant:
    """Spend the refresh token stored under ``token_hash``; return the family's next token.

    ``grant_for_family`` checks the request against the family's item (its client and scopes)
    before anything is spent; an InvalidGrant it raises leaves the token current.

    Raises InvalidGrant when the token or its family is missing, expired or revoked, or when the
    user is gone or not active; DeadlinePassed (nothing spent) when ``now`` is past ``commit_by``,
    the workflow's deadline; RefreshTokenReused (an InvalidGrant) after this call revoked the
    family of a reused token; RotationConflict when concurrent writes kept cancelling the
    transaction (nothing written: a retry is safe).
    """
    for _ in range(_COMMIT_ATTEMPTS):
        # Two reads: the token (it names its family and the account's email), then the family
        # and the user together; then the one write. The family's expiry is the token's own
        # (rotation copies it), checked again by the write's condition.
        token, email = _token_with_email(table, token_hash)
        if token is None or token.is_expired(now):
            raise InvalidGrant
        family_item, user_item = _family_and_user_items(table, token, email)
        family = _usable_family(family_item, token, now)
        account = _account_of(table, user_item, family)
        user = _described(account)
        assert family_item is not None  # noqa: S101 - _usable_family refused None
        family_grant = grant_for_family(family_item) if grant_for_family else None
        authentication = Authentication.from_family_item(family_item)
        if token.is_spent:
            return _answer_spent(
                table,
                token,
                user=user,
                key=key,
                now=now,
                reuse_grace_seconds=reuse_grace_seconds,
                family_grant=family_grant,
                authentication=authentication,
            )
        successor = derive_successor_token(token_hash, key)
        # The client stops waiting at the workflow's time-out: spending its token after that
        # would make its retry look like reuse.
        check_deadline(commit_by)
        if _commit_rotation(
            table, token, hash_refresh_token(successor), int(now), email=account.email
        ):
            return RotationGrant(
                user=user,
                family_id=family.family_id,
                refresh_token=successor,
                family_grant=family_grant,
                authentication=authentication,
            )
        # Cancelled: a concurrent refresh spent the token, the family was revoked, or two
        # transactions collided. Read again and answer from what is there now.
    raise RotationConflict("The refresh could not be committed; retry.")

"""Sessions: revoking refresh families, the access-token denylist, disabling users.

A session is a refresh family (see :mod:`steps.core.table`). Revoking a family is one
conditional UpdateItem, so it is idempotent and never resurrects or overwrites a family that
was already revoked (the first reason stays). Expiry is checked on every read: TTL deletes late.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import time
from collections.abc import Callable
from typing import Any

from steps.core.contract.entities import MFA_TOTP, TOKENS_VALID_AFTER
from steps.core.errors import SessionNotFound, UserNotFound
from steps.core.table import (
    FAMILY_PREFIX,
    PK,
    REVOKE_REASONS,
    STATUS_ACTIVE,
    STATUS_DISABLED,
    STATUS_REVOKED,
    TTL_ATTRIBUTE,
    USER_SK,
    RefreshFamilyRecord,
    Table,
    UserRecord,
    deny_key,
    family_key,
    key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_key,
    tokens_valid_after_key,
    user_from_item,
    user_id_partition,
    user_key,
)

#: Longest user id looked up (ids are opaque; anything longer cannot exist).
USER_ID_MAX_LENGTH = 128
#: Longest session (refresh family) id looked up.
FAMILY_ID_MAX_LENGTH = 128
#: How long a "tokens valid after" marker is kept: far longer than any access token lives, so
#: every token it refuses has expired by the time TTL removes it.
TOKENS_VALID_AFTER_KEEP_SECONDS = 7 * 24 * 3600


def revoke_family(
    table: Table,
    family_id: str,
    *,
    reason: str,
    now: float,
    owner_user_id: str | None = None,
    unexpired_only: bool = False,
) -> bool:
    """Revoke one refresh family; return whether this call revoked it.

    Only a family that exists, is active, (when ``owner_user_id`` is given) belongs to that
    user and (with ``unexpired_only``) has not expired at ``now`` is changed; otherwise nothing
    is written and False is returned.
    """
    if reason not in REVOKE_REASONS:
        raise ValueError(f"Unknown revocation reason; use one of {', '.join(REVOKE_REASONS)}.")
    condition = "attribute_exists(#pk) AND #status = :active"
    names = {
        "#pk": PK,
        "#status": "status",
        "#reason": "revoked_reason",
        "#revoked_at": "revoked_at",
    }
    values: dict[str, dict[str, str]] = {
        ":active": {"S": STATUS_ACTIVE},
        ":revoked": {"S": STATUS_REVOKED},
        ":reason": {"S": reason},
        ":now": {"N": str(int(now))},
    }
    if owner_user_id is not None:
        condition += " AND #user_id = :owner"
        names["#user_id"] = "user_id"
        values[":owner"] = {"S": owner_user_id}
    if unexpired_only:
        condition += " AND #expires_at > :now"
        names["#expires_at"] = TTL_ATTRIBUTE
    return table.update_if(
        family_key(family_id),
        update="SET #status = :revoked, #reason = :reason, #revoked_at = :now",
        condition=condition,
        names=names,
        values=values,
    )


def revoke_all_families(table: Table, user_id: str, *, reason: str, now: float) -> int:
    """Revoke every active refresh family of a user; return how many this call revoked.

    Families are found through gsi1 (eventually consistent: a family started in the last
    moment may be missed; its tokens are still refused once the user is disabled).
    """
    revoked = 0
    for item in table.query_gsi1(user_id_partition(user_id), sk_prefix=FAMILY_PREFIX):
        family = refresh_family_from_item(item)
        if family is None or family.status != STATUS_ACTIVE or family.user_id != user_id:
            continue
        if revoke_family(table, family.family_id, reason=reason, now=now, owner_user_id=user_id):
            revoked += 1
    return revoked


def active_sessions(
    table: Table, user_id: str, *, now: float, current_session_id: str | None = None
) -> list[RefreshFamilyRecord]:
    """The user's sessions that are active and unexpired at ``now``, most recently used first.

    Expiry is checked here, not left to TTL: a family past its ``expires_at`` that TTL has not
    deleted yet is not a session any more. Read through gsi1 (eventually consistent), except
    ``current_session_id`` (the caller's own session, its token's ``sid``): that family is read
    with a consistent GetItem, so the session the caller is using is listed (as it is now) even
    while the index trails the login or the refresh that wrote it.
    """
    sessions: dict[str, RefreshFamilyRecord] = {}
    for item in table.query_gsi1(user_id_partition(user_id), sk_prefix=FAMILY_PREFIX):
        family = refresh_family_from_item(item)
        if family is not None and family.user_id == user_id and family.is_usable(now):
            sessions[family.family_id] = family
    if current_session_id is not None and _plausible_family_id(current_session_id):
        current = refresh_family_from_item(table.get(family_key(current_session_id)))
        if current is not None and current.user_id == user_id and current.is_usable(now):
            sessions[current.family_id] = current
        else:  # revoked or expired since the index was written: the table is the truth
            sessions.pop(current_session_id, None)
    return sorted(sessions.values(), key=lambda f: (-f.last_used_at, f.family_id))


def _iso_seconds(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_session(
    family: RefreshFamilyRecord, *, current_session_id: str | None = None
) -> dict[str, Any]:
    """What ``GET /v1/sessions`` shows of one session: never a token, hash or IP address.

    ``current``: whether it is the session of the caller's access token (its ``sid``).
    """
    return {
        "id": family.family_id,
        "created_at": _iso_seconds(family.created_at),
        "last_used_at": _iso_seconds(family.last_used_at),
        "expires_at": _iso_seconds(family.expires_at),
        "user_agent": family.user_agent,
        "current": family.family_id == current_session_id,
    }


def end_session(table: Table, user_id: str, family_id: str, *, now: float) -> None:
    """End one of the user's own active sessions (one conditional write).

    Raises SessionNotFound when the id is not an active, unexpired session of this user: a
    stranger's session, an ended one and an unknown id all get the same answer. The stream
    clean-up removes the session's refresh tokens afterwards.
    """
    if not _plausible_family_id(family_id) or not revoke_family(
        table,
        family_id,
        reason="session_ended",
        now=now,
        owner_user_id=user_id,
        unexpired_only=True,
    ):
        raise SessionNotFound


def _plausible_family_id(family_id: Any) -> bool:
    return (
        isinstance(family_id, str)
        and 0 < len(family_id) <= FAMILY_ID_MAX_LENGTH
        and family_id.isprintable()
    )


def family_of_refresh_token(
    table: Table, token_hash: str, *, now: float | None = None
) -> str | None:
    """The family id of a stored refresh token (None when unknown, or expired at ``now``)."""
    token = refresh_token_from_item(table.get(refresh_token_key(token_hash), consistent=True))
    if token is None or (now is not None and token.is_expired(now)):
        return None
    return token.family_id


def is_access_token_denied(table: Table, jti: str, *, now: float) -> bool:
    """Whether an access token's ``jti`` is on the denylist (consistent read).

    An entry whose ``expires_at`` has passed no longer counts, even while TTL has not deleted
    it yet (its token has expired anyway). An entry without a readable expiry counts (fail
    closed).
    """
    item = table.get(deny_key(jti), consistent=True)
    return bool(item) and _denial_counts(item, now)


def end_access_tokens(table: Table, user_id: str, *, now: float) -> int:
    """Refuse every access token of the user issued before ``now``; return the marker.

    Writes the user's "tokens valid after" marker, rounded up to the next whole second (``iat``
    has whole seconds: a token issued in the same second is refused too, failing closed). The
    marker only moves forward: an older moment never replaces a newer one.
    """
    marker = math.ceil(now)
    table.update_if(
        tokens_valid_after_key(user_id),
        update="SET #valid_after = :marker, #expires_at = :keep_until, #entity = :entity",
        condition="attribute_not_exists(#valid_after) OR #valid_after < :marker",
        names={
            "#valid_after": "tokens_valid_after",
            "#expires_at": TTL_ATTRIBUTE,
            "#entity": "entity",
        },
        values={
            ":marker": {"N": str(marker)},
            ":keep_until": {"N": str(marker + TOKENS_VALID_AFTER_KEEP_SECONDS)},
            ":entity": {"S": TOKENS_VALID_AFTER.name},
        },
    )
    return marker


def access_token_refusal(
    table: Table, *, jti: str, user_id: str, issued_at: int, now: float
) -> str | None:
    """Why an access token is refused ("revoked": its jti is denied; "user_tokens_ended": it
    was issued before the user's "tokens valid after" marker), or None.

    One consistent BatchGetItem reads both items. A marker is honoured whatever its TTL says:
    a token it refuses was issued before it, so refusing costs nothing once that token expired.
    """
    deny = deny_key(jti)
    marker_key = tokens_valid_after_key(user_id)
    for item in table.get_many([deny, marker_key]):
        if item.get(PK) == deny[PK]:
            if _denial_counts(item, now):
                return "revoked"
        elif item.get(PK) == marker_key[PK]:
            raw = item.get("tokens_valid_after")
            try:
                valid_after = int(raw["N"]) if isinstance(raw, dict) else None
            except (KeyError, TypeError, ValueError):
                valid_after = None
            if valid_after is None or issued_at < valid_after:  # unreadable: fail closed
                return "user_tokens_ended"
    return None


def _denial_counts(item: dict[str, Any], now: float) -> bool:
    raw = item.get(TTL_ATTRIBUTE)
    try:
        expires_at = int(raw["N"]) if isinstance(raw, dict) else None
    except (KeyError, TypeError, ValueError):
        expires_at = None
    return expires_at is None or expires_at > now


def _plausible_user_id(user_id: Any) -> bool:
    return (
        isinstance(user_id, str)
        and 0 < len(user_id) <= USER_ID_MAX_LENGTH
        and user_id.isprintable()
    )


#: Waits before asking gsi1 again for a user it did not show (seconds): an account registered
#: a moment ago may not be in the index yet ("within a fraction of a second" on AWS).
INDEX_LAG_WAITS = (0.1, 0.2, 0.4)


def find_user_by_id(
    table: Table,
    user_id: str,
    *,
    session_id: str | None = None,
    lag_waits: tuple[float, ...] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> UserRecord | None:
    """The user with this id (through gsi1, eventually consistent), or None.

    ``session_id`` (the caller's token's ``sid``): its family names the account's email, so
    the user is read with two consistent GetItems, whatever the index shows; when that does not
    find this user (an email changed since the session started) the index is asked.

    The caller holds a token or names an id that exists: a miss right after the account was
    written is most likely index lag, so the index is asked again after each of ``lag_waits``
    before the answer is None (``lag_waits`` defaults to :data:`INDEX_LAG_WAITS`).
    """
    if not _plausible_user_id(user_id):
        return None
    if session_id is not None and _plausible_family_id(session_id):
        family = refresh_family_from_item(table.get(family_key(session_id)))
        if family is not None and family.user_id == user_id:
            user = user_from_item(table.get(user_key(family.email)))
            if user is not None and user.user_id == user_id:
                return user
    waits = INDEX_LAG_WAITS if lag_waits is None else lag_waits
    for wait in (*waits, None):
        for item in table.query_gsi1(user_id_partition(user_id), sk_equals=USER_SK):
            user = user_from_item(item)
            if user is not None and user.user_id == user_id:
                return user
        if wait is not None:
            sleep(wait)
    return None


def disable_user(table: Table, user_id: str, *, now: float) -> UserRecord:
    """Disable a user, end their access tokens and revoke all of their refresh families.

    Raises UserNotFound when there is no such user. Idempotent: disabling a disabled user
    revokes whatever families are still active. Refresh is refused at once; access tokens
    already issued are refused at the authorizer's next call (its "tokens valid after"
    marker), which API Gateway's authorizer cache may delay by up to its TTL.
    """
    user = find_user_by_id(table, user_id)
    if user is None:
        raise UserNotFound
    end_access_tokens(table, user_id, now=now)
    disabled = table.update_if(
        user_key(user.email),
        update="SET #status = :disabled, #disabled_at = :now",
        condition="attribute_exists(#pk) AND #user_id = :user_id",
        names={
            "#pk": PK,
            "#status": "status",
            "#disabled_at": "disabled_at",
            "#user_id": "user_id",
        },
        values={
            ":disabled": {"S": STATUS_DISABLED},
            ":now": {"N": str(int(now))},
            ":user_id": {"S": user_id},
        },
    )
    if not disabled:  # deleted (or replaced by another account) since the lookup
        raise UserNotFound
    revoke_all_families(table, user_id, reason="user_disabled", now=now)
    return dataclasses.replace(user, status=STATUS_DISABLED)


def delete_account(
    table: Table, user_id: str, *, now: float, session_id: str | None = None
) -> UserRecord:
    """Delete a user's account: every session revoked first, then the user item.

    ``session_id``: the caller's session (see :func:`find_user_by_id`). Raises UserNotFound
    when there is no such user. The email is free for a new registration
    afterwards; the refresh families stay (revoked) until the stream clean-up or TTL removes them.
    """
    user = find_user_by_id(table, user_id, session_id=session_id)
    if user is None:
        raise UserNotFound
    end_access_tokens(table, user_id, now=now)
    revoke_all_families(table, user_id, reason="account_deleted", now=now)
    deleted = table.delete_if(
        user_key(user.email),
        condition="#user_id = :user_id",
        names={"#user_id": "user_id"},
        values={":user_id": {"S": user_id}},
    )
    if not deleted:  # deleted (or replaced by another account) since the lookup
        raise UserNotFound
    # Its multi-factor enrolment (the encrypted TOTP secret, the recovery code hashes) too; the
    # key from the contract, not steps.core.mfa: the authorizer imports this module (cold start).
    table.delete(key(MFA_TOTP, user_id=user_id))
    return user

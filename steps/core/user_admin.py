"""Operator actions on user accounts (used by the command line, not by the API)."""

from __future__ import annotations

import dataclasses
import re

from steps.core.errors import InvalidRequest, UserNotFound
from steps.core.sessions import find_user_by_id
from steps.core.table import PK, STATUS_ACTIVE, Table, UserRecord, user_from_item, user_key

_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ATTEMPTS = 5


def _checked_role(role: str) -> str:
    if not isinstance(role, str) or not _ROLE.fullmatch(role):
        raise InvalidRequest(
            "A role is 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter."
        )
    return role


def _set_roles(table: Table, email: str, change: str, role: str) -> tuple[str, ...]:
    """Read-modify-write of the roles list, retried when another writer got in between."""
    role = _checked_role(role)
    for _ in range(_ATTEMPTS):
        user = user_from_item(table.get(user_key(email)))
        if user is None:
            raise UserNotFound()
        roles = list(user.roles)
        if change == "grant" and role not in roles:
            roles.append(role)
        elif change == "revoke":
            roles = [r for r in roles if r != role]
        if tuple(roles) == user.roles:
            return user.roles
        written = table.update_if(
            user_key(email),
            update="SET #roles = :new",
            condition="#roles = :old",
            names={"#roles": "roles"},
            values={
                ":new": {"L": [{"S": r} for r in roles]},
                ":old": {"L": [{"S": r} for r in user.roles]},
            },
        )
        if written:
            return tuple(roles)
    raise RuntimeError("the user's roles kept changing; try again")


def grant_role(table: Table, email: str, role: str) -> tuple[str, ...]:
    """Adds ``role`` to the user (idempotent); returns the roles now held."""
    return _set_roles(table, email, "grant", role)


def revoke_role(table: Table, email: str, role: str) -> tuple[str, ...]:
    """Removes ``role`` from the user (idempotent); returns the roles now held."""
    return _set_roles(table, email, "revoke", role)


def enable_user(table: Table, user_id: str) -> UserRecord:
    """Make a disabled user active again (idempotent); UserNotFound when there is none.

    Nothing else comes back: the sessions revoked when the user was disabled stay revoked, so the
    user logs in again.
    """
    user = find_user_by_id(table, user_id)
    if user is None:
        raise UserNotFound()
    enabled = table.update_if(
        user_key(user.email),
        update="SET #status = :active REMOVE #disabled_at",
        condition="attribute_exists(#pk) AND #user_id = :user_id",
        names={
            "#pk": PK,
            "#status": "status",
            "#disabled_at": "disabled_at",
            "#user_id": "user_id",
        },
        values={":active": {"S": STATUS_ACTIVE}, ":user_id": {"S": user_id}},
    )
    if not enabled:  # deleted (or replaced by another account) since the lookup
        raise UserNotFound()
    return dataclasses.replace(user, status=STATUS_ACTIVE)

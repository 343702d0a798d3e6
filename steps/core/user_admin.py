"""Operator actions on user accounts (used by the command line, not by the API)."""

from __future__ import annotations

import re

from steps.core.errors import InvalidRequest, UserNotFound
from steps.core.table import Table, user_from_item, user_key

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

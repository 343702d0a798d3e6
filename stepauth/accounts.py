"""Naming a user on the command line: by email (normalised as the API does) or by user id."""

from __future__ import annotations

from dataclasses import dataclass

from steps.core.emails import normalise_email
from steps.core.errors import InvalidRequest
from steps.core.sessions import find_user_by_id
from steps.core.table import Table, UserRecord, user_from_item, user_key

from .exits import NotFound, UsageError
from .output import clean


@dataclass(frozen=True)
class Account:
    """What a name given on the command line refers to; ``user`` is None when no account has
    that email or id (audit records may still exist for it)."""

    email: str | None
    user_id: str | None
    user: UserRecord | None


def resolve_account(table: Table, name: str) -> Account:
    """An email (anything with '@') or a user id, looked up in the table."""
    name = name.strip()
    if "@" in name:
        try:
            email = normalise_email(name)
        except InvalidRequest as error:
            raise UsageError(f"{clean(name, 80)}: {error}") from None
        user = user_from_item(table.get(user_key(email)))
        return Account(email=email, user_id=user.user_id if user else None, user=user)
    if not name:
        raise UsageError("give an email or a user id")
    user = find_user_by_id(table, name)
    return Account(email=user.email if user else None, user_id=name, user=user)


def require_user(table: Table, name: str) -> UserRecord:
    account = resolve_account(table, name)
    if account.user is None:
        raise NotFound(f"no user {clean(name, 80)}")
    return account.user

"""Hashing a new password and verifying a login (the argon2 steps)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol

from steps.core.config import Config
from steps.core.contract.errors import ACCOUNT_LOCKED
from steps.core.errors import InvalidCredentials
from steps.core.lockout import clear_failures, current_failures, record_failure
from steps.core.passwords import Hasher
from steps.core.table import PK, SK, Item, Table, lockout_key, user_from_item, user_key


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
    verified_user: dict[str, Any] = {
        "id": user.user_id,
        "email": user.email,
        "name": user.name,
        "roles": list(user.roles),
        "created_at": user.created_at,
    }
    if user.email_verified is not None:  # the access token's email_verified claim
        verified_user["email_verified"] = user.email_verified
    return {"user": verified_user, "needs_rehash": hasher.needs_rehash(user.password_hash)}


def _email_from_state(event: Any) -> str:
    email = event.get("email") if isinstance(event, Mapping) else None
    if not isinstance(email, str) or not email:
        raise ValueError("The step input has no email string.")
    return email


def _locked(retry_after: int) -> dict[str, Any]:
    return {
        "locked": True,
        "retry_after": str(retry_after),
        "problem": ACCOUNT_LOCKED.body(retry_after=retry_after),
    }


class SecondFactorRecord(Protocol):
    """Where an account's second factor is stored, and whether a stored item turns it on
    (:class:`steps.core.mfa.TotpSecondFactor`)."""

    def key(self, user_id: str) -> Item: ...

    def is_on(self, item: Item | None) -> bool: ...


def _found_user_id(event: Mapping[str, Any]) -> str | None:
    """The user id of the step input's ``found`` item, if it names one (verify_login checks
    the item itself)."""
    found = event.get("found")
    item = found.get("Item") if isinstance(found, Mapping) else None
    value = item.get("user_id") if isinstance(item, Mapping) else None
    user_id = value.get("S") if isinstance(value, Mapping) else None
    return user_id if isinstance(user_id, str) and user_id else None


def _item_key(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """An item's primary key as plain strings (to find the items of a BatchGetItem answer)."""
    pk, sk = item.get(PK), item.get(SK)
    return (
        pk.get("S") if isinstance(pk, Mapping) else None,
        sk.get("S") if isinstance(sk, Mapping) else None,
    )


def guarded_login(
    event: Any,
    *,
    hasher: Hasher,
    table: Table,
    now: float,
    config: Config,
    second_factor: SecondFactorRecord | None = None,
) -> dict[str, Any]:
    """``{"email", "password", "found"}`` -> the verified user, a lock, or InvalidCredentials.

    A locked email is refused before any password check, even the right one (the same for
    known and unknown emails). A failure is counted atomically; a success clears the count and
    re-hashes the password when the stored hash's parameters are older than the configured ones.

    ``second_factor``: when the account's record says it has MFA, the result says so
    (``"mfa": true``) and the count is not cleared: only a right second factor clears it, so
    wrong codes after a right password add up to the same lockout (steps/core/mfa_signin.py).

    The lockout record and the account's second-factor record are read before the password
    check, consistently, in one BatchGetItem (the second only for a found user: an unknown
    email reads its lockout record alone, in the same one call).
    """
    email = _email_from_state(event)
    wanted = [lockout_key(email)]
    user_id = _found_user_id(event)
    if second_factor is not None and user_id is not None:
        wanted.append(second_factor.key(user_id))
    read = {_item_key(item): item for item in table.get_many(wanted, consistent=True)}
    previous = current_failures(read.get(_item_key(wanted[0])), now=now, config=config)
    if previous is not None and (wait := previous.retry_after(now, config)) > 0:
        return _locked(wait)
    try:
        result = verify_login(event, hasher=hasher)
    except InvalidCredentials:
        record_failure(table, email, now=now, config=config)
        raise
    mfa = False
    if second_factor is not None:
        # verify_login read the same item: its id is the one the record was read for.
        factor_key = second_factor.key(result["user"]["id"])
        mfa = second_factor.is_on(read.get(_item_key(factor_key)))
    if previous is not None and not mfa:
        clear_failures(table, email)
    if result.pop("needs_rehash"):
        stored = user_from_item(event["found"]["Item"])
        assert stored is not None  # verify_login succeeded on it
        upgrade_password_hash(
            table, email, old=stored.password_hash, new=hasher.hash(_password_from_state(event))
        )
    if second_factor is not None:
        result["mfa"] = mfa
    return {**result, "locked": False}


def upgrade_password_hash(table: Table, email: str, *, old: str, new: str) -> bool:
    """Stores ``new`` unless the hash changed meanwhile (a concurrent login upgraded it)."""
    return table.update_if(
        user_key(email),
        update="SET #hash = :new",
        condition="#hash = :old",
        names={"#hash": "password_hash"},
        values={":new": {"S": new}, ":old": {"S": old}},
    )

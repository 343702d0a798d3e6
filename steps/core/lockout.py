"""Brute-force protection: a failed-login counter per email with an exponential lockout.

Cognito's shape: the first ``free_attempts`` failures cost nothing; the next one locks the
account for 1 s, each further failure doubles the lock, up to ``max_seconds``; after
``reset_seconds`` without a failure the count starts again. Counters exist for any email, known
or not, so locking reveals nothing about which accounts exist.

One item per email (the contract's ``lockout`` entity, ``LOCKOUT#<email>``); every failure is
one atomic UpdateItem (``ADD failures :one``), so concurrent failures are all counted. The
lock is derived from the count and the time of the last failure, never stored, so there is
nothing to keep in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from steps.core.config import Config
from steps.core.table import PK, TTL_ATTRIBUTE, Table, from_item, lockout_key


@dataclass(frozen=True)
class FailedLogins:
    failures: int
    last_failure_at: int

    def lock_seconds(self, config: Config) -> int:
        over = self.failures - config.lockout_free_attempts
        if over <= 0:
            return 0
        # 2 ** (over - 1) without building huge integers for huge counts.
        return min(config.lockout_max_seconds, 2 ** min(over - 1, 30))

    def retry_after(self, now: float, config: Config) -> int:
        """Whole seconds until the next attempt is allowed; 0 when it is allowed now."""
        remaining = self.last_failure_at + self.lock_seconds(config) - now
        return max(0, math.ceil(remaining))


def _from_item(item: Any) -> FailedLogins | None:
    if not item:
        return None
    try:
        plain = from_item(item)
        return FailedLogins(int(plain["failures"]), int(plain["last_failure_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def failed_logins(table: Table, email: str, *, now: float, config: Config) -> FailedLogins | None:
    """The current count, or None when there is none or it is older than the quiet period."""
    return current_failures(table.get(lockout_key(email), consistent=True), now=now, config=config)


def current_failures(item: Any, *, now: float, config: Config) -> FailedLogins | None:
    """:func:`failed_logins` of a lockout item read by the caller (None: no item)."""
    record = _from_item(item)
    if record is None or now - record.last_failure_at >= config.lockout_reset_seconds:
        return None
    return record


def record_failure(table: Table, email: str, *, now: float, config: Config) -> FailedLogins:
    """Counts one failed login atomically and returns the new count."""
    stamp = int(now)
    expires = stamp + config.lockout_reset_seconds + config.lockout_max_seconds
    values = {":one": {"N": "1"}, ":now": {"N": str(stamp)}, ":expires": {"N": str(expires)}}
    names = {"#failures": "failures", "#last": "last_failure_at", "#ttl": TTL_ATTRIBUTE}
    # A quiet period has passed (or there was no count): start again at one.
    item = table.update_returning(
        lockout_key(email),
        update="SET #failures = :one, #last = :now, #ttl = :expires",
        condition=f"attribute_not_exists({PK}) OR #last <= :stale",
        names=names,
        values={**values, ":stale": {"N": str(stamp - config.lockout_reset_seconds)}},
    )
    if item is None:  # a recent count exists: add to it
        item = table.update_returning(
            lockout_key(email),
            update="ADD #failures :one SET #last = :now, #ttl = :expires",
            names=names,
            values=values,
        )
    record = _from_item(item)
    assert record is not None  # the update just wrote both attributes
    return record


def clear_failures(table: Table, email: str) -> None:
    """A successful login starts the count again."""
    table.delete(lockout_key(email))

"""Brute-force protection: counting failures, the exponential lock, the quiet-period reset."""

from __future__ import annotations

import pytest

from steps.core.config import Config
from steps.core.credentials import guarded_login
from steps.core.errors import InvalidCredentials
from steps.core.lockout import FailedLogins, failed_logins, lockout_key, record_failure
from steps.core.passwords import Argon2Params, PasswordHasher
from steps.core.table import UserRecord, user_item

CONFIG = Config()
EMAIL = "bob@example.com"
PASSWORD = "a long and honest passphrase"
HASHER = PasswordHasher(Argon2Params(64, 1, 1))
NOW = 1_800_000_000


def found() -> dict:
    user = UserRecord(
        user_id="u-1",
        email=EMAIL,
        password_hash=HASHER.hash(PASSWORD),
        created_at="2026-01-01T00:00:00Z",
    )
    return {"Item": user_item(user)}


def attempt(table, password: str, now: float, item: dict | None = None) -> dict:
    event = {"email": EMAIL, "password": password, "found": item if item is not None else found()}
    return guarded_login(event, hasher=HASHER, table=table, now=now, config=CONFIG)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (14, 512), (15, 900), (80, 900), (10**9, 900)],
)
def test_the_lock_doubles_from_the_fifth_failure_up_to_fifteen_minutes(failures, seconds):
    assert FailedLogins(failures, NOW).lock_seconds(CONFIG) == seconds
    assert FailedLogins(failures, NOW).retry_after(NOW, CONFIG) == seconds


def test_four_failures_are_free_and_the_fifth_locks(table):
    for n in range(4):
        with pytest.raises(InvalidCredentials):
            attempt(table, "wrong passphrase!", NOW + n)
    with pytest.raises(InvalidCredentials):
        attempt(table, "wrong passphrase!", NOW + 4)  # the 5th failure: locked for 1 s
    locked = attempt(table, PASSWORD, NOW + 4)  # even the right password
    assert locked["locked"] is True and locked["retry_after"] == "1"
    assert locked["problem"]["error"] == "account_locked"
    assert "user" not in locked
    assert attempt(table, PASSWORD, NOW + 5)["locked"] is False  # the lock ran out
    assert failed_logins(table, EMAIL, now=NOW + 5, config=CONFIG) is None  # success clears


def test_a_locked_attempt_does_not_extend_the_count(table):
    for n in range(6):
        with pytest.raises(InvalidCredentials):
            attempt(table, "wrong passphrase!", NOW + 10 * n)
    assert attempt(table, PASSWORD, NOW + 51)["retry_after"] == "1"  # 6 failures: 2 s from +50
    assert failed_logins(table, EMAIL, now=NOW + 51, config=CONFIG).failures == 6


def test_the_count_starts_again_after_a_quiet_period(table):
    for n in range(5):
        record_failure(table, EMAIL, now=NOW + n, config=CONFIG)
    quiet = NOW + 4 + CONFIG.lockout_reset_seconds
    assert failed_logins(table, EMAIL, now=quiet, config=CONFIG) is None
    assert record_failure(table, EMAIL, now=quiet, config=CONFIG).failures == 1


def test_unknown_emails_are_counted_and_locked_the_same_way(table):
    for n in range(5):
        with pytest.raises(InvalidCredentials):
            attempt(table, PASSWORD, NOW + n, item={})
    assert attempt(table, PASSWORD, NOW + 4.5, item={})["locked"] is True


def test_the_counter_expires_by_ttl_and_holds_no_secret(table, dynamodb):
    record_failure(table, EMAIL, now=NOW, config=CONFIG)
    item = dynamodb.get_item(TableName=table.name, Key=lockout_key(EMAIL))["Item"]
    assert int(item["expires_at"]["N"]) > NOW + CONFIG.lockout_reset_seconds
    assert set(item) == {"pk", "sk", "failures", "last_failure_at", "expires_at"}

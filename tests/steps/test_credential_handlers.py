import time

import pytest

from steps import hash_password, verify_password
from steps.core.credentials import verify_login
from steps.core.errors import InvalidCredentials
from steps.core.passwords import Argon2Params, PasswordHasher, default_hasher
from steps.core.table import UserRecord, user_item, user_key

PASSWORD = "violet tractor spoon"


class CountingHasher:
    """A real hasher that records which hashes it was asked to verify."""

    def __init__(self):
        self.inner = PasswordHasher(Argon2Params(64, 1, 1))
        self.verified = []
        self.dummy_requests = 0

    def hash(self, password):
        return self.inner.hash(password)

    def verify(self, password_hash, password):
        self.verified.append(password_hash)
        return self.inner.verify(password_hash, password)

    def needs_rehash(self, password_hash):
        return self.inner.needs_rehash(password_hash)

    def dummy_hash(self):
        self.dummy_requests += 1
        return self.inner.dummy_hash()


def stored_user(password_hash, status="active", roles=("user",)):
    record = UserRecord(
        user_id="u-42",
        email="alice@example.com",
        password_hash=password_hash,
        name="Alice",
        roles=roles,
        status=status,
        created_at="2025-01-01T00:00:00Z",
    )
    return {"Item": user_item(record), "SdkHttpMetadata": {"HttpStatusCode": 200}}


def test_hash_password_handler():
    result = hash_password.handler({"password": PASSWORD}, None)
    assert set(result) == {"password_hash"}
    assert result["password_hash"].startswith("$argon2id$")
    assert default_hasher().verify(result["password_hash"], PASSWORD)
    assert PASSWORD not in result["password_hash"]


@pytest.mark.parametrize("event", [{}, {"password": ""}, {"password": 5}, None])
def test_hash_password_rejects_bad_state_input(event):
    with pytest.raises(ValueError):
        hash_password.handler(event, None)


EMAIL = "alice@example.com"


def login(found, password=PASSWORD):
    return verify_password.handler({"email": EMAIL, "password": password, "found": found}, None)


def test_verify_success_returns_the_user_without_hash(dynamodb):
    found = stored_user(default_hasher().hash(PASSWORD), roles=("user", "admin"))
    result = login(found)
    assert result == {
        "user": {
            "id": "u-42",
            "email": "alice@example.com",
            "name": "Alice",
            "roles": ["user", "admin"],
            "created_at": "2025-01-01T00:00:00Z",
        },
        "locked": False,
        "mfa": False,
    }
    assert "$argon2" not in str(result)


@pytest.mark.parametrize("verified", [False, True])
def test_verify_passes_the_stored_verification_on_for_the_token_claim(verified):
    found = stored_user(default_hasher().hash(PASSWORD))
    found["Item"]["email_verified"] = {"BOOL": verified}
    result = verify_login({"password": PASSWORD, "found": found}, hasher=default_hasher())
    assert result["user"]["email_verified"] is verified


def test_verify_reports_when_the_hash_needs_rehash():
    old = PasswordHasher(Argon2Params(128, 1, 1)).hash(PASSWORD)
    hasher = default_hasher()
    assert verify_login({"password": PASSWORD, "found": stored_user(old)}, hasher=hasher)[
        "needs_rehash"
    ]


def test_login_rehashes_an_outdated_hash_and_stores_it(dynamodb, table):
    old = PasswordHasher(Argon2Params(128, 1, 1)).hash(PASSWORD)
    found = stored_user(old)
    table.put(found["Item"])
    assert login(found)["locked"] is False
    stored = table.get(user_key(EMAIL))["password_hash"]["S"]
    assert stored != old
    assert default_hasher().verify(stored, PASSWORD)
    assert not default_hasher().needs_rehash(stored)


def test_rehash_does_not_overwrite_a_hash_changed_meanwhile(dynamodb, table):
    old = PasswordHasher(Argon2Params(128, 1, 1)).hash(PASSWORD)
    newer = default_hasher().hash("a completely different passphrase")
    table.put(stored_user(newer)["Item"])  # e.g. a password change won the race
    assert login(stored_user(old))["locked"] is False
    assert table.get(user_key(EMAIL))["password_hash"]["S"] == newer


@pytest.mark.parametrize("found", [{}, None, {"SdkHttpMetadata": {"HttpStatusCode": 200}}])
def test_unknown_user_verifies_the_dummy_hash_then_fails(found):
    hasher = CountingHasher()
    with pytest.raises(InvalidCredentials) as info:
        verify_login({"password": PASSWORD, "found": found}, hasher=hasher)
    assert str(info.value) == "The email or password is incorrect."
    assert hasher.verified == [hasher.dummy_hash()]


def test_wrong_password_fails_after_one_verification():
    hasher = CountingHasher()
    found = stored_user(hasher.hash(PASSWORD))
    with pytest.raises(InvalidCredentials) as info:
        verify_login({"password": PASSWORD + "!", "found": found}, hasher=hasher)
    assert str(info.value) == "The email or password is incorrect."
    assert hasher.verified == [found["Item"]["password_hash"]["S"]]


def test_disabled_user_fails_after_verifying():
    hasher = CountingHasher()
    found = stored_user(hasher.hash(PASSWORD), status="disabled")
    with pytest.raises(InvalidCredentials):
        verify_login({"password": PASSWORD, "found": found}, hasher=hasher)
    assert len(hasher.verified) == 1


def test_unknown_status_fails_closed(dynamodb):
    found = stored_user(default_hasher().hash(PASSWORD), status="pending")
    with pytest.raises(InvalidCredentials):
        login(found)


def test_malformed_stored_hash_is_a_wrong_password(dynamodb):
    with pytest.raises(InvalidCredentials):
        login(stored_user("garbage"))


def test_same_error_for_unknown_wrong_and_disabled(dynamodb):
    real = default_hasher().hash(PASSWORD)
    messages = set()
    for event in (
        {"email": EMAIL, "password": PASSWORD, "found": {}},
        {"email": EMAIL, "password": "other password x", "found": stored_user(real)},
        {"email": EMAIL, "password": PASSWORD, "found": stored_user(real, status="disabled")},
    ):
        with pytest.raises(InvalidCredentials) as info:
            verify_password.handler(event, None)
        messages.add((type(info.value).__name__, str(info.value)))
    assert messages == {("InvalidCredentials", "The email or password is incorrect.")}


def test_verify_password_rejects_bad_state_input(dynamodb):
    with pytest.raises(ValueError):
        verify_password.handler({"email": EMAIL, "found": {}}, None)
    with pytest.raises(ValueError):
        verify_password.handler({"email": EMAIL, "password": PASSWORD, "found": "nope"}, None)
    with pytest.raises(ValueError):
        verify_password.handler({"password": PASSWORD, "found": {}}, None)


def test_dummy_hash_is_prepared_on_every_path():
    hasher = CountingHasher()
    found = stored_user(hasher.hash(PASSWORD))
    verify_login({"password": PASSWORD, "found": found}, hasher=hasher)
    assert hasher.dummy_requests == 1
    with pytest.raises(InvalidCredentials):
        verify_login({"password": PASSWORD, "found": {}}, hasher=hasher)
    assert hasher.dummy_requests == 2


class CountingClient:
    """The test's DynamoDB client, recording each call's name and parameters."""

    def __init__(self, client):
        self._client = client
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def counted(**params):
            self.calls.append((name, params))
            return attribute(**params)

        return counted

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def counted(dynamodb, monkeypatch):
    from steps.core import aws

    client = CountingClient(dynamodb)
    monkeypatch.setattr(aws, "client", lambda service: client)
    return client


def active_totp(table, user_id="u-42"):
    from steps.core.mfa import totp_key

    table.put(
        {
            **totp_key(user_id),
            "entity": {"S": "mfa_totp"},
            "user_id": {"S": user_id},
            "status": {"S": "active"},
            "secret": {"S": "ciphertext"},
            "created_at": {"N": "1"},
        }
    )


def test_a_login_reads_the_lockout_and_totp_records_in_one_consistent_call(counted):
    """The password step's reads: one BatchGetItem, strongly consistent, of the email's lockout
    record and the account's TOTP record; a first right password writes nothing."""
    from steps.core.mfa import totp_key
    from steps.core.table import lockout_key

    assert login(stored_user(default_hasher().hash(PASSWORD)))["mfa"] is False
    assert counted.names == ["batch_get_item"]
    (request,) = counted.calls[0][1]["RequestItems"].values()
    assert request == {"Keys": [lockout_key(EMAIL), totp_key("u-42")], "ConsistentRead": True}


def test_unknown_email_and_wrong_password_make_the_same_calls(counted):
    """Enumeration: one read (an unknown email has no TOTP record to ask for), then the
    failure counted, for a known and an unknown email alike."""
    real = default_hasher().hash(PASSWORD)
    seen = []
    for email, found, password in (
        ("nobody@example.com", {}, PASSWORD),
        (EMAIL, stored_user(real), "other password x"),
    ):
        counted.calls.clear()
        with pytest.raises(InvalidCredentials):
            verify_password.handler({"email": email, "password": password, "found": found}, None)
        seen.append(counted.names)
    assert seen == [["batch_get_item", "update_item"]] * 2


def test_a_right_password_with_mfa_keeps_the_count_and_one_without_clears_it(counted, table):
    """The TOTP record from the same read decides: with MFA on, the count stays for the
    second factor to clear (steps/core/mfa_signin.py); without, the right password clears it."""
    from steps.core.config import get_config
    from steps.core.lockout import failed_logins

    found = stored_user(default_hasher().hash(PASSWORD))
    with pytest.raises(InvalidCredentials):
        login(found, "other password x")
    active_totp(table)
    counted.calls.clear()
    assert login(found)["mfa"] is True
    assert counted.names == ["batch_get_item"]
    assert failed_logins(table, EMAIL, now=time.time(), config=get_config()) is not None
    table.delete(totp_key_of("u-42"))
    counted.calls.clear()
    assert login(found)["mfa"] is False
    assert counted.names == ["batch_get_item", "delete_item"]
    assert failed_logins(table, EMAIL, now=time.time(), config=get_config()) is None


def totp_key_of(user_id):
    from steps.core.mfa import totp_key

    return totp_key(user_id)

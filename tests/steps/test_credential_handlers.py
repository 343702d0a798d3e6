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

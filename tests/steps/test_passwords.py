import pytest

from steps.core.config import Config, override_config
from steps.core.passwords import Argon2Params, PasswordHasher, default_hasher, dummy_hash

PARAMS = Argon2Params(memory_kib=64, time_cost=1, parallelism=1)
GOOD = "violet tractor spoon"


@pytest.fixture
def hasher():
    return PasswordHasher(PARAMS)


def test_hash_is_argon2id_with_configured_parameters(hasher):
    password_hash = hasher.hash(GOOD)
    assert password_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert GOOD not in password_hash
    assert hasher.hash(GOOD) != password_hash  # salted


def test_verify_ok_and_wrong(hasher):
    password_hash = hasher.hash(GOOD)
    assert hasher.verify(password_hash, GOOD) is True
    assert hasher.verify(password_hash, GOOD + " ") is False
    assert hasher.verify(password_hash, GOOD.upper()) is False


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=64,t=1,p=1$broken",
        "$2b$12$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234",
        None,
        42,
    ],
)
def test_verify_returns_false_for_malformed_hash(hasher, bad_hash):
    assert hasher.verify(bad_hash, GOOD) is False


def test_verify_never_raises_for_odd_passwords(hasher):
    password_hash = hasher.hash(GOOD)
    assert hasher.verify(password_hash, "\ud800") is False
    assert hasher.verify(password_hash, None) is False


def test_no_truncation_long_passwords_differ_at_the_end(hasher):
    a = "x" * 127 + "a"
    b = "x" * 127 + "b"
    assert not hasher.verify(hasher.hash(a), b)
    assert not hasher.verify(hasher.hash(b), a)
    long_a, long_b = "y" * 199 + "a", "y" * 199 + "b"
    assert not hasher.verify(hasher.hash(long_a), long_b)


def test_needs_rehash_when_parameters_change(hasher):
    password_hash = hasher.hash(GOOD)
    assert hasher.needs_rehash(password_hash) is False
    stronger = PasswordHasher(Argon2Params(memory_kib=128, time_cost=2, parallelism=1))
    assert stronger.needs_rehash(password_hash) is True
    assert stronger.verify(password_hash, GOOD)  # old hashes still verify
    assert hasher.needs_rehash("garbage") is True


def test_dummy_hash_computed_once_with_the_configured_parameters(hasher):
    first = hasher.dummy_hash()
    assert first.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert PasswordHasher(PARAMS).dummy_hash() == first  # once per process and parameters
    assert not hasher.needs_rehash(first)
    other = PasswordHasher(Argon2Params(memory_kib=72, time_cost=1, parallelism=1)).dummy_hash()
    assert "m=72" in other


def test_default_hasher_follows_config(test_config):
    assert default_hasher().params == PARAMS
    assert dummy_hash() == default_hasher().dummy_hash()
    with override_config(argon2_memory_kib=80):
        assert default_hasher().params.memory_kib == 80
        assert "m=80" in dummy_hash()


def test_production_defaults():
    params = Argon2Params.from_config(Config())
    assert params == Argon2Params(memory_kib=19_456, time_cost=2, parallelism=1)

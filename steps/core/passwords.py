"""Password hashing behind one small interface (argon2id via argon2-cffi).

Parameters come from the configuration. ``verify`` never raises for a wrong password or a
malformed hash (it returns False); ``dummy_hash`` gives a hash with the configured parameters,
computed once per process, so that unknown-user logins spend the same time as wrong passwords.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from steps.core.config import Config, get_config
from steps.core.password_policy import check_password_policy, normalise_login_password

__all__ = [
    "Argon2Params",
    "Hasher",
    "PasswordHasher",
    "check_password_policy",
    "default_hasher",
    "dummy_hash",
    "normalise_login_password",
]

HASH_LENGTH = 32
SALT_LENGTH = 16


class Hasher(Protocol):
    """What the steps need from a password hasher (injectable in tests)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def dummy_hash(self) -> str: ...


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int
    time_cost: int
    parallelism: int

    @classmethod
    def from_config(cls, config: Config) -> Argon2Params:
        return cls(config.argon2_memory_kib, config.argon2_time_cost, config.argon2_parallelism)


_dummy_hashes: dict[Argon2Params, str] = {}


class PasswordHasher:
    """argon2id with the configured memory, time cost and parallelism."""

    def __init__(self, params: Argon2Params) -> None:
        self.params = params
        self._argon2 = _Argon2(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=HASH_LENGTH,
            salt_len=SALT_LENGTH,
            type=Type.ID,
        )

    @classmethod
    def from_config(cls, config: Config | None = None) -> PasswordHasher:
        return cls(Argon2Params.from_config(config or get_config()))

    def hash(self, password: str) -> str:
        if not isinstance(password, str):
            raise TypeError("password must be a string")
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False on mismatch or a malformed hash."""
        if not isinstance(password_hash, str) or not isinstance(password, str):
            return False
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError, UnicodeError, ValueError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters (or cannot be read)."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def dummy_hash(self) -> str:
        """A hash of a random secret with these parameters, computed once per process."""
        existing = _dummy_hashes.get(self.params)
        if existing is None:
            existing = self._argon2.hash(secrets.token_urlsafe(32))
            _dummy_hashes[self.params] = existing
        return existing


@functools.lru_cache(maxsize=4)
def _hasher_for(params: Argon2Params) -> PasswordHasher:
    return PasswordHasher(params)


def default_hasher(config: Config | None = None) -> PasswordHasher:
    """The process-wide hasher for the active (or given) configuration."""
    return _hasher_for(Argon2Params.from_config(config or get_config()))


def dummy_hash(config: Config | None = None) -> str:
    """The unknown-user dummy hash for the active (or given) configuration."""
    return default_hasher(config).dummy_hash()

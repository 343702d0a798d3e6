"""Typed, lazily read configuration of the step handlers.

Values come from environment variables (see ``ENV_VARS``). The configuration is read on first
use and cached (and re-read when one of its variables changes); tests replace it with
:func:`set_config` or :func:`override_config`. Invalid values raise :class:`ValueError` naming
the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

#: Environment variable behind each configuration field.
ENV_VARS: dict[str, str] = {
    "table_name": "TABLE_NAME",
    "signing_keys_secret_id": "SIGNING_KEYS_SECRET_ID",
    "refresh_token_key_secret_id": "REFRESH_TOKEN_KEY_SECRET_ID",
    "token_issuer": "TOKEN_ISSUER",
    "token_audience": "TOKEN_AUDIENCE",
    "token_signing_algorithm": "TOKEN_SIGNING_ALGORITHM",
    "token_clients": "TOKEN_CLIENTS",
    "mfa_enrollment_audience": "MFA_ENROLLMENT_AUDIENCE",
    "access_token_ttl_seconds": "ACCESS_TOKEN_TTL_SECONDS",
    "refresh_token_ttl_seconds": "REFRESH_TOKEN_TTL_SECONDS",
    "argon2_memory_kib": "ARGON2_MEMORY_KIB",
    "argon2_time_cost": "ARGON2_TIME_COST",
    "argon2_parallelism": "ARGON2_PARALLELISM",
    "password_min_length": "PASSWORD_MIN_LENGTH",
    "password_max_length": "PASSWORD_MAX_LENGTH",
    "service_name": "SERVICE_NAME",
    "max_body_bytes": "MAX_BODY_BYTES",
    "refresh_reuse_grace_seconds": "REFRESH_REUSE_GRACE_SECONDS",
    "audit_retention_days": "AUDIT_RETENTION_DAYS",
    "lockout_free_attempts": "LOCKOUT_FREE_ATTEMPTS",
    "lockout_max_seconds": "LOCKOUT_MAX_SECONDS",
    "lockout_reset_seconds": "LOCKOUT_RESET_SECONDS",
}

#: Smallest values the configuration accepts (policy floors, not recommendations).
PASSWORD_MIN_LENGTH_FLOOR = 8
PASSWORD_MAX_LENGTH_FLOOR = 64
#: Longest refresh-token reuse grace period the configuration accepts.
REFRESH_REUSE_GRACE_MAX = 300
#: The default enrolment token audience is the token audience with this suffix.
ENROLLMENT_AUDIENCE_SUFFIX = ":mfa-enroll"
#: Algorithms new signing keys may use (steps.core.signing_keys holds the implementations).
SIGNING_ALGORITHMS = ("ES256", "Ed25519")
#: A client id, an audience or a scope: printable, no spaces (scopes are space-separated).
_NAME = re.compile(r"[!#-\[\]-~]{1,128}")


@dataclass(frozen=True)
class Client:
    """A client of stepauth: its tokens carry ``client_id``, this ``aud`` and these scopes."""

    client_id: str
    audience: str
    scopes: tuple[str, ...] = ()


def parse_clients(text: str, *, default_audience: str) -> tuple[Client, ...]:
    """The ``TOKEN_CLIENTS`` JSON list ``[{client_id, audience, scopes}]``; ValueError if bad.

    Empty: one client ``stepauth`` for ``default_audience`` with no scopes. The first client is
    the default of a request that names none.
    """
    if not text.strip():
        return (Client("stepauth", default_audience),)
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("TOKEN_CLIENTS must be a JSON list of clients.") from None
    if not isinstance(document, list) or not document:
        raise ValueError("TOKEN_CLIENTS must be a non-empty JSON list of clients.")
    clients = []
    for entry in document:
        if not isinstance(entry, dict):
            raise ValueError("TOKEN_CLIENTS entries must be objects.")
        client_id, audience = entry.get("client_id"), entry.get("audience", default_audience)
        scopes = entry.get("scopes", [])
        if not isinstance(scopes, list):
            raise ValueError("TOKEN_CLIENTS scopes must be a list.")
        for value in (client_id, audience, *scopes):
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValueError(
                    "TOKEN_CLIENTS client ids, audiences and scopes must be 1-128 printable "
                    "characters without spaces or quotes."
                )
        clients.append(Client(client_id, audience, tuple(dict.fromkeys(scopes))))
    if len({c.client_id for c in clients}) != len(clients):
        raise ValueError("TOKEN_CLIENTS client ids must be unique.")
    return tuple(clients)


@dataclass(frozen=True)
class Config:
    """Settings shared by the step handlers. Validated on construction."""

    table_name: str = ""
    signing_keys_secret_id: str = ""
    #: The secret holding the HMAC key that derives refresh tokens (the refresh step's only).
    refresh_token_key_secret_id: str = ""
    token_issuer: str = "stepauth"  # noqa: S105 - an issuer name, not a secret
    token_audience: str = "stepauth-api"  # noqa: S105 - an audience, not a secret
    #: Algorithm of new signing keys: ES256 (API Gateway's JWT authorizers accept it) or Ed25519.
    token_signing_algorithm: str = "ES256"  # noqa: S105 - an algorithm name
    #: JSON list of clients ``[{client_id, audience, scopes}]`` (see :func:`parse_clients`).
    token_clients: str = ""
    #: ``aud`` of the enrolment token (``mfa=required``); empty: ``<token_audience>:mfa-enroll``.
    #: Never one of the audiences above, so that no API that accepts stepauth's tokens accepts it.
    mfa_enrollment_audience: str = ""
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 2_592_000
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_min_length: int = 15
    password_max_length: int = 128
    service_name: str = "stepauth"
    max_body_bytes: int = 16_384
    #: Seconds after a refresh token was spent during which presenting it again answers the
    #: family's current token again (two tabs, a lost response), revoking nothing. 0: any
    #: second presentation is reuse and revokes the family.
    refresh_reuse_grace_seconds: int = 10
    #: Days an audit record is kept (its TTL) before DynamoDB deletes it.
    audit_retention_days: int = 400
    #: Failed logins allowed before the account locks (Cognito's shape: the 5th failure locks
    #: for 1 s, each further failure doubles it) …
    lockout_free_attempts: int = 4
    #: … up to this many seconds …
    lockout_max_seconds: int = 900
    #: … and the count starts again after this long without a failure.
    lockout_reset_seconds: int = 900

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{ENV_VARS[f.name]} must be an integer.")
            if f.type == "str" and not isinstance(value, str):
                raise ValueError(f"{ENV_VARS[f.name]} must be a string.")
        for name in ("token_issuer", "token_audience", "service_name"):
            if not getattr(self, name).strip():
                raise ValueError(f"{ENV_VARS[name]} must not be empty.")
        if self.token_signing_algorithm not in SIGNING_ALGORITHMS:
            raise ValueError(
                f"TOKEN_SIGNING_ALGORITHM must be one of {', '.join(SIGNING_ALGORITHMS)}."
            )
        object.__setattr__(
            self,
            "_clients",
            parse_clients(self.token_clients, default_audience=self.token_audience),
        )
        if self.enrollment_audience in self.accepted_audiences:
            raise ValueError(
                "MFA_ENROLLMENT_AUDIENCE must differ from the token audience and every client's."
            )
        _at_least("access_token_ttl_seconds", self.access_token_ttl_seconds, 1)
        _at_least("refresh_token_ttl_seconds", self.refresh_token_ttl_seconds, 1)
        _at_least("argon2_time_cost", self.argon2_time_cost, 1)
        _at_least("argon2_parallelism", self.argon2_parallelism, 1)
        # argon2 itself requires at least 8 KiB of memory per lane.
        _at_least("argon2_memory_kib", self.argon2_memory_kib, 8 * self.argon2_parallelism)
        _at_least("password_min_length", self.password_min_length, PASSWORD_MIN_LENGTH_FLOOR)
        _at_least(
            "password_max_length",
            self.password_max_length,
            max(PASSWORD_MAX_LENGTH_FLOOR, self.password_min_length),
        )
        _at_least("max_body_bytes", self.max_body_bytes, 256)
        _at_least("refresh_reuse_grace_seconds", self.refresh_reuse_grace_seconds, 0)
        _at_most(
            "refresh_reuse_grace_seconds", self.refresh_reuse_grace_seconds, REFRESH_REUSE_GRACE_MAX
        )
        _at_least("audit_retention_days", self.audit_retention_days, 1)
        _at_least("lockout_free_attempts", self.lockout_free_attempts, 1)
        _at_least("lockout_max_seconds", self.lockout_max_seconds, 1)
        _at_least("lockout_reset_seconds", self.lockout_reset_seconds, 60)

    @property
    def clients(self) -> tuple[Client, ...]:
        """The configured clients; the first one is the default."""
        clients: tuple[Client, ...] = object.__getattribute__(self, "_clients")
        return clients

    def client(self, client_id: str | None) -> Client | None:
        """The client named ``client_id`` (the default one for None); None when unknown."""
        if client_id is None:
            return self.clients[0]
        return next((c for c in self.clients if c.client_id == client_id), None)

    # Cached: the authorizer reads these on every request (the config is frozen).
    @cached_property
    def accepted_audiences(self) -> frozenset[str]:
        """Audiences stepauth's own routes accept: its own and every client's."""
        return frozenset({self.token_audience, *(c.audience for c in self.clients)})

    @cached_property
    def enrollment_audience(self) -> str:
        """``aud`` of the enrolment token: its own, accepted only by stepauth's authorizer and
        only on the enrolment routes (steps/core/mfa_enrollment.py)."""
        return self.mfa_enrollment_audience or f"{self.token_audience}{ENROLLMENT_AUDIENCE_SUFFIX}"

    @cached_property
    def authorizer_audiences(self) -> frozenset[str]:
        """What stepauth's authorizer accepts on its own routes: the accepted audiences and the
        enrolment token's (whose policy then allows only the enrolment routes)."""
        return self.accepted_audiences | {self.enrollment_audience}

    @property
    def required_table_name(self) -> str:
        """The table name; raises ValueError when TABLE_NAME is not set."""
        return _required("table_name", self.table_name)

    @property
    def required_signing_keys_secret_id(self) -> str:
        """The signing key secret id; raises ValueError when it is not set."""
        return _required("signing_keys_secret_id", self.signing_keys_secret_id)

    @property
    def required_refresh_token_key_secret_id(self) -> str:
        """The refresh key secret id; raises ValueError when it is not set."""
        return _required("refresh_token_key_secret_id", self.refresh_token_key_secret_id)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_VARS[f.name])
            if raw is None or raw.strip() == "":
                continue
            if f.type == "int":
                try:
                    values[f.name] = int(raw.strip())
                except ValueError:
                    raise ValueError(
                        f"{ENV_VARS[f.name]} must be an integer, got {raw.strip()[:40]!r}."
                    ) from None
            else:
                values[f.name] = raw.strip()
        return cls(**values)


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ValueError(f"{ENV_VARS[name]} must be at least {minimum}, got {value}.")


def _at_most(name: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise ValueError(f"{ENV_VARS[name]} must be at most {maximum}, got {value}.")


def _required(name: str, value: str) -> str:
    if not value:
        raise ValueError(f"{ENV_VARS[name]} is not set; the step handlers need it.")
    return value


_override: Config | None = None
_from_env: tuple[tuple[Any, ...], Config] | None = None


_ENV_NAMES = tuple(ENV_VARS.values())
_ENV_KEYS = tuple(os.fsencode(name) for name in _ENV_NAMES)


def encoded_environ() -> dict[bytes, bytes] | None:
    """``os.environ``'s own store of encoded names and values where there is one (CPython on
    POSIX), else None. Reading it is 20 x cheaper than ``os.environ.get``, which encodes each
    name and decodes each value: for values compared, never parsed, on every invocation."""
    store = getattr(os.environ, "_data", None)
    return store if isinstance(store, dict) and os.name == "posix" else None


def _env_snapshot() -> tuple[Any, ...]:
    """The configuration's variables as they are now (compared, never parsed; asked three
    times per invocation: read from :func:`encoded_environ` where there is one)."""
    store = encoded_environ()
    if store is not None:
        return tuple(map(store.get, _ENV_KEYS))
    return tuple(map(os.environ.get, _ENV_NAMES))


def get_config() -> Config:
    """The active configuration: the test override if set, else the environment.

    The environment is parsed once and re-parsed only when one of its variables changes (the
    in-process local cloud sets a function's variables just before invoking it).
    """
    global _from_env
    if _override is not None:
        return _override
    snapshot = _env_snapshot()
    if _from_env is None or _from_env[0] != snapshot:
        _from_env = (snapshot, Config.from_env())
    return _from_env[1]


def set_config(config: Config | None) -> None:
    """Replace the active configuration (``None`` goes back to the environment, re-read)."""
    global _override, _from_env
    _override = config
    _from_env = None


@contextmanager
def override_config(**changes: Any) -> Iterator[Config]:
    """Temporarily run with the active configuration changed by ``changes``."""
    previous = _override
    config = replace(get_config(), **changes)
    set_config(config)
    try:
        yield config
    finally:
        set_config(previous)

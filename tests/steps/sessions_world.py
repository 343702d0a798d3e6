"""A small world for the session tests: users, signing keys and a manual clock."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.refresh_rotation import spend_refresh_token
from steps.core.signing_keys import SigningKeySet, new_key_set, parse_key_set
from steps.core.table import (
    Table,
    UserRecord,
    family_key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_key,
    user_item,
)
from steps.core.tokens import TokenUser, hash_refresh_token, issue_tokens

NOW = 1_700_000_000
#: The refresh key of the tests (the HMAC key that derives each token's successor).
REFRESH_KEY = b"k" * 32


@dataclass
class World:
    table: Table
    config: Config
    clock: ManualClock = field(default_factory=lambda: ManualClock(float(NOW)))
    key_set: SigningKeySet = field(
        default_factory=lambda: parse_key_set(json.dumps(new_key_set("kid-1")))
    )

    def add_user(
        self,
        user_id: str = "u-1",
        email: str = "alice@example.com",
        *,
        roles: tuple[str, ...] = ("user",),
        status: str = "active",
    ) -> UserRecord:
        user = UserRecord(
            user_id=user_id,
            email=email,
            password_hash="$argon2id$not-used",
            roles=roles,
            status=status,
            created_at="2025-01-01T00:00:00Z",
        )
        self.table.put(user_item(user))
        return user

    def login(self, user: UserRecord) -> dict[str, Any]:
        """What a login's IssueTokens answers: a new family."""
        token_user = TokenUser(
            id=user.user_id, email=user.email, created_at=user.created_at, roles=user.roles
        )
        return issue_tokens(
            token_user, key_set=self.key_set, table=self.table, clock=self.clock, config=self.config
        )

    def spend(self, refresh_token: str, *, grace: int = 0) -> Any:
        return spend_refresh_token(
            self.table,
            hash_refresh_token(refresh_token),
            now=self.clock.now(),
            reuse_grace_seconds=grace,
            key=REFRESH_KEY,
        )

    def refresh(self, refresh_token: str, *, grace: int = 0) -> dict[str, Any]:
        """What the refresh step answers (its access token aside): the family's next token."""
        grant = self.spend(refresh_token, grace=grace)
        return {"refresh_token": grant.refresh_token, "user": grant.user}

    def token(self, refresh_token: str) -> Any:
        return refresh_token_from_item(
            self.table.get(refresh_token_key(hash_refresh_token(refresh_token)))
        )

    def family(self, family_id: str) -> Any:
        return refresh_family_from_item(self.table.get(family_key(family_id)))

    def family_of(self, refresh_token: str) -> Any:
        return self.family(self.token(refresh_token).family_id)


class AtomicCalls:
    """A DynamoDB client whose every call is atomic, as each call is on DynamoDB itself.

    moto's in-process backend checks a ConditionExpression and writes the item in separate
    Python steps, so two threads can both pass the same condition. DynamoDB guarantees that a
    conditional write is atomic per item; serialising each call restores exactly that (and
    nothing more: threads still interleave between calls).
    """

    def __init__(self, client: Any, *, spend_gate: threading.Barrier | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._gate = spend_gate

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._gate is not None and "spent_at" in json.dumps(kwargs):
                # Hold every contender's spend until all of them have read the token as
                # active: the widest race window there is, on every run.
                try:
                    self._gate.wait(timeout=5)
                except threading.BrokenBarrierError:
                    pass
            with self._lock:
                return attribute(*args, **kwargs)

        return call

import threading

import pytest

from steps.core.errors import InvalidGrant, RefreshTokenReused
from steps.core.refresh_rotation import RotationGrant, derive_successor_token, spend_refresh_token
from steps.core.refresh_tokens import hash_refresh_token
from steps.core.sessions import revoke_family
from steps.core.table import Table, family_key, refresh_token_key, user_key

from .sessions_world import NOW, REFRESH_KEY, AtomicCalls


def test_refresh_rotates_within_the_family(world):
    alice = world.add_user(roles=("user", "admin"))
    first = world.login(alice)
    family_id = world.token(first["refresh_token"]).family_id
    world.clock.advance(3600)

    grant = world.spend(first["refresh_token"])
    assert grant == RotationGrant(
        user={
            "id": "u-1",
            "email": "alice@example.com",
            "roles": ["user", "admin"],
            "created_at": "2025-01-01T00:00:00Z",
        },
        family_id=family_id,
        refresh_token=derive_successor_token(
            hash_refresh_token(first["refresh_token"]), REFRESH_KEY
        ),
    )
    assert world.token(grant.refresh_token).status == "active"
    spent = world.token(first["refresh_token"])
    assert spent.status == "spent" and spent.spent_at == NOW + 3600


def test_the_new_token_joins_the_family_with_the_family_expiry(world):
    alice = world.add_user()
    first = world.login(alice)
    world.clock.advance(86_400)
    second = world.refresh(first["refresh_token"])
    old, new = world.token(first["refresh_token"]), world.token(second["refresh_token"])
    assert new.family_id == old.family_id and new.status == "active"
    assert new.issued_at == NOW + 86_400
    assert new.expires_at == old.expires_at == world.family(old.family_id).expires_at
    assert world.family(old.family_id).last_used_at == NOW + 86_400
    world.clock.advance(86_400)
    third = world.refresh(second["refresh_token"])
    assert world.token(third["refresh_token"]).expires_at == old.expires_at


def test_reuse_revokes_the_whole_family(world):
    alice = world.add_user()
    first = world.login(alice)
    other_session = world.login(alice)
    second = world.refresh(first["refresh_token"])
    third = world.refresh(second["refresh_token"])
    world.clock.advance(10)

    with pytest.raises(RefreshTokenReused) as info:
        world.spend(first["refresh_token"])
    error = info.value
    assert isinstance(error, InvalidGrant)
    assert (error.status, error.code, str(error)) == (
        400,
        "invalid_grant",
        "The refresh token is invalid, expired or revoked.",
    )
    assert (error.user_id, error.family_id) == (
        "u-1",
        world.token(first["refresh_token"]).family_id,
    )
    family = world.family_of(first["refresh_token"])
    assert (family.status, family.revoked_reason, family.revoked_at) == (
        "revoked",
        "reuse",
        NOW + 10,
    )

    # The newest token of the family dies with it: the thief's and the owner's alike.
    with pytest.raises(InvalidGrant) as newest:
        world.spend(third["refresh_token"])
    assert type(newest.value) is InvalidGrant
    assert world.token(third["refresh_token"]).status == "active"  # refused before spending
    # Another session of the same user is not touched.
    assert world.refresh(other_session["refresh_token"])["refresh_token"]


def test_unknown_token_is_refused(world):
    world.add_user()
    with pytest.raises(InvalidGrant):
        world.spend("x" * 43)


def test_expired_token_is_refused_while_its_item_is_still_there(world):
    alice = world.add_user()
    first = world.login(alice)
    world.clock.advance(world.config.refresh_token_ttl_seconds - 1)
    second = world.refresh(first["refresh_token"])  # one second left: still fine
    world.clock.advance(1)
    with pytest.raises(InvalidGrant):
        world.spend(second["refresh_token"])
    token = world.token(second["refresh_token"])
    assert token is not None and token.status == "active"  # TTL has not deleted it, not spent


def test_revoked_family_is_refused(world):
    alice = world.add_user()
    first = world.login(alice)
    family_id = world.token(first["refresh_token"]).family_id
    assert revoke_family(world.table, family_id, reason="logout", now=NOW)
    with pytest.raises(InvalidGrant) as info:
        world.spend(first["refresh_token"])
    assert type(info.value) is InvalidGrant
    assert world.family(family_id).revoked_reason == "logout"  # not overwritten by "reuse"


def test_missing_family_is_refused(world):
    alice = world.add_user()
    first = world.login(alice)
    world.table.client.delete_item(
        TableName=world.table.name, Key=family_key(world.token(first["refresh_token"]).family_id)
    )
    with pytest.raises(InvalidGrant):
        world.spend(first["refresh_token"])


def test_disabled_user_is_refused(world):
    alice = world.add_user()
    first = world.login(alice)
    world.add_user(status="disabled")  # same user, now disabled
    with pytest.raises(InvalidGrant):
        world.spend(first["refresh_token"])


def test_deleted_or_replaced_user_is_refused(world):
    alice = world.add_user()
    first, second = world.login(alice), world.login(alice)
    world.add_user(user_id="u-new")  # the email now belongs to another account
    with pytest.raises(InvalidGrant):
        world.spend(first["refresh_token"])
    world.table.client.delete_item(TableName=world.table.name, Key=user_key(alice.email))
    with pytest.raises(InvalidGrant):
        world.spend(second["refresh_token"])


def test_a_replay_within_the_grace_answers_the_current_token_again(world):
    alice = world.add_user()
    first = world.login(alice)
    second = world.refresh(first["refresh_token"], grace=10)
    world.clock.advance(10)
    replay = world.spend(first["refresh_token"], grace=10)
    assert replay.replayed and replay.refresh_token == second["refresh_token"]
    assert world.family_of(first["refresh_token"]).status == "active"
    assert world.token(second["refresh_token"]).status == "active"  # nothing spent again
    third = world.refresh(second["refresh_token"], grace=10)  # the family still works

    # An older ancestor (its successor is spent too) is reuse, even within the window.
    with pytest.raises(RefreshTokenReused):
        world.spend(first["refresh_token"], grace=10)
    assert world.family_of(first["refresh_token"]).revoked_reason == "reuse"
    with pytest.raises(InvalidGrant):
        world.spend(third["refresh_token"], grace=10)


def test_a_replay_after_the_grace_is_reuse_and_revokes_once(world):
    alice = world.add_user()
    first = world.login(alice)
    world.refresh(first["refresh_token"], grace=10)
    world.clock.advance(11)  # 11 s after it was spent
    with pytest.raises(RefreshTokenReused):
        world.spend(first["refresh_token"], grace=10)
    assert world.family_of(first["refresh_token"]).revoked_reason == "reuse"
    # The family is revoked once: a second replay is refused without a second revocation.
    with pytest.raises(InvalidGrant) as again:
        world.spend(first["refresh_token"], grace=10)
    assert type(again.value) is InvalidGrant


def test_a_replay_under_another_key_is_reuse(world):
    alice = world.add_user()
    first = world.login(alice)
    world.refresh(first["refresh_token"], grace=10)
    with pytest.raises(RefreshTokenReused):
        spend_refresh_token(
            world.table,
            hash_refresh_token(first["refresh_token"]),
            now=world.clock.now(),
            reuse_grace_seconds=10,
            key=b"another key of at least 32 bytes!",
        )


def test_the_successor_is_keyed_and_shaped_like_a_random_token():
    parent = hash_refresh_token("t" * 43)
    child = derive_successor_token(parent, REFRESH_KEY)
    assert len(child) == 43 and child.replace("-", "").replace("_", "").isalnum()
    assert child != derive_successor_token(parent, b"x" * 32)
    with pytest.raises(ValueError):
        derive_successor_token(parent, b"short")


def test_without_grace_an_immediate_reuse_revokes(world):
    alice = world.add_user()
    first = world.login(alice)
    world.refresh(first["refresh_token"])
    with pytest.raises(RefreshTokenReused):
        world.spend(first["refresh_token"])


def _race(world, token, grace, n=10):
    gate = threading.Barrier(n)
    world.table = Table(AtomicCalls(world.table.client, spend_gate=gate), world.table.name)
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def attempt():
        barrier.wait()
        try:
            outcome = world.spend(token, grace=grace)
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not gate.broken  # all ten read the token as active before anyone spent it
    return results


def test_ten_concurrent_refreshes_without_grace_yield_one_success_and_one_revocation(world):
    alice = world.add_user()
    first = world.login(alice)
    results = _race(world, first["refresh_token"], grace=0)
    grants = [r for r in results if isinstance(r, RotationGrant)]
    errors = [r for r in results if not isinstance(r, RotationGrant)]
    assert len(grants) == 1 and len(errors) == 9
    assert all(isinstance(e, InvalidGrant) for e in errors), [repr(e) for e in errors]
    # The concurrent use counts as reuse: the family is revoked, by exactly one of them.
    assert sum(isinstance(e, RefreshTokenReused) for e in errors) == 1
    assert world.family_of(first["refresh_token"]).revoked_reason == "reuse"


def test_ten_concurrent_refreshes_within_grace_all_get_the_same_token(world):
    alice = world.add_user()
    first = world.login(alice)
    results = _race(world, first["refresh_token"], grace=10)
    assert all(isinstance(r, RotationGrant) for r in results), [repr(r) for r in results]
    assert len({r.refresh_token for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert world.family_of(first["refresh_token"]).status == "active"
    assert world.token(results[0].refresh_token).status == "active"


def test_a_family_revoked_before_the_commit_leaves_the_token_unspent(world):
    alice = world.add_user()
    first = world.login(alice)
    family_id = world.token(first["refresh_token"]).family_id
    table = world.table

    class RevokeBetweenReadAndCommit(Table):
        def transact(self, operations):
            revoke_family(table, family_id, reason="logout", now=NOW)
            return super().transact(operations)

    world.table = RevokeBetweenReadAndCommit(table.client, table.name)
    with pytest.raises(InvalidGrant) as info:
        world.spend(first["refresh_token"])
    assert type(info.value) is InvalidGrant
    world.table = table
    assert world.token(first["refresh_token"]).status == "active"
    successor = derive_successor_token(hash_refresh_token(first["refresh_token"]), REFRESH_KEY)
    assert world.token(successor) is None  # nothing of the rotation was written
    assert world.family(family_id).revoked_reason == "logout"


def test_a_fault_at_the_commit_leaves_the_token_current_and_the_retry_succeeds(world):
    alice = world.add_user()
    first = world.login(alice)
    table = world.table

    class Throttled(Exception):
        response = {"Error": {"Code": "ThrottlingException"}}

    class ThrottledOnce(Table):
        def transact(self, operations):
            raise Throttled

    world.table = ThrottledOnce(table.client, table.name)
    with pytest.raises(Throttled):
        world.spend(first["refresh_token"])
    world.table = table
    assert world.token(first["refresh_token"]).status == "active"
    # The client's retry of the same request (strict mode: no grace to hide behind) succeeds.
    second = world.refresh(first["refresh_token"], grace=0)
    assert world.token(second["refresh_token"]).status == "active"
    assert world.family_of(first["refresh_token"]).status == "active"


def test_a_grant_refused_for_the_family_leaves_the_token_current(world):
    """The family's client and scopes are checked before the spend: a refresh asking to widen
    them is refused and the presented token still works."""
    alice = world.add_user()
    first = world.login(alice)

    def refuse(_family_item):
        raise InvalidGrant

    with pytest.raises(InvalidGrant):
        spend_refresh_token(
            world.table,
            hash_refresh_token(first["refresh_token"]),
            now=world.clock.now(),
            reuse_grace_seconds=0,
            key=REFRESH_KEY,
            grant_for_family=refuse,
        )
    assert world.token(first["refresh_token"]).status == "active"
    seen = []
    grant = spend_refresh_token(
        world.table,
        hash_refresh_token(first["refresh_token"]),
        now=world.clock.now(),
        reuse_grace_seconds=0,
        key=REFRESH_KEY,
        grant_for_family=lambda item: seen.append(item["family_id"]["S"]) or "granted",
    )
    assert grant.family_grant == "granted"
    assert seen == [world.token(first["refresh_token"]).family_id]


class CountingClient:
    """A DynamoDB client that records the name of every API call made through it."""

    def __init__(self, client) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name.startswith("_") or name in ("meta", "exceptions") or not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return counted


def _counted_spend(world, refresh_token: str) -> tuple[RotationGrant, list[str]]:
    client = CountingClient(world.table.client)
    grant = spend_refresh_token(
        Table(client, world.table.name),
        hash_refresh_token(refresh_token),
        now=world.clock.now(),
        reuse_grace_seconds=0,
        key=REFRESH_KEY,
    )
    return grant, client.calls


def test_a_refresh_makes_three_dynamodb_calls(world):
    """The token (it names its family and the account's email), the family and the user in one
    consistent BatchGetItem, and the one transaction: after login and after a rotation alike."""
    alice = world.add_user()
    first = world.login(alice)["refresh_token"]
    grant, calls = _counted_spend(world, first)
    assert calls == ["get_item", "batch_get_item", "transact_write_items"]
    _, calls = _counted_spend(world, grant.refresh_token)
    assert calls == ["get_item", "batch_get_item", "transact_write_items"]


def test_a_token_stored_without_the_email_still_refreshes(world):
    """Tokens written before they carried the email: the family first, then the user."""
    alice = world.add_user()
    first = world.login(alice)["refresh_token"]
    world.table.client.update_item(
        TableName=world.table.name,
        Key=refresh_token_key(hash_refresh_token(first)),
        UpdateExpression="REMOVE email",
    )
    grant, calls = _counted_spend(world, first)
    assert calls == ["get_item", "get_item", "get_item", "transact_write_items"]
    assert grant.user["email"] == alice.email
    _, calls = _counted_spend(world, grant.refresh_token)  # its successor carries the email
    assert calls == ["get_item", "batch_get_item", "transact_write_items"]


def _move_account(world, user, new_email: str):
    """What a confirmed email change does to the user item: the same account under a new key."""
    world.table.client.delete_item(TableName=world.table.name, Key=user_key(user.email))
    return world.add_user(user.user_id, new_email, roles=user.roles)


def test_a_session_follows_its_account_to_a_new_email(world):
    """An email change ends no session: the first refresh after it finds the account by its id
    and writes the new email on the family and the successor; the next one needs one read."""
    alice = world.add_user()
    first, other = world.login(alice)["refresh_token"], world.login(alice)["refresh_token"]
    moved = _move_account(world, alice, "alice.new@example.com")

    grant, calls = _counted_spend(world, first)
    assert calls == ["get_item", "batch_get_item", "get_paginator", "transact_write_items"]
    assert grant.user["email"] == "alice.new@example.com" and grant.user["id"] == moved.user_id
    assert world.family(grant.family_id).email == "alice.new@example.com"
    successor = world.table.get(refresh_token_key(hash_refresh_token(grant.refresh_token)))
    assert successor["email"] == {"S": "alice.new@example.com"}
    _, calls = _counted_spend(world, grant.refresh_token)
    assert calls == ["get_item", "batch_get_item", "transact_write_items"]
    assert world.refresh(other)["user"]["email"] == "alice.new@example.com"  # the other session


def test_a_session_follows_its_account_when_the_old_address_is_registered_again(world):
    alice = world.add_user()
    first = world.login(alice)["refresh_token"]
    _move_account(world, alice, "alice.new@example.com")
    world.add_user("u-2", alice.email)  # someone else takes the old address

    assert world.refresh(first)["user"] == {
        "id": "u-1",
        "email": "alice.new@example.com",
        "roles": ["user"],
        "created_at": "2025-01-01T00:00:00Z",
    }


def test_a_moved_account_that_was_disabled_or_deleted_is_refused(world):
    alice = world.add_user()
    first, second = world.login(alice), world.login(alice)
    _move_account(world, alice, "alice.new@example.com")
    world.add_user(alice.user_id, "alice.new@example.com", status="disabled")
    with pytest.raises(InvalidGrant):
        world.spend(first["refresh_token"])
    world.table.client.delete_item(
        TableName=world.table.name, Key=user_key("alice.new@example.com")
    )
    with pytest.raises(InvalidGrant):
        world.spend(second["refresh_token"])
    assert world.token(second["refresh_token"]).status == "active"  # nothing spent

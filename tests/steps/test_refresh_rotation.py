import threading

import pytest

from steps.core.errors import InvalidGrant, RefreshTokenReused
from steps.core.refresh_rotation import RotationGrant
from steps.core.sessions import revoke_family
from steps.core.table import Table, family_key, user_key

from .sessions_world import NOW, AtomicCalls


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
    )
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


def test_grace_refuses_without_revoking_then_reuse_revokes(world):
    alice = world.add_user()
    first = world.login(alice)
    second = world.refresh(first["refresh_token"], grace=10)
    world.clock.advance(10)
    with pytest.raises(InvalidGrant) as info:
        world.spend(first["refresh_token"], grace=10)
    assert type(info.value) is InvalidGrant  # not reuse: a retry within the window
    assert world.family_of(first["refresh_token"]).status == "active"
    third = world.refresh(second["refresh_token"], grace=10)  # the family still works

    world.clock.advance(1)  # 11 s after it was spent
    with pytest.raises(RefreshTokenReused):
        world.spend(first["refresh_token"], grace=10)
    assert world.family_of(first["refresh_token"]).revoked_reason == "reuse"
    with pytest.raises(InvalidGrant):
        world.spend(third["refresh_token"], grace=10)


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


def test_ten_concurrent_refreshes_yield_exactly_one_success(world):
    alice = world.add_user()
    first = world.login(alice)
    results = _race(world, first["refresh_token"], grace=0)
    grants = [r for r in results if isinstance(r, RotationGrant)]
    errors = [r for r in results if not isinstance(r, RotationGrant)]
    assert len(grants) == 1 and len(errors) == 9
    assert all(isinstance(e, InvalidGrant) for e in errors), [repr(e) for e in errors]
    # The concurrent use counts as reuse: the family is revoked, the winner's next step fails.
    assert world.family_of(first["refresh_token"]).revoked_reason == "reuse"


def test_concurrent_refreshes_within_grace_do_not_revoke(world):
    alice = world.add_user()
    first = world.login(alice)
    results = _race(world, first["refresh_token"], grace=30)
    grants = [r for r in results if isinstance(r, RotationGrant)]
    assert len(grants) == 1
    assert all(type(r) is InvalidGrant for r in results if r not in grants)
    assert world.family_of(first["refresh_token"]).status == "active"

import pytest

from steps.core.errors import InvalidGrant, UserNotFound
from steps.core.sessions import (
    access_token_refusal,
    delete_account,
    disable_user,
    end_access_tokens,
    family_of_refresh_token,
    find_user_by_id,
    is_access_token_denied,
    revoke_all_families,
    revoke_family,
)
from steps.core.table import (
    denied_token_item,
    deny_key,
    tokens_valid_after_key,
    user_from_item,
    user_key,
)
from steps.core.tokens import hash_refresh_token

from .sessions_world import NOW


def _family_id(world, body):
    return world.token(body["refresh_token"]).family_id


def test_revoke_family_once(world):
    alice = world.add_user()
    family_id = _family_id(world, world.login(alice))
    assert revoke_family(world.table, family_id, reason="admin", now=NOW + 5)
    family = world.family(family_id)
    assert (family.status, family.revoked_reason, family.revoked_at) == (
        "revoked",
        "admin",
        NOW + 5,
    )
    # A second revocation changes nothing: the first reason and time stay.
    assert not revoke_family(world.table, family_id, reason="logout", now=NOW + 9)
    assert world.family(family_id) == family


def test_revoke_family_checks_the_owner(world):
    alice, bob = world.add_user(), world.add_user("u-2", "bob@example.com")
    family_id = _family_id(world, world.login(alice))
    assert not revoke_family(
        world.table, family_id, reason="logout", now=NOW, owner_user_id=bob.user_id
    )
    assert world.family(family_id).status == "active"
    assert revoke_family(world.table, family_id, reason="logout", now=NOW, owner_user_id="u-1")


def test_revoke_missing_family_writes_nothing(world):
    assert not revoke_family(world.table, "no-such-family", reason="logout", now=NOW)
    assert world.table.client.scan(TableName=world.table.name)["Items"] == []


def test_revoke_family_needs_a_known_reason(world):
    with pytest.raises(ValueError):
        revoke_family(world.table, "f", reason="because", now=NOW)


def test_revoke_all_families(world):
    alice, bob = world.add_user(), world.add_user("u-2", "bob@example.com")
    sessions = [world.login(alice) for _ in range(3)]
    bobs = world.login(bob)
    already = _family_id(world, sessions[0])
    revoke_family(world.table, already, reason="logout", now=NOW)

    assert revoke_all_families(world.table, "u-1", reason="logout_all", now=NOW + 1) == 2
    reasons = {world.family(_family_id(world, s)).revoked_reason for s in sessions[1:]}
    assert reasons == {"logout_all"}
    assert world.family(already).revoked_reason == "logout"
    assert world.family(_family_id(world, bobs)).status == "active"
    for session in sessions:
        with pytest.raises(InvalidGrant):
            world.spend(session["refresh_token"])
    assert revoke_all_families(world.table, "u-1", reason="logout_all", now=NOW + 2) == 0
    assert revoke_all_families(world.table, "nobody", reason="logout_all", now=NOW) == 0


def test_family_of_refresh_token(world):
    alice = world.add_user()
    body = world.login(alice)
    token_hash = hash_refresh_token(body["refresh_token"])
    assert family_of_refresh_token(world.table, token_hash) == _family_id(world, body)
    assert family_of_refresh_token(world.table, hash_refresh_token("unknown")) is None
    later = NOW + world.config.refresh_token_ttl_seconds
    assert family_of_refresh_token(world.table, token_hash, now=later) is None


def test_denylist(world):
    table = world.table
    assert not is_access_token_denied(table, "j-1", now=NOW)
    table.put(denied_token_item("j-1", NOW + 900))
    assert is_access_token_denied(table, "j-1", now=NOW)
    assert is_access_token_denied(table, "j-1", now=NOW + 899)
    # Expired but not yet deleted by TTL: its token has expired too, so it no longer counts.
    assert not is_access_token_denied(table, "j-1", now=NOW + 900)
    assert not is_access_token_denied(table, "j-2", now=NOW)


def test_denylist_entry_without_expiry_fails_closed(world):
    world.table.put({**deny_key("j-3"), "entity": {"S": "denied_token"}})
    assert is_access_token_denied(world.table, "j-3", now=NOW)
    world.table.put({**deny_key("j-4"), "expires_at": {"S": "soon"}})
    assert is_access_token_denied(world.table, "j-4", now=NOW)


def test_find_user_by_id(world):
    alice = world.add_user(roles=("user", "admin"))
    world.add_user("u-2", "bob@example.com")
    found = find_user_by_id(world.table, "u-1")
    assert found == alice
    assert find_user_by_id(world.table, "u-3") is None
    for implausible in ("", "x" * 200, "a\nb", None):
        assert find_user_by_id(world.table, implausible) is None


def test_disable_user_disables_and_revokes_everything(world):
    alice = world.add_user()
    sessions = [world.login(alice) for _ in range(2)]
    world.refresh(sessions[0]["refresh_token"])
    user = disable_user(world.table, "u-1", now=NOW + 60)
    assert (user.user_id, user.email, user.status) == ("u-1", alice.email, "disabled")
    stored = world.table.get(user_key(alice.email))
    assert user_from_item(stored).status == "disabled"
    assert stored["disabled_at"] == {"N": str(NOW + 60)}
    assert stored["password_hash"]["S"] == alice.password_hash  # the rest is untouched
    for session in sessions:
        family = world.family_of(session["refresh_token"])
        assert (family.status, family.revoked_reason) == ("revoked", "user_disabled")
    # Idempotent, and still refuses every refresh.
    assert disable_user(world.table, "u-1", now=NOW + 61).status == "disabled"
    with pytest.raises(InvalidGrant):
        world.spend(sessions[1]["refresh_token"])


def test_disable_unknown_user(world):
    with pytest.raises(UserNotFound) as info:
        disable_user(world.table, "u-404", now=NOW)
    assert (info.value.status, info.value.code, str(info.value)) == (
        404,
        "not_found",
        "No such user.",
    )


# --- "tokens valid after" --------------------------------------------------------------------


def _refusal(world, *, iat, jti="j-1", user_id="u-1", now=NOW):
    return access_token_refusal(world.table, jti=jti, user_id=user_id, issued_at=iat, now=now)


def test_tokens_valid_after_refuses_tokens_issued_before_it(world):
    assert _refusal(world, iat=NOW) is None
    assert end_access_tokens(world.table, "u-1", now=NOW + 10.2) == NOW + 11
    # Issued before, or in the same second (iat has whole seconds): refused; after: fine.
    assert _refusal(world, iat=NOW, now=NOW + 12) == "user_tokens_ended"
    assert _refusal(world, iat=NOW + 10, now=NOW + 12) == "user_tokens_ended"
    assert _refusal(world, iat=NOW + 11, now=NOW + 12) is None
    assert _refusal(world, iat=NOW, user_id="u-2", now=NOW + 12) is None  # others untouched


def test_tokens_valid_after_only_moves_forward(world):
    end_access_tokens(world.table, "u-1", now=NOW + 100)
    end_access_tokens(world.table, "u-1", now=NOW + 50)  # a late, older write changes nothing
    item = world.table.get(tokens_valid_after_key("u-1"))
    assert item["tokens_valid_after"] == {"N": str(NOW + 100)}
    assert int(item["expires_at"]["N"]) > NOW + 100 + 24 * 3600


def test_refusal_reads_the_denylist_too(world):
    world.table.put(denied_token_item("j-1", NOW + 900))
    assert _refusal(world, iat=NOW) == "revoked"
    assert _refusal(world, iat=NOW, jti="j-2") is None


def test_an_unreadable_marker_fails_closed(world):
    world.table.put({**tokens_valid_after_key("u-1"), "tokens_valid_after": {"S": "soon"}})
    assert _refusal(world, iat=NOW + 10_000) == "user_tokens_ended"


def test_disable_and_delete_end_the_users_access_tokens(world):
    alice = world.add_user()
    disable_user(world.table, "u-1", now=NOW + 60)
    assert _refusal(world, iat=NOW + 59, now=NOW + 61) == "user_tokens_ended"
    bob = world.add_user("u-2", "bob@example.com")
    assert alice and bob
    delete_account(world.table, "u-2", now=NOW + 70)
    assert _refusal(world, iat=NOW + 69, user_id="u-2", now=NOW + 71) == "user_tokens_ended"


def test_find_user_by_id_asks_the_index_again_while_it_lags(world):
    world.add_user()
    queries = []
    real_query = world.table.query_gsi1

    def lagging_query(*args, **kwargs):
        queries.append(args)
        return [] if len(queries) < 3 else real_query(*args, **kwargs)

    world.table.query_gsi1 = lagging_query
    waited = []
    found = find_user_by_id(world.table, "u-1", lag_waits=(0.1, 0.2, 0.4), sleep=waited.append)
    assert found is not None and found.user_id == "u-1"
    assert waited == [0.1, 0.2] and len(queries) == 3
    queries.clear()
    waited.clear()
    assert find_user_by_id(world.table, "u-9", lag_waits=(0.1, 0.2), sleep=waited.append) is None
    assert waited == [0.1, 0.2]  # then it gives up


def test_find_user_by_id_reads_the_callers_session_consistently(world):
    """With the caller's session (its token's sid) the user is found through the family's email
    by two consistent reads, with the index showing nothing and no wait."""
    alice = world.add_user()
    bob = world.add_user("u-2", "bob@example.com")
    family_id = world.token(world.login(alice)["refresh_token"]).family_id
    bobs_family = world.token(world.login(bob)["refresh_token"]).family_id
    world.table.query_gsi1 = lambda *args, **kwargs: []  # the index trails everything

    def no_wait(seconds):
        raise AssertionError("waited for the index")

    found = find_user_by_id(world.table, "u-1", session_id=family_id, sleep=no_wait)
    assert found is not None and found.user_id == "u-1"
    # Another user's session (a forged caller) never finds this one: the index is asked.
    assert find_user_by_id(world.table, "u-1", session_id=bobs_family, lag_waits=()) is None
    assert find_user_by_id(world.table, "u-1", session_id="x" * 500, lag_waits=()) is None

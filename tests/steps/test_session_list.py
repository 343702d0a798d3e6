"""GET /v1/sessions and DELETE /v1/sessions/{id}: the steps and the core they use."""

from __future__ import annotations

import pytest

from steps import end_session, list_sessions
from steps.core.errors import SessionNotFound
from steps.core.sessions import active_sessions, describe_session, revoke_family
from steps.core.sessions import end_session as end

from .sessions_world import NOW

CALLER = {"userId": "u-1", "jti": "j-1", "exp": str(NOW + 900)}


def family_of(world, session) -> str:
    return world.token(session["refresh_token"]).family_id


@pytest.fixture
def alice_and_bob(world):
    alice, bob = world.add_user(), world.add_user("u-2", "bob@example.com")
    first = world.login(alice)
    world.clock.advance(100)
    second = world.login(alice)
    world.clock.advance(100)
    world.refresh(first["refresh_token"])  # the first family is now the last used
    return {
        "first": family_of(world, first),
        "second": family_of(world, second),
        "bob": family_of(world, world.login(bob)),
    }


def test_active_sessions_most_recently_used_first(world, alice_and_bob) -> None:
    sessions = active_sessions(world.table, "u-1", now=world.clock.now())
    assert [s.family_id for s in sessions] == [alice_and_bob["first"], alice_and_bob["second"]]


def test_revoked_and_expired_sessions_never_appear(world, alice_and_bob) -> None:
    revoke_family(world.table, alice_and_bob["first"], reason="logout", now=world.clock.now())
    assert [s.family_id for s in active_sessions(world.table, "u-1", now=world.clock.now())] == [
        alice_and_bob["second"]
    ]
    # Past the expiry, with every item still in the table (TTL has not run): none.
    later = NOW + world.config.refresh_token_ttl_seconds + 100
    assert world.family(alice_and_bob["second"]) is not None
    assert active_sessions(world.table, "u-1", now=later) == []


def test_a_session_is_described_without_secrets(world, alice_and_bob) -> None:
    (family, _) = active_sessions(world.table, "u-1", now=world.clock.now())
    described = describe_session(family)
    assert described == {
        "id": alice_and_bob["first"],
        "created_at": "2023-11-14T22:13:20Z",
        "last_used_at": "2023-11-14T22:16:40Z",
        "expires_at": "2023-12-14T22:13:20Z",
        "user_agent": "",
        "current": False,
    }
    assert describe_session(family, current_session_id=family.family_id)["current"] is True


def test_the_list_step(world, alice_and_bob) -> None:
    result = list_sessions.list_sessions(
        {"caller": CALLER, "context": {}}, table=world.table, now=world.clock.now()
    )
    assert [s["id"] for s in result["sessions"]] == [
        alice_and_bob["first"],
        alice_and_bob["second"],
    ]
    assert [s["current"] for s in result["sessions"]] == [False, False]  # a token without sid
    with pytest.raises(ValueError):
        list_sessions.list_sessions({"caller": {}}, table=world.table, now=NOW)


class TrailingIndex:
    """The table as it is right after a write on AWS: gsi1 does not show the newest families."""

    def __init__(self, table, hidden: set[str]) -> None:
        self._table, self._hidden = table, hidden

    def query_gsi1(self, *args, **kwargs):
        for item in self._table.query_gsi1(*args, **kwargs):
            if item.get("family_id", {}).get("S") not in self._hidden:
                yield item

    def __getattr__(self, name):
        return getattr(self._table, name)


def test_the_callers_own_session_is_listed_while_the_index_trails(world, alice_and_bob) -> None:
    """The token's sid is read with a consistent GetItem: the session in use is always listed,
    marked current, even when gsi1 has not caught up with the login that started it."""
    second = alice_and_bob["second"]
    lagging = TrailingIndex(world.table, {second})
    caller = {**CALLER, "sid": second}
    result = list_sessions.list_sessions(
        {"caller": caller, "context": {}}, table=lagging, now=world.clock.now()
    )
    assert [(s["id"], s["current"]) for s in result["sessions"]] == [
        (alice_and_bob["first"], False),
        (second, True),
    ]
    # Ended since the index saw it: the table is the truth, the index's copy is not shown.
    revoke_family(world.table, alice_and_bob["first"], reason="logout", now=world.clock.now())
    caller = {**CALLER, "sid": alice_and_bob["first"]}
    result = list_sessions.list_sessions(
        {"caller": caller, "context": {}}, table=world.table, now=world.clock.now()
    )
    assert [s["id"] for s in result["sessions"]] == [second]
    # Another user's session id in a (forged) caller is never listed.
    caller = {**CALLER, "sid": alice_and_bob["bob"]}
    result = list_sessions.list_sessions(
        {"caller": caller, "context": {}}, table=world.table, now=world.clock.now()
    )
    assert [s["id"] for s in result["sessions"]] == [second]


def test_ending_a_session_revokes_only_that_one(world, alice_and_bob) -> None:
    result = end_session.end_session_for_state(
        {"caller": CALLER, "target": {"sessionId": alice_and_bob["second"]}},
        table=world.table,
        now=world.clock.now(),
    )
    assert result == {"ended": alice_and_bob["second"]}
    family = world.family(alice_and_bob["second"])
    assert (family.status, family.revoked_reason) == ("revoked", "session_ended")
    assert world.family(alice_and_bob["first"]).status == "active"


@pytest.mark.parametrize("which", ["bob", "unknown", "ended", "expired", "garbage", "empty"])
def test_what_is_not_the_callers_active_session_is_not_found(world, alice_and_bob, which) -> None:
    now = world.clock.now()
    session_id = {
        "bob": alice_and_bob["bob"],
        "unknown": "0" * 32,
        "ended": alice_and_bob["second"],
        "expired": alice_and_bob["first"],
        "garbage": "x" * 500,
        "empty": "",
    }[which]
    if which == "ended":
        end(world.table, "u-1", session_id, now=now)
    if which == "expired":
        now = NOW + world.config.refresh_token_ttl_seconds + 1
    with pytest.raises(SessionNotFound) as refused:
        end(world.table, "u-1", session_id, now=now)
    assert str(refused.value) == "No such session."
    if which == "bob":
        assert world.family(session_id).status == "active"
    if which == "expired":
        assert world.family(session_id).status == "active"  # nothing written


def test_the_end_step_needs_a_target(world) -> None:
    with pytest.raises(ValueError, match="target.sessionId"):
        end_session.end_session_for_state({"caller": CALLER}, table=world.table, now=NOW)


def test_ending_a_session_keeps_its_tokens_for_the_stream_cleanup(world, alice_and_bob) -> None:
    """One write on the request path: the tokens stay until the stream clean-up runs."""
    token_items = [
        i
        for i in world.table.client.scan(TableName=world.table.name)["Items"]
        if i["entity"]["S"] == "refresh_token" and i["family_id"]["S"] == alice_and_bob["second"]
    ]
    end(world.table, "u-1", alice_and_bob["second"], now=world.clock.now())
    for item in token_items:
        assert world.table.get({"pk": item["pk"], "sk": item["sk"]}) is not None

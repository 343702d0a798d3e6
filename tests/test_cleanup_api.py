"""Sessions and the event-driven clean-up end to end over HTTP, with the clock driven forward.

The handlers run in this process, so moving ``SystemClock.now`` moves every step's and the
authorizer's clock; ``streams.sweep(now)`` is Time to Live at that time and
``streams.drain()`` delivers the stream to the clean-up Lambda. Nothing sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from steps.core.clock import SystemClock
from tests.test_api import Api, new_email

DAY = 86_400
REFRESH_TTL = 30 * DAY


class Clock:
    """The handlers' clock, moved forward by the tests."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def forward(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    from authorizer import handler as authorizer_handler
    from steps.core.signing_keys import clear_signing_keys_cache

    shifted = Clock()
    monkeypatch.setattr(SystemClock, "now", lambda self: shifted.now())
    yield shifted
    # Key caches stamped with the moved clock would look fresh for a month once it is back.
    monkeypatch.undo()
    authorizer_handler._keys.clear()
    clear_signing_keys_cache()


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Any:
    from steps.core.table import Table

    session = boto3.Session(region_name=local_cloud.settings.region)
    return Table.from_client(session.client("dynamodb"), local_cloud.stack.outputs["TableName"])


@pytest.fixture
def streams(local_cloud: LocalCloud) -> Any:
    return local_cloud.streams


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "cleanup-tests/2"}


def signed_up(api: Api) -> tuple[str, dict]:
    email = new_email()
    answer = api.register(email)
    assert answer.status == 201, answer.body
    return email, answer.json()


def refresh(api: Api, token: str):
    return api.post_json("/v1/token/refresh", {"refresh_token": token})


def sessions_of(api: Api, access_token: str) -> list[dict]:
    answer = api.call("GET", "/v1/sessions", headers=bearer(access_token))
    assert answer.status == 200, answer.body
    return answer.json()["sessions"]


def user_items(table: Any, user_id: str, prefix: str) -> list[dict]:
    return list(table.query_gsi1(f"USERID#{user_id}", sk_prefix=prefix))


def family_tokens(table: Any, user_id: str, family_id: str) -> list[dict]:
    return user_items(table, user_id, f"REFRESH#{family_id}#")


def audit_records(table: Any, user_id: str) -> list[dict]:
    return table.client.query(
        TableName=table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#USER#{user_id}"}},
    )["Items"]


# -- sessions ---------------------------------------------------------------------------------


def test_a_user_lists_and_ends_their_sessions(api: Api) -> None:
    email, first = signed_up(api)
    second, third = api.login(email).json(), api.login(email).json()
    listed = sessions_of(api, third["access_token"])
    assert len(listed) == 3
    fields = {"id", "created_at", "last_used_at", "expires_at", "user_agent", "current"}
    assert set(listed[0]) == fields
    # The third login's token names its own session: that one, and only it, is current.
    assert [s["current"] for s in listed].count(True) == 1
    assert listed[0]["user_agent"] == "stepauth-tests/1"
    assert json.dumps(listed).count("refresh") == 0  # no token, no hash
    ids = [s["id"] for s in listed]

    ended = api.call("DELETE", f"/v1/sessions/{ids[1]}", headers=bearer(third["access_token"]))
    assert ended.status == 204 and ended.body == b""
    assert [s["id"] for s in sessions_of(api, third["access_token"])] == [ids[0], ids[2]]
    # The ended session's refresh token is refused; the others still work.
    refused = [refresh(api, s["refresh_token"]).status for s in (first, second, third)]
    assert refused.count(400) == 1 and refused.count(200) == 2

    again = api.call("DELETE", f"/v1/sessions/{ids[1]}", headers=bearer(third["access_token"]))
    assert again.status == 404
    assert again.json() == {"error": "not_found", "error_description": "No such session."}


def test_another_users_session_is_not_found_and_left_alone(api: Api) -> None:
    _, mine = signed_up(api)
    _, theirs = signed_up(api)
    (their_session,) = sessions_of(api, theirs["access_token"])
    answer = api.call(
        "DELETE", f"/v1/sessions/{their_session['id']}", headers=bearer(mine["access_token"])
    )
    assert answer.status == 404 and answer.json()["error"] == "not_found"
    for odd in ("no-such-session", "%22%3B%27", "x" * 300):
        answer = api.call("DELETE", f"/v1/sessions/{odd}", headers=bearer(mine["access_token"]))
        assert answer.status == 404, (odd, answer.body)
    assert sessions_of(api, theirs["access_token"]) == [their_session]
    assert refresh(api, theirs["refresh_token"]).status == 200


def test_the_session_routes_need_a_bearer_token(api: Api) -> None:
    assert api.call("GET", "/v1/sessions").status == 401
    assert api.call("DELETE", "/v1/sessions/abc").status == 401
    assert api.call("GET", "/v1/sessions", headers=bearer("not.a.token")).status == 401


# -- the revoked family: one write on logout, the tokens go with the stream ---------------------


def test_logout_revokes_with_one_write_and_the_stream_removes_the_tokens(
    api: Api, table: Any, streams: Any
) -> None:
    _, session = signed_up(api)
    user_id = session["user"]["id"]
    rotated = refresh(api, session["refresh_token"]).json()
    (family,) = user_items(table, user_id, "FAMILY#")
    family_id = family["family_id"]["S"]
    assert len(family_tokens(table, user_id, family_id)) == 2

    with streams.paused():
        answer = api.call(
            "POST",
            "/v1/logout",
            json.dumps({"refresh_token": rotated["refresh_token"]}),
            {**bearer(rotated["access_token"]), "Content-Type": "application/json"},
        )
        assert answer.status == 204
        # Right after logout: the family is revoked, its token items are all still there …
        assert user_items(table, user_id, "FAMILY#")[0]["status"]["S"] == "revoked"
        assert len(family_tokens(table, user_id, family_id)) == 2
        # … and every one of them is already unusable.
        for token in (session["refresh_token"], rotated["refresh_token"]):
            assert refresh(api, token).status == 400
    streams.drain()
    assert family_tokens(table, user_id, family_id) == []
    assert user_items(table, user_id, "FAMILY#")[0]["status"]["S"] == "revoked"


def test_an_operator_disabling_a_user_ends_their_sessions_through_the_stream(
    api: Api, table: Any, streams: Any
) -> None:
    email, session = signed_up(api)
    api.login(email)
    user_id = session["user"]["id"]
    with streams.paused():
        # Not through the API (which also revokes at once): straight into the table.
        table.client.update_item(
            TableName=table.name,
            Key={"pk": {"S": f"USER#{email}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression="SET #s = :disabled",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":disabled": {"S": "disabled"}},
        )
        families = user_items(table, user_id, "FAMILY#")
        assert {f["status"]["S"] for f in families} == {"active"}
    streams.drain()
    families = user_items(table, user_id, "FAMILY#")
    assert len(families) == 2
    assert {(f["status"]["S"], f["revoked_reason"]["S"]) for f in families} == {
        ("revoked", "user_disabled")
    }
    # The revocations went through the stream in turn: the tokens are gone too.
    assert user_items(table, user_id, "REFRESH#") == []


# -- expiry: reads never trust TTL; TTL and the stream clean up later -------------------------


def test_expired_sessions_are_refused_before_and_after_ttl_and_cleaned_by_the_stream(
    api: Api, table: Any, streams: Any, clock: Clock
) -> None:
    email, first = signed_up(api)
    user_id = first["user"]["id"]
    rotated = refresh(api, first["refresh_token"]).json()
    second = api.login(email).json()
    expired_families = {f["family_id"]["S"] for f in user_items(table, user_id, "FAMILY#")}
    assert len(expired_families) == 2

    clock.forward(REFRESH_TTL + 60)
    # Expired, not deleted yet: still in the table, already refused everywhere.
    assert len(user_items(table, user_id, "REFRESH#")) == 3
    for token in (rotated["refresh_token"], second["refresh_token"]):
        assert refresh(api, token).status == 400
    assert api.call("GET", "/v1/me", headers=bearer(second["access_token"])).status == 401
    fresh = api.login(email).json()  # a session started after the clock moved
    listed = sessions_of(api, fresh["access_token"])
    assert len(listed) == 1 and listed[0]["id"] not in expired_families
    for family_id in expired_families:
        ended = api.call(
            "DELETE", f"/v1/sessions/{family_id}", headers=bearer(fresh["access_token"])
        )
        assert ended.status == 404

    with streams.paused():
        assert streams.sweep(clock.now()) >= 5  # two families, three tokens (and others' items)
        streams.drain()
    # Gone from the table and from the user's index; one audit record per expired session.
    remaining = {f["family_id"]["S"] for f in user_items(table, user_id, "FAMILY#")}
    assert remaining == {listed[0]["id"]}
    assert [t["family_id"]["S"] for t in user_items(table, user_id, "REFRESH#")] == [
        listed[0]["id"]
    ]
    records = audit_records(table, user_id)
    expired = [r for r in records if r["action"]["S"] == "session_expired"]
    assert len(expired) == 2
    assert {r["outcome"]["S"] for r in expired} == {"success"}
    assert all(any(f in r["detail"]["S"] for f in expired_families) for r in expired)
    # And still refused once deleted.
    for token in (rotated["refresh_token"], second["refresh_token"]):
        assert refresh(api, token).status == 400
    assert refresh(api, fresh["refresh_token"]).status == 200


def test_a_logged_out_token_stays_refused_until_and_after_its_denylist_entry_expires(
    api: Api, table: Any, streams: Any, clock: Clock, capfd: pytest.CaptureFixture[str]
) -> None:
    _, session = signed_up(api)
    token = session["access_token"]
    answer = api.call(
        "POST", "/v1/logout", "{}", {**bearer(token), "Content-Type": "application/json"}
    )
    assert answer.status == 204
    import jwt

    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    deny = {"pk": {"S": f"DENY#{jti}"}, "sk": {"S": "JTI"}}
    assert table.get(deny) is not None
    assert api.call("GET", "/v1/me", headers=bearer(token)).status == 401  # denied

    clock.forward(16 * 60)  # past the access token's exp (and its denylist entry's)
    assert table.get(deny) is not None  # TTL has not run: the entry is still there …
    assert api.call("GET", "/v1/me", headers=bearer(token)).status == 401  # … and exp refuses
    capfd.readouterr()
    with streams.paused():
        streams.sweep(clock.now())
        streams.drain()
    assert table.get(deny) is None
    assert api.call("GET", "/v1/me", headers=bearer(token)).status == 401
    assert "DenylistEntryExpired" in capfd.readouterr().out

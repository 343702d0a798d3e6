"""Refresh under real clients, over HTTP on the local stack: two tabs and lost responses within
the grace window keep the session; a replay after it is reuse, revoked and audited once."""

from __future__ import annotations

import datetime
import threading

import boto3
import pytest

from localcloud.cloud import LocalCloud
from stepauth.audit import user_records
from steps.core.refresh_tokens import hash_refresh_token
from steps.core.table import Table, family_key, refresh_family_from_item, refresh_token_key
from tests.test_api import Answer, Api, new_email

GRACE_SECONDS = 10  # the stack's default refresh_reuse_grace_seconds


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Table:
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    return Table(client, local_cloud.stack.outputs["TableName"])


def refresh(api: Api, token: str) -> Answer:
    return api.post_json("/v1/token/refresh", {"refresh_token": token})


def me(api: Api, access_token: str) -> Answer:
    return api.call("GET", "/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def concurrently(api: Api, token: str, n: int = 10) -> list[Answer]:
    answers: list[Answer] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def attempt() -> None:
        barrier.wait()
        answer = refresh(api, token)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def family_id_of(table: Table, token: str) -> str:
    item = table.get(refresh_token_key(hash_refresh_token(token)))
    assert item is not None
    return item["family_id"]["S"]


def family(table: Table, family_id: str):
    return refresh_family_from_item(table.get(family_key(family_id)))


def age_the_spend(table: Table, token: str, seconds: int) -> None:
    """Move a spent token's spend into the past (the stack's clock cannot be injected)."""
    table.client.update_item(
        TableName=table.name,
        Key=refresh_token_key(hash_refresh_token(token)),
        UpdateExpression="SET spent_at = spent_at - :age",
        ConditionExpression="attribute_exists(spent_at)",
        ExpressionAttributeValues={":age": {"N": str(seconds)}},
    )


def reuse_records(table: Table, user_id: str) -> list:
    since = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=1)
    return [
        r
        for r in user_records(table, user_id=user_id, email=None, since=since)
        if (r.action, r.outcome) == ("refresh", "reuse_detected")
    ]


def test_ten_concurrent_refreshes_within_the_grace_all_get_the_same_token(
    api: Api, table: Table
) -> None:
    session = api.register(new_email()).json()
    answers = concurrently(api, session["refresh_token"])
    assert [a.status for a in answers] == [200] * 10, [a.body for a in answers]
    tokens = {a.json()["refresh_token"] for a in answers}
    assert len(tokens) == 1 and session["refresh_token"] not in tokens
    assert len({a.json()["access_token"] for a in answers}) == 10  # each a fresh access token
    # The session lives: every access token works, the shared refresh token rotates on.
    assert all(me(api, a.json()["access_token"]).status == 200 for a in answers)
    (current,) = tokens
    assert refresh(api, current).status == 200
    assert family(table, family_id_of(table, current)).status == "active"
    assert reuse_records(table, session["user"]["id"]) == []


def test_after_the_grace_a_replay_revokes_the_family_once(api: Api, table: Table) -> None:
    session = api.register(new_email()).json()
    first = session["refresh_token"]
    family_id = family_id_of(table, first)
    current = refresh(api, first).json()["refresh_token"]
    age_the_spend(table, first, GRACE_SECONDS + 1)

    answers = concurrently(api, first)
    assert [a.status for a in answers] == [400] * 10
    assert {a.json()["error"] for a in answers} == {"invalid_grant"}
    revoked = family(table, family_id)
    assert (revoked.status, revoked.revoked_reason) == ("revoked", "reuse")
    assert len(reuse_records(table, session["user"]["id"])) == 1  # one revocation, one record
    assert refresh(api, current).status == 400  # the whole family is gone

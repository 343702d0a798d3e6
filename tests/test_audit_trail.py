"""The audit trail end to end: every outcome path of the workflows writes one record (action,
outcome, user, source IP, user agent, request id, execution, time, retention TTL), read back
through the table's key design (Query only)."""

from __future__ import annotations

import datetime
import json
import time

import boto3
import pytest

from localcloud.cloud import LocalCloud
from stepauth.audit import AuditRecord, recent_records, user_records
from steps.core.table import Table
from tests.test_api import Api, new_email

RETENTION_SECONDS = 400 * 86_400  # the stack's default audit_retention_days


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Table:
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    return Table(client, local_cloud.stack.outputs["TableName"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def request_id(answer) -> str:
    return answer.headers["x-amzn-requestid"]


def history(table: Table, *, user_id: str | None = None, email: str | None = None):
    since = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=1)
    return user_records(table, user_id=user_id, email=email, since=since)


def outcomes(records: list[AuditRecord]) -> list[tuple[str, str]]:
    return [(r.action, r.outcome) for r in records]


def test_a_record_has_every_fact_and_a_retention_ttl(api: Api, table: Table) -> None:
    before = int(time.time())
    registered = api.register(new_email())
    user_id = registered.json()["user"]["id"]
    (record,) = history(table, user_id=user_id)
    assert (record.action, record.outcome, record.user_id) == ("register", "success", user_id)
    assert (record.source_ip, record.user_agent) == ("127.0.0.1", "stepauth-tests/1")
    assert record.request_id == request_id(registered)
    assert record.execution_id.startswith("arn:aws:states:us-east-1:123456789012:express:")
    assert record.execution_id.split(":")[7] == record.request_id
    assert before - 1 <= record.at <= time.time() + 1
    (item,) = table.client.query(
        TableName=table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#USER#{user_id}"}},
    )["Items"]
    assert int(item["expires_at"]["N"]) == record.at + RETENTION_SECONDS
    day = record.time[:10]
    assert item["gsi1pk"] == {"S": f"AUDIT#{day}"}
    assert item["gsi1sk"] == {"S": f"{record.time}#register#success"}
    assert item["sk"] == {"S": f"{record.time}#{record.request_id}"}
    assert item["entity"] == {"S": "audit"}


def test_refresh_reuse_and_logout_are_audited(api: Api, table: Table) -> None:
    session = api.register(new_email()).json()
    user_id = session["user"]["id"]
    first = session["refresh_token"]
    refreshed = api.post_json("/v1/token/refresh", {"refresh_token": first})
    # The successor is spent too: the first token is now an ancestor, and its replay is reuse.
    second_refresh = refreshed.json()["refresh_token"]
    rotated = api.post_json("/v1/token/refresh", {"refresh_token": second_refresh})
    reused = api.post_json("/v1/token/refresh", {"refresh_token": first})
    assert (refreshed.status, rotated.status, reused.status) == (200, 200, 400)
    second = api.login(session["user"]["email"]).json()
    logged_out = api.call("POST", "/v1/logout", "{}", bearer(second["access_token"]))
    assert logged_out.status == 204
    records = history(table, user_id=user_id)
    assert outcomes(records) == [
        ("register", "success"),
        ("refresh", "success"),
        ("refresh", "success"),
        ("refresh", "reuse_detected"),
        ("login", "success"),
        ("logout", "success"),
    ]
    reuse = records[3]
    assert reuse.request_id == request_id(reused) and reuse.source_ip == "127.0.0.1"
    assert reuse.execution_id and reuse.execution_id.split(":")[7] == request_id(reused)
    assert reuse.detail and reuse.detail.startswith("session ") and "revoked" in reuse.detail
    assert records[5].request_id == request_id(logged_out)
    everything = json.dumps([r.to_json() for r in records])
    assert first not in everything and refreshed.json()["refresh_token"] not in everything


def test_a_refresh_with_an_unknown_token_is_audited_as_anonymous(api: Api, table: Table) -> None:
    answer = api.post_json("/v1/token/refresh", {"refresh_token": "A" * 43})
    assert answer.status == 400
    (record,) = [
        r for r in history(table, user_id="anonymous") if r.request_id == request_id(answer)
    ]
    assert (record.action, record.outcome, record.user_id) == ("refresh", "failure", "anonymous")


def test_a_locked_login_is_audited(api: Api, table: Table) -> None:
    email = new_email()
    user_id = api.register(email).json()["user"]["id"]
    answers = []
    for _ in range(12):
        answers.append(api.login(email, "not the right passphrase"))
        if answers[-1].status == 429:
            break
    assert answers[-1].status == 429, [a.status for a in answers]
    records = history(table, user_id=user_id)
    assert outcomes(records)[-1] == ("login", "locked")
    assert records[-1].request_id == request_id(answers[-1])
    assert outcomes(records).count(("login", "failure")) == len(answers) - 1
    # An unknown email's lockout is audited under the email.
    unknown = new_email()
    for _ in range(12):
        if api.login(unknown, "not the right passphrase").status == 429:
            break
    assert outcomes(history(table, email=unknown))[-1] == ("login", "locked")


def test_admin_disable_deletion_and_ended_sessions_are_audited(
    api: Api, table: Table, local_cloud: LocalCloud
) -> None:
    from stepauth.cli import main

    admin_email, victim_email = new_email(), new_email()
    assert api.register(admin_email).status == 201
    endpoint = ["--endpoint-url", local_cloud.settings.aws_endpoint]
    assert main(["users", "grant-role", admin_email, "admin", *endpoint]) == 0
    admin = api.login(admin_email).json()
    victim = api.register(victim_email).json()
    victim_id = victim["user"]["id"]
    disabled = api.call(
        "POST", f"/v1/admin/users/{victim_id}/disable", "{}", bearer(admin["access_token"])
    )
    assert disabled.status == 200
    record = history(table, user_id=victim_id)[-1]
    assert (record.action, record.outcome, record.request_id) == (
        "disable",
        "success",
        request_id(disabled),
    )
    assert record.detail == f"by admin {admin['user']['id']}"

    other = api.login(admin_email).json()
    sessions = api.call("GET", "/v1/sessions", headers=bearer(other["access_token"])).json()
    ended = api.call(
        "DELETE",
        f"/v1/sessions/{sessions['sessions'][-1]['id']}",
        headers=bearer(other["access_token"]),
    )
    assert ended.status == 204
    deleted = api.call("DELETE", "/v1/me", headers=bearer(other["access_token"]))
    assert deleted.status == 204
    tail = history(table, user_id=admin["user"]["id"])[-2:]
    assert outcomes(tail) == [("end_session", "success"), ("delete_account", "success")]
    assert tail[0].detail == f"session {sessions['sessions'][-1]['id']}"
    assert [r.request_id for r in tail] == [request_id(ended), request_id(deleted)]


def test_recent_records_are_read_day_by_day_from_the_index(api: Api, table: Table) -> None:
    email = new_email()
    failed = api.login(email, "not the right passphrase")
    now = datetime.datetime.now(tz=datetime.UTC)
    records = list(
        recent_records(
            table,
            since=now - datetime.timedelta(days=2),
            until=now,
            action="login",
            outcome="failure",
        )
    )
    assert request_id(failed) in {r.request_id for r in records}
    assert {(r.action, r.outcome) for r in records} == {("login", "failure")}
    assert [r.time for r in records] == sorted(r.time for r in records)
    later = list(recent_records(table, since=now + datetime.timedelta(minutes=1), until=now))
    assert later == []

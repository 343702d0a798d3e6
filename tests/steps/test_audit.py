"""Audit records: the item layout, retention, and no secret in any field."""

from __future__ import annotations

import re

import pytest

from steps.core.audit import REDACTED, audit_item, iso_millis, looks_secret, write_audit
from steps.core.config import override_config
from steps.core.refresh_tokens import new_refresh_token
from steps.core.tokens import hash_refresh_token

AT = 1_767_323_045.678  # 2026-01-02T03:04:05.678Z


def test_the_item_layout() -> None:
    item = audit_item(
        action="login",
        outcome="success",
        user_id="u-1",
        source_ip="203.0.113.7",
        user_agent="curl/8.0",
        request_id="req-1",
        execution_id="arn:aws:states:us-east-1:123456789012:express:stepauth-Login:req-1:x",
        at=AT,
        detail="first login",
        retention_days=400,
    )
    iso = "2026-01-02T03:04:05.678Z"
    assert item["pk"] == {"S": "AUDIT#USER#u-1"}
    assert re.fullmatch(re.escape(iso) + r"#[0-9a-f]{32}", item["sk"]["S"])
    assert item["gsi1pk"] == {"S": "AUDIT#2026-01-02"}
    assert item["gsi1sk"] == {"S": f"{iso}#login#success"}
    assert item["entity"] == {"S": "audit"}
    assert item["expires_at"] == {"N": str(int(AT) + 400 * 86_400)}
    assert {name: value["S"] for name, value in item.items() if "S" in value}.items() >= {
        "action": "login",
        "outcome": "success",
        "user_id": "u-1",
        "source_ip": "203.0.113.7",
        "user_agent": "curl/8.0",
        "request_id": "req-1",
        "detail": "first login",
    }.items()
    assert item["at"] == {"N": str(int(AT))}


def test_two_records_of_one_millisecond_do_not_collide() -> None:
    first = audit_item(action="login", outcome="failure", user_id=None, at=AT)
    second = audit_item(action="login", outcome="failure", user_id=None, at=AT)
    assert first["sk"] != second["sk"]
    assert first["pk"] == {"S": "AUDIT#USER#anonymous"}
    assert "user_id" not in first and "source_ip" not in first and "detail" not in first


def test_retention_comes_from_the_configuration() -> None:
    with override_config(audit_retention_days=7):
        item = audit_item(action="logout", outcome="success", user_id="u-1", at=AT)
    assert item["expires_at"] == {"N": str(int(AT) + 7 * 86_400)}
    assert audit_item(action="logout", outcome="success", user_id="u-1", at=AT)["expires_at"] == {
        "N": str(int(AT) + 400 * 86_400)
    }


def test_iso_millis_is_utc_and_sortable() -> None:
    assert iso_millis(0) == "1970-01-01T00:00:00.000Z"
    assert iso_millis(AT) == "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    "secret",
    [
        new_refresh_token(),
        hash_refresh_token(new_refresh_token()),
        "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1LTEiLCJleHAiOjF9.c2lnbmF0dXJlLWJ5dGVz",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        f"token {new_refresh_token()} leaked",
    ],
)
def test_a_secret_is_never_recorded(secret: str) -> None:
    assert looks_secret(secret)
    with pytest.raises(ValueError, match="credential") as refused:
        audit_item(action="logout", outcome="success", user_id="u-1", at=AT, detail=secret)
    assert secret not in str(refused.value)
    with pytest.raises(ValueError):
        audit_item(action="logout", outcome="success", user_id="u-1", at=AT, request_id=secret)
    # The user agent is the client's own text: redacted, never a reason to fail.
    item = audit_item(action="logout", outcome="success", user_id="u-1", at=AT, user_agent=secret)
    assert item["user_agent"] == {"S": REDACTED}


@pytest.mark.parametrize(
    "harmless",
    [
        "u-3f2a6c1e-8d8f-4f5e-9a51-0c2d3e4f5a6b",
        "b49a4102723f48958c526fbc3a3ccf33",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0",
        "session 0123456789abcdef0123456789abcdef expired and was removed by TTL",
    ],
)
def test_ids_and_user_agents_are_not_mistaken_for_secrets(harmless: str) -> None:
    assert not looks_secret(harmless)


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "Login"},
        {"action": "log in"},
        {"action": ""},
        {"outcome": "ok!"},
        {"detail": "x" * 513},
        {"user_id": 7},
        {"retention_days": 0},
    ],
)
def test_malformed_fields_are_refused(changes: dict) -> None:
    fields = {"action": "login", "outcome": "success", "user_id": "u-1", "at": AT, **changes}
    with pytest.raises(ValueError):
        audit_item(**fields)


def test_a_long_user_agent_is_cut() -> None:
    item = audit_item(action="login", outcome="success", user_id="u", at=AT, user_agent="a/" * 400)
    assert len(item["user_agent"]["S"]) == 512


def test_write_audit_puts_one_item(table) -> None:
    write_audit(
        table, action="session_expired", outcome="success", user_id="u-9", at=AT, detail="d"
    )
    (item,) = table.client.query(
        TableName=table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "AUDIT#USER#u-9"}},
    )["Items"]
    assert item["action"] == {"S": "session_expired"} and item["detail"] == {"S": "d"}
    by_day = table.client.query(
        TableName=table.name,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :day",
        ExpressionAttributeValues={":day": {"S": "AUDIT#2026-01-02"}},
    )["Items"]
    assert [i["sk"] for i in by_day] == [item["sk"]]

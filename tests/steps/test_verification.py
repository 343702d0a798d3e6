"""Codes and links (steps/core/verification.py) and the mail step, with an injected clock, on
the in-memory DynamoDB (tests/fakes/dynamodb.py) and moto's SES."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from steps.core.mail_templates import render
from steps.core.table import Table
from steps.core.verification import (
    CodeExpired,
    InvalidCode,
    MailSettings,
    Secrets,
    check_code,
    check_link,
    issue,
    pending_key,
    take_send_slot,
)
from steps.send_email import send_for_state

KEY = b"k" * 32
SETTINGS = MailSettings(code_ttl_seconds=3600, max_attempts=5, sends_per_hour=3)
NOW = 1_800_000_000.0
KIND = "verify_email"


def _issue(table: Table, secrets: Secrets, token: str | None = "task-1", now: float = NOW) -> None:
    issue(
        table,
        KEY,
        kind=KIND,
        user_id="u1",
        email="a@example.com",
        now=now,
        settings=SETTINGS,
        task_token=token,
        generate=lambda: secrets,
    )


def _check(table: Table, code: str, now: float = NOW) -> Any:
    return check_code(table, KEY, kind=KIND, user_id="u1", code=code, now=now, settings=SETTINGS)


def test_only_hashes_are_stored_and_a_code_works_once(table: Table) -> None:
    _issue(table, Secrets("123456", "link-token-" + "x" * 40))
    item = table.get(pending_key(KIND, "u1"))
    assert item is not None
    assert "123456" not in str(item) and "link-token" not in str(item)
    checked = _check(table, "123456")
    assert (checked.user_id, checked.email, checked.task_token) == ("u1", "a@example.com", "task-1")
    with pytest.raises(CodeExpired):
        _check(table, "123456")


def test_five_wrong_codes_kill_the_code(table: Table) -> None:
    _issue(table, Secrets("123456", "t" * 43))
    for _ in range(5):
        with pytest.raises(InvalidCode):
            _check(table, "654321")
    with pytest.raises(CodeExpired, match="Too many wrong codes"):
        _check(table, "123456")


def test_codes_expire_by_the_clock(table: Table) -> None:
    _issue(table, Secrets("123456", "t" * 43))
    with pytest.raises(CodeExpired):
        _check(table, "123456", now=NOW + SETTINGS.code_ttl_seconds)


def test_a_resend_keeps_the_wait_and_replaces_the_code(table: Table) -> None:
    _issue(table, Secrets("111111", "a" * 43))
    _issue(table, Secrets("222222", "b" * 43), token=None)
    with pytest.raises(InvalidCode):
        _check(table, "111111")
    assert _check(table, "222222").task_token == "task-1"
    with pytest.raises(CodeExpired):  # the old link is dead too
        check_link(table, token="a" * 43, now=NOW)


def test_a_link_works_once(table: Table) -> None:
    _issue(table, Secrets("111111", "a" * 43))
    kind, checked = check_link(table, token="a" * 43, now=NOW)
    assert (kind, checked.user_id) == (KIND, "u1")
    with pytest.raises(CodeExpired):
        check_link(table, token="a" * 43, now=NOW)


def test_a_resend_without_a_waiting_verification_is_refused(table: Table) -> None:
    with pytest.raises(CodeExpired):
        _issue(table, Secrets("111111", "a" * 43), token=None)


def test_the_send_limit_counts_per_recipient_and_hour(table: Table) -> None:
    assert [take_send_slot(table, "a@example.com", now=NOW, per_hour=3) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert take_send_slot(table, "b@example.com", now=NOW, per_hour=3)
    assert take_send_slot(table, "a@example.com", now=NOW + 3600, per_hour=3)


def test_the_mail_step_sends_text_and_html_and_returns_no_secret(
    table: Table, aws_mock: None
) -> None:
    ses = boto3.client("sesv2")
    ses.create_email_identity(EmailIdentity=SETTINGS.sender)
    event = {"kind": KIND, "user_id": "u1", "email": "A@Example.com", "task_token": "task-1"}
    answer = send_for_state(event, table=table, key=KEY, ses=ses, now=NOW, settings=SETTINGS)
    assert answer == {"sent": True}
    for _ in range(2):
        send_for_state(event, table=table, key=KEY, ses=ses, now=NOW, settings=SETTINGS)
    assert send_for_state(event, table=table, key=KEY, ses=ses, now=NOW, settings=SETTINGS) == {
        "sent": False,
        "reason": "limited",
    }


def test_templates_escape_html_and_carry_the_link() -> None:
    message = render(
        KIND,
        service="<Acme>",
        code="123456",
        link_token="abc_DEF-1",
        link_base_url="https://auth.example.com",
        ttl_seconds=86400,
    )
    assert "https://auth.example.com/v1/email/verify?token=abc_DEF-1" in message.text
    assert "&lt;Acme&gt;" in message.html and "<Acme>" not in message.html
    assert "123456" in message.text and "123456" not in repr(message)

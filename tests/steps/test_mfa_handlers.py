"""The MFA step handlers, glued to moto (DynamoDB, KMS): the whole flow handler by handler, and
no TOTP secret, code, recovery code or mfa_token in any log line or error message."""

from __future__ import annotations

import time

import pytest

from steps import (
    confirm_totp,
    replace_recovery_codes,
    start_mfa_challenge,
    start_totp_enrolment,
    validate_mfa_login,
    validate_mfa_proof,
    verify_mfa_login,
    verify_second_factor,
)
from steps.core import mfa
from steps.core.table import UserRecord, user_item

from .conftest import api_event
from .test_mfa_core import rfc6238

EMAIL = "dora@example.com"
CALLER = {"userId": "u-9", "jti": "j-9", "exp": "1900000000"}


@pytest.fixture
def kms_key(aws_mock, monkeypatch):
    from steps.core import aws

    arn = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("MFA_KEY_ARN", arn)
    return arn


def signed_in(body):
    return {**api_event(body), "caller": CALLER}


def run(handler, event):
    try:
        return handler(event, None), None
    except Exception as exc:  # noqa: BLE001 - every error is inspected
        return None, exc


def test_the_mfa_handlers_work_and_leak_nothing(table, kms_key, log_output, caplog, capfd):
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="stepauth")
    table.put_new(
        user_item(UserRecord(user_id="u-9", email=EMAIL, password_hash="-", created_at="t"))
    )
    started = start_totp_enrolment.handler({**api_event(None, raw=b""), "caller": CALLER}, None)
    secret = started["enrolment"]["secret"]
    assert started["user_id"] == "u-9"
    now_step = int(time.time()) // 30
    seen = [secret]
    wrong, error = run(confirm_totp.handler, signed_in({"code": "000000"}))
    assert type(error).__name__ == "MfaCodeRejected"
    confirmed = confirm_totp.handler(signed_in({"code": rfc6238(secret, now_step * 30)}), None)
    codes = confirmed["confirmed"]["recovery_codes"]
    seen += codes
    challenge = start_mfa_challenge.handler(
        {"user": {"id": "u-9", "email": EMAIL, "created_at": "t"}, "context": {}}, None
    )
    seen.append(challenge["mfa_token"])
    validated = validate_mfa_login.handler(
        api_event({"mfa_token": challenge["mfa_token"], "recovery_code": codes[0]}), None
    )
    rejected = verify_mfa_login.handler(
        {**validated, "answer": {"method": "totp", "value": "123456"}}, None
    )
    assert rejected["outcome"] == "rejected"
    accepted = verify_mfa_login.handler(validated, None)
    assert accepted["outcome"] == "accepted"
    assert accepted["authentication"]["amr"] == ["pwd", "rcode"]
    _, spent = run(verify_mfa_login.handler, validated)
    assert type(spent).__name__ == "MfaChallengeInvalid"
    proof = validate_mfa_proof.handler(
        {**signed_in({"code": rfc6238(secret, (now_step + 1) * 30)}), "password_allowed": False},
        None,
    )
    assert proof["change"]["method"] == "totp"
    assert verify_second_factor.handler({**proof["change"], "answer": proof["answer"]}, None) == {
        "locked": False,
        "amr": "otp",
    }
    _, replayed = run(verify_second_factor.handler, {**proof["change"], "answer": proof["answer"]})
    assert type(replayed).__name__ == "MfaCodeRejected"
    fresh = replace_recovery_codes.handler({"user_id": "u-9"}, None)["recovery_codes"]
    seen += fresh
    _, bad = run(validate_mfa_login.handler, api_event({"mfa_token": secret, "code": secret}))
    assert type(bad).__name__ == "InvalidRequest"
    assert mfa.mfa_enabled(table, "u-9")

    out, err = capfd.readouterr()
    messages = [str(e) for e in (wrong, error, spent, replayed, bad) if e is not None]
    everything = "\n".join([log_output.text, caplog.text, out, err, *messages])
    assert "start_totp_enrolment" in everything
    for value in seen:
        assert value not in everything
        assert value.replace("-", "") not in everything

"""``mfa=required`` end to end, from a child ``stepauth local -c mfa=required`` (with email
verification off and the authorizer cache ON, 300 s, so that the cached answer for the
enrolment token is what later calls get): registration and sign-in without MFA answer an
enrolment token and no session; the token enrols and does nothing else, even after the
authorizer's answer for it was cached; after enrolling, the sign-in is password + TOTP; no
enrolment token, secret, code or mfa_token is left in a history, a log, an event or a record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.test_api import PASSWORD, Answer, new_email
from tests.test_email_verification import (
    Server,
    client,
    contains_code,
    recorded_texts,
    run_local_server,
)
from tests.test_mfa_api import rfc6238

# A child `stepauth local` (a synthesis and a local cloud of its own): the end-to-end layer, as
# tests/test_email_verification.py, so `make test-fast` leaves it out.
pytestmark = pytest.mark.cloud

#: Every secret the flows saw, for the scan at the end.
SEEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_local_server(
        tmp_path_factory,
        {"mfa": "required", "email_verification": "off", "authorizer_cache_ttl_seconds": "300"},
    )


def call(server: Server, method: str, path: str, token: str, body: Any = None) -> Answer:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return server.api.call(method, path, None if body is None else json.dumps(body), headers)


def test_the_server_runs_with_mfa_required(server: Server) -> None:
    assert server.outputs["MfaPolicy"] == "required"


def test_without_mfa_only_an_enrolment_token_then_enrol_and_sign_in_with_a_code(
    server: Server,
) -> None:
    email = new_email()
    registered = server.api.register(email)
    assert registered.status == 201, registered.body
    body = registered.json()
    assert body["mfa_enrollment_required"] is True and body["user"]["email"] == email
    assert "access_token" not in body and "refresh_token" not in body
    SEEN["registration's enrolment token"] = body["enrollment_token"]

    refused = server.api.login(email, PASSWORD)
    assert refused.status == 403, refused.body
    problem = refused.json()
    assert problem["error"] == "mfa_enrollment_required"
    assert "POST /v1/mfa/totp" in problem["error_description"]
    assert problem["expires_in"] == 600
    assert "access_token" not in problem and "refresh_token" not in problem
    assert refused.headers.get("x-amzn-requestid")
    token = problem["enrollment_token"]
    SEEN["login's enrolment token"] = token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == "mfa:enroll" and claims["roles"] == []
    assert claims["exp"] - claims["iat"] == 600
    # Its own audience: a JWT authorizer set up with stepauth's audience refuses it.
    assert claims["aud"] == "stepauth-api:mfa-enroll"

    # A wrong password never learns that the account lacks MFA.
    wrong = server.api.login(email, "not the password at all")
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_credentials")

    started = call(server, "POST", "/v1/mfa/totp", token)
    assert started.status == 200, started.body
    secret = started.json()["secret"]
    SEEN["secret"] = secret
    # The authorizer's answer for this token is cached now (300 s): every other route is
    # still refused, because that answer allows the enrolment routes only.
    for method, path in (
        ("GET", "/v1/me"),
        ("GET", "/v1/sessions"),
        ("POST", "/v1/logout"),
        ("DELETE", "/v1/mfa/totp"),
        ("POST", "/v1/mfa/recovery-codes"),
        ("POST", "/v1/admin/users/someone/disable"),
    ):
        answer = call(server, method, path, token, {} if method != "GET" else None)
        assert answer.status in (401, 403), (method, path, answer.status, answer.body)

    step = int(time.time()) // 30
    code = rfc6238(secret, step)
    SEEN["code"] = code
    confirmed = call(server, "POST", "/v1/mfa/totp/confirm", token, {"code": code})
    assert confirmed.status == 200, confirmed.body
    for n, recovery in enumerate(confirmed.json()["recovery_codes"]):
        SEEN[f"recovery code {n}"] = recovery
    # Enrolled, the token still opens nothing else.
    assert call(server, "GET", "/v1/me", token).status in (401, 403)

    challenge = server.api.login(email, PASSWORD)
    assert challenge.status == 200, challenge.body
    assert challenge.json()["mfa_required"] is True
    mfa_token = challenge.json()["mfa_token"]
    SEEN["mfa_token"] = mfa_token
    next_code = rfc6238(secret, max(int(time.time()) // 30, step + 1))
    SEEN["second code"] = next_code
    signed_in = server.api.post_json("/v1/login/mfa", {"mfa_token": mfa_token, "code": next_code})
    assert signed_in.status == 200, signed_in.body
    tokens = signed_in.json()
    SEEN["refresh token"] = tokens["refresh_token"]
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["amr"] == ["pwd", "otp"] and "scope" not in access
    me = call(server, "GET", "/v1/me", tokens["access_token"])
    assert me.status == 200, me.body


def test_no_enrolment_token_or_other_secret_anywhere(server: Server) -> None:
    """Runs last in this module: every secret the flow above saw is looked for everywhere."""
    if "secret" not in SEEN:
        test_without_mfa_only_an_enrolment_token_then_enrol_and_sign_in_with_a_code(server)
    texts = recorded_texts(server)
    dynamodb = client(server, "dynamodb")
    items = dynamodb.scan(TableName=server.outputs["TableName"])["Items"]
    texts["table items (audit records included)"] = json.dumps(items)
    assert "mfa_enrollment_required" in texts["table items (audit records included)"]
    leaked = [
        (what, where)
        for where, text in texts.items()
        for what, secret in SEEN.items()
        if (contains_code(text, secret) if "code" in what else secret in text)
    ]
    assert leaked == []

"""Hostile requests over real HTTP (issue 11, the API half): client-chosen request ids, invalid
UTF-8, every body size, OAuth's caching and challenge headers, and the one user-agent rule of
both audit writers. Real gateway, real VTL, real ASL, real handlers, real table."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from stepauth.executions import execution_name
from tests.test_api import PASSWORD, Answer, Api, new_email, table_items, user_items

ERROR_KEYS = {"error", "error_description"}
EXTENDED_ID = re.compile(r"[A-Za-z0-9_=+/-]{8,64}")
KB = 1024


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def assert_problem(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The contract's error shape, with a request id header, never a trace."""
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"].startswith("application/json")
    assert EXTENDED_ID.fullmatch(answer.headers["x-amzn-requestid"])
    problem = answer.json()
    assert set(problem) == ERROR_KEYS and problem["error"] == code, problem
    assert "Traceback" not in problem["error_description"]
    return problem


def registration(email: str, password: str = PASSWORD) -> bytes:
    return json.dumps({"email": email, "password": password}).encode()


JSON = {"Content-Type": "application/json"}


# -- 1. client-chosen request ids ---------------------------------------------------------------

HOSTILE_IDS = [
    'quote"and\\backslash',
    '","stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:evil","input":"{}',
    '\\"}},"name":"fixed","x":"',
    "x" * 2048,
    "ünïcödé-☃-😀-\u2028",
    "$context.requestId #set($x = 1) $util.escapeJavaScript('a')",
]


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_a_client_chosen_request_id_is_harmless(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud, hostile: str
) -> None:
    email = new_email()
    answer = api.call(
        "POST",
        "/v1/register",
        registration(email),
        {**JSON, "User-Agent": "hostile-id/1", "x-amzn-RequestId": hostile.encode()},
    )
    assert answer.status == 201, answer.body
    # The header answered is the gateway's own extended id, never the client's.
    request_id = answer.headers["x-amzn-requestid"]
    assert request_id == answer.headers["x-amz-apigw-id"]
    assert EXTENDED_ID.fullmatch(request_id) and hostile not in request_id
    # The execution is named after it (its input is never recorded: includeExecutionData is
    # false), and its input arrived intact: the account holds the email, the audit record the
    # caller's facts and our own id.
    client = aws.client("stepfunctions")
    machine = local_cloud.stack.outputs["RegisterStateMachineArn"]
    (execution,) = [
        e
        for e in client.list_executions(stateMachineArn=machine)["executions"]
        if e["name"] == execution_name(request_id)
    ]
    assert execution["status"] == "SUCCEEDED"
    (profile,) = [u for u in user_items(aws, local_cloud, email) if u["sk"] == "PROFILE"]
    assert profile["email"] == email
    # The audit record is keyed by the extended id too.
    (record,) = [
        i
        for i in table_items(aws, local_cloud)
        if i.get("entity") == "audit" and i.get("request_id") == request_id
    ]
    assert record["sk"].endswith("#" + execution_name(request_id))
    assert record["execution_id"] == execution["executionArn"]
    assert (record["user_id"], record["source_ip"], record["user_agent"]) == (
        profile["user_id"],
        "127.0.0.1",
        "hostile-id/1",
    )
    assert not [i for i in table_items(aws, local_cloud) if hostile in json.dumps(i, default=str)]


def test_a_client_chosen_request_id_is_harmless_on_an_error_too(api: Api) -> None:
    for path in ("/v1/nowhere", "/v1/register"):
        answer = api.call("POST", path, b"nope", {**JSON, "x-amzn-RequestId": HOSTILE_IDS[1]})
        assert answer.status in (400, 404)
        assert answer.json()["error"] in ("invalid_request", "not_found")
        assert HOSTILE_IDS[1] not in answer.headers["x-amzn-requestid"]
        assert HOSTILE_IDS[1] not in answer.body.decode()


# -- 2. bytes, not guesses ----------------------------------------------------------------------


def test_invalid_utf8_passwords_open_no_account(api: Api, aws, local_cloud) -> None:
    email = new_email()
    prefix = b'{"email": "' + email.encode() + b'", "password": "correct horse battery '
    with_ff = api.call("POST", "/v1/register", prefix + b'\xff"}', JSON)
    assert_problem(with_ff, 400, "invalid_request")
    assert user_items(aws, local_cloud, email) == []
    # The character that \xff used to become is a valid password character: an account
    # registered with it is not opened by \xff or \xfe.
    replacement = "correct horse battery \ufffd"
    assert api.register(email, replacement).status == 201
    assert api.login(email, replacement).status == 200
    login = b'{"email": "' + email.encode() + b'", "password": "correct horse battery '
    for invalid in (b"\xff", b"\xfe"):
        assert_problem(
            api.call("POST", "/v1/login", login + invalid + b'"}', JSON), 400, "invalid_request"
        )


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a\xffb@example.com", "password": "correct horse battery staple"}',
        b'{"email": "nm@example.com", "password": "correct horse battery staple", "name": "\xc3"}',
        b'{"email": "x@example.com", "password": "correct horse battery staple"} \xed\xa0\x80',
        b'{"\xff": 1}',
    ],
)
def test_invalid_utf8_anywhere_in_a_body_is_400(api: Api, body: bytes) -> None:
    assert_problem(api.call("POST", "/v1/register", body, JSON), 400, "invalid_request")


def test_a_non_utf8_charset_is_refused(api: Api, aws, local_cloud) -> None:
    email = new_email()
    latin = api.call(
        "POST",
        "/v1/register",
        registration(email),
        {"Content-Type": "application/json; charset=latin-1"},
    )
    assert_problem(latin, 400, "invalid_request")
    assert user_items(aws, local_cloud, email) == []
    utf8 = api.call(
        "POST",
        "/v1/register",
        registration(email),
        {"Content-Type": "application/json; charset=UTF-8"},
    )
    assert utf8.status == 201, utf8.body


# -- 3. sizes -----------------------------------------------------------------------------------


def padded_registration(size: int) -> bytes:
    """A JSON registration of exactly ``size`` bytes (an unknown padding field)."""
    head = b'{"email": "big@example.com", "password": "correct horse battery staple", "p": "'
    tail = b'"}'
    assert size >= len(head) + len(tail)
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize(
    ("size", "status"),
    [
        (0, 400),
        (1, 400),
        (16 * KB, 400),  # at the limit: read, and refused for its unknown field
        (16 * KB + 1, 413),
        (191 * KB, 413),
        (193 * KB, 413),
        (1024 * KB, 413),
        (10 * 1024 * KB, 413),  # API Gateway's own limit (beyond it: the HTTP front's 413)
    ],
)
def test_every_body_size_is_answered_in_the_contract(api: Api, size: int, status: int) -> None:
    body = b"{" if size == 1 else (padded_registration(size) if size > 100 else b"")
    assert len(body) == size
    answer = api.call("POST", "/v1/register", body, JSON)
    problem = assert_problem(answer, status, "invalid_request")
    if status == 413:
        assert problem["error_description"] == "The request body is too large."


def test_a_large_body_starts_no_large_execution(api: Api, aws, local_cloud) -> None:
    answer = api.call("POST", "/v1/login", b" " * (300 * KB) + b"{}", JSON)
    assert_problem(answer, 413, "invalid_request")
    client = aws.client("stepfunctions")
    machine = local_cloud.stack.outputs["LoginStateMachineArn"]
    (execution,) = [
        e
        for e in client.list_executions(stateMachineArn=machine)["executions"]
        if e["name"] == execution_name(answer.headers["x-amzn-requestid"])
    ]
    # The workflow answered in its first state: nothing read a body.
    history = client.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered == ["BodyWithinLimit?", "RejectBodyTooLarge"]


def test_a_large_body_is_413_on_a_route_that_reads_no_body(api: Api) -> None:
    session = api.register(new_email()).json()
    headers = {**JSON, "Authorization": f"Bearer {session['access_token']}"}
    answer = api.call("DELETE", "/v1/me", b"x" * (64 * KB), headers)
    assert_problem(answer, 413, "invalid_request")
    # The account was not deleted.
    assert api.call("GET", "/v1/me", headers=headers).status == 200


# -- 5. OAuth conventions -----------------------------------------------------------------------


def assert_not_cached(answer: Answer) -> None:
    assert answer.headers["cache-control"] == "no-store", answer.headers
    assert answer.headers["pragma"] == "no-cache", answer.headers


def test_token_responses_are_never_cached(api: Api) -> None:
    email = new_email()
    registered = api.register(email)
    assert registered.status == 201
    login = api.login(email)
    assert login.status == 200
    refreshed = api.post_json("/v1/token/refresh", {"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status == 200
    me = api.call(
        "GET", "/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.status == 200
    for answer in (registered, login, refreshed, me):
        assert_not_cached(answer)


def test_invalid_grant_is_400(api: Api) -> None:
    answer = api.post_json("/v1/token/refresh", {"refresh_token": "A" * 43})
    assert_problem(answer, 400, "invalid_grant")
    assert_not_cached(answer)


def test_every_401_carries_a_bearer_challenge(api: Api) -> None:
    email = new_email()
    session = api.register(email).json()
    api.call("DELETE", "/v1/me", headers={"Authorization": f"Bearer {session['access_token']}"})
    answers = {
        "wrong password": api.login(email, "not the right passphrase"),
        "no token": api.call("GET", "/v1/me"),
        "bad token": api.call("GET", "/v1/me", headers={"Authorization": "Bearer nope"}),
        "deleted account": api.call(
            "GET", "/v1/me", headers={"Authorization": f"Bearer {session['access_token']}"}
        ),
        "no token on a workflow route": api.call("POST", "/v1/logout", b"{}", JSON),
    }
    for name, answer in answers.items():
        assert answer.status == 401, (name, answer.status, answer.body)
        assert answer.headers["www-authenticate"].startswith("Bearer"), name


# -- 6. one audit writer policy -----------------------------------------------------------------

_JWT_HEAD = "Mozilla/5.0 (X11; Linux x86_64) token=eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9."
JWT_SHAPED_USER_AGENT = _JWT_HEAD + "eyJzdWIiOiIx" * 120 + "."
JWT_SHAPED_USER_AGENT += ("c2lnbmF0dXJl" * 2)[: 1541 - len(JWT_SHAPED_USER_AGENT)]


def audit_records(aws, local_cloud, user_id: str) -> list[dict[str, Any]]:
    return [
        i
        for i in table_items(aws, local_cloud)
        if i.get("entity") == "audit" and i.get("user_id") == user_id
    ]


@pytest.mark.parametrize(
    ("user_agent", "stored"),
    [
        (JWT_SHAPED_USER_AGENT, "[redacted]"),
        ("Mozilla/5.0 \x01\x7f(ok) " + "ab " * 600, ("Mozilla/5.0 (ok) " + "ab " * 600)[:512]),
    ],
    ids=["jwt-shaped", "long"],
)
def test_both_audit_writers_store_the_same_user_agent(
    api: Api, aws, local_cloud, user_agent: str, stored: str
) -> None:
    if user_agent is JWT_SHAPED_USER_AGENT:
        assert len(user_agent) == 1541
    headers = {**JSON, "User-Agent": user_agent.encode()}
    registered = api.call("POST", "/v1/register", registration(new_email()), headers)
    assert registered.status == 201, registered.body
    session = registered.json()
    refresh = json.dumps({"refresh_token": session["refresh_token"]})
    rotated = api.call("POST", "/v1/token/refresh", refresh, headers)
    assert rotated.status == 200
    successor = json.dumps({"refresh_token": rotated.json()["refresh_token"]})
    assert api.call("POST", "/v1/token/refresh", successor, headers).status == 200
    # Presenting an ancestor again (its successor is spent too: no replay) is reuse: the
    # RotateRefreshToken step (the Python writer) records it; the registration and the
    # refreshes were recorded by the workflows.
    assert api.call("POST", "/v1/token/refresh", refresh, headers).status == 400
    records = audit_records(aws, local_cloud, session["user"]["id"])
    outcomes = sorted((r["action"], r["outcome"]) for r in records)
    assert ("register", "success") in outcomes and ("refresh", "reuse_detected") in outcomes, (
        outcomes
    )
    assert {r["user_agent"] for r in records} == {stored}


# -- 4. every route that reads a body -------------------------------------------------------------

#: (method, path, needs a bearer token): every route of the contract that reads a JSON body.
BODY_ROUTES = [
    ("POST", "/v1/login", False),
    ("POST", "/v1/login/mfa", False),
    ("POST", "/v1/token/refresh", False),
    ("POST", "/v1/email/verify", False),
    ("POST", "/v1/email/verify/resend", False),
    ("POST", "/v1/password/forgot", False),
    ("POST", "/v1/password/reset", False),
    ("POST", "/v1/logout", True),
    ("POST", "/v1/password", True),
    ("POST", "/v1/me/email", True),
    ("POST", "/v1/me/email/verify", True),
    ("POST", "/v1/mfa/totp", True),
    ("POST", "/v1/mfa/totp/confirm", True),
    ("DELETE", "/v1/mfa/totp", True),
    ("POST", "/v1/mfa/recovery-codes", True),
]


@pytest.fixture(scope="module")
def signed_in(api: Api) -> dict[str, str]:
    token = api.register(new_email()).json()["access_token"]
    return {**JSON, "Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"email": "a\xffb@example.com", "code": "123456"}', 400),
        (b'{"\xff": 1}', 400),
        (b"[1, 2]", 400),
        (b'{"a": ' * 600 + b"1" + b"}" * 600, 400),  # nested past any sane depth
        (b"{" + b" " * (16 * KB), 413),
    ],
    ids=["invalid-utf8-value", "invalid-utf8-key", "not-an-object", "deep", "too-large"],
)
@pytest.mark.parametrize(("method", "path", "bearer"), BODY_ROUTES)
def test_every_body_route_answers_hostile_bodies_in_the_contract(
    api: Api,
    signed_in: dict[str, str],
    method: str,
    path: str,
    bearer: bool,
    body: bytes,
    status: int,
) -> None:
    answer = api.call(method, path, body, signed_in if bearer else JSON)
    problem = assert_problem(answer, status, "invalid_request")
    assert body.decode("latin-1")[:40] not in problem["error_description"]

"""Email verification end to end, from a running local server with the default configuration
(``email_verification=required``): register → 201 without tokens → the code read from
``/_aws/ses`` → ``POST /v1/email/verify`` → 200 with tokens. The shared test stack runs with
verification off, so this module starts its own ``stepauth local`` in a child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import pytest

from localcloud.cloud import USED_GRANTS_FILE_VARIABLE, free_port
from localcloud.deploy import PROJECT_ROOT
from stepauth import exits
from tests.conftest import CHILD_USED_GRANTS
from tests.test_api import PASSWORD, Api, new_email

# Every test here runs against a `stepauth local` of its own (a child process): the cloud layer.
pytestmark = pytest.mark.cloud

# Passwords and codes used by the flows below, for the final scan of everything they left.
USED_SECRETS: dict[str, str] = {}
USED_CODES: dict[str, str] = {}


def contains_code(text: str, code: str) -> bool:
    """The code as a whole token (not six digits inside a longer number or id, nor the
    fraction of a number: a timestamp's "15:20:59.232000")."""
    return re.search(rf"(?<![0-9A-Za-z])(?<![0-9]\.){code}(?![0-9A-Za-z])", text) is not None


def test_the_secret_scan_finds_a_code_standing_alone_only() -> None:
    assert contains_code('{"code":"232000"}', "232000")
    assert contains_code("Your code is 232000.", "232000")
    assert not contains_code("1232000", "232000")  # inside a longer number
    assert not contains_code("2026-12-01 15:20:59.232000", "232000")  # a timestamp's fraction


@dataclass
class Server:
    api: Api
    aws_endpoint: str
    session: boto3.Session
    outputs: dict[str, str]
    log: Path

    def mailbox(self, to: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.aws_endpoint}/_aws/ses") as answer:  # noqa: S310
            messages = json.loads(answer.read())["messages"]
        return [m for m in messages if to in m["Destination"].get("ToAddresses", [])]

    def wait_for_mail(self, to: str, count: int = 1, seconds: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            found = self.mailbox(to)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no message {count} for {to}")
            time.sleep(0.05)


def code_in(message: dict[str, Any]) -> str:
    match = re.search(r"code is (\d{6})", message["Body"]["text_part"])
    assert match, message["Subject"]
    return match.group(1)


def link_token_in(message: dict[str, Any]) -> str:
    match = re.search(r"token=([A-Za-z0-9_-]+)", message["Body"]["text_part"])
    assert match
    return match.group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_local_server(tmp_path_factory)


def run_local_server(
    tmp_path_factory: pytest.TempPathFactory, context: dict[str, str] | None = None
) -> Iterator[Server]:
    """A child ``stepauth local`` with the default configuration changed by ``context``
    (tests/test_mfa_required.py starts one with ``mfa=required``)."""
    gateway_port, aws_port = free_port(), free_port()
    settings = [f"--context={key}={value}" for key, value in (context or {}).items()]
    folder = tmp_path_factory.mktemp("server")
    log = folder / "server.log"
    # The grants the child's calls use count for the session's least-privilege check.
    used_grants = folder / "used-grants.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", USED_GRANTS_FILE_VARIABLE: str(used_grants)}
    with log.open("w") as output:
        child = subprocess.Popen(  # noqa: S603 - our own command line
            [
                sys.executable,
                "-c",
                "from stepauth.cli import main; raise SystemExit(main())",
                "local",
                "--port",
                str(gateway_port),
                "--aws-port",
                str(aws_port),
                *settings,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 600
        while "Ctrl-C to stop" not in log.read_text():
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stepauth local did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        endpoint = f"http://127.0.0.1:{aws_port}"
        session = boto3.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the local cloud's dummy key
            region_name="us-east-1",
        )
        cloudformation = session.client("cloudformation", endpoint_url=endpoint)
        stack = cloudformation.describe_stacks(StackName="stepauth")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        api = Api.__new__(Api)
        api.host, api.port = "127.0.0.1", gateway_port
        yield Server(api, endpoint, session, outputs, log)
    finally:
        child.terminate()
        child.wait(timeout=30)
        CHILD_USED_GRANTS.append(used_grants)


def client(server: Server, service: str) -> Any:
    return server.session.client(service, endpoint_url=server.aws_endpoint)


def recorded_texts(server: Server) -> dict[str, str]:
    """Everything the child server recorded, by where: its log (every log line), every
    execution's history and description, every log group's events."""
    sfn = client(server, "stepfunctions")
    texts = {"server log (every log line)": server.log.read_text()}
    for key, arn in server.outputs.items():
        if not key.endswith("StateMachineArn"):
            continue
        for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
            history = sfn.get_execution_history(executionArn=execution["executionArn"])
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            texts[f"history {execution['executionArn']}"] = json.dumps(
                [history, described], default=str
            )
    logs = client(server, "logs")
    for group in logs.describe_log_groups()["logGroups"]:
        found = logs.filter_log_events(logGroupName=group["logGroupName"])
        texts[f"log group {group['logGroupName']}"] = json.dumps(found["events"])
    return texts


def test_the_default_configuration_requires_verification(server: Server) -> None:
    assert server.outputs["EmailVerificationPolicy"] == "required"


def test_register_verify_with_the_emailed_code_then_log_in(server: Server) -> None:
    email = new_email()
    registered = server.api.register(email)
    assert registered.status == 201
    body = registered.json()
    assert set(body) == {"user"}  # no tokens before verification
    assert body["user"]["email_verified"] is False
    refused = server.api.login(email)
    assert refused.status == 403
    assert refused.json()["error"] == "email_not_verified"
    message = server.wait_for_mail(email)
    assert message["Source"] == server.outputs["EmailSender"]
    assert message["Body"]["html_part"] and code_in(message) in message["Body"]["html_part"]
    verified = server.api.post_json("/v1/email/verify", {"email": email, "code": code_in(message)})
    assert verified.status == 200
    assert verified.json()["user"]["id"] == body["user"]["id"]
    assert verified.json()["access_token"] and verified.json()["refresh_token"]
    signed_in = server.api.login(email)
    assert signed_in.status == 200
    # Under `required` every token's account is verified, and its claim says so.
    for answer in (verified, signed_in):
        claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
        assert claims["email_verified"] is True and claims["sid"]
    # Single use.
    again = server.api.post_json("/v1/email/verify", {"email": email, "code": code_in(message)})
    assert (again.status, again.json()["error"]) == (400, "code_expired")


def _execution(
    server: Server, name: str, status: str, workflow: str = "EmailVerification"
) -> dict[str, Any] | None:
    sfn = client(server, "stepfunctions")
    arn = server.outputs[f"{workflow}StateMachineArn"].replace(":stateMachine:", ":execution:")
    try:
        described = sfn.describe_execution(executionArn=f"{arn}:{name}")
    except sfn.exceptions.ExecutionDoesNotExist:
        return None
    return described if described["status"] == status else None


def _eventually(probe: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_the_link_verifies_and_the_waiting_execution_ends(server: Server) -> None:
    email = new_email()
    user_id = server.api.register(email).json()["user"]["id"]
    assert _eventually(lambda: _execution(server, user_id, "RUNNING"))
    message = server.wait_for_mail(email)
    token = link_token_in(message)
    verified = server.api.post_json("/v1/email/verify", {"token": token})
    assert verified.status == 200
    done = _eventually(lambda: _execution(server, user_id, "SUCCEEDED"))
    assert done, "the STANDARD execution was not resumed"
    history = client(server, "stepfunctions").get_execution_history(
        executionArn=done["executionArn"]
    )
    text = json.dumps(history, default=str)
    assert token not in text and PASSWORD not in text
    assert not contains_code(text, code_in(message))


def test_five_wrong_codes_need_a_new_code_and_resend_sends_one(server: Server) -> None:
    email = new_email()
    server.api.register(email)
    code = code_in(server.wait_for_mail(email))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = server.api.post_json("/v1/email/verify", {"email": email, "code": wrong})
        assert (answer.status, answer.json()["error"]) == (400, "invalid_code")
    dead = server.api.post_json("/v1/email/verify", {"email": email, "code": code})
    assert (dead.status, dead.json()["error"]) == (400, "code_expired")
    resent = server.api.post_json("/v1/email/verify/resend", {"email": email})
    assert resent.status == 202
    fresh = code_in(server.wait_for_mail(email, count=2))
    assert server.api.post_json("/v1/email/verify", {"email": email, "code": fresh}).status == 200


def test_resend_answers_the_same_for_unknown_and_verified_emails(server: Server) -> None:
    unknown = server.api.post_json("/v1/email/verify/resend", {"email": new_email()})
    assert unknown.status == 202
    email = new_email()
    server.api.register(email)
    code = code_in(server.wait_for_mail(email))
    assert server.api.post_json("/v1/email/verify", {"email": email, "code": code}).status == 200
    verified = server.api.post_json("/v1/email/verify/resend", {"email": email})
    assert (verified.status, verified.body) == (unknown.status, unknown.body)
    time.sleep(0.5)  # nothing is sent for a verified account (no waiting to prove a negative)
    assert len(server.mailbox(email)) == 1


def test_bad_verify_requests_get_400(server: Server) -> None:
    for body in ({}, {"email": "a@example.com"}, {"token": "short"}, {"email": "x", "code": "1"}):
        answer = server.api.post_json("/v1/email/verify", body)
        assert answer.status == 400, body
        assert answer.json()["error"] == "invalid_request"
    unknown = server.api.post_json("/v1/email/verify", {"email": new_email(), "code": "123456"})
    assert (unknown.status, unknown.json()["error"]) == (400, "code_expired")


def test_a_verification_that_times_out_ends_as_configured_with_its_event(server: Server) -> None:
    """A short timeout carried in the execution input (TimeoutSecondsPath), no long wait."""
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName=f"expired-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = client(server, "events")
    rule = f"expired-{uuid.uuid4().hex[:8]}"
    events.put_rule(
        Name=rule,
        EventBusName=server.outputs["EventBusName"],
        EventPattern=json.dumps({"detail-type": ["EmailVerificationExpired", "EmailVerified"]}),
    )
    events.put_targets(
        Rule=rule,
        EventBusName=server.outputs["EventBusName"],
        Targets=[{"Id": "q", "Arn": arn}],
    )
    email = new_email()
    user_id = server.api.register(email).json()["user"]["id"]
    server.wait_for_mail(email)
    name = f"short-{uuid.uuid4().hex[:8]}"
    client(server, "stepfunctions").start_execution(
        stateMachineArn=server.outputs["EmailVerificationStateMachineArn"],
        name=name,
        input=json.dumps(
            {"user_id": user_id, "email": email, "request_id": "test", "timeout_seconds": 1}
        ),
    )
    assert _eventually(lambda: _execution(server, name, "SUCCEEDED"), seconds=30)

    def expired() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    [event] = _eventually(expired)
    assert event["detail-type"] == "EmailVerificationExpired"
    assert event["detail"]["user_id"] == user_id
    assert event["detail"]["account"] == "kept"
    # The pending code is gone with the wait: a late code is refused, the account is kept.
    late = code_in(server.wait_for_mail(email, count=2))
    answer = server.api.post_json("/v1/email/verify", {"email": email, "code": late})
    assert (answer.status, answer.json()["error"]) == (400, "code_expired")
    assert server.api.login(email).status == 403


@pytest.mark.parametrize("workflow", ["PasswordRecovery", "EmailChange"])
def test_a_recovery_or_email_change_that_times_out_forgets_its_code(
    server: Server, workflow: str
) -> None:
    """A short timeout carried in the execution input: the wait ends, the code is deleted."""
    email, session = _verified_account(server)
    user_id = session["user"]["id"]
    target = email if workflow == "PasswordRecovery" else new_email()
    name = f"short-{uuid.uuid4().hex[:8]}"
    start: dict[str, Any] = {"user_id": user_id, "email": target, "request_id": "test"}
    if workflow == "EmailChange":
        start["old_email"] = email
    client(server, "stepfunctions").start_execution(
        stateMachineArn=server.outputs[f"{workflow}StateMachineArn"],
        name=name,
        input=json.dumps({**start, "timeout_seconds": 1}),
    )
    assert _eventually(lambda: _execution(server, name, "SUCCEEDED", workflow), seconds=30)
    late = code_in(server.wait_for_mail(target, count=2 if target == email else 1))
    USED_CODES[f"late {workflow} code"] = late
    if workflow == "PasswordRecovery":
        answer = server.api.post_json(
            "/v1/password/reset",
            {"email": email, "code": late, "new_password": f"late passphrase {uuid.uuid4().hex}"},
        )
    else:
        answer = server.api.call(
            "POST",
            "/v1/me/email/verify",
            json.dumps({"code": late}),
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {session['access_token']}",
            },
        )
    assert (answer.status, answer.json()["error"]) == (400, "code_expired"), answer.body


def test_no_code_link_token_password_or_hash_in_any_history_log_event_or_audit_record(
    server: Server,
) -> None:
    password = f"unique passphrase {uuid.uuid4().hex}"
    email = new_email()
    user_id = server.api.register(email, password).json()["user"]["id"]
    first = server.wait_for_mail(email)
    wrong = f"{(int(code_in(first)) + 1) % 1_000_000:06d}"
    assert server.api.post_json("/v1/email/verify", {"email": email, "code": wrong}).status == 400
    server.api.post_json("/v1/email/verify/resend", {"email": email})
    second = server.wait_for_mail(email, count=2)
    dynamodb = client(server, "dynamodb")
    table = server.outputs["TableName"]
    pending = dynamodb.get_item(
        TableName=table,
        Key={"pk": {"S": f"VERIFY#verify_email#{user_id}"}, "sk": {"S": "PENDING"}},
    )["Item"]
    profile = dynamodb.get_item(
        TableName=table, Key={"pk": {"S": f"USER#{email}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    assert server.api.post_json("/v1/email/verify", {"token": link_token_in(second)}).status == 200
    secrets = {
        "password": password,
        "password hash": profile["password_hash"]["S"],
        "first code": code_in(first),
        "second code": code_in(second),
        "first link token": link_token_in(first),
        "second link token": link_token_in(second),
        "code hash": pending["code_hash"]["S"],
        "link token hash": pending["token_hash"]["S"],
    }
    texts = recorded_texts(server)
    audit = dynamodb.scan(
        TableName=table,
        FilterExpression="entity = :audit",
        ExpressionAttributeValues={":audit": {"S": "audit"}},
    )["Items"]
    texts["audit records"] = json.dumps(audit)
    assert any("verify_email" in json.dumps(record) for record in audit)
    codes = {what: secrets.pop(what) for what in ("first code", "second code")}
    for where, text in texts.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} found in {where}"
        for what, code in codes.items():
            assert not contains_code(text, code), f"{what} found in {where}"


def test_operators_read_the_mail_the_events_and_the_standard_executions(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    from stepauth.cli import main

    email = new_email()
    user_id = server.api.register(email).json()["user"]["id"]
    message = server.wait_for_mail(email)
    endpoint = ["--endpoint-url", server.aws_endpoint]
    capsys.readouterr()
    assert main(["mail", "list", "--to", email, "--json", *endpoint]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["Id"] for m in listed["messages"]] == [message["Id"]]
    other = new_email()
    server.api.register(other)
    server.wait_for_mail(other)
    assert main(["mail", "list", *endpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SENT", "ID", "TO", "SUBJECT"]
    assert other in lines[1]  # newest first
    assert main(["mail", "show", message["Id"], *endpoint]) == 0
    shown = capsys.readouterr().out
    assert f"To:      {email}" in shown and code_in(message) in shown

    def tail() -> str:
        assert main(["events", "tail", *endpoint]) == 0
        out = capsys.readouterr().out
        return out if user_id in out else ""

    out = _eventually(tail)
    assert "UserRegistered" in out and f"email={email}" in out
    assert main(["events", "tail", "--output", "json", *endpoint]) == 0
    document = json.loads(capsys.readouterr().out)
    assert any(e["detail"].get("user_id") == user_id for e in document["events"])
    assert main(["mail", "show", "no-such-message", *endpoint]) == exits.NOT_FOUND

    assert _eventually(lambda: _execution(server, user_id, "RUNNING"))
    assert main(["executions", "list", "--workflow", "email-verification", *endpoint]) == 0
    assert "EmailVerification" in capsys.readouterr().out


def _verified_account(server: Server, password: str = PASSWORD) -> tuple[str, dict[str, Any]]:
    email = new_email()
    server.api.register(email, password)
    code = code_in(server.wait_for_mail(email))
    signed_in = server.api.post_json("/v1/email/verify", {"email": email, "code": code})
    assert signed_in.status == 200
    return email, signed_in.json()


def _subscribe(server: Server, detail_type: str) -> Any:
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName=f"sub-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = client(server, "events")
    rule = f"sub-{uuid.uuid4().hex[:8]}"
    bus = server.outputs["EventBusName"]
    events.put_rule(
        Name=rule, EventBusName=bus, EventPattern=json.dumps({"detail-type": [detail_type]})
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return received


def test_forgot_then_reset_with_the_emailed_code_revokes_every_session(server: Server) -> None:
    received = _subscribe(server, "PasswordReset")
    email, first = _verified_account(server)
    second = server.api.login(email).json()
    forgot = server.api.post_json("/v1/password/forgot", {"email": email})
    unknown = server.api.post_json("/v1/password/forgot", {"email": new_email()})
    assert forgot.status == unknown.status == 202
    assert forgot.body == unknown.body
    message = server.wait_for_mail(email, count=2)
    assert "password" in message["Subject"].lower()
    code = code_in(message)
    weak = server.api.post_json(
        "/v1/password/reset", {"email": email, "code": code, "new_password": "short"}
    )
    assert (weak.status, weak.json()["error"]) == (400, "weak_password")
    new_password = f"a brand new passphrase {uuid.uuid4().hex[:6]}"
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    wrong = server.api.post_json(
        "/v1/password/reset", {"email": email, "code": wrong_code, "new_password": new_password}
    )
    assert (wrong.status, wrong.json()["error"]) == (400, "invalid_code")  # counted, not spent
    USED_SECRETS["reset password"] = new_password
    USED_CODES["reset code"] = code
    reset = server.api.post_json(
        "/v1/password/reset", {"email": email, "code": code, "new_password": new_password}
    )
    assert reset.status == 200, reset.body
    assert server.api.login(email).status == 401
    assert server.api.login(email, new_password).status == 200
    for session in (first, second):
        refreshed = server.api.post_json(
            "/v1/token/refresh", {"refresh_token": session["refresh_token"]}
        )
        assert refreshed.status == 400  # invalid_grant (RFC 6749 5.2)
        assert refreshed.json()["error"] == "invalid_grant"
        # ... and their access tokens end at once ("tokens valid after"; no authorizer cache).
        me = server.api.call(
            "GET", "/v1/me", headers={"Authorization": f"Bearer {session['access_token']}"}
        )
        assert me.status == 401, me.body
    again = server.api.post_json(
        "/v1/password/reset", {"email": email, "code": code, "new_password": new_password}
    )
    assert (again.status, again.json()["error"]) == (400, "code_expired")
    [event] = _eventually(received)
    assert event["detail"]["user_id"] == first["user"]["id"]
    assert event["detail"]["sessions_revoked"] == 2
    assert event["detail"]["request_id"] == reset.headers["x-amzn-requestid"]
    # The new password and its hash never reach the STANDARD history.
    sfn = client(server, "stepfunctions")
    arn = server.outputs["PasswordRecoveryStateMachineArn"]
    for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
        history = json.dumps(
            sfn.get_execution_history(executionArn=execution["executionArn"]), default=str
        )
        assert new_password not in history and "$argon2" not in history
        assert not contains_code(history, code)


def test_reset_with_the_link_token(server: Server) -> None:
    email, _ = _verified_account(server)
    server.api.post_json("/v1/password/forgot", {"email": email})
    token = link_token_in(server.wait_for_mail(email, count=2))
    new_password = f"linked new passphrase {uuid.uuid4().hex[:6]}"
    reset = server.api.post_json(
        "/v1/password/reset", {"token": token, "new_password": new_password}
    )
    assert reset.status == 200, reset.body
    assert server.api.login(email, new_password).status == 200


def test_change_password_checks_the_current_one_revokes_sessions_and_notifies(
    server: Server,
) -> None:
    received = _subscribe(server, "PasswordChanged")
    email, first = _verified_account(server)
    other = server.api.login(email).json()
    bearer = {
        "Authorization": f"Bearer {first['access_token']}",
        "Content-Type": "application/json",
    }
    new_password = f"changed passphrase {uuid.uuid4().hex[:6]}"

    def change(current: str, new: str, headers: dict[str, str] = bearer) -> Any:
        body = json.dumps({"current_password": current, "new_password": new})
        return server.api.call("POST", "/v1/password", body, headers)

    wrong = change("not the current passphrase", new_password)
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_credentials")
    weak = change(PASSWORD, "short")
    assert (weak.status, weak.json()["error"]) == (400, "weak_password")
    anonymous = change(PASSWORD, new_password, {"Content-Type": "application/json"})
    assert anonymous.status == 401
    USED_SECRETS["changed password"] = new_password
    changed = change(PASSWORD, new_password)
    assert changed.status == 200, changed.body
    assert server.api.login(email).status == 401
    assert server.api.login(email, new_password).status == 200
    for session in (first, other):
        old = server.api.post_json("/v1/token/refresh", {"refresh_token": session["refresh_token"]})
        assert old.status == 400  # invalid_grant (RFC 6749 5.2)
        assert old.json()["error"] == "invalid_grant"
    fresh = server.api.post_json(
        "/v1/token/refresh", {"refresh_token": changed.json()["refresh_token"]}
    )
    assert fresh.status == 200
    notice = server.wait_for_mail(email, count=2)
    assert notice["Subject"] == "Your stepauth password was changed"
    assert new_password not in json.dumps(notice)
    [event] = _eventually(received)
    assert event["detail"]["user_id"] == first["user"]["id"]
    assert event["detail"]["sessions_revoked"] == 2


def test_change_email_switches_only_after_the_new_address_is_confirmed(server: Server) -> None:
    received = _subscribe(server, "EmailChanged")
    email, signed_in = _verified_account(server)
    taken, _ = _verified_account(server)
    new_address = new_email()
    bearer = {
        "Authorization": f"Bearer {signed_in['access_token']}",
        "Content-Type": "application/json",
    }

    def post(path: str, document: dict[str, str]) -> Any:
        return server.api.call("POST", path, json.dumps(document), bearer)

    refused = post("/v1/me/email", {"new_email": taken, "password": PASSWORD})
    assert (refused.status, refused.json()["error"]) == (409, "email_taken")
    wrong = post("/v1/me/email", {"new_email": new_address, "password": "not the passphrase"})
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_credentials")
    accepted = post("/v1/me/email", {"new_email": new_address, "password": PASSWORD})
    assert accepted.status == 202
    notice = server.wait_for_mail(email, count=2)
    assert "new email address was requested" in notice["Subject"]
    code = code_in(server.wait_for_mail(new_address))
    USED_CODES["email change code"] = code
    assert server.api.login(email).status == 200  # the old address works until confirmed
    wrong_code = f"{(int(code) + 1) % 1_000_000:06d}"
    bad = post("/v1/me/email/verify", {"code": wrong_code})
    assert (bad.status, bad.json()["error"]) == (400, "invalid_code")
    confirmed = post("/v1/me/email/verify", {"code": code})
    assert confirmed.status == 200
    assert confirmed.json()["user"] == {"id": signed_in["user"]["id"], "email": new_address}
    assert server.api.login(email).status == 401
    assert server.api.login(new_address).status == 200
    [event] = _eventually(received)
    assert event["detail"]["email"] == new_address
    assert event["detail"]["previous_email"] == email


def test_the_recovery_change_and_email_change_flows_left_no_secret_anywhere(
    server: Server,
) -> None:
    """Runs last: every history, log group and audit record after all the flows above."""
    assert USED_SECRETS and USED_CODES, "run with the flows above"
    sfn = client(server, "stepfunctions")
    texts = {"server log": server.log.read_text()}
    for key, arn in server.outputs.items():
        if key.endswith("StateMachineArn"):
            for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
                history = sfn.get_execution_history(executionArn=execution["executionArn"])
                texts[execution["executionArn"]] = json.dumps(history, default=str)
    logs = client(server, "logs")
    for group in logs.describe_log_groups()["logGroups"]:
        found = logs.filter_log_events(logGroupName=group["logGroupName"])
        texts[group["logGroupName"]] = json.dumps(found["events"])
    texts["table"] = json.dumps(
        client(server, "dynamodb").scan(TableName=server.outputs["TableName"])["Items"]
    )
    for where, text in texts.items():
        for what, secret in USED_SECRETS.items():
            assert secret not in text, f"{what} found in {where}"
        for what, code in USED_CODES.items():
            assert not contains_code(text, code), f"{what} found in {where}"
        assert "$argon2" not in text or where == "table", f"a password hash in {where}"


def test_every_item_the_lifecycle_flows_stored_fits_the_contract(server: Server) -> None:
    """Runs last: the codes, links, send counters, users and audit records of the flows above."""
    from tests.test_contract import assert_items_fit_the_contract

    pages = (
        client(server, "dynamodb")
        .get_paginator("scan")
        .paginate(TableName=server.outputs["TableName"])
    )
    assert_items_fit_the_contract(
        [item for page in pages for item in page["Items"]],
        expected={"user", "verification", "verification_link", "send_limit", "audit"},
    )

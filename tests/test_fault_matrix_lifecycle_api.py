"""The fault matrix (tests/test_fault_matrix_api.py) for the EXPRESS lifecycle workflows: a fault at
each of their Tasks, over HTTP on the shared local stack.

For every Task: one transient fault is retried away (the right answer); a fault that outlives the
retries is the right answer (a write whose loss is served: audit, notice, the wait's completion)
or a 503 ``temporarily_unavailable`` with ``Retry-After``, never a 500, that leaves nothing
half-done (the old password still works, the code is still usable) — and the client's retry of
the same request then succeeds.

The shared stack runs with ``email_verification=off``, so ``POST /v1/email/verify`` and its resend
(which need a waiting EmailVerification execution) have their own matrix against a child server
with verification required: tests/test_fault_matrix_verification_api.py.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud import faults
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultRule
from tests.test_api import PASSWORD, Answer, Api, new_email
from tests.test_fault_matrix_api import ATTEMPTS, assert_served_or_unavailable, bearer

NEW_PASSWORD = "a new and rather long passphrase"  # noqa: S105 - a test password

#: A fault rule for one Task, given how many calls fail and the request's context.
Fault = Callable[[int, dict[str, Any]], FaultRule]


def lambda_fault(function: str) -> Fault:
    return lambda times, ctx: FaultRule(
        "lambda", "Invoke", "throttle", times=times, function=function
    )


def dynamodb_fault(operation: str, match: Callable[[dict[str, Any]], str]) -> Fault:
    return lambda times, ctx: FaultRule(
        "dynamodb", operation, "throttle", times=times, match=match(ctx)
    )


def sfn_fault(operation: str) -> Fault:
    return lambda times, ctx: FaultRule("states", operation, "throttle", times=times)


@dataclass
class AfterTheStep(FaultRule):
    """A rule whose first matching call passes: the validate step reads the caller's user item
    (through its session) just before the FindUser Task reads it again, and the fault is meant
    for the Task."""

    passes: int = 1

    def take(self, service: str, operation: str, function: str, params: str) -> bool:
        if self.passes and self._selects(service, operation, function, params):
            self.passes -= 1
            return False
        return super().take(service, operation, function, params)


AUDIT = dynamodb_fault("PutItem", lambda ctx: "AUDIT#")


def FIND_USER(times: int, ctx: dict[str, Any]) -> FaultRule:  # noqa: N802 - a Fault like the others
    email = ctx["email"]
    return AfterTheStep("dynamodb", "GetItem", "throttle", times=times, match=f"USER#{email}")


class Mailbox:
    """The local cloud's captured email (``GET /_aws/ses``, as LocalStack serves it)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.url = f"{cloud.settings.aws_endpoint}/_aws/ses"

    def to(self, address: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url) as answer:  # noqa: S310 - the local endpoint
            messages = json.loads(answer.read())["messages"]
        return [m for m in messages if address in m["Destination"].get("ToAddresses", [])]

    def code(self, address: str, count: int = 1, seconds: float = 20.0) -> str:
        """The code of the ``count``-th message to ``address`` (waiting for the STANDARD
        execution that sends it)."""
        deadline = time.monotonic() + seconds
        while len(found := self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no message {count} for {address}")
            time.sleep(0.05)
        match = re.search(r"code is (\d{6})", found[count - 1]["Body"]["text_part"])
        assert match, found[count - 1]["Subject"]
        return match.group(1)


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def mailbox(local_cloud: LocalCloud) -> Mailbox:
    return Mailbox(local_cloud)


@pytest.fixture(autouse=True)
def no_faults_left() -> Any:
    yield
    faults.clear()


@dataclass
class Flow:
    expected: int
    prepare: Callable[[Api, Mailbox], dict[str, Any]]
    send: Callable[[Api, dict[str, Any]], Answer]
    #: Nothing half-done after a 503 (checked before the retry).
    after_unavailable: Callable[[Api, dict[str, Any]], None] = lambda api, ctx: None
    #: The request's effect, once served.
    after_served: Callable[[Api, Mailbox, dict[str, Any]], None] = lambda api, mail, ctx: None


def _signed_in(api: Api, _: Mailbox) -> dict[str, Any]:
    email = new_email()
    return {"email": email, "session": api.register(email).json()}


def _post(api: Api, ctx: dict[str, Any], path: str, document: dict[str, str]) -> Answer:
    return api.call("POST", path, json.dumps(document), bearer(ctx["session"]["access_token"]))


def _recovering(api: Api, mail: Mailbox) -> dict[str, Any]:
    ctx = _signed_in(api, mail)
    assert api.post_json("/v1/password/forgot", {"email": ctx["email"]}).status == 202
    ctx["code"] = mail.code(ctx["email"])
    return ctx


def _changing_email(api: Api, mail: Mailbox) -> dict[str, Any]:
    ctx = _signed_in(api, mail)
    ctx["new_email"] = new_email()
    accepted = _post(
        api, ctx, "/v1/me/email", {"new_email": ctx["new_email"], "password": PASSWORD}
    )
    assert accepted.status == 202, accepted.body
    ctx["code"] = mail.code(ctx["new_email"])
    return ctx


def _old_password_works(api: Api, ctx: dict[str, Any]) -> None:
    assert api.login(ctx["email"]).status == 200, "the password changed behind a 503"


def _new_password_works(api: Api, _: Mailbox, ctx: dict[str, Any]) -> None:
    assert api.login(ctx["email"], NEW_PASSWORD).status == 200
    assert api.login(ctx["email"]).status == 401


def _recovery_mail_sent(api: Api, mail: Mailbox, ctx: dict[str, Any]) -> None:
    assert mail.code(ctx["email"])


def _change_mail_sent(api: Api, mail: Mailbox, ctx: dict[str, Any]) -> None:
    assert mail.code(ctx["new_email"])


def _email_changed(api: Api, _: Mailbox, ctx: dict[str, Any]) -> None:
    assert api.login(ctx["new_email"]).status == 200
    assert api.login(ctx["email"]).status == 401


FLOWS: dict[str, Flow] = {
    "ForgotPassword": Flow(
        202,
        _signed_in,
        lambda api, ctx: api.post_json("/v1/password/forgot", {"email": ctx["email"]}),
        after_served=_recovery_mail_sent,
    ),
    "ResetPassword": Flow(
        200,
        _recovering,
        lambda api, ctx: api.post_json(
            "/v1/password/reset",
            {"email": ctx["email"], "code": ctx["code"], "new_password": NEW_PASSWORD},
        ),
        after_unavailable=_old_password_works,
        after_served=_new_password_works,
    ),
    "ChangePassword": Flow(
        200,
        _signed_in,
        lambda api, ctx: _post(
            api,
            ctx,
            "/v1/password",
            {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        ),
        after_unavailable=_old_password_works,
        after_served=_new_password_works,
    ),
    "ChangeEmail": Flow(
        202,
        lambda api, mail: {**_signed_in(api, mail), "new_email": new_email()},
        lambda api, ctx: _post(
            api, ctx, "/v1/me/email", {"new_email": ctx["new_email"], "password": PASSWORD}
        ),
        after_served=_change_mail_sent,
    ),
    "ConfirmEmailChange": Flow(
        200,
        _changing_email,
        lambda api, ctx: _post(api, ctx, "/v1/me/email/verify", {"code": ctx["code"]}),
        after_unavailable=_old_password_works,
        after_served=_email_changed,
    ),
}

#: Every Task on each lifecycle workflow's success path.
TASKS: dict[str, dict[str, Fault]] = {
    "ForgotPassword": {
        "FindAccount": lambda_fault("RequestPasswordReset"),
        "StartRecovery": sfn_fault("StartExecution"),
        "AuditForgot": AUDIT,
    },
    "ResetPassword": {
        "CheckReset": lambda_fault("CheckReset"),
        "HashPassword": lambda_fault("HashPassword"),
        "StorePassword": lambda_fault("StorePassword"),
        "CompleteWait": sfn_fault("SendTaskSuccess"),
        "AuditPasswordReset": AUDIT,
    },
    "ChangePassword": {
        "ValidatePasswordChange": lambda_fault("ValidatePasswordChange"),
        "FindUser": FIND_USER,
        "VerifyCurrentPassword": lambda_fault("VerifyPassword"),
        "HashPassword": lambda_fault("HashPassword"),
        "StorePassword": lambda_fault("StorePassword"),
        "IssueTokens": lambda_fault("IssueTokens"),
        "SendNotice": lambda_fault("SendEmail"),
        "AuditPasswordChanged": AUDIT,
    },
    "ChangeEmail": {
        "ValidateEmailChange": lambda_fault("ValidateEmailChange"),
        "FindUser": FIND_USER,
        "VerifyPassword": lambda_fault("VerifyPassword"),
        "StartEmailChange": sfn_fault("StartExecution"),
        "AuditEmailChangeRequested": AUDIT,
    },
    "ConfirmEmailChange": {
        "ConfirmEmailChange": lambda_fault("ConfirmEmailChange"),
        "CompleteWait": sfn_fault("SendTaskSuccess"),
        "AuditEmailChanged": AUDIT,
    },
}

#: Writes after the commit whose loss is served: the notice, and the completion of a wait whose
#: work is done (the STANDARD execution then ends at its own time-out).
BEST_EFFORT = {("ChangePassword", "SendNotice"), ("ResetPassword", "CompleteWait")}
BEST_EFFORT |= {("ConfirmEmailChange", "CompleteWait")}
#: Served with another answer: the password is stored when no new session can be started, so
#: the change answers 204 (sign in again) rather than a 503 whose retry would fail.
SERVED_OTHERWISE = {("ChangePassword", "IssueTokens"): 204}
#: Answered as for any email (a 503 for known emails only would reveal them): the recovery is
#: lost and the client asks again.
UNIFORM = {("ForgotPassword", "StartRecovery")}

CASES = [(workflow, task) for workflow, tasks in TASKS.items() for task in tasks]


@pytest.mark.parametrize(("workflow", "task"), CASES)
def test_one_transient_fault_at_a_lifecycle_task_is_retried_away(
    api: Api, mailbox: Mailbox, workflow: str, task: str
) -> None:
    flow = FLOWS[workflow]
    ctx = flow.prepare(api, mailbox)
    with faults.inject(TASKS[workflow][task](1, ctx)) as (rule,):
        answer = flow.send(api, ctx)
    assert rule.fired == 1, "the fault never reached the Task: the test would prove nothing"
    assert answer.status == flow.expected, (answer.status, answer.body)
    flow.after_served(api, mailbox, ctx)


@pytest.mark.parametrize(("workflow", "task"), CASES)
def test_a_lifecycle_fault_that_outlives_the_retries_is_a_503_and_the_retry_succeeds(
    api: Api, mailbox: Mailbox, workflow: str, task: str
) -> None:
    flow = FLOWS[workflow]
    ctx = flow.prepare(api, mailbox)
    with faults.inject(TASKS[workflow][task](ATTEMPTS, ctx)) as (rule,):
        answer = flow.send(api, ctx)
    assert rule.fired == ATTEMPTS
    if task.startswith("Audit") or (workflow, task) in BEST_EFFORT:
        assert answer.status == flow.expected, (answer.status, answer.body)  # the write is lost
    elif (workflow, task) in SERVED_OTHERWISE:
        assert answer.status == SERVED_OTHERWISE[workflow, task], (answer.status, answer.body)
        assert answer.body == b""
    elif (workflow, task) in UNIFORM:
        assert answer.status == flow.expected, (answer.status, answer.body)
        assert mailbox.to(ctx["email"]) == []  # nothing was started
        answer = flow.send(api, ctx)  # the client asks again
        assert answer.status == flow.expected, (answer.status, answer.body)
    else:
        assert answer.status == 503, (answer.status, answer.body)
        assert_served_or_unavailable(answer, flow.expected)
        flow.after_unavailable(api, ctx)
        answer = flow.send(api, ctx)  # the client's retry of the same request
        assert answer.status == flow.expected, (answer.status, answer.body)
    flow.after_served(api, mailbox, ctx)

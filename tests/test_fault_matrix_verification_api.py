"""The fault matrix (tests/test_fault_matrix_api.py) for ``POST /v1/email/verify`` and its resend.

Those routes mean something only under ``email_verification=required``, which the shared stack
does not run, so this module starts one ``stepauth local`` of its own (a child process, as
tests/test_email_verification.py does) for every case, and puts each case's fault into it at
run time through the local AWS port's ``/_aws/faults`` (localcloud/faults.py).

For every Task of VerifyEmail and ResendVerification: one transient fault is retried away (the
right answer); a fault that outlives the retries, or a crashed step, is the right answer (a
best-effort write: the audit record, the wait's completion) or a 503 ``temporarily_unavailable``
with ``Retry-After``, never a 500, that leaves nothing half-written (the code is not spent, the
account's verified flag is unchanged, no new code was sent) — and the client's retry of the same
request then succeeds. Last, nothing the child recorded holds a code the cases used.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.test_api import Answer, new_email
from tests.test_email_verification import (
    Server,
    client,
    code_in,
    contains_code,
    recorded_texts,
    run_local_server,
)
from tests.test_fault_matrix_api import ATTEMPTS, assert_served_or_unavailable

pytestmark = pytest.mark.cloud

#: Every code the cases used, for the final scan of what the child recorded.
USED_CODES: list[str] = []


class Faults:
    """The child's run-time fault control (``/_aws/faults``)."""

    def __init__(self, server: Server) -> None:
        self.url = f"{server.aws_endpoint}/_aws/faults"

    def _call(self, method: str, body: bytes | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url, data=body, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request) as answer:  # noqa: S310 - the local endpoint
                status, text = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        return status, json.loads(text) if text else None

    def add(self, spec: str) -> tuple[int, Any]:
        return self._call("POST", spec.encode())

    def rules(self) -> list[dict[str, Any]]:
        status, body = self._call("GET")
        assert status == 200
        return body["rules"]

    def clear(self) -> None:
        assert self._call("DELETE")[0] == 204


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_local_server(tmp_path_factory)


@pytest.fixture(scope="module")
def faults(server: Server) -> Faults:
    return Faults(server)


@pytest.fixture(autouse=True)
def no_faults_left(faults: Faults) -> Iterator[None]:
    yield
    faults.clear()


def test_the_fault_control_adds_lists_and_clears_rules(faults: Faults) -> None:
    status, body = faults.add("dynamodb:PutItem:throttle:times=2:match=AUDIT#")
    assert status == 200
    status, body = faults.add("lambda:Invoke:crash:p=0.5:function=SendEmail")
    assert status == 200
    assert [rule["rule"] for rule in body["rules"]] == [
        "dynamodb:PutItem:throttle:times=2:match=AUDIT#",
        "lambda:Invoke:crash:p=0.5:function=SendEmail",
    ]
    assert [rule["fired"] for rule in faults.rules()] == [0, 0]
    status, problem = faults.add("dynamodb:PutItem:crash")  # crashes are Lambda faults
    assert (status, problem["error"]) == (400, "invalid_request")
    assert problem["error_description"]
    assert len(faults.rules()) == 2  # a refused POST adds nothing
    faults.clear()
    assert faults.rules() == []


# -- the cases --------------------------------------------------------------------------------


def _user_item(server: Server, email: str) -> dict[str, Any]:
    return client(server, "dynamodb").get_item(
        TableName=server.outputs["TableName"],
        Key={"pk": {"S": f"USER#{email}"}, "sk": {"S": "PROFILE"}},
    )["Item"]


def _pending(server: Server, user_id: str) -> dict[str, Any] | None:
    return (
        client(server, "dynamodb")
        .get_item(
            TableName=server.outputs["TableName"],
            Key={"pk": {"S": f"VERIFY#verify_email#{user_id}"}, "sk": {"S": "PENDING"}},
        )
        .get("Item")
    )


def _registered(server: Server) -> dict[str, Any]:
    """A new account waiting for its verification, and its first code."""
    email = new_email()
    registered = server.api.register(email)
    assert registered.status == 201, registered.body
    code = code_in(server.wait_for_mail(email))
    USED_CODES.append(code)
    user_id = registered.json()["user"]["id"]
    return {"email": email, "code": code, "user_id": user_id, "mails": 1}


def _verify(server: Server, ctx: dict[str, Any]) -> Answer:
    return server.api.post_json("/v1/email/verify", {"email": ctx["email"], "code": ctx["code"]})


def _resend(server: Server, ctx: dict[str, Any]) -> Answer:
    return server.api.post_json("/v1/email/verify/resend", {"email": ctx["email"]})


def _nothing_verified_or_spent(server: Server, ctx: dict[str, Any]) -> None:
    user = _user_item(server, ctx["email"])
    assert user.get("email_verified") == {"BOOL": False}, "verified behind a 503"
    assert _pending(server, ctx["user_id"]) is not None, "the code was spent behind a 503"
    assert len(server.mailbox(ctx["email"])) == ctx["mails"]


def _verified(server: Server, ctx: dict[str, Any], answer: Answer) -> None:
    assert answer.json()["refresh_token"] and answer.json()["access_token"]
    assert _user_item(server, ctx["email"])["email_verified"] == {"BOOL": True}
    assert _pending(server, ctx["user_id"]) is None  # spent, with the session
    assert server.api.login(ctx["email"]).status == 200


def _no_new_code_sent(server: Server, ctx: dict[str, Any]) -> None:
    assert len(server.mailbox(ctx["email"])) == ctx["mails"], "a code went out behind a 503"
    pending = _pending(server, ctx["user_id"])
    assert pending is not None and pending.get("resends", {}).get("N", "0") == "0"


def _fresh_code_works(server: Server, ctx: dict[str, Any], answer: Answer) -> None:
    fresh = code_in(server.wait_for_mail(ctx["email"], count=ctx["mails"] + 1))
    USED_CODES.append(fresh)
    verified = server.api.post_json("/v1/email/verify", {"email": ctx["email"], "code": fresh})
    assert verified.status == 200, verified.body


@dataclass
class Flow:
    expected: int
    send: Callable[[Server, dict[str, Any]], Answer]
    #: Nothing half-written after a 503 (checked before the retry).
    after_unavailable: Callable[[Server, dict[str, Any]], None]
    #: The request's effect, once served.
    after_served: Callable[[Server, dict[str, Any], Answer], None]


FLOWS = {
    "VerifyEmail": Flow(200, _verify, _nothing_verified_or_spent, _verified),
    "ResendVerification": Flow(202, _resend, _no_new_code_sent, _fresh_code_works),
}


def _lambda(function: str) -> Callable[[str, int, dict[str, Any]], str]:
    return lambda kind, times, ctx: f"lambda:Invoke:{kind}:times={times}:function={function}"


def _audit(kind: str, times: int, ctx: dict[str, Any]) -> str:
    return f"dynamodb:PutItem:{kind}:times={times}:match=AUDIT#"


def _complete_wait(kind: str, times: int, ctx: dict[str, Any]) -> str:
    return f"states:SendTaskSuccess:{kind}:times={times}"


def _commit(kind: str, times: int, ctx: dict[str, Any]) -> str:
    """The commit itself, inside IssueTokens: its one transaction (the session, the verified
    flag and the spent code) fails at DynamoDB."""
    return f"dynamodb:TransactWriteItems:{kind}:times={times}:match=USER#{ctx['email']}"


#: Every Task of both workflows (and VerifyEmail's commit inside its step), by the rule that
#: puts a fault there, and the kinds of fault each gets beside throttling.
TASKS: dict[str, dict[str, tuple[Callable[[str, int, dict[str, Any]], str], tuple[str, ...]]]] = {
    "VerifyEmail": {
        "CheckCode": (_lambda("VerifyEmail"), ("crash",)),
        "IssueTokens": (_lambda("IssueTokens"), ("crash", "timeout")),
        "IssueTokens/commit": (_commit, ("internal",)),
        "CompleteWait": (_complete_wait, ()),
        "AuditEmailVerified": (_audit, ("internal",)),
    },
    "ResendVerification": {
        "FindVerification": (_lambda("FindVerification"), ("crash",)),
        "SendFreshCode": (_lambda("SendEmail"), ("crash",)),
        "AuditResent": (_audit, ("internal",)),
    },
}
#: Writes whose loss is served: the audit records, and the completion of a wait whose work is
#: committed (the STANDARD execution then ends at its own time-out).
BEST_EFFORT = {("VerifyEmail", "CompleteWait")}
#: A crashed or timed-out function, or a fault inside a step (an injected fault skips botocore's
#: own retries), fails the Task at once: straight to the 503. (An audit write retries its
#: internal errors like its throttling.)
AT_ONCE = ("crash", "timeout", "internal")

ONE_FAULT = [(w, t) for w, tasks in TASKS.items() for t in tasks if not t.endswith("/commit")]
OUTLIVING = [
    (workflow, task, kind)
    for workflow, tasks in TASKS.items()
    for task, (_, kinds) in tasks.items()
    for kind in ("throttle", *kinds)
]


def _fired(faults: Faults) -> int:
    return sum(rule["fired"] for rule in faults.rules())


@pytest.mark.parametrize(("workflow", "task"), ONE_FAULT)
def test_one_transient_fault_at_a_verification_task_is_retried_away(
    server: Server, faults: Faults, workflow: str, task: str
) -> None:
    flow = FLOWS[workflow]
    ctx = _registered(server)
    rule, _ = TASKS[workflow][task]
    assert faults.add(rule("throttle", 1, ctx))[0] == 200
    answer = flow.send(server, ctx)
    assert _fired(faults) == 1, "the fault never reached the Task: the test would prove nothing"
    assert answer.status == flow.expected, (answer.status, answer.body)
    faults.clear()
    flow.after_served(server, ctx, answer)


@pytest.mark.parametrize(("workflow", "task", "kind"), OUTLIVING)
def test_a_verification_fault_that_outlives_the_retries_is_a_503_and_the_retry_succeeds(
    server: Server, faults: Faults, workflow: str, task: str, kind: str
) -> None:
    flow = FLOWS[workflow]
    ctx = _registered(server)
    rule, _ = TASKS[workflow][task]
    at_once = kind in AT_ONCE or task.endswith("/commit")
    times = 1 if at_once and not task.startswith("Audit") else ATTEMPTS
    assert faults.add(rule(kind, times, ctx))[0] == 200
    answer = flow.send(server, ctx)
    assert _fired(faults) == times
    faults.clear()
    if task.startswith("Audit") or (workflow, task) in BEST_EFFORT:
        assert answer.status == flow.expected, (answer.status, answer.body)  # the write is lost
    else:
        assert answer.status == 503, (answer.status, answer.body)
        assert_served_or_unavailable(answer, flow.expected)
        assert answer.json()["error"] == "temporarily_unavailable"
        flow.after_unavailable(server, ctx)
        answer = flow.send(server, ctx)  # the client's retry of the same request
        assert answer.status == flow.expected, (answer.status, answer.body)
    flow.after_served(server, ctx, answer)


def test_no_code_of_the_matrix_in_any_history_or_log_of_the_child(server: Server) -> None:
    """Every code the cases above used (run alone: this one's own verification)."""
    ctx = _registered(server)
    assert _verify(server, ctx).status == 200
    texts = recorded_texts(server)
    for where, text in texts.items():
        for code in USED_CODES:
            assert not contains_code(text, code), f"a code in {where}"

"""A fault at each Task of each workflow, over HTTP on the local stack (localcloud/faults.py).

For every Task: one transient fault is absorbed by the Task's Retry (the client gets the right
answer); a fault that outlives the retries is a 503 ``temporarily_unavailable`` with
``Retry-After`` (never a 500) that leaves nothing half-done — no user without a session, no lost
or doubly spent refresh token, no revoked family — and the client's retry of the same request
then succeeds. Audit writes never turn a served request into an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from localcloud import faults
from localcloud.cloud import LocalCloud
from localcloud.faults import FaultRule
from stepauth.cli import main as stepauth
from steps.core.refresh_tokens import hash_refresh_token
from steps.core.table import Table, family_key, refresh_token_key, user_key
from tests.test_api import Answer, Api, new_email

#: Attempts a Task makes (1 + its retries, cdk/resilience.py): this many faults outlive them.
ATTEMPTS = 3


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def table(local_cloud: LocalCloud) -> Table:
    client = boto3.Session(region_name=local_cloud.settings.region).client("dynamodb")
    return Table(client, local_cloud.stack.outputs["TableName"])


@pytest.fixture(autouse=True)
def no_faults_left() -> Any:
    yield
    faults.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def lambda_step(step: str, kind: str = "throttle") -> Callable[[int], FaultRule]:
    return lambda times: FaultRule("lambda", "Invoke", kind, times=times, function=step)


def dynamodb_task(operation: str, match: str) -> Callable[[int], FaultRule]:
    return lambda times: FaultRule("dynamodb", operation, "throttle", times=times, match=match)


def assert_served_or_unavailable(answer: Answer, expected: int) -> None:
    assert answer.status in (expected, 503), (answer.status, answer.body)
    if answer.status == 503:
        assert answer.headers.get("retry-after") == "1"
        assert answer.json()["error"] == "temporarily_unavailable"
        assert answer.headers.get("x-amzn-requestid")


@dataclass
class Flow:
    """One workflow: how to prepare a request, send it, and check what it left behind."""

    expected: int
    prepare: Callable[[Api, LocalCloud], dict[str, Any]]
    send: Callable[[Api, dict[str, Any]], Answer]
    #: Checks after an unavailable answer (nothing half-done), before the retry.
    after_unavailable: Callable[[Table, dict[str, Any]], None] = lambda table, ctx: None
    #: Checks after the request was served (the first answer or the retry).
    after_served: Callable[[Api, Table, dict[str, Any], Answer], None] = (
        lambda api, table, ctx, answer: None
    )


def _signed_in(api: Api, _: LocalCloud) -> dict[str, Any]:
    email = new_email()
    session = api.register(email).json()
    return {"email": email, "session": session}


def _no_user(table: Table, ctx: dict[str, Any]) -> None:
    assert table.get(user_key(ctx["email"])) is None, "a half-written user"


def _registered(api: Api, table: Table, ctx: dict[str, Any], answer: Answer) -> None:
    body = answer.json()
    assert body["refresh_token"] and api.login(ctx["email"]).status == 200
    assert (
        api.post_json("/v1/token/refresh", {"refresh_token": body["refresh_token"]}).status == 200
    )


def _token_current(table: Table, ctx: dict[str, Any]) -> None:
    token = ctx["session"]["refresh_token"]
    item = table.get(refresh_token_key(hash_refresh_token(token)))
    assert item is not None and item["status"]["S"] == "active", "the token was spent"
    family = table.get(family_key(item["family_id"]["S"]))
    assert family is not None and family["status"]["S"] == "active", "the family was revoked"


def _session_lives(api: Api, table: Table, ctx: dict[str, Any], answer: Answer) -> None:
    body = answer.json()
    assert body["refresh_token"] != ctx["session"]["refresh_token"]
    again = api.post_json("/v1/token/refresh", {"refresh_token": body["refresh_token"]})
    assert again.status == 200, again.body
    me = api.call("GET", "/v1/me", headers=bearer(again.json()["access_token"]))
    assert me.status == 200


def _admin_and_target(api: Api, cloud: LocalCloud) -> dict[str, Any]:
    admin = _signed_in(api, cloud)
    argv = ["users", "grant-role", "--endpoint-url", cloud.settings.aws_endpoint]
    assert stepauth([*argv, admin["email"], "admin"]) == 0
    admin["admin"] = api.login(admin["email"]).json()
    admin["target"] = _signed_in(api, cloud)
    return admin


def _session_ids(api: Api, ctx: dict[str, Any]) -> dict[str, Any]:
    access = ctx["session"]["access_token"]
    listed = api.call("GET", "/v1/sessions", headers=bearer(access)).json()
    ctx["session_id"] = listed["sessions"][0]["id"]
    return ctx


FLOWS: dict[str, Flow] = {
    "Register": Flow(
        201,
        lambda api, cloud: {"email": new_email()},
        lambda api, ctx: api.register(ctx["email"]),
        after_unavailable=_no_user,
        after_served=_registered,
    ),
    "Login": Flow(
        200,
        _signed_in,
        lambda api, ctx: api.login(ctx["email"]),
    ),
    "Refresh": Flow(
        200,
        _signed_in,
        lambda api, ctx: api.post_json(
            "/v1/token/refresh", {"refresh_token": ctx["session"]["refresh_token"]}
        ),
        after_unavailable=_token_current,
        after_served=_session_lives,
    ),
    "Logout": Flow(
        204,
        _signed_in,
        lambda api, ctx: api.call(
            "POST", "/v1/logout", "{}", bearer(ctx["session"]["access_token"])
        ),
    ),
    "ListSessions": Flow(
        200,
        _signed_in,
        lambda api, ctx: api.call(
            "GET", "/v1/sessions", headers=bearer(ctx["session"]["access_token"])
        ),
    ),
    "EndSession": Flow(
        204,
        lambda api, cloud: _session_ids(api, _signed_in(api, cloud)),
        lambda api, ctx: api.call(
            "DELETE",
            f"/v1/sessions/{ctx['session_id']}",
            headers=bearer(ctx["session"]["access_token"]),
        ),
    ),
    "DisableUser": Flow(
        200,
        _admin_and_target,
        lambda api, ctx: api.call(
            "POST",
            f"/v1/admin/users/{ctx['target']['session']['user']['id']}/disable",
            "{}",
            bearer(ctx["admin"]["access_token"]),
        ),
    ),
    "DeleteAccount": Flow(
        204,
        _signed_in,
        lambda api, ctx: api.call(
            "DELETE", "/v1/me", headers=bearer(ctx["session"]["access_token"])
        ),
    ),
}

#: Every Task on each workflow's success path (the rejection paths have their own audit Tasks).
TASKS: dict[str, dict[str, Callable[[int], FaultRule]]] = {
    "Register": {
        "ValidateRegistration": lambda_step("ValidateRegistration"),
        "HashPassword": lambda_step("HashPassword"),
        "StoreUser": dynamodb_task("PutItem", "password_hash"),
        "AuditRegistered": dynamodb_task("PutItem", "AUDIT#"),
        "IssueTokens": lambda_step("IssueTokens"),
    },
    "Login": {
        "ValidateLogin": lambda_step("ValidateLogin"),
        "FindUser": dynamodb_task("GetItem", "PROFILE"),
        "VerifyPassword": lambda_step("VerifyPassword"),
        "IssueTokens": lambda_step("IssueTokens"),
        "AuditLoginSuccess": dynamodb_task("PutItem", "AUDIT#"),
    },
    "Refresh": {
        "ValidateRefresh": lambda_step("ValidateRefresh"),
        "RotateRefreshToken": lambda_step("RotateRefreshToken"),
        "AuditRefreshed": dynamodb_task("PutItem", "AUDIT#"),
    },
    "Logout": {
        "ValidateLogout": lambda_step("ValidateLogout"),
        "EndSessions": lambda_step("EndSessions"),
        "AuditLogout": dynamodb_task("PutItem", "AUDIT#"),
        "DenyAccessToken": dynamodb_task("PutItem", "DENY#"),
    },
    "ListSessions": {"ListSessions": lambda_step("ListSessions")},
    "EndSession": {
        "EndSession": lambda_step("EndSession"),
        "AuditSessionEnded": dynamodb_task("PutItem", "AUDIT#"),
    },
    "DisableUser": {
        "DisableUser": lambda_step("DisableUser"),
        "AuditUserDisabled": dynamodb_task("PutItem", "AUDIT#"),
    },
    "DeleteAccount": {
        "DeleteAccount": lambda_step("DeleteAccount"),
        "AuditAccountDeleted": dynamodb_task("PutItem", "AUDIT#"),
        "DenyAccessToken": dynamodb_task("PutItem", "DENY#"),
    },
}

#: Writes after the commit whose loss is served anyway: a deleted account's tokens are refused
#: by the authorizer whether or not the denylist has them.
BEST_EFFORT = {("DeleteAccount", "DenyAccessToken")}

CASES = [(workflow, task) for workflow, tasks in TASKS.items() for task in tasks]


@pytest.mark.parametrize(("workflow", "task"), CASES)
def test_one_transient_fault_at_a_task_is_retried_away(
    api: Api, table: Table, local_cloud: LocalCloud, workflow: str, task: str
) -> None:
    flow = FLOWS[workflow]
    ctx = flow.prepare(api, local_cloud)
    with faults.inject(TASKS[workflow][task](1)) as (rule,):
        answer = flow.send(api, ctx)
    assert rule.fired == 1, "the fault never reached the Task: the test would prove nothing"
    assert answer.status == flow.expected, (answer.status, answer.body)
    flow.after_served(api, table, ctx, answer)


@pytest.mark.parametrize(("workflow", "task"), CASES)
def test_a_fault_that_outlives_the_retries_is_a_503_and_the_retry_succeeds(
    api: Api, table: Table, local_cloud: LocalCloud, workflow: str, task: str
) -> None:
    flow = FLOWS[workflow]
    ctx = flow.prepare(api, local_cloud)
    with faults.inject(TASKS[workflow][task](ATTEMPTS)) as (rule,):
        answer = flow.send(api, ctx)
    assert rule.fired == ATTEMPTS
    if task.startswith("Audit") or (workflow, task) in BEST_EFFORT:
        assert answer.status == flow.expected, (answer.status, answer.body)  # the write is lost
    else:
        assert answer.status == 503, (answer.status, answer.body)
        assert_served_or_unavailable(answer, flow.expected)
        flow.after_unavailable(table, ctx)
        answer = flow.send(api, ctx)  # the client's retry of the same request
        assert answer.status == flow.expected, (answer.status, answer.body)
    flow.after_served(api, table, ctx, answer)


@pytest.mark.parametrize("kind", ["crash", "timeout"])
def test_a_crashed_refresh_step_leaves_the_token_current(
    api: Api, table: Table, local_cloud: LocalCloud, kind: str
) -> None:
    flow = FLOWS["Refresh"]
    ctx = flow.prepare(api, local_cloud)
    with faults.inject(lambda_step("RotateRefreshToken", kind)(1)) as (rule,):
        answer = flow.send(api, ctx)
    assert rule.fired == 1
    assert answer.status == 503, (answer.status, answer.body)
    _token_current(table, ctx)
    retried = flow.send(api, ctx)
    assert retried.status == 200, retried.body
    _session_lives(api, table, ctx, retried)


def test_a_throttled_transaction_inside_the_refresh_step_spends_nothing(
    api: Api, table: Table, local_cloud: LocalCloud
) -> None:
    flow = FLOWS["Refresh"]
    ctx = flow.prepare(api, local_cloud)
    rule = FaultRule("dynamodb", "TransactWriteItems", "throttle", times=1)
    with faults.inject(rule):
        answer = flow.send(api, ctx)
    assert rule.fired == 1
    assert_served_or_unavailable(answer, 200)
    if answer.status == 503:
        _token_current(table, ctx)
        answer = flow.send(api, ctx)
    assert answer.status == 200, answer.body
    _session_lives(api, table, ctx, answer)


def test_rules_parse_from_the_environment_syntax() -> None:
    (throttle, crash) = faults.parse_rules(
        "dynamodb:PutItem:throttle:times=2:match=AUDIT#; lambda:Invoke:crash:p=0.5:function=X"
    )
    assert (throttle.service, throttle.operation, throttle.times, throttle.match) == (
        "dynamodb",
        "PutItem",
        2,
        "AUDIT#",
    )
    assert (crash.kind, crash.probability, crash.times, crash.function) == ("crash", 0.5, None, "X")
    with pytest.raises(ValueError):
        faults.parse_rules("dynamodb:PutItem:crash")
    with pytest.raises(ValueError):
        faults.parse_rules("dynamodb:PutItem")

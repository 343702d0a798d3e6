"""Every Task of every workflow retries its transient faults and catches the rest, in time.

Read from the synthesized template (the ASL the local cloud runs and AWS would run).
"""

from __future__ import annotations

import json

import pytest

from cdk.resilience import (
    COMMIT_MARGIN_SECONDS,
    DYNAMODB_TRANSIENT_ERRORS,
    EVENTBRIDGE_TRANSIENT_ERRORS,
    GATEWAY_TIMEOUT_SECONDS,
    LAMBDA_TRANSIENT_ERRORS,
    SFN_SDK_TRANSIENT_ERRORS,
    UNAVAILABLE_ERROR,
    WORKFLOW_TIMEOUT_SECONDS,
)

from .steps.test_commit_deadline import COMMITTING_HANDLERS, SELF_CHECKING_HANDLERS
from .test_stack import definition_of, resources, state_machines

WORKFLOWS = (
    "Register",
    "Login",
    "Refresh",
    "Logout",
    "DisableUser",
    "DeleteAccount",
    "ListSessions",
    "EndSession",
    # the account lifecycle (cdk/lifecycle_workflows.py)
    "VerifyEmail",
    "ResendVerification",
    "ForgotPassword",
    "ResetPassword",
    "ChangePassword",
    "ChangeEmail",
    "ConfirmEmailChange",
    # multi-factor sign-in (cdk/mfa_workflows.py)
    "MfaEnrol",
    "MfaConfirm",
    "MfaDisable",
    "MfaRecoveryCodes",
    "LoginMfa",
)
#: The STANDARD workflows wait for a person: their time-out is the wait's, not the gateway's.
STANDARD_WORKFLOWS = ("EmailVerification", "PasswordRecovery", "EmailChange")


def _transient_errors(resource: str) -> tuple[str, ...]:
    if ":states:::dynamodb:" in resource:
        return DYNAMODB_TRANSIENT_ERRORS
    if ":states:::events:" in resource:
        return EVENTBRIDGE_TRANSIENT_ERRORS
    if ":states:::aws-sdk:sfn:" in resource:
        return SFN_SDK_TRANSIENT_ERRORS
    return LAMBDA_TRANSIENT_ERRORS


def _best_effort(workflow: str, name: str) -> bool:
    """Writes whose loss never fails a served request: audit records, lifecycle events, the
    resumption of a STANDARD wait after the change is committed, a deleted account's denylist
    entry (the authorizer refuses its tokens anyway)."""
    return (
        name.startswith(("Audit", "Publish"))
        or name == "CompleteWait"
        or (workflow, name) == ("DeleteAccount", "DenyAccessToken")
    )


#: Tasks whose failure is answered as their success on purpose, through their own states: the
#: forgot route answers 202 for any email (a 503 only for known ones would reveal accounts); a
#: notice email is a courtesy (the change itself is committed, or the code still goes out).
ANSWERED_AS_SUCCESS = {
    ("ForgotPassword", "StartRecovery"),
    ("ChangePassword", "SendNotice"),
    ("EmailChange", "NoticeToOldAddress"),
}


#: The Lambda Tasks whose table write is their request's commit: each gets the execution's commit
#: deadline (steps/core/deadline.py) and no other Task does. Not here: steps that only read
#: (Validate…, Find…, RequestPasswordReset, HashPassword), VerifyPassword, CheckReset and
#: CheckCode (their writes count wrong attempts or re-hash, never the request's commit), the
#: STANDARD workflows' steps (a person's wait, not a client's request) and the direct DynamoDB
#: and SDK Tasks (none starts after the time-out: tests/test_localcloud_timeouts.py).
COMMITTING_TASKS: dict[str, tuple[str, ...]] = {
    "Register": ("IssueTokens",),
    "Login": ("IssueTokens", "StartMfaChallenge"),
    "LoginMfa": ("VerifyMfaLogin", "IssueTokens"),
    "Refresh": ("RotateRefreshToken",),
    "Logout": ("EndSessions",),
    "DisableUser": ("DisableUser",),
    "DeleteAccount": ("CheckStepUp", "DeleteAccount"),
    "EndSession": ("EndSession",),
    "VerifyEmail": ("IssueTokens",),
    "ResendVerification": ("SendFreshCode",),
    "ResetPassword": ("StorePassword",),
    "ChangePassword": ("CheckStepUp", "StorePassword", "IssueTokens"),
    "ChangeEmail": ("CheckStepUp",),
    "ConfirmEmailChange": ("ConfirmEmailChange",),
    "MfaEnrol": ("StartTotpEnrolment",),
    "MfaConfirm": ("ConfirmTotp",),
    "MfaDisable": ("VerifySecondFactor",),
    "MfaRecoveryCodes": ("VerifySecondFactor", "ReplaceRecoveryCodes"),
}


def _payload(state: dict) -> dict:
    parameters = state.get("Parameters") or {}
    return parameters.get("Payload", parameters)


def _definitions(template: dict) -> dict[str, dict]:
    found = {}
    for machine in state_machines(template).values():
        name = machine["Properties"]["StateMachineName"].rsplit("-", 1)[-1]
        found[name] = definition_of(machine)
    return found


def _retry_wait(retrier: dict) -> float:
    """The longest total wait of one Retry rule (FULL jitter only shortens waits)."""
    interval = retrier.get("IntervalSeconds", 1)
    rate = retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return sum(min(interval * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3)))


def _successors(state: dict) -> list[str]:
    nexts = [state["Next"]] if "Next" in state else []
    nexts += [choice["Next"] for choice in state.get("Choices", [])]
    nexts += [state["Default"]] if "Default" in state else []
    nexts += [catcher["Next"] for catcher in state.get("Catch", [])]
    return nexts


def worst_case_retry_seconds(definition: dict) -> float:
    """The longest sum of retry waits along any path from StartAt (the graph is acyclic)."""
    states = definition["States"]
    memo: dict[str, float] = {}

    def longest(name: str, visiting: frozenset[str]) -> float:
        assert name not in visiting, f"the workflow loops at {name}"
        if name not in memo:
            state = states[name]
            own = sum(_retry_wait(r) for r in state.get("Retry", []))
            memo[name] = own + max(
                (longest(n, visiting | {name}) for n in _successors(state)), default=0.0
            )
        return memo[name]

    return longest(definition["StartAt"], frozenset())


def test_every_workflow_is_checked(template: dict) -> None:
    assert set(_definitions(template)) == set(WORKFLOWS) | set(STANDARD_WORKFLOWS)


@pytest.mark.parametrize("workflow", WORKFLOWS + STANDARD_WORKFLOWS)
def test_every_task_retries_its_transient_errors_and_catches_the_rest(
    template: dict, workflow: str
) -> None:
    definition = _definitions(template)[workflow]
    states = definition["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert tasks
    for name, task in tasks.items():
        expected = _transient_errors(json.dumps(task["Resource"]))
        retried = {error for retrier in task.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert set(expected) <= retried, name
        assert "States.ALL" not in retried, name  # only transient faults are retried
        catchers = task.get("Catch", [])
        assert catchers and catchers[-1]["ErrorEquals"] == ["States.ALL"], name
        handler = catchers[-1]["Next"]
        if _best_effort(workflow, name):
            # A lost audit record or event never turns a served request into an error.
            assert handler == task["Next"] and catchers[-1]["ResultPath"] is None, name
            assert states[handler].get("Error") != UNAVAILABLE_ERROR, name
        elif (workflow, name) in ANSWERED_AS_SUCCESS:
            assert catchers[-1]["ResultPath"] is None, name
            assert states[handler]["Type"] != "Fail", name
        elif (workflow, name) == ("ChangePassword", "IssueTokens"):
            # The password is stored by then: served without a new pair (204, sign in again).
            assert handler == task["Next"] and states[handler]["Type"] != "Fail", name
            assert states["RespondChangedSignInAgain"]["Parameters"]["statusCode"] == 204
        else:
            # Straight to the 503, or through a compensation (Register's UndoStoreUser) to it.
            fail = states[handler]
            while fail["Type"] == "Task":
                fail = states[fail["Next"]]
            assert (fail["Type"], fail["Error"]) == ("Fail", UNAVAILABLE_ERROR), name
            response = json.loads(fail["Cause"])
            assert response["statusCode"] == 503
            assert int(response["headers"]["Retry-After"]) >= 1
            body = json.loads(response["body"])
            assert body["error"] == "temporarily_unavailable" and body["error_description"]


@pytest.mark.parametrize("workflow", WORKFLOWS)  # the EXPRESS ones, behind the gateway
def test_worst_case_retries_fit_the_workflow_timeout_under_the_gateway(
    template: dict, workflow: str
) -> None:
    definition = _definitions(template)[workflow]
    timeout = definition["TimeoutSeconds"]
    assert timeout < GATEWAY_TIMEOUT_SECONDS
    # The waits leave at least 5 s of the time-out for the work itself.
    assert worst_case_retry_seconds(definition) <= timeout - 5


@pytest.mark.parametrize("workflow", WORKFLOWS + STANDARD_WORKFLOWS)
def test_every_committing_lambda_task_gets_the_commit_deadline(
    template: dict, workflow: str
) -> None:
    states = _definitions(template)[workflow]["States"]
    given = {
        name
        for name, state in states.items()
        if state["Type"] == "Task" and "deadline" in _payload(state)
    }
    assert given == set(COMMITTING_TASKS.get(workflow, ())), workflow
    for name in given:
        assert ":states:::" not in states[name]["Resource"], name  # a Lambda Task
        assert _payload(states[name])["deadline"] == {
            "startedAt.$": "$$.Execution.StartTime",
            "withinSeconds": WORKFLOW_TIMEOUT_SECONDS - COMMIT_MARGIN_SECONDS,
        }, name


def test_the_committing_tasks_run_the_handlers_that_honour_the_deadline(template: dict) -> None:
    """Each function a committing Task invokes reads the deadline (tests/steps/
    test_commit_deadline.py proves each handler hands it to its table)."""
    handlers = {
        logical_id: function["Properties"]["Handler"]
        for logical_id, function in resources(template, "AWS::Lambda::Function").items()
    }
    definitions = _definitions(template)
    invoked = set()
    for workflow, names in COMMITTING_TASKS.items():
        for name in names:
            function = definitions[workflow]["States"][name]["Resource"].rsplit(":function:")[-1]
            module, _, _ = handlers[function].rpartition(".")
            invoked.add(module.removeprefix("steps."))
    assert invoked == set(COMMITTING_HANDLERS) | set(SELF_CHECKING_HANDLERS)


def test_the_worst_case_is_computed_along_the_longest_path() -> None:
    retry = {"ErrorEquals": ["X"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2.0}
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Retry": [retry], "Next": "B", "Catch": [{"Next": "C"}]},
            "B": {"Type": "Task", "Retry": [retry], "End": True},
            "C": {"Type": "Succeed"},
        },
    }
    assert worst_case_retry_seconds(definition) == 6.0


def test_refresh_spends_and_issues_in_one_step(template: dict) -> None:
    """The presented token is spent and its successor stored by one Task (one transaction)."""
    states = _definitions(template)["Refresh"]["States"]
    lambdas = {
        name
        for name, state in states.items()
        if state["Type"] == "Task" and ":states:::" not in state["Resource"]
    }
    assert lambdas == {"ValidateRefresh", "RotateRefreshToken"}
    assert "IssueTokens" not in states


def test_a_registration_that_cannot_issue_tokens_takes_the_account_back(template: dict) -> None:
    states = _definitions(template)["Register"]["States"]
    (catcher,) = states["IssueTokens"]["Catch"]
    undo = states[catcher["Next"]]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    assert undo["Resource"].endswith(":states:::dynamodb:deleteItem")
    assert undo["Parameters"]["ConditionExpression"] == "#user_id = :user_id"
    assert undo["Parameters"]["ExpressionAttributeValues"][":user_id"] == {"S.$": "$.account.id"}
    assert states[undo["Next"]]["Error"] == UNAVAILABLE_ERROR


# -- the response template answers what the workflows leave ----------------------------------


def _render(status: str, **fields: str):
    from cdk.api import mapping_template
    from localcloud.mapping_templates import RequestData, render_response_template

    template = mapping_template("execution_result.vtl")
    answer = json.dumps(
        {"executionArn": "arn:aws:states:r:1:express:X:req-7:u", "status": status, **fields}
    )
    request = RequestData(context={"requestId": "req-7", "requestTimeEpoch": 1767323045678})
    return render_response_template(template, answer, request)


def test_an_unavailable_failure_is_a_503_with_retry_after() -> None:
    from cdk.resilience import unavailable_cause

    result = _render("FAILED", error=UNAVAILABLE_ERROR, cause=unavailable_cause())
    assert result.status_override == 503
    assert result.header_overrides == {
        "Retry-After": "1",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    assert json.loads(result.body)["error"] == "temporarily_unavailable"


def test_a_timed_out_execution_is_a_503_with_retry_after() -> None:
    result = _render("TIMED_OUT")
    assert result.status_override == 503
    assert result.header_overrides == {
        "Retry-After": "1",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    body = json.loads(result.body)
    assert body["error"] == "temporarily_unavailable" and body["error_description"]


def test_any_other_failure_stays_a_500_that_reveals_nothing() -> None:
    result = _render("FAILED", error="States.Runtime", cause="secret detail")
    assert result.status_override == 500
    assert "secret detail" not in result.body


# -- a step's write cannot outlast the workflow ------------------------------------------------


def test_a_write_of_the_steps_dynamodb_client_ends_within_the_commit_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A step checks its deadline just before its write; the write, with every retry of the
    client it is sent with, must end within COMMIT_MARGIN_SECONDS, so nothing lands after the
    workflow's time-out. Computed from the client the steps build (steps/core/aws.py)."""
    import botocore.loaders

    from steps.core import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    try:
        config = aws.client("dynamodb").meta.config
    finally:
        aws.reset_clients()
    attempts = config.retries["total_max_attempts"]
    # The legacy mode's waits are the service's policy (no server-chosen retry-after delay).
    assert config.retries["mode"] == "legacy"
    policy = botocore.loaders.create_loader().load_data("_retry")["retry"]["dynamodb"]
    delay = policy["__default__"]["delay"]
    assert delay["type"] == "exponential"
    waits = sum(delay["base"] * delay["growth_factor"] ** n for n in range(attempts - 1))
    worst = attempts * (config.connect_timeout + config.read_timeout) + waits
    assert worst <= COMMIT_MARGIN_SECONDS
    # The deadline plus that margin is the workflow's time-out, under the gateway's.
    assert WORKFLOW_TIMEOUT_SECONDS < GATEWAY_TIMEOUT_SECONDS

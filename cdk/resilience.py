"""Every Task of every workflow survives its service's transient faults, inside the gateway's time.

API Gateway gives up on an integration after 29 s. Each workflow therefore times out sooner
(:data:`WORKFLOW_TIMEOUT_SECONDS`), and the retries of all Tasks on its longest path wait less
than that in the worst case (the template test checks the sum), so a request either answers or
fails before the client is told 504 — never commits behind its back.

Applied once, to the finished graph of a workflow (:func:`make_resilient`):

* each Task retries the transient errors of its service (:data:`LAMBDA_TRANSIENT_ERRORS`,
  :data:`DYNAMODB_TRANSIENT_ERRORS`) a few times with a short, jittered exponential backoff;
* each Task then catches everything else it has not caught already (``States.ALL``, after its
  own catchers): an audit write continues with the state that follows it (a lost audit record
  never turns a served request into an error), any other Task ends in the ``Fail`` state
  :data:`UNAVAILABLE_STATE` whose cause is the contract's 503 ``temporarily_unavailable`` with
  ``Retry-After`` (the response mapping template answers it).

Error names are the ones Step Functions gives a Task: ``Lambda.<code>`` for ``lambda:invoke`` and
``DynamoDB.<code>`` for the optimized DynamoDB integrations (``dynamodb:putItem`` …; the
``aws-sdk:dynamodb`` integrations would say ``DynamoDb.``, none is used here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.contract.errors import TEMPORARILY_UNAVAILABLE

#: API Gateway's integration time-out for a REST API (not adjustable upwards by default).
GATEWAY_TIMEOUT_SECONDS = 29
#: Each EXPRESS workflow's TimeoutSeconds: below the gateway's, with room for the mapping.
WORKFLOW_TIMEOUT_SECONDS = 25

#: Seconds a workflow keeps, after its last commit, for the states that follow it (audit, event,
#: answer, or a compensation): a committing step refuses to commit later than
#: ``WORKFLOW_TIMEOUT_SECONDS - COMMIT_MARGIN_SECONDS`` after the execution started.
COMMIT_MARGIN_SECONDS = 5

#: The error of the Fail state that answers 503 (the response mapping template knows it).
UNAVAILABLE_ERROR = "stepauth.Unavailable"
UNAVAILABLE_STATE = "ServiceUnavailable"
#: Seconds the client is asked to wait before it retries.
RETRY_AFTER_SECONDS = 1

#: Errors of a Lambda Task that mean the invocation did not run or may be retried (throttling,
#: service faults); a function's own errors are not among them.
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
#: Errors of a DynamoDB Task that are throttling or internal faults (nothing written).
DYNAMODB_TRANSIENT_ERRORS = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.InternalServerError",  # DynamoDB's own code for it
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.RequestLimitExceeded",
)
#: Errors of the EventBridge ``putEvents`` Task that are throttling or internal faults.
EVENTBRIDGE_TRANSIENT_ERRORS = (
    "EventBridge.InternalException",
    "EventBridge.ThrottlingException",
)
#: Errors of the ``aws-sdk:sfn`` Tasks (``ServiceName.ExceptionName``, as Step Functions names
#: AWS SDK integration errors) that are throttling or service faults.
SFN_SDK_TRANSIENT_ERRORS = (
    "Sfn.ThrottlingException",
    "Sfn.InternalServerException",
    "Sfn.SdkClientException",
)
#: The step error RotateRefreshToken raises when concurrent transactions kept conflicting.
STEP_TRANSIENT_ERRORS = ("RotationConflict",)


@dataclass(frozen=True)
class RetryPolicy:
    """One Retry rule: ``max_attempts`` retries after waits of interval × backoff^n (capped)."""

    interval_seconds: int = 1
    max_attempts: int = 2
    backoff_rate: float = 2.0
    max_delay_seconds: int = 4

    def worst_case_wait_seconds(self) -> float:
        """The longest total wait of the retries (FULL jitter only ever shortens a wait)."""
        return sum(
            min(self.interval_seconds * self.backoff_rate**n, self.max_delay_seconds)
            for n in range(self.max_attempts)
        )


TASK_RETRY = RetryPolicy()
#: For a workflow with many Tasks on one path (ChangePassword: six before it answers, then the
#: event, the notice and the audit): the same two retries, 1 s apart, so the sum still fits.
TIGHT_RETRY = RetryPolicy(backoff_rate=1.0)
#: A lifecycle event is best-effort (its loss never fails a request): one retry, so that it
#: costs the request's time budget little.
PUBLISH_RETRY = RetryPolicy(max_attempts=1)


def commit_deadline() -> dict[str, object]:
    """The ``deadline`` a committing step gets (see steps/core/deadline.py): the execution's
    start and the seconds after it within which it may still commit."""
    return {
        "startedAt": sfn.JsonPath.string_at("$$.Execution.StartTime"),
        "withinSeconds": WORKFLOW_TIMEOUT_SECONDS - COMMIT_MARGIN_SECONDS,
    }


def unavailable_cause() -> str:
    """The cause of :data:`UNAVAILABLE_STATE`: the 503 response document as JSON text."""
    body = TEMPORARILY_UNAVAILABLE.body_text()
    return json.dumps(
        {"statusCode": 503, "headers": {"Retry-After": str(RETRY_AFTER_SECONDS)}, "body": body},
        separators=(",", ":"),
    )


_DYNAMODB_TASKS = (
    tasks.DynamoGetItem,
    tasks.DynamoPutItem,
    tasks.DynamoUpdateItem,
    tasks.DynamoDeleteItem,
)


def _transient_errors(task: sfn.TaskStateBase) -> tuple[str, ...]:
    if isinstance(task, _DYNAMODB_TASKS):
        return DYNAMODB_TRANSIENT_ERRORS
    if isinstance(task, tasks.LambdaInvoke):
        return LAMBDA_TRANSIENT_ERRORS + STEP_TRANSIENT_ERRORS
    if isinstance(task, tasks.EventBridgePutEvents):
        return EVENTBRIDGE_TRANSIENT_ERRORS
    if isinstance(task, tasks.CallAwsService) and _sdk_service(task) == "sfn":
        return SFN_SDK_TRANSIENT_ERRORS
    raise ValueError(f"No retry policy for the Task {task.state_id} ({type(task).__name__}).")


def _sdk_service(task: tasks.CallAwsService) -> str:
    resource = str(task.to_state_json().get("Resource", ""))
    # arn:<partition>:states:::aws-sdk:<service>:<action>
    return resource.split("aws-sdk:", 1)[-1].split(":", 1)[0]


def is_audit_state(state_id: str) -> bool:
    """Audit writes are the states named ``Audit…`` (see :class:`cdk.audit.AuditTrail`)."""
    return state_id.startswith("Audit")


def unavailable(scope: Construct) -> sfn.Fail:
    """The workflow's one :data:`UNAVAILABLE_STATE` (created on first use)."""
    existing = scope.node.try_find_child(UNAVAILABLE_STATE)
    if isinstance(existing, sfn.Fail):
        return existing
    return sfn.Fail(
        scope,
        UNAVAILABLE_STATE,
        comment="A fault that outlived the retries: 503 with Retry-After.",
        error=UNAVAILABLE_ERROR,
        cause=unavailable_cause(),
    )


def _catches_everything(state: sfn.TaskStateBase) -> bool:
    catchers = state.to_state_json().get("Catch") or []
    return any("States.ALL" in catcher.get("ErrorEquals", []) for catcher in catchers)


def make_resilient(
    scope: Construct, definition: sfn.IChainable, retry: RetryPolicy = TASK_RETRY
) -> sfn.IChainable:
    """Add the Retry and the final Catch to every Task reachable from ``definition``.

    A Task that already catches ``States.ALL`` (a compensation, e.g. Register's UndoStoreUser)
    keeps its own handler.
    """
    start = definition.start_state
    states = sfn.State.find_reachable_states(start, include_error_handlers=True)
    by_id = {state.state_id: state for state in states}
    for state in states:
        if not isinstance(state, sfn.TaskStateBase):
            continue
        policy = PUBLISH_RETRY if isinstance(state, tasks.EventBridgePutEvents) else retry
        state.add_retry(
            errors=list(_transient_errors(state)),
            interval=Duration.seconds(policy.interval_seconds),
            max_attempts=policy.max_attempts,
            backoff_rate=policy.backoff_rate,
            max_delay=Duration.seconds(policy.max_delay_seconds),
            jitter_strategy=sfn.JitterType.FULL,
        )
        if is_audit_state(state.state_id):
            following = state.to_state_json().get("Next")
            if not isinstance(following, str) or following not in by_id:
                raise ValueError(f"The audit state {state.state_id} must have a next state.")
            # The record is lost, the request is still served.
            state.add_catch(
                by_id[following], errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD
            )
            continue
        if not _catches_everything(state):
            state.add_catch(unavailable(scope), errors=["States.ALL"], result_path="$.failure")
    return definition

"""The parts every workflow is built of: step invocations, rejections, answers, waits.

The workflows (cdk/workflows.py, cdk/lifecycle_workflows.py, cdk/mfa_workflows.py) say what
happens in which order; the states that look the same in each of them are built here, once.
Each helper makes the states it names and nothing else, so a definition reads as its chain.

Every workflow answers with a response document ``{"statusCode": int, "body": "<json text>",
"headers"?: {...}}``; a client error ends in a ``Fail`` state with the error
:data:`CLIENT_ERROR` whose cause is that document (see cdk/workflows.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.contract import errors as contract
from steps.core.contract.entities import USER
from steps.core.contract.errors import CLIENT_ERRORS, ErrorSpec

from .audit import AuditOwner, AuditTrail
from .items import state_key

#: The error of every client-error ``Fail`` state. Namespaced so that nothing else can raise it:
#: an uncaught botocore ``ClientError`` in a step also reaches Step Functions as "ClientError".
CLIENT_ERROR = "stepauth.ClientError"
#: The errors every step that reads the body raises for a malformed or oversized one.
REQUEST_ERRORS = ("InvalidRequest", "PayloadTooLarge")
#: Where a caught error and its cause go in the state.
FAILURE_PATH = "$.failure"


def client_error_cause(status: int, code: str, description: str) -> str:
    """The cause of a fixed rejection: the response document as JSON text."""
    body = json.dumps({"error": code, "error_description": description}, separators=(",", ":"))
    return json.dumps({"statusCode": status, "body": body}, separators=(",", ":"))


def spec_cause(spec: ErrorSpec) -> str:
    """The cause of a rejection with a contract error's fixed description."""
    if spec.status is None:
        raise ValueError(f"{spec.name} has no status of its own.")
    return client_error_cause(spec.status, spec.code, spec.describe())


def reject(scope: Construct, state_id: str, spec: ErrorSpec) -> sfn.Fail:
    """A rejection with the contract's fixed description of ``spec``."""
    return sfn.Fail(scope, state_id, error=CLIENT_ERROR, cause=spec_cause(spec))


def locked_response(path: str) -> dict[str, object]:
    """429 with Retry-After, from what the lockout answered at ``path`` (VerifyPassword's)."""
    return {
        "statusCode": 429,
        "headers": {"Retry-After.$": f"{path}.retry_after"},
        "body.$": f"States.JsonToString({path}.problem)",
    }


class ErrorResponses:
    """Builds the rejections of one workflow: each ends in a ``Fail`` state with the error
    :data:`CLIENT_ERROR` whose cause is the response document."""

    def __init__(self, scope: Construct) -> None:
        self._scope = scope
        self._rejected = sfn.Fail(
            scope,
            "Rejected",
            comment="A client error: the cause is the response the client gets.",
            error=CLIENT_ERROR,
            cause_path=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.response")),
        )
        respond = sfn.Pass(
            scope,
            "RespondWithError",
            parameters={
                "response": {
                    "statusCode.$": "$.statusCode",
                    "body.$": "States.JsonToString($.problem)",
                }
            },
        ).next(self._rejected)
        self._describe = sfn.Pass(
            scope,
            "DescribeStepError",
            comment="The step's error message is the description the client sees.",
            parameters={
                "statusCode.$": "$.statusCode",
                "problem": {"error.$": "$.error", "error_description.$": "$.cause.errorMessage"},
            },
        ).next(respond)

    def from_step(self, error_name: str) -> sfn.IChainable:
        """The step's error (the contract's spec of that name) with the step's message."""
        spec = CLIENT_ERRORS[error_name]
        return sfn.Pass(
            self._scope,
            f"Reject{error_name}",
            parameters={
                "statusCode": spec.status,
                "error": spec.code,
                "cause.$": "States.StringToJson($.failure.Cause)",
            },
        ).next(self._describe)

    def fixed(self, state_id: str, spec: ErrorSpec) -> sfn.Fail:
        """A rejection with the contract's fixed description of ``spec``."""
        return reject(self._scope, state_id, spec)

    def respond(self, state_id: str, response: dict[str, object]) -> sfn.IChainable:
        """A rejection whose response is built from the state (``Pass`` parameters)."""
        return sfn.Pass(self._scope, state_id, parameters={"response": response}).next(
            self._rejected
        )

    def locked(self, path: str = "$.verified", state_id: str = "RespondLocked") -> sfn.IChainable:
        """The lockout's 429 with Retry-After (see :func:`locked_response`)."""
        return self.respond(state_id, locked_response(path))


def refuse_oversized_body(scope: Construct, definition: sfn.IChainable) -> sfn.IChainable:
    """The workflow's first state: a body the request template found over the limit (it set
    ``request.bodyTooLarge`` and handed over no body) is answered 413 before anything runs, on
    every route, whether or not the workflow reads a body."""
    return (
        sfn.Choice(scope, "BodyWithinLimit?")
        .when(
            sfn.Condition.and_(
                sfn.Condition.is_present("$.request.bodyTooLarge"),
                sfn.Condition.boolean_equals("$.request.bodyTooLarge", True),
            ),
            reject(scope, "RejectBodyTooLarge", contract.BODY_TOO_LARGE),
        )
        .otherwise(definition)
    )


def invoke(
    scope: Construct,
    state_id: str,
    function: lambda_.IFunction,
    *,
    payload: dict[str, object] | None = None,
    result_path: str = "$",
    comment: str | None = None,
) -> tasks.LambdaInvoke:
    """A step's Lambda Task: its answer (the payload only) at ``result_path``; ``payload`` None
    hands it the whole state. No retries here: cdk/resilience.py adds them, within 25 s."""
    return tasks.LambdaInvoke(
        scope,
        state_id,
        comment=comment,
        lambda_function=function,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=None if payload is None else sfn.TaskInput.from_object(payload),
        result_path=result_path,
    )


def on_error(task: sfn.TaskStateBase, error: str, *path: sfn.IChainable) -> None:
    """``task``'s named error goes down ``path`` (e.g. its audit record, then its rejection),
    with the error and its cause at ``$.failure``."""
    handler = sfn.Chain.start(path[0])
    for state in path[1:]:
        handler = handler.next(state)
    task.add_catch(handler, errors=[error], result_path=FAILURE_PATH)


def reject_step_errors(
    task: tasks.LambdaInvoke, errors: ErrorResponses, names: Iterable[str] = REQUEST_ERRORS
) -> tasks.LambdaInvoke:
    """Each named step error → a client-error Fail whose description is the step's message."""
    for name in names:
        on_error(task, name, errors.from_step(name))
    return task


def respond(scope: Construct, state_id: str, status: int, body_path: str = "$") -> sfn.Pass:
    """A served request's answer: ``status`` with the JSON text of ``body_path`` as its body."""
    return sfn.Pass(
        scope,
        state_id,
        parameters={"statusCode": status, "body.$": f"States.JsonToString({body_path})"},
    )


def respond_with(scope: Construct, state_id: str, status: int, body: str) -> sfn.Pass:
    """A served request's fixed answer (``body``: JSON text, or "" for none)."""
    return sfn.Pass(scope, state_id, parameters={"statusCode": status, "body": body})


def no_content(scope: Construct, state_id: str = "RespondNoContent") -> sfn.Pass:
    return respond_with(scope, state_id, 204, "")


def password_hashing(
    scope: Construct, function: lambda_.IFunction, presented_path: str
) -> tasks.LambdaInvoke:
    """HashPassword (argon2id) of the password at ``presented_path`` → ``$.hashed``; the next
    state drops the plain password from the state."""
    return invoke(
        scope,
        "HashPassword",
        function,
        payload={"password": sfn.JsonPath.string_at(presented_path)},
        result_path="$.hashed",
    )


def password_check(
    scope: Construct,
    function: lambda_.IFunction,
    *,
    email_path: str,
    presented_path: str,
    wrong: Sequence[sfn.IChainable],
    state_id: str = "VerifyPassword",
    comment: str | None = None,
) -> tasks.LambdaInvoke:
    """The login's password check and lockout (VerifyPassword) of the password the client
    presented (at ``presented_path``) for the account :func:`find_user` put at ``$.found`` →
    ``$.verified``; a wrong password goes down ``wrong`` (its audit record, then its
    rejection)."""
    verify = invoke(
        scope,
        state_id,
        function,
        comment=comment,
        payload={
            "email": sfn.JsonPath.string_at(email_path),
            "password": sfn.JsonPath.string_at(presented_path),
            "found": sfn.JsonPath.object_at("$.found"),
        },
        result_path="$.verified",
    )
    on_error(verify, "InvalidCredentials", *wrong)
    return verify


def account_locked(
    scope: Construct,
    locked: sfn.IChainable,
    unlocked: sfn.IChainable,
    *,
    then: Sequence[tuple[sfn.Condition, sfn.IChainable]] = (),
    state_id: str = "AccountLocked?",
) -> sfn.Choice:
    """After a check behind the lockout (``$.verified``): ``locked`` (a 429) or ``unlocked``.

    ``then``: further rules for an account that is not locked, tried in order before
    ``unlocked``, in the same Choice state (one state instead of a chain of them).
    """
    choice = sfn.Choice(scope, state_id).when(
        sfn.Condition.boolean_equals("$.verified.locked", True), locked
    )
    for condition, target in then:
        choice.when(condition, target)
    return choice.otherwise(unlocked)


def audited_lockout(
    audit: AuditTrail, errors: ErrorResponses, state_id: str, *, action: str, owner: AuditOwner
) -> sfn.IChainable:
    """The audit record of a request the lockout refused, then its 429 with Retry-After."""
    return audit.record(state_id, action=action, outcome="locked", owner=owner).next(
        errors.locked()
    )


def find_user(scope: Construct, table: dynamodb.ITable, email_path: str) -> tasks.DynamoGetItem:
    """The account of an email (a consistent getItem) at ``$.found``."""
    return tasks.DynamoGetItem(
        scope,
        "FindUser",
        table=table,
        key=state_key(USER, email=email_path),
        consistent_read=True,
        result_path="$.found",
    )


def complete_wait(
    scope: Construct, *, comment: str, output: str
) -> tuple[tasks.CallAwsService, sfn.Pass]:
    """Resumes a STANDARD execution waiting on the task token at ``$.task_token`` with
    ``output`` (a ``JsonPath.format``); the ``WaitCompleted`` state that follows it.

    The work is done either way: a wait that already ended (timed out, or stopped) must not
    turn it into an error, so any failure of the call also goes on to ``WaitCompleted``.
    """
    complete = tasks.CallAwsService(
        scope,
        "CompleteWait",
        comment=comment,
        service="sfn",
        action="sendTaskSuccess",
        parameters={"TaskToken": sfn.JsonPath.string_at("$.task_token"), "Output": output},
        iam_resources=["*"],  # sendTaskSuccess has no resource: the token names the execution
        iam_action="states:SendTaskSuccess",
        result_path=sfn.JsonPath.DISCARD,
    )
    resumed = sfn.Pass(scope, "WaitCompleted")
    complete.add_catch(resumed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    return complete, resumed


def start_execution(
    scope: Construct,
    state_id: str,
    machine: sfn.IStateMachine,
    *,
    input_path: str,
    comment: str | None = None,
) -> tasks.CallAwsService:
    """Starts one execution of ``machine`` per request, named ``<user id>-<this execution>``,
    with the object at ``input_path`` as its input."""
    return tasks.CallAwsService(
        scope,
        state_id,
        comment=comment,
        service="sfn",
        action="startExecution",
        parameters={
            "StateMachineArn": machine.state_machine_arn,
            "Name": sfn.JsonPath.format(
                "{}-{}",
                sfn.JsonPath.string_at("$.user_id"),
                sfn.JsonPath.string_at("$$.Execution.Name"),
            ),
            "Input": sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(input_path)),
        },
        iam_resources=[machine.state_machine_arn],
        iam_action="states:StartExecution",
        result_path=sfn.JsonPath.DISCARD,
    )

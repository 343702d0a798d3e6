"""The EXPRESS state machines: one per public flow.

Every workflow answers with a response document ``{"statusCode": int, "body": "<json text>",
"headers"?: {...}}`` that the API's response mapping template turns into the HTTP answer:

* a request that was served ends in a state whose output is that document (SUCCEEDED);
* a request that was rejected (a client error: 4xx) ends in a ``Fail`` state with the error
  :data:`CLIENT_ERROR` and the document as its cause, so operators see rejected requests as
  FAILED executions, with the failing state and its cause, where they look for failures;
* anything else (an uncaught step error, a time-out) fails the execution with another error and
  becomes a 500 that reveals nothing but the request id.

Client errors are raised by the steps as named Lambda errors (the class name is the error name)
or by DynamoDB conditions, and are caught here. The cause of a client-error ``Fail`` is the
response body (error code and description), never a secret.

Each outcome path writes one audit record with a direct DynamoDB ``putItem`` (see
:mod:`cdk.audit`), except refresh-token reuse, which the RotateRefreshToken step records itself
because only it knows whose family it revoked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.contract import errors as contract
from steps.core.contract.entities import DENIED_TOKEN, PK, USER
from steps.core.contract.errors import CLIENT_ERRORS, ErrorSpec
from steps.core.mfa_enrollment import PURPOSE as ENROLLMENT_PURPOSE
from steps.core.table.layout import DEFAULT_ROLES, STATUS_ACTIVE

from .audit import AuditOwner, AuditTrail
from .events import publish
from .items import Fixed, state_item, state_key
from .resilience import commit_deadline, unavailable

#: The error of every client-error ``Fail`` state. Namespaced so that nothing else can raise it:
#: an uncaught botocore ``ClientError`` in a step also reaches Step Functions as "ClientError".
CLIENT_ERROR = "stepauth.ClientError"
#: The role of a new account.
(DEFAULT_ROLE,) = DEFAULT_ROLES


@dataclass(frozen=True)
class StepFunctions:
    """The Lambda functions the workflows call, by step."""

    validate_registration: lambda_.IFunction
    validate_login: lambda_.IFunction
    hash_password: lambda_.IFunction
    verify_password: lambda_.IFunction
    issue_tokens: lambda_.IFunction
    validate_refresh: lambda_.IFunction
    rotate_refresh_token: lambda_.IFunction
    validate_logout: lambda_.IFunction
    end_sessions: lambda_.IFunction
    disable_user: lambda_.IFunction
    delete_account: lambda_.IFunction
    list_sessions: lambda_.IFunction
    end_session: lambda_.IFunction


def client_error_cause(status: int, code: str, description: str) -> str:
    """The cause of a fixed rejection: the response document as JSON text."""
    body = json.dumps({"error": code, "error_description": description}, separators=(",", ":"))
    return json.dumps({"statusCode": status, "body": body}, separators=(",", ":"))


def spec_cause(spec: ErrorSpec) -> str:
    """The cause of a rejection with a contract error's fixed description."""
    if spec.status is None:
        raise ValueError(f"{spec.name} has no status of its own.")
    return client_error_cause(spec.status, spec.code, spec.describe())


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
        return sfn.Fail(self._scope, state_id, error=CLIENT_ERROR, cause=spec_cause(spec))

    def respond(self, state_id: str, response: dict[str, object]) -> sfn.IChainable:
        """A rejection whose response is built from the state (``Pass`` parameters)."""
        return sfn.Pass(self._scope, state_id, parameters={"response": response}).next(
            self._rejected
        )


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
            sfn.Fail(
                scope,
                "RejectBodyTooLarge",
                error=CLIENT_ERROR,
                cause=spec_cause(contract.BODY_TOO_LARGE),
            ),
        )
        .otherwise(definition)
    )


def _catch_step_errors(
    task: tasks.LambdaInvoke, errors: ErrorResponses, names: tuple[str, ...]
) -> tasks.LambdaInvoke:
    for name in names:
        task.add_catch(errors.from_step(name), errors=[name], result_path="$.failure")
    return task


def _respond(scope: Construct, state_id: str, status: int) -> sfn.Pass:
    return sfn.Pass(
        scope,
        state_id,
        parameters={"statusCode": status, "body.$": "States.JsonToString($)"},
    )


def _user_key(email_path: str) -> dict[str, tasks.DynamoAttributeValue]:
    return state_key(USER, email=email_path)


def register_definition(
    scope: Construct,
    table: dynamodb.ITable,
    steps: StepFunctions,
    *,
    uniform: bool = False,
    bus: events.IEventBus | None = None,
    email_verification: str = "off",
    mfa: str = "optional",
) -> sfn.IChainable:
    """validate → hash → conditional put of the user → audit → issue tokens → UserRegistered
    → 201.

    ``uniform``: registration answers 202 whether the email was free or taken (and issues no
    tokens: the client logs in next), so it cannot be used to learn which emails have accounts.
    Both paths hash and write, so they also take the same time.
    """
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _catch_step_errors(
        tasks.LambdaInvoke(
            scope,
            "ValidateRegistration",
            lambda_function=steps.validate_registration,
            retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
            payload_response_only=True,
            # Replaces the whole state: the raw request body is not carried further.
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge", "WeakPassword"),
    )
    hash_password = tasks.LambdaInvoke(
        scope,
        "HashPassword",
        lambda_function=steps.hash_password,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {"password": sfn.JsonPath.string_at("$.registration.password")}
        ),
        result_path="$.hashed",
    )
    forget_password = sfn.Pass(
        scope,
        "BuildAccount",
        comment="Drops the plain password from the state; assigns the new user id.",
        parameters={
            "account": {
                "id.$": "States.UUID()",
                "email.$": "$.registration.email",
                "name.$": "$.registration.name",
                "password_hash.$": "$.hashed.password_hash",
                "created_at.$": "$$.Execution.StartTime",
                "roles": [DEFAULT_ROLE],
            },
            "context.$": "$.context",
        },
    )
    store_user = tasks.DynamoPutItem(
        scope,
        "StoreUser",
        table=table,
        item=state_item(
            USER,
            {
                "user_id": "$.account.id",
                "email": "$.account.email",
                "name": "$.account.name",
                "password_hash": "$.account.password_hash",
                "roles": Fixed([DEFAULT_ROLE]),
                "status": Fixed(STATUS_ACTIVE),
                "created_at": "$.account.created_at",
                **({} if email_verification == "off" else {"email_verified": Fixed(False)}),
            },
        ),
        # One account per email: the condition is what makes registration race-free.
        condition_expression=f"attribute_not_exists({PK})",
        result_path=sfn.JsonPath.DISCARD,
    )
    accepted = sfn.Pass(
        scope,
        "RespondAccepted",
        parameters={
            "statusCode": 202,
            "body": json.dumps(
                {"status": "accepted", "next": "log in with the email and password"},
                separators=(",", ":"),
            ),
        },
    )
    # A taken email has an account, but whose is not known here: the attempt is kept under the
    # email, where `stepauth audit user EMAIL` finds it.
    taken = audit.record(
        "AuditEmailTaken",
        action="register",
        outcome="email_taken",
        owner=AuditOwner.email("$.account.email"),
    )
    taken.next(accepted if uniform else errors.fixed("RejectEmailTaken", contract.EMAIL_TAKEN))
    store_user.add_catch(
        taken, errors=["DynamoDB.ConditionalCheckFailedException"], result_path="$.failure"
    )
    registered = audit.record(
        "AuditRegistered",
        action="register",
        outcome="success",
        owner=AuditOwner.user("$.account.id"),
    )
    issue_tokens = tasks.LambdaInvoke(
        scope,
        "IssueTokens",
        lambda_function=steps.issue_tokens,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "user": {
                    "id": sfn.JsonPath.string_at("$.account.id"),
                    "email": sfn.JsonPath.string_at("$.account.email"),
                    "roles": sfn.JsonPath.list_at("$.account.roles"),
                    "created_at": sfn.JsonPath.string_at("$.account.created_at"),
                    # As StoreUser wrote it: the access token's email_verified claim.
                    **({} if email_verification == "off" else {"email_verified": False}),
                },
                "context": sfn.JsonPath.object_at("$.context"),
                # mfa=required: an enrolment token instead of a session (login_definition).
                **({"purpose": ENROLLMENT_PURPOSE} if mfa == "required" else {}),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$",
    )
    stored = validate.next(hash_password).next(forget_password).next(store_user).next(registered)

    def published(chain: sfn.Chain, user_path: str) -> sfn.Chain:
        """UserRegistered, once the account is there for good: after the last step that could
        still take it back (IssueTokens' compensation), so no event names an undone account."""
        if bus is None:
            return chain
        return chain.next(
            publish(
                scope,
                "PublishUserRegistered",
                bus,
                "UserRegistered",
                user_id_path=f"{user_path}.id",
                facts={"email": f"{user_path}.email", "created_at": f"{user_path}.created_at"},
            )
        )

    if uniform:
        return published(stored, "$.account").next(accepted)
    if email_verification == "required":
        # No tokens until the emailed code is verified (POST /v1/email/verify signs in).
        unverified_user = sfn.Pass(
            scope,
            "UnverifiedUser",
            parameters={
                "user": {
                    "id.$": "$.account.id",
                    "email.$": "$.account.email",
                    "created_at.$": "$.account.created_at",
                    "email_verified": False,
                }
            },
        )
        return (
            published(stored, "$.account")
            .next(unverified_user)
            .next(_respond(scope, "RespondCreated", 201))
        )
    # A fault that outlives IssueTokens' retries would leave an account the client was told
    # nothing about (503): the user item is taken back, so the client's retry registers again.
    undo_store_user = tasks.DynamoDeleteItem(
        scope,
        "UndoStoreUser",
        comment="Takes back the account this execution stored; then 503 with Retry-After.",
        table=table,
        key=_user_key("$.account.email"),
        condition_expression="#user_id = :user_id",
        expression_attribute_names={"#user_id": "user_id"},
        expression_attribute_values={
            ":user_id": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.string_at("$.account.id")
            )
        },
        result_path=sfn.JsonPath.DISCARD,
    ).next(unavailable(scope))
    issue_tokens.add_catch(undo_store_user, errors=["States.ALL"], result_path="$.failure")
    return published(stored.next(issue_tokens), "$.user").next(
        _respond(scope, "RespondCreated", 201)
    )


def login_definition(
    scope: Construct,
    table: dynamodb.ITable,
    steps: StepFunctions,
    *,
    bus: events.IEventBus | None = None,
    email_verification: str = "off",
    start_mfa_challenge: lambda_.IFunction | None = None,
    mfa: str = "optional",
) -> sfn.IChainable:
    """validate → get the user → verify the password → issue tokens → audit → 200.

    Every outcome is audited: under the user id when the email has an account, else under the
    email (so failed logins for unknown emails can be found too). ``start_mfa_challenge``: an
    account with MFA gets 200 ``{"mfa_required": true, "mfa_token", ...}`` and no tokens after
    the password step; ``POST /v1/login/mfa`` finishes the sign-in (cdk/mfa_workflows.py).
    ``mfa="required"``: an account without MFA gets 403 ``mfa_enrollment_required`` with a
    short-lived enrolment token instead of a session (steps/core/mfa_enrollment.py).
    """
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _catch_step_errors(
        tasks.LambdaInvoke(
            scope,
            "ValidateLogin",
            lambda_function=steps.validate_login,
            retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
            payload_response_only=True,
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge"),
    )
    find_user = tasks.DynamoGetItem(
        scope,
        "FindUser",
        table=table,
        key=_user_key("$.credentials.email"),
        consistent_read=True,
        result_path="$.found",
    )
    verify = tasks.LambdaInvoke(
        scope,
        "VerifyPassword",
        lambda_function=steps.verify_password,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "email": sfn.JsonPath.string_at("$.credentials.email"),
                "password": sfn.JsonPath.string_at("$.credentials.password"),
                "found": sfn.JsonPath.object_at("$.found"),
            }
        ),
        result_path="$.verified",
    )
    account = {
        "action": "login",
        "found_path": "$.found.Item",
        "user_id_path": "$.found.Item.user_id.S",
        "email_path": "$.credentials.email",
    }
    # Unknown user and wrong password end in the same state with the same body.
    verify.add_catch(
        audit.by_account(
            "AuditLoginFailure",
            outcome="failure",
            then=errors.fixed("RejectInvalidCredentials", contract.INVALID_CREDENTIALS),
            **account,
        ),
        errors=["InvalidCredentials"],
        result_path="$.failure",
    )
    issue_tokens = tasks.LambdaInvoke(
        scope,
        "IssueTokens",
        lambda_function=steps.issue_tokens,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "user": sfn.JsonPath.object_at("$.verified.user"),
                "context": sfn.JsonPath.object_at("$.context"),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$",
    )
    # Locked accounts get 429 with Retry-After, even for the right password.
    respond_locked: sfn.IChainable = errors.respond(
        "RespondLocked",
        {
            "statusCode": 429,
            "headers": {"Retry-After.$": "$.verified.retry_after"},
            "body.$": "States.JsonToString($.verified.problem)",
        },
    )
    if bus is not None:
        # Only an existing account has a user id to publish (unknown emails are locked too).
        respond_locked = (
            sfn.Choice(scope, "LockedAccountKnown?")
            .when(
                sfn.Condition.is_present("$.found.Item.user_id.S"),
                publish(
                    scope,
                    "PublishAccountLocked",
                    bus,
                    "AccountLocked",
                    user_id_path="$.found.Item.user_id.S",
                    facts={"retry_after_seconds": "$.verified.retry_after"},
                ).next(respond_locked),
            )
            .otherwise(respond_locked)
        )
    locked = audit.by_account("AuditLoginLocked", outcome="locked", then=respond_locked, **account)
    unlocked: sfn.IChainable = (
        issue_tokens.next(
            audit.record(
                "AuditLoginSuccess",
                action="login",
                outcome="success",
                owner=AuditOwner.user("$.user.id"),
            )
        )
    ).next(_respond(scope, "RespondOk", 200))
    if start_mfa_challenge is not None:
        challenge = tasks.LambdaInvoke(
            scope,
            "StartMfaChallenge",
            comment="A short-lived, single-use mfa_token (stored as a hash) instead of tokens.",
            lambda_function=start_mfa_challenge,
            retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
            payload_response_only=True,
            payload=sfn.TaskInput.from_object(
                {
                    "user": sfn.JsonPath.object_at("$.verified.user"),
                    "context": sfn.JsonPath.object_at("$.context"),
                    "deadline": commit_deadline(),
                }
            ),
            result_path="$.challenge",
        )
        mfa_required = challenge.next(
            audit.record(
                "AuditLoginMfaRequired",
                action="login",
                outcome="mfa_required",
                owner=AuditOwner.user("$.verified.user.id"),
            )
        ).next(
            sfn.Pass(
                scope,
                "RespondMfaRequired",
                parameters={"statusCode": 200, "body.$": "States.JsonToString($.challenge)"},
            )
        )
        if mfa == "required":
            unlocked = _refuse_without_mfa(scope, steps, audit)
        unlocked = (
            sfn.Choice(scope, "MfaRequired?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.verified.mfa"),
                    sfn.Condition.boolean_equals("$.verified.mfa", True),
                ),
                mfa_required,
            )
            .otherwise(unlocked)
        )
    if email_verification == "required":
        # After the password check, so a wrong password never learns the account's state.
        unverified = audit.record(
            "AuditLoginUnverified",
            action="login",
            outcome="email_not_verified",
            owner=AuditOwner.user("$.found.Item.user_id.S"),
        ).next(errors.fixed("RejectEmailNotVerified", contract.EMAIL_NOT_VERIFIED))
        unlocked = (
            sfn.Choice(scope, "EmailVerified?")
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.found.Item.email_verified.BOOL"),
                    sfn.Condition.boolean_equals("$.found.Item.email_verified.BOOL", False),
                ),
                unverified,
            )
            .otherwise(unlocked)
        )
    return (
        validate.next(find_user)
        .next(verify)
        .next(
            sfn.Choice(scope, "AccountLocked?")
            .when(sfn.Condition.boolean_equals("$.verified.locked", True), locked)
            .otherwise(unlocked)
        )
    )


def _refuse_without_mfa(
    scope: Construct, steps: StepFunctions, audit: AuditTrail
) -> sfn.IChainable:
    """``mfa=required`` and the account has none: 403 ``mfa_enrollment_required`` with an
    enrolment token (it can only enrol) and no session. A succeeded execution, not a Fail
    state: the body carries the token, and a Fail state's cause is kept in the history."""
    enrollment = tasks.LambdaInvoke(
        scope,
        "IssueEnrollmentToken",
        comment="A 10-minute token that the authorizer lets call only the enrolment routes.",
        lambda_function=steps.issue_tokens,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {"purpose": ENROLLMENT_PURPOSE, "user": sfn.JsonPath.object_at("$.verified.user")}
        ),
        result_path="$.enrollment",
    )
    refusal = sfn.Pass(
        scope,
        "DescribeMfaEnrollmentRequired",
        parameters={
            "error": contract.MFA_ENROLLMENT_REQUIRED.code,
            "error_description": contract.MFA_ENROLLMENT_REQUIRED.describe(),
            "enrollment_token.$": "$.enrollment.enrollment_token",
            "expires_in.$": "$.enrollment.expires_in",
        },
        result_path="$.refusal",
    )
    return (
        enrollment.next(
            audit.record(
                "AuditLoginMfaEnrollmentRequired",
                action="login",
                outcome="mfa_enrollment_required",
                owner=AuditOwner.user("$.verified.user.id"),
            )
        )
        .next(refusal)
        .next(
            sfn.Pass(
                scope,
                "RespondMfaEnrollmentRequired",
                parameters={"statusCode": 403, "body.$": "States.JsonToString($.refusal)"},
            )
        )
    )


def _request_context() -> dict[str, str]:
    """The caller's network facts, for steps that do not parse a body."""
    return {
        "sourceIp": sfn.JsonPath.string_at("$.request.sourceIp"),
        "userAgent": sfn.JsonPath.string_at("$.request.userAgent"),
        "requestId": sfn.JsonPath.string_at("$.request.requestId"),
    }


def refresh_definition(
    scope: Construct,
    table: dynamodb.ITable,
    steps: StepFunctions,
    *,
    bus: events.IEventBus | None = None,
) -> sfn.IChainable:
    """validate → rotate (spend the presented token and store its successor in one transaction,
    reuse detection, replay within the grace window) → audit → 200 with the pair; a detected
    reuse → RefreshTokenReuseDetected → 400 invalid_grant."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _catch_step_errors(
        tasks.LambdaInvoke(
            scope,
            "ValidateRefresh",
            lambda_function=steps.validate_refresh,
            retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
            payload_response_only=True,
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge"),
    )
    rotate = tasks.LambdaInvoke(
        scope,
        "RotateRefreshToken",
        comment=(
            "Spends the token and stores its successor in one transaction, then signs the "
            "access token; a replay within the grace window gets the current token again; "
            "reuse revokes the family (the step writes that audit record) and is answered "
            "as {reuse: {user_id, session_id}}."
        ),
        lambda_function=steps.rotate_refresh_token,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "refresh": sfn.JsonPath.object_at("$.refresh"),
                "context": sfn.JsonPath.object_at("$.context"),
                "executionId": sfn.JsonPath.string_at("$$.Execution.Id"),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$",
    )
    # Unknown, expired, revoked and reused tokens get one answer.
    # 400, not 401: RFC 6749 5.2 (the client presented a bad grant, not bad credentials).
    invalid_grant = errors.fixed("RejectInvalidGrant", contract.INVALID_GRANT)
    audit_failure = audit.record(
        "AuditRefreshFailure", action="refresh", outcome="failure", owner=AuditOwner.anonymous()
    ).next(invalid_grant)
    rotate.add_catch(
        audit_failure,
        errors=["InvalidGrant", "RefreshTokenReused"],
        result_path="$.failure",
    )
    refreshed = audit.record(
        "AuditRefreshed", action="refresh", outcome="success", owner=AuditOwner.user("$.user.id")
    )
    # The step revoked the family of a reused token and wrote the reuse record (under the user
    # whose family it was); the event follows, and a lost event does not change the answer.
    reused: sfn.IChainable = invalid_grant
    if bus is not None:
        reused = publish(
            scope,
            "PublishRefreshTokenReuseDetected",
            bus,
            "RefreshTokenReuseDetected",
            user_id_path="$.reuse.user_id",
            facts={"session_id": "$.reuse.session_id"},
        ).next(invalid_grant)
    return validate.next(rotate).next(
        sfn.Choice(scope, "ReuseDetected?")
        .when(sfn.Condition.is_present("$.reuse"), reused)
        .otherwise(refreshed.next(_respond(scope, "RespondOk", 200)))
    )


def _deny_access_token(
    scope: Construct, table: dynamodb.ITable, *, best_effort: bool = False
) -> sfn.IChainable:
    """Puts the caller's access token on the denylist until its own expiry → 204.

    ``best_effort``: a denylist write that fails still answers 204 (for a deleted account,
    whose tokens the authorizer refuses anyway: a 503 would make the client retry a deletion
    that already happened).
    """
    deny = tasks.DynamoPutItem(
        scope,
        "DenyAccessToken",
        comment="The access token stays refused until its own expiry (the item's TTL).",
        table=table,
        item=state_item(
            DENIED_TOKEN,
            {"expires_at": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.caller.exp"))},
            jti="$.caller.jti",
        ),
        result_path=sfn.JsonPath.DISCARD,
    )
    no_content = sfn.Pass(scope, "RespondNoContent", parameters={"statusCode": 204, "body": ""})
    if best_effort:
        deny.add_catch(no_content, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    return deny.next(no_content)


def logout_definition(
    scope: Construct, table: dynamodb.ITable, steps: StepFunctions
) -> sfn.IChainable:
    """validate → revoke the refresh family (or all) → audit → deny the access token → 204."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _catch_step_errors(
        tasks.LambdaInvoke(
            scope,
            "ValidateLogout",
            lambda_function=steps.validate_logout,
            retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
            payload_response_only=True,
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge"),
    )
    end_sessions = tasks.LambdaInvoke(
        scope,
        "EndSessions",
        comment="One write per family; the stream clean-up removes the family's tokens.",
        lambda_function=steps.end_sessions,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "logout": sfn.JsonPath.object_at("$.logout"),
                "caller": sfn.JsonPath.object_at("$.caller"),
                "context": sfn.JsonPath.object_at("$.context"),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$.ended",
    )
    logged_out = audit.record(
        "AuditLogout", action="logout", outcome="success", owner=AuditOwner.user("$.caller.userId")
    )
    return validate.next(end_sessions).next(logged_out).next(_deny_access_token(scope, table))


def disable_user_definition(
    scope: Construct,
    table: dynamodb.ITable,
    steps: StepFunctions,
    *,
    bus: events.IEventBus | None = None,
) -> sfn.IChainable:
    """Admin: mark the user disabled and revoke every session of theirs → audit → 200."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    disable = tasks.LambdaInvoke(
        scope,
        "DisableUser",
        lambda_function=steps.disable_user,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "userId": sfn.JsonPath.string_at("$.target.userId"),
                "caller": sfn.JsonPath.object_at("$.caller"),
                "context": _request_context(),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$",
    )
    disable.add_catch(
        errors.fixed("RejectUnknownUser", contract.USER_NOT_FOUND),
        errors=["UserNotFound"],
        result_path="$.failure",
    )
    disabled = audit.record(
        "AuditUserDisabled",
        action="disable",
        outcome="success",
        owner=AuditOwner.user("$.user.id"),
        detail=sfn.JsonPath.format(
            "by admin {}", sfn.JsonPath.string_at("$$.Execution.Input.caller.userId")
        ),
    )
    served = disable.next(disabled)
    if bus is not None:
        served = served.next(
            publish(
                scope,
                "PublishUserDisabled",
                bus,
                "UserDisabled",
                user_id_path="$.user.id",
                facts={"by_admin": "$$.Execution.Input.caller.userId"},
            )
        )
    return served.next(_respond(scope, "RespondOk", 200))


def delete_account_definition(
    scope: Construct,
    table: dynamodb.ITable,
    steps: StepFunctions,
    *,
    bus: events.IEventBus | None = None,
) -> sfn.IChainable:
    """The caller deletes their own account: sessions revoked, user removed, token denied → 204."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    delete = tasks.LambdaInvoke(
        scope,
        "DeleteAccount",
        lambda_function=steps.delete_account,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "caller": sfn.JsonPath.object_at("$.caller"),
                "context": _request_context(),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$.deleted",
    )
    # Already gone: the token names an account that does not exist.
    delete.add_catch(
        errors.fixed("RejectUnknownAccount", contract.INVALID_TOKEN),
        errors=["UserNotFound"],
        result_path="$.failure",
    )
    deleted = audit.record(
        "AuditAccountDeleted",
        action="delete_account",
        outcome="success",
        owner=AuditOwner.user("$.deleted.user.id"),
    )
    served = delete.next(deleted)
    if bus is not None:
        served = served.next(
            publish(
                scope,
                "PublishUserDeleted",
                bus,
                "UserDeleted",
                user_id_path="$.deleted.user.id",
            )
        )
    return served.next(_deny_access_token(scope, table, best_effort=True))


def list_sessions_definition(
    scope: Construct, table: dynamodb.ITable, steps: StepFunctions
) -> sfn.IChainable:
    """The caller's active sessions (expiry checked by the step, never left to TTL) → 200."""
    list_sessions = tasks.LambdaInvoke(
        scope,
        "ListSessions",
        lambda_function=steps.list_sessions,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {"caller": sfn.JsonPath.object_at("$.caller"), "context": _request_context()}
        ),
        result_path="$",
    )
    return list_sessions.next(_respond(scope, "RespondOk", 200))


def end_session_definition(
    scope: Construct, table: dynamodb.ITable, steps: StepFunctions
) -> sfn.IChainable:
    """The caller ends one of their sessions: one conditional write → audit → 204, else 404."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    end_session = tasks.LambdaInvoke(
        scope,
        "EndSession",
        comment="Revokes the family; the stream clean-up removes its refresh tokens.",
        lambda_function=steps.end_session,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        payload_response_only=True,
        payload=sfn.TaskInput.from_object(
            {
                "caller": sfn.JsonPath.object_at("$.caller"),
                "target": sfn.JsonPath.object_at("$.target"),
                "context": _request_context(),
                "deadline": commit_deadline(),
            }
        ),
        result_path="$.ended",
    )
    end_session.add_catch(
        errors.fixed("RejectUnknownSession", contract.SESSION_NOT_FOUND),
        errors=["SessionNotFound"],
        result_path="$.failure",
    )
    ended = audit.record(
        "AuditSessionEnded",
        action="end_session",
        outcome="success",
        owner=AuditOwner.user("$.caller.userId"),
        detail=sfn.JsonPath.format("session {}", sfn.JsonPath.string_at("$.target.sessionId")),
    )
    return end_session.next(ended).next(
        sfn.Pass(scope, "RespondNoContent", parameters={"statusCode": 204, "body": ""})
    )

"""The EXPRESS state machines: one per public flow.

Every workflow answers with a response document ``{"statusCode": int, "body": "<json text>",
"headers"?: {...}}`` that the API's response mapping template turns into the HTTP answer:

* a request that was served ends in a state whose output is that document (SUCCEEDED);
* a request that was rejected (a client error: 4xx) ends in a ``Fail`` state with the error
  ``stepauth.ClientError`` (:data:`cdk.workflow_parts.CLIENT_ERROR`) and the document as its
  cause, so operators see rejected requests as FAILED executions, with the failing state and
  its cause, where they look for failures;
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
from steps.core.mfa_enrollment import PURPOSE as ENROLLMENT_PURPOSE
from steps.core.table.layout import DEFAULT_ROLES, STATUS_ACTIVE

from .audit import AuditOwner, AuditTrail
from .events import publish
from .items import Fixed, state_item, state_key
from .resilience import commit_deadline, unavailable
from .workflow_parts import (
    ErrorResponses,
    account_locked,
    find_user,
    invoke,
    no_content,
    on_error,
    password_check,
    password_hashing,
    reject_step_errors,
    respond,
    respond_with,
)

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
    # Replaces the whole state: the raw request body is not carried further.
    validate = reject_step_errors(
        invoke(scope, "ValidateRegistration", steps.validate_registration),
        errors,
        ("InvalidRequest", "PayloadTooLarge", "WeakPassword"),
    )
    hashed = password_hashing(scope, steps.hash_password, "$.registration.password")
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
    accepted = respond_with(
        scope,
        "RespondAccepted",
        202,
        json.dumps(
            {"status": "accepted", "next": "log in with the email and password"},
            separators=(",", ":"),
        ),
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
    on_error(store_user, "DynamoDB.ConditionalCheckFailedException", taken)
    registered = audit.record(
        "AuditRegistered",
        action="register",
        outcome="success",
        owner=AuditOwner.user("$.account.id"),
    )
    issue_tokens = invoke(
        scope,
        "IssueTokens",
        steps.issue_tokens,
        payload={
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
        },
    )
    stored = validate.next(hashed).next(forget_password).next(store_user).next(registered)

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
            .next(respond(scope, "RespondCreated", 201))
        )
    # A fault that outlives IssueTokens' retries would leave an account the client was told
    # nothing about (503): the user item is taken back, so the client's retry registers again.
    undo_store_user = tasks.DynamoDeleteItem(
        scope,
        "UndoStoreUser",
        comment="Takes back the account this execution stored; then 503 with Retry-After.",
        table=table,
        key=state_key(USER, email="$.account.email"),
        condition_expression="#user_id = :user_id",
        expression_attribute_names={"#user_id": "user_id"},
        expression_attribute_values={
            ":user_id": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.string_at("$.account.id")
            )
        },
        result_path=sfn.JsonPath.DISCARD,
    ).next(unavailable(scope))
    on_error(issue_tokens, "States.ALL", undo_store_user)
    return published(stored.next(issue_tokens), "$.user").next(
        respond(scope, "RespondCreated", 201)
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
    validate = reject_step_errors(invoke(scope, "ValidateLogin", steps.validate_login), errors)
    account = {
        "action": "login",
        "found_path": "$.found.Item",
        "user_id_path": "$.found.Item.user_id.S",
        "email_path": "$.credentials.email",
    }
    verify = password_check(
        scope,
        steps.verify_password,
        email_path="$.credentials.email",
        presented_path="$.credentials.password",
        # Unknown user and wrong password end in the same state with the same body.
        wrong=[
            audit.by_account(
                "AuditLoginFailure",
                outcome="failure",
                then=errors.fixed("RejectInvalidCredentials", contract.INVALID_CREDENTIALS),
                **account,
            )
        ],
    )
    issue_tokens = invoke(
        scope,
        "IssueTokens",
        steps.issue_tokens,
        payload={
            "user": sfn.JsonPath.object_at("$.verified.user"),
            "context": sfn.JsonPath.object_at("$.context"),
            "deadline": commit_deadline(),
        },
    )
    # Locked accounts get 429 with Retry-After, even for the right password.
    respond_locked: sfn.IChainable = errors.locked()
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
    ).next(respond(scope, "RespondOk", 200))
    # What a right password leads to besides tokens, tried in order in one Choice state.
    refusals: list[tuple[sfn.Condition, sfn.IChainable]] = []
    if email_verification == "required":
        # After the password check, so a wrong password never learns the account's state.
        unverified = audit.record(
            "AuditLoginUnverified",
            action="login",
            outcome="email_not_verified",
            owner=AuditOwner.user("$.found.Item.user_id.S"),
        ).next(errors.fixed("RejectEmailNotVerified", contract.EMAIL_NOT_VERIFIED))
        refusals.append(
            (
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.found.Item.email_verified.BOOL"),
                    sfn.Condition.boolean_equals("$.found.Item.email_verified.BOOL", False),
                ),
                unverified,
            )
        )
    if start_mfa_challenge is not None:
        challenge = invoke(
            scope,
            "StartMfaChallenge",
            start_mfa_challenge,
            comment="A short-lived, single-use mfa_token (stored as a hash) instead of tokens.",
            payload={
                "user": sfn.JsonPath.object_at("$.verified.user"),
                "context": sfn.JsonPath.object_at("$.context"),
                "deadline": commit_deadline(),
            },
            result_path="$.challenge",
        )
        mfa_required = challenge.next(
            audit.record(
                "AuditLoginMfaRequired",
                action="login",
                outcome="mfa_required",
                owner=AuditOwner.user("$.verified.user.id"),
            )
        ).next(respond(scope, "RespondMfaRequired", 200, "$.challenge"))
        refusals.append(
            (
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.verified.mfa"),
                    sfn.Condition.boolean_equals("$.verified.mfa", True),
                ),
                mfa_required,
            )
        )
        if mfa == "required":
            unlocked = _refuse_without_mfa(scope, steps, audit)
    return (
        validate.next(find_user(scope, table, "$.credentials.email"))
        .next(verify)
        .next(account_locked(scope, locked, unlocked, then=refusals, state_id="AccountState?"))
    )


def _refuse_without_mfa(
    scope: Construct, steps: StepFunctions, audit: AuditTrail
) -> sfn.IChainable:
    """``mfa=required`` and the account has none: 403 ``mfa_enrollment_required`` with an
    enrolment token (it can only enrol) and no session. A succeeded execution, not a Fail
    state: the body carries the token, and a Fail state's cause is kept in the history."""
    enrollment = invoke(
        scope,
        "IssueEnrollmentToken",
        steps.issue_tokens,
        comment="A 10-minute token that the authorizer lets call only the enrolment routes.",
        payload={"purpose": ENROLLMENT_PURPOSE, "user": sfn.JsonPath.object_at("$.verified.user")},
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
        .next(respond(scope, "RespondMfaEnrollmentRequired", 403, "$.refusal"))
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
    validate = reject_step_errors(invoke(scope, "ValidateRefresh", steps.validate_refresh), errors)
    rotate = invoke(
        scope,
        "RotateRefreshToken",
        steps.rotate_refresh_token,
        comment=(
            "Spends the token and stores its successor in one transaction, then signs the "
            "access token; a replay within the grace window gets the current token again; "
            "reuse revokes the family (the step writes that audit record) and is answered "
            "as {reuse: {user_id, session_id}}."
        ),
        payload={
            "refresh": sfn.JsonPath.object_at("$.refresh"),
            "context": sfn.JsonPath.object_at("$.context"),
            "executionId": sfn.JsonPath.string_at("$$.Execution.Id"),
            "deadline": commit_deadline(),
        },
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
        .otherwise(refreshed.next(respond(scope, "RespondOk", 200)))
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
    answered = no_content(scope)
    if best_effort:
        deny.add_catch(answered, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    return deny.next(answered)


def logout_definition(
    scope: Construct, table: dynamodb.ITable, steps: StepFunctions
) -> sfn.IChainable:
    """validate → revoke the refresh family (or all) → audit → deny the access token → 204."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = reject_step_errors(invoke(scope, "ValidateLogout", steps.validate_logout), errors)
    end_sessions = invoke(
        scope,
        "EndSessions",
        steps.end_sessions,
        comment="One write per family; the stream clean-up removes the family's tokens.",
        payload={
            "logout": sfn.JsonPath.object_at("$.logout"),
            "caller": sfn.JsonPath.object_at("$.caller"),
            "context": sfn.JsonPath.object_at("$.context"),
            "deadline": commit_deadline(),
        },
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
    disable = invoke(
        scope,
        "DisableUser",
        steps.disable_user,
        payload={
            "userId": sfn.JsonPath.string_at("$.target.userId"),
            "caller": sfn.JsonPath.object_at("$.caller"),
            "context": _request_context(),
            "deadline": commit_deadline(),
        },
    )
    on_error(disable, "UserNotFound", errors.fixed("RejectUnknownUser", contract.USER_NOT_FOUND))
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
    return served.next(respond(scope, "RespondOk", 200))


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
    delete = invoke(
        scope,
        "DeleteAccount",
        steps.delete_account,
        payload={
            "caller": sfn.JsonPath.object_at("$.caller"),
            "context": _request_context(),
            "deadline": commit_deadline(),
        },
        result_path="$.deleted",
    )
    # Already gone: the token names an account that does not exist.
    on_error(delete, "UserNotFound", errors.fixed("RejectUnknownAccount", contract.INVALID_TOKEN))
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
    list_sessions = invoke(
        scope,
        "ListSessions",
        steps.list_sessions,
        payload={"caller": sfn.JsonPath.object_at("$.caller"), "context": _request_context()},
    )
    return list_sessions.next(respond(scope, "RespondOk", 200))


def end_session_definition(
    scope: Construct, table: dynamodb.ITable, steps: StepFunctions
) -> sfn.IChainable:
    """The caller ends one of their sessions: one conditional write → audit → 204, else 404."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    end_session = invoke(
        scope,
        "EndSession",
        steps.end_session,
        comment="Revokes the family; the stream clean-up removes its refresh tokens.",
        payload={
            "caller": sfn.JsonPath.object_at("$.caller"),
            "target": sfn.JsonPath.object_at("$.target"),
            "context": _request_context(),
            "deadline": commit_deadline(),
        },
        result_path="$.ended",
    )
    on_error(
        end_session,
        "SessionNotFound",
        errors.fixed("RejectUnknownSession", contract.SESSION_NOT_FOUND),
    )
    ended = audit.record(
        "AuditSessionEnded",
        action="end_session",
        outcome="success",
        owner=AuditOwner.user("$.caller.userId"),
        detail=sfn.JsonPath.format("session {}", sfn.JsonPath.string_at("$.target.sessionId")),
    )
    return end_session.next(ended).next(no_content(scope))

"""Email verification: a STANDARD workflow that waits for a person, and its EXPRESS callbacks.

* ``EmailVerification`` (STANDARD, one execution per account named after the user id, started
  by the ``UserRegistered`` rule through the StartVerification Lambda): the SendEmail Lambda is
  called with ``.waitForTaskToken``: it creates the code and link, stores their hashes with the
  task token and sends the message; the execution then waits (``TimeoutSecondsPath``: the
  configured timeout, carried in the input). Resumed by ``POST /v1/email/verify`` it publishes
  ``EmailVerified``; timed out it keeps or removes the unverified account (configuration) and
  publishes ``EmailVerificationExpired``. Its input and every state hold ids and the email only:
  no code, link token or hash ever enters it (their history is kept 90 days).
* ``VerifyEmail`` (EXPRESS, ``POST /v1/email/verify``): checks and spends the code, marks the
  email verified, completes the wait with ``states:sendTaskSuccess``, issues a token pair.
* ``ResendVerification`` (EXPRESS, ``POST /v1/email/verify/resend``): a fresh code through the
  same waiting execution, within the resend bound and the per-recipient send limit; 202 for any
  email.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.contract import errors as contract
from steps.core.contract.entities import USER, VERIFICATION

from .audit import AuditOwner, AuditTrail
from .config import StackConfig
from .events import SOURCE, publish
from .items import Fixed, state_key
from .resilience import TIGHT_RETRY, commit_deadline
from .workflow_parts import (
    ErrorResponses,
    account_locked,
    audited_lockout,
    complete_wait,
    find_user,
    invoke,
    no_content,
    on_error,
    password_check,
    password_hashing,
    reject_step_errors,
    respond,
    respond_with,
    start_execution,
)

KIND = "verify_email"


# Errors of the verification steps (their status and code: steps/core/contract/errors.py).
VERIFICATION_ERRORS = ("InvalidRequest", "PayloadTooLarge", "InvalidCode", "CodeExpired")


def _request_id_output() -> str:
    """What a resumed wait learns: the request that resumed it."""
    return sfn.JsonPath.format(
        '{{"request_id":"{}"}}', sfn.JsonPath.string_at("$.context.requestId")
    )


@dataclass(frozen=True)
class LifecycleSteps:
    send_email: lambda_.IFunction
    verify_email: lambda_.IFunction
    find_verification: lambda_.IFunction
    issue_tokens: lambda_.IFunction
    request_password_reset: lambda_.IFunction
    check_reset: lambda_.IFunction
    hash_password: lambda_.IFunction
    store_password: lambda_.IFunction
    validate_password_change: lambda_.IFunction
    verify_password: lambda_.IFunction
    validate_email_change: lambda_.IFunction
    confirm_email_change: lambda_.IFunction


def _send_and_wait(scope: Construct, steps: LifecycleSteps, kind: str) -> tasks.LambdaInvoke:
    return tasks.LambdaInvoke(
        scope,
        "SendCodeAndWait",
        comment=(
            "The Lambda creates, stores (hashed) and emails the code and link; the execution "
            "waits for the EXPRESS callback route to complete the task token."
        ),
        lambda_function=steps.send_email,
        retry_on_service_exceptions=False,  # cdk/resilience.py retries, within 25 s
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload=sfn.TaskInput.from_object(
            {
                "kind": kind,
                "user_id": sfn.JsonPath.string_at("$.user_id"),
                "email": sfn.JsonPath.string_at("$.email"),
                "task_token": sfn.JsonPath.task_token,
                "execution_id": sfn.JsonPath.string_at("$$.Execution.Id"),
            }
        ),
        task_timeout=sfn.Timeout.at("$.timeout_seconds"),
        result_path="$.completed",
    )


def _forget_pending(scope: Construct, table: dynamodb.ITable, kind: str) -> sfn.IChainable:
    """Deletes the timed-out code, unless a newer execution's code has replaced it."""
    forget = tasks.DynamoDeleteItem(
        scope,
        "ForgetPendingCode",
        comment="The expired code and its wait are gone; a late code is refused.",
        table=table,
        key=state_key(VERIFICATION, kind=Fixed(kind), user_id="$.user_id"),
        condition_expression="execution_id = :me",
        expression_attribute_values={
            ":me": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$$.Execution.Id"))
        },
        result_path=sfn.JsonPath.DISCARD,
    )
    forgotten = sfn.Pass(scope, "PendingCodeForgotten")
    forget.add_catch(
        forgotten,
        errors=["DynamoDB.ConditionalCheckFailedException"],
        result_path=sfn.JsonPath.DISCARD,
    )
    return forget.next(forgotten)


def email_verification_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    bus: events.IEventBus,
    remove_on_timeout: bool,
) -> sfn.IChainable:
    """send and wait → EmailVerified, or on timeout keep/remove → EmailVerificationExpired."""
    send_and_wait = _send_and_wait(scope, steps, KIND)
    verified = publish(
        scope,
        "PublishEmailVerified",
        bus,
        "EmailVerified",
        user_id_path="$.user_id",
        request_id_path="$.completed.request_id",
        facts={"email": "$.email"},
    ).next(sfn.Succeed(scope, "Verified"))
    outcome = "removed" if remove_on_timeout else "kept"
    expired = publish(
        scope,
        "PublishEmailVerificationExpired",
        bus,
        "EmailVerificationExpired",
        user_id_path="$.user_id",
        request_id_path="$.request_id",
        facts={"account": outcome},
    ).next(sfn.Succeed(scope, "Expired"))
    forget_pending = _forget_pending(scope, table, KIND)
    on_timeout: sfn.IChainable = forget_pending
    if remove_on_timeout:
        remove = tasks.DynamoDeleteItem(
            scope,
            "RemoveUnverifiedAccount",
            comment="Only while still unverified and still this user's (the email may be reused).",
            table=table,
            key=state_key(USER, email="$.email"),
            condition_expression="user_id = :uid AND email_verified = :no",
            expression_attribute_values={
                ":uid": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.user_id")),
                ":no": tasks.DynamoAttributeValue.from_boolean(False),
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        remove.add_catch(
            forget_pending,
            errors=["DynamoDB.ConditionalCheckFailedException"],
            result_path=sfn.JsonPath.DISCARD,
        )
        on_timeout = remove.next(forget_pending)
    forget_pending.next(expired)
    send_and_wait.add_catch(on_timeout, errors=["States.Timeout"], result_path=sfn.JsonPath.DISCARD)
    return send_and_wait.next(verified)


def password_recovery_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    bus: events.IEventBus,
) -> sfn.IChainable:
    """send and wait → PasswordReset (the EXPRESS reset route stored the new hash), or on
    timeout forget the code. Neither the new password nor its hash ever enters this workflow."""
    send_and_wait = _send_and_wait(scope, steps, "reset_password")
    reset = publish(
        scope,
        "PublishPasswordReset",
        bus,
        "PasswordReset",
        user_id_path="$.user_id",
        request_id_path="$.completed.request_id",
        facts={"sessions_revoked": "$.completed.sessions_revoked"},
    ).next(sfn.Succeed(scope, "Reset"))
    forget = _forget_pending(scope, table, "reset_password")
    forget.next(sfn.Succeed(scope, "Expired"))
    send_and_wait.add_catch(forget, errors=["States.Timeout"], result_path=sfn.JsonPath.DISCARD)
    return send_and_wait.next(reset)


def verify_email_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    mfa: str = "optional",
) -> sfn.IChainable:
    """check the code → issue tokens, spending the code and marking the account verified in the
    same transaction (the commit) → complete the wait → audit → 200.

    ``mfa="required"``: an enrolment token instead of tokens (steps/core/mfa_enrollment.py)."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    check = reject_step_errors(
        invoke(
            scope,
            "CheckCode",
            steps.verify_email,
            result_path="$",
        ),
        errors,
        VERIFICATION_ERRORS,
    )
    issue_tokens = invoke(
        scope,
        "IssueTokens",
        steps.issue_tokens,
        comment="The session, the account verified and the code spent: one transaction.",
        payload={
            "user": sfn.JsonPath.object_at("$.user"),
            "context": sfn.JsonPath.object_at("$.context"),
            **({"purpose": "mfa_enrollment"} if mfa == "required" else {}),
            "verification": {
                "kind": "verify_email",
                "task_token": sfn.JsonPath.string_at("$.task_token"),
            },
            "deadline": commit_deadline(),
        },
        result_path="$.tokens",
    )
    # Spent or replaced since CheckCode read it (a concurrent verification, a resend): as there.
    spent = scope.node.find_child("RejectCodeExpired")
    assert isinstance(spent, sfn.Pass)  # noqa: S101 - CheckCode's rejection, made above
    on_error(issue_tokens, "CodeExpired", spent)
    # The code is spent and the email verified either way.
    complete, resumed = complete_wait(
        scope,
        comment="Resumes the account's EmailVerification execution (it publishes EmailVerified).",
        output=_request_id_output(),
    )
    audited = audit.record(
        "AuditEmailVerified",
        action="verify_email",
        outcome="success",
        owner=AuditOwner.user("$.user.id"),
    )
    return (
        check.next(issue_tokens)
        .next(complete)
        .next(resumed)
        .next(audited)
        .next(respond(scope, "RespondOk", 200, "$.tokens"))
    )


def forgot_password_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    recovery: sfn.IStateMachine,
    timeout_seconds: int,
) -> sfn.IChainable:
    """known active account? → start its PasswordRecovery execution → 202, the same for all."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    find = reject_step_errors(
        invoke(
            scope,
            "FindAccount",
            steps.request_password_reset,
            result_path="$",
        ),
        errors,
    )
    accepted = respond_with(scope, "RespondAccepted", 202, FORGOT_BODY)
    start = start_execution(
        scope,
        "StartRecovery",
        recovery,
        input_path="$.recovery",
        comment="One STANDARD execution per request: it sends the code and waits (1 h).",
    )
    build = sfn.Pass(
        scope,
        "RecoveryInput",
        parameters={
            "user_id.$": "$.user_id",
            "email.$": "$.email",
            "request_id.$": "$.context.requestId",
            "timeout_seconds": timeout_seconds,
        },
        result_path="$.recovery",
    )
    started = audit.record(
        "AuditForgot",
        action="forgot_password",
        outcome="started",
        owner=AuditOwner.user("$.user_id"),
    )
    # The client gets its 202 whatever happens to the start (it is audited as failed).
    start.add_catch(
        audit.record(
            "AuditForgotFailed",
            action="forgot_password",
            outcome="failure",
            owner=AuditOwner.user("$.user_id"),
        ).next(accepted),
        errors=["States.ALL"],
        result_path=sfn.JsonPath.DISCARD,
    )
    unknown = audit.record(
        "AuditForgotUnknown",
        action="forgot_password",
        outcome="unknown_account",
        owner=AuditOwner.email("$.email"),
    ).next(accepted)
    return find.next(
        sfn.Choice(scope, "KnownAccount?")
        .when(
            sfn.Condition.boolean_equals("$.known", True),
            build.next(start).next(started).next(accepted),
        )
        .otherwise(unknown)
    )


def reset_password_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: LifecycleSteps
) -> sfn.IChainable:
    """check (policy, code) → hash → store and revoke every session → complete the wait → 200."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    check = reject_step_errors(
        invoke(
            scope,
            "CheckReset",
            steps.check_reset,
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge", "WeakPassword", "InvalidCode", "CodeExpired"),
    )
    hashed = password_hashing(scope, steps.hash_password, "$.password")
    forget_password = sfn.Pass(
        scope,
        "ForgetPassword",
        comment="Drops the plain password from the state.",
        parameters={
            "user.$": "$.user",
            "password_hash.$": "$.hashed.password_hash",
            "task_token.$": "$.task_token",
            "context.$": "$.context",
        },
    )
    store = invoke(
        scope,
        "StorePassword",
        steps.store_password,
        comment=(
            "The new hash with the checked code spent (one transaction), and every refresh "
            "family of the user revoked."
        ),
        payload={
            "user": sfn.JsonPath.object_at("$.user"),
            "password_hash": sfn.JsonPath.string_at("$.password_hash"),
            # the checked code is spent in the transaction that stores the hash
            "task_token": sfn.JsonPath.string_at("$.task_token"),
            "deadline": commit_deadline(),
        },
        result_path="$.stored",
    )
    # The account went away (or changed hands) between the check and the write.
    on_error(store, "CodeExpired", errors.fixed("RejectAccountGone", contract.CODE_SPENT))
    complete, resumed = complete_wait(
        scope,
        comment="Resumes the PasswordRecovery execution (it publishes PasswordReset).",
        output=sfn.JsonPath.format(
            '{{"request_id":"{}","sessions_revoked":{}}}',
            sfn.JsonPath.string_at("$.context.requestId"),
            sfn.JsonPath.string_at("$.stored.revoked"),
        ),
    )
    audited = audit.record(
        "AuditPasswordReset",
        action="reset_password",
        outcome="success",
        owner=AuditOwner.user("$.user.id"),
    )
    return (
        check.next(hashed)
        .next(forget_password)
        .next(store)
        .next(complete)
        .next(resumed)
        .next(audited)
        .next(respond_with(scope, "RespondOk", 200, RESET_BODY))
    )


def change_password_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    bus: events.IEventBus,
) -> sfn.IChainable:
    """validate → verify the current password (login lockout) → hash → store, revoke every
    session → a new pair for the caller → PasswordChanged → notice → audit → 200."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    validate = reject_step_errors(
        invoke(
            scope,
            "ValidatePasswordChange",
            steps.validate_password_change,
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge", "WeakPassword"),
    )
    gone = errors.fixed("RejectUnknownAccount", contract.INVALID_TOKEN)
    on_error(validate, "InvalidToken", gone)
    owner = AuditOwner.user("$.found.Item.user_id.S")
    verify = password_check(
        scope,
        steps.verify_password,
        state_id="VerifyCurrentPassword",
        comment="The login's password check and lockout: a stolen token cannot guess on.",
        email_path="$.change.email",
        presented_path="$.change.current_password",
        wrong=[
            audit.record(
                "AuditWrongCurrentPassword",
                action="change_password",
                outcome="failure",
                owner=owner,
            ),
            errors.fixed("RejectWrongPassword", contract.WRONG_CURRENT_PASSWORD),
        ],
    )
    locked = audited_lockout(
        audit, errors, "AuditChangeLocked", action="change_password", owner=owner
    )
    hashed = password_hashing(scope, steps.hash_password, "$.change.new_password")
    forget_passwords = sfn.Pass(
        scope,
        "ForgetPasswords",
        comment="Drops both plain passwords from the state.",
        parameters={
            "user.$": "$.verified.user",
            "password_hash.$": "$.hashed.password_hash",
            "context.$": "$.context",
            "authentication.$": "$.authentication",
        },
    )
    store = invoke(
        scope,
        "StorePassword",
        steps.store_password,
        payload={
            "user": sfn.JsonPath.object_at("$.user"),
            "password_hash": sfn.JsonPath.string_at("$.password_hash"),
            "reason": "password_changed",
            "deadline": commit_deadline(),
        },
        result_path="$.stored",
    )
    on_error(store, "CodeExpired", gone)
    issue_tokens = invoke(
        scope,
        "IssueTokens",
        steps.issue_tokens,
        comment="Every session was revoked; the caller continues in a new one, with the "
        "second factor the step-up found (null: none).",
        payload={
            "user": sfn.JsonPath.object_at("$.user"),
            "context": sfn.JsonPath.object_at("$.context"),
            "authentication": sfn.JsonPath.object_at("$.authentication"),
            "deadline": commit_deadline(),
        },
        result_path="$.tokens",
    )
    changed = publish(
        scope,
        "PublishPasswordChanged",
        bus,
        "PasswordChanged",
        user_id_path="$.user.id",
        facts={"sessions_revoked": "$.stored.revoked"},
    )
    notify = invoke(
        scope,
        "SendNotice",
        steps.send_email,
        comment="Tells the account's address; a failed notice does not fail the change.",
        payload={
            "kind": "password_changed",
            "user_id": sfn.JsonPath.string_at("$.user.id"),
            "email": sfn.JsonPath.string_at("$.user.email"),
        },
        result_path=sfn.JsonPath.DISCARD,
    )
    noticed = sfn.Pass(scope, "NoticeSent")
    notify.add_catch(noticed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    audited = audit.record(
        "AuditPasswordChanged",
        action="change_password",
        outcome="success",
        owner=AuditOwner.user("$.user.id"),
    )
    # The password is stored by now: a session that cannot be started must not turn the change
    # into a 503 (the client's retry would present a current password that is no longer it).
    # The change is served without a new pair (204: sign in again).
    on_error(issue_tokens, "States.ALL", changed)
    answered = (
        sfn.Choice(scope, "NewSessionStarted?")
        .when(sfn.Condition.is_present("$.tokens"), respond(scope, "RespondOk", 200, "$.tokens"))
        .otherwise(no_content(scope, "RespondChangedSignInAgain"))
    )
    unlocked = (
        hashed.next(forget_passwords)
        .next(store)
        .next(issue_tokens)
        .next(changed)
        .next(notify)
        .next(noticed)
        .next(audited)
        .next(answered)
    )
    return (
        validate.next(find_user(scope, table, "$.change.email"))
        .next(verify)
        .next(account_locked(scope, locked, unlocked))
    )


def email_change_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    bus: events.IEventBus,
) -> sfn.IChainable:
    """notice to the old address → code to the new one and wait → EmailChanged, or on timeout
    forget the code (the old address simply stays)."""
    notice = invoke(
        scope,
        "NoticeToOldAddress",
        steps.send_email,
        payload={
            "kind": "email_change_requested",
            "user_id": sfn.JsonPath.string_at("$.user_id"),
            "email": sfn.JsonPath.string_at("$.old_email"),
        },
        result_path=sfn.JsonPath.DISCARD,
    )
    send_and_wait = _send_and_wait(scope, steps, "change_email")
    notice.add_catch(send_and_wait, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    changed = publish(
        scope,
        "PublishEmailChanged",
        bus,
        "EmailChanged",
        user_id_path="$.user_id",
        request_id_path="$.completed.request_id",
        facts={"email": "$.email", "previous_email": "$.old_email"},
    ).next(sfn.Succeed(scope, "Changed"))
    forget = _forget_pending(scope, table, "change_email")
    forget.next(sfn.Succeed(scope, "Expired"))
    send_and_wait.add_catch(forget, errors=["States.Timeout"], result_path=sfn.JsonPath.DISCARD)
    return notice.next(send_and_wait).next(changed)


def change_email_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: LifecycleSteps,
    change: sfn.IStateMachine,
    timeout_seconds: int,
) -> sfn.IChainable:
    """validate (free address) → verify the password (lockout) → start the EmailChange wait →
    audit → 202. The old address keeps working until the new one is confirmed."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    validate = reject_step_errors(
        invoke(
            scope,
            "ValidateEmailChange",
            steps.validate_email_change,
            result_path="$",
        ),
        errors,
    )
    on_error(validate, "EmailTaken", errors.fixed("RejectEmailTaken", contract.EMAIL_TAKEN))
    on_error(validate, "InvalidToken", errors.fixed("RejectUnknownAccount", contract.INVALID_TOKEN))
    verify = password_check(
        scope,
        steps.verify_password,
        email_path="$.change.email",
        presented_path="$.change.password",
        wrong=[
            audit.record(
                "AuditWrongPassword",
                action="change_email",
                outcome="failure",
                owner=AuditOwner.user("$.user_id"),
            ),
            errors.fixed("RejectWrongPassword", contract.WRONG_PASSWORD),
        ],
    )
    locked = errors.locked()
    build = sfn.Pass(
        scope,
        "ChangeInput",
        comment="Drops the password; what the STANDARD execution gets (no secret).",
        parameters={
            "user_id.$": "$.user_id",
            "email.$": "$.change.new_email",
            "old_email.$": "$.change.email",
            "request_id.$": "$.context.requestId",
            "timeout_seconds": timeout_seconds,
        },
        result_path="$.started",
    )
    start = start_execution(scope, "StartEmailChange", change, input_path="$.started")
    audited = audit.record(
        "AuditEmailChangeRequested",
        action="change_email",
        outcome="requested",
        owner=AuditOwner.user("$.user_id"),
    )
    accepted = respond_with(scope, "RespondAccepted", 202, CHANGE_EMAIL_BODY)
    return (
        validate.next(find_user(scope, table, "$.change.email"))
        .next(verify)
        .next(account_locked(scope, locked, build.next(start).next(audited).next(accepted)))
    )


def confirm_email_change_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: LifecycleSteps
) -> sfn.IChainable:
    """check the code and switch the address → complete the wait → audit → 200."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    confirm = reject_step_errors(
        invoke(
            scope,
            "ConfirmEmailChange",
            steps.confirm_email_change,
            payload={
                "request": sfn.JsonPath.object_at("$.request"),
                "caller": sfn.JsonPath.object_at("$.caller"),
                "deadline": commit_deadline(),
            },
            result_path="$",
        ),
        errors,
        ("InvalidRequest", "PayloadTooLarge", "InvalidCode", "CodeExpired"),
    )
    on_error(confirm, "EmailTaken", errors.fixed("RejectEmailTaken", contract.EMAIL_TAKEN))
    complete, resumed = complete_wait(
        scope,
        comment="Resumes the EmailChange execution (it publishes EmailChanged).",
        output=_request_id_output(),
    )
    audited = audit.record(
        "AuditEmailChanged",
        action="change_email",
        outcome="success",
        owner=AuditOwner.user("$.user.id"),
    )
    shape = sfn.Pass(
        scope,
        "ChangedUser",
        parameters={"user": {"id.$": "$.user.id", "email.$": "$.user.email"}},
        result_path="$.response",
    )
    return (
        confirm.next(complete)
        .next(resumed)
        .next(audited)
        .next(shape)
        .next(respond(scope, "RespondOk", 200, "$.response"))
    )


CHANGE_EMAIL_BODY = json.dumps(
    {"status": "accepted", "next": "confirm with the code sent to the new address"},
    separators=(",", ":"),
)
FORGOT_BODY = json.dumps(
    {"status": "accepted", "next": "if the email has an account, a code and a link were sent"},
    separators=(",", ":"),
)
RESET_BODY = json.dumps(
    {"status": "password_reset", "next": "log in with the new password"},
    separators=(",", ":"),
)
ACCEPTED_BODY = json.dumps(
    {"status": "accepted", "next": "if the account waits for verification, a new code is sent"},
    separators=(",", ":"),
)


def resend_verification_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: LifecycleSteps
) -> sfn.IChainable:
    """may it resend? → send a fresh code (same waiting execution) → 202, the same for all."""
    audit = AuditTrail(scope, table)
    errors = ErrorResponses(scope)
    find = reject_step_errors(
        invoke(
            scope,
            "FindVerification",
            steps.find_verification,
            result_path="$",
        ),
        errors,
    )
    send = invoke(
        scope,
        "SendFreshCode",
        steps.send_email,
        payload={
            "kind": sfn.JsonPath.string_at("$.kind"),
            "user_id": sfn.JsonPath.string_at("$.user_id"),
            "email": sfn.JsonPath.string_at("$.email"),
            "deadline": commit_deadline(),
        },
        result_path="$.sent",
    )
    accepted = respond_with(scope, "RespondAccepted", 202, ACCEPTED_BODY)
    resent = send.next(
        audit.record(
            "AuditResent",
            action="resend_verification",
            outcome="sent",
            owner=AuditOwner.user("$.user_id"),
        )
    ).next(accepted)
    return find.next(
        sfn.Choice(scope, "Resend?")
        .when(sfn.Condition.boolean_equals("$.resend", True), resent)
        .otherwise(accepted)
    )


class EmailVerification(Construct):
    """The functions, workflows, rule and grants of email verification (see the module doc).

    ``function`` builds a step Lambda as the stack builds its others (same environment).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        function: Callable[..., lambda_.Function],
        issue_tokens: lambda_.IFunction,
        hash_password: lambda_.IFunction,
        verify_password: lambda_.IFunction,
        workflow: Callable[..., sfn.StateMachine],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.code_key = secretsmanager.Secret(
            self,
            "CodeKey",
            secret_name=f"{config.stack_name}/code-key",
            description="HMAC key of the emailed one-time codes (stepauth)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        steps = LifecycleSteps(
            send_email=function("SendEmail", "send_email"),
            verify_email=function("VerifyEmail", "verify_email"),
            find_verification=function("FindVerification", "find_verification"),
            request_password_reset=function("RequestPasswordReset", "request_password_reset"),
            check_reset=function("CheckReset", "check_reset"),
            hash_password=hash_password,
            store_password=function("StorePassword", "store_password"),
            validate_password_change=function("ValidatePasswordChange", "validate_password_change"),
            verify_password=verify_password,
            issue_tokens=issue_tokens,
            validate_email_change=function("ValidateEmailChange", "validate_email_change"),
            confirm_email_change=function("ConfirmEmailChange", "confirm_email_change"),
        )
        # Least privilege (as the stack's other steps): each function may do to the table only
        # what its code does; a transaction counts as its parts, a gsi1 Query as the index.
        table_actions: list[tuple[lambda_.IFunction, tuple[str, ...]]] = [
            # the send counter, the pending code and the link
            (steps.send_email, ("GetItem", "PutItem", "UpdateItem")),
            # the user, the pending code (wrong attempts); IssueTokens spends it
            (steps.verify_email, ("GetItem", "UpdateItem")),
            # with the new session (one transaction): email_verified set, the pending code spent
            (steps.issue_tokens, ("UpdateItem", "DeleteItem")),
            # the user, the pending code (wrong attempts); StorePassword spends it
            (steps.check_reset, ("GetItem", "UpdateItem")),
            # the user by id (gsi1), the pending code, the move: Put new key + Delete old key
            (
                steps.confirm_email_change,
                ("Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem"),
            ),
            (steps.find_verification, ("GetItem",)),
            (steps.request_password_reset, ("GetItem",)),
            # the hash (with a reset's code spent: Delete); every refresh family of the user
            # (gsi1) revoked
            (steps.store_password, ("Query", "UpdateItem", "DeleteItem")),
            # the caller's session and user (GetItem), else the user by id (gsi1)
            (steps.validate_password_change, ("GetItem", "Query")),
            (steps.validate_email_change, ("Query", "GetItem")),
        ]
        for grantee, actions in table_actions:
            table.grant(grantee, *(f"dynamodb:{action}" for action in actions))
        for reader in (
            steps.send_email,
            steps.verify_email,
            steps.check_reset,
            steps.confirm_email_change,
        ):
            reader.add_environment("CODE_KEY_SECRET_ID", self.code_key.secret_arn)
            reader.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self.code_key.secret_arn],
                )
            )
        # SES v2 SendEmail is authorised on the sender's identity (and a configuration set,
        # when one is used).
        steps.send_email.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    stack.format_arn(
                        service="ses",
                        resource="identity",
                        resource_name=config.email_sender.split("@", 1)[-1],
                    ),
                    stack.format_arn(
                        service="ses", resource="identity", resource_name=config.email_sender
                    ),
                ],
            )
        )
        self.machine = workflow(
            "EmailVerification",
            functools.partial(
                email_verification_definition,
                steps=steps,
                bus=bus,
                remove_on_timeout=config.verification_timeout_action == "remove",
            ),
            standard=True,
        )
        self.verify = workflow(
            "VerifyEmail", functools.partial(verify_email_definition, steps=steps, mfa=config.mfa)
        )
        self.resend = workflow(
            "ResendVerification", functools.partial(resend_verification_definition, steps=steps)
        )
        # Password recovery: the same send-and-wait, started by the forgot route.
        self.recovery = workflow(
            "PasswordRecovery",
            functools.partial(password_recovery_definition, steps=steps, bus=bus),
            standard=True,
        )
        self.forgot = workflow(
            "ForgotPassword",
            functools.partial(
                forgot_password_definition,
                steps=steps,
                recovery=self.recovery,
                timeout_seconds=config.reset_code_ttl_seconds,
            ),
        )
        self.reset = workflow(
            "ResetPassword", functools.partial(reset_password_definition, steps=steps)
        )
        self.change_password = workflow(
            "ChangePassword",
            functools.partial(change_password_definition, steps=steps, bus=bus),
            retry=TIGHT_RETRY,
        )
        # Email change: verified at the new address before it replaces the old one.
        self.email_change = workflow(
            "EmailChange",
            functools.partial(email_change_definition, steps=steps, bus=bus),
            standard=True,
        )
        self.change_email = workflow(
            "ChangeEmail",
            functools.partial(
                change_email_definition,
                steps=steps,
                change=self.email_change,
                timeout_seconds=config.verification_timeout_seconds,
            ),
        )
        self.confirm_email_change = workflow(
            "ConfirmEmailChange",
            functools.partial(confirm_email_change_definition, steps=steps),
        )
        self.start = function("StartVerification", "start_verification")
        self.start.add_environment(
            "EMAIL_VERIFICATION_STATE_MACHINE_ARN", self.machine.state_machine_arn
        )
        self.start.add_environment(
            "VERIFICATION_TIMEOUT_SECONDS", str(config.verification_timeout_seconds)
        )
        self.machine.grant_start_execution(self.start)
        if config.email_verification != "off":
            # stepauth's own follow-up of a registration is a rule, like an integrator's.
            events.Rule(
                self,
                "OnUserRegistered",
                event_bus=bus,
                description="Starts the account's EmailVerification execution.",
                event_pattern=events.EventPattern(source=[SOURCE], detail_type=["UserRegistered"]),
                targets=[events_targets.LambdaFunction(self.start, retry_attempts=8)],
            )

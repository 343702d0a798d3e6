"""Multi-factor sign-in: the KMS key of TOTP secrets, the MFA steps and their EXPRESS workflows.

* ``MfaEnrol`` (``POST /v1/mfa/totp``, Bearer): StartTotpEnrolment creates the secret, stores it
  encrypted (``kms:Encrypt``) as a pending enrolment and answers it with the ``otpauth://`` URI
  and the QR code (SVG).
* ``MfaConfirm`` (``POST /v1/mfa/totp/confirm {code}``): ConfirmTotp checks the first code
  (``kms:Decrypt``), turns MFA on and answers ten recovery codes, once → ``MfaEnabled``.
* ``MfaDisable`` (``DELETE /v1/mfa/totp {code | recovery_code | password}``): the proof (the
  second factor, or the password through the login's VerifyPassword), both behind the login
  lockout → a conditional ``deleteItem`` → ``MfaDisabled`` → 204.
* ``MfaRecoveryCodes`` (``POST /v1/mfa/recovery-codes {code}``): a current code → a new set.
* ``LoginMfa`` (``POST /v1/login/mfa {mfa_token, code | recovery_code}``): VerifyMfaLogin answers
  the challenge the Login workflow handed out (cdk/workflows.py, ``AccountState?``) → IssueTokens
  with ``amr``/``acr``/``auth_time`` → 200.

Secrets (the TOTP secret, codes, recovery codes, the mfa_token) are created, checked and spent
only inside Lambdas; they reach the client through the workflow's output, which no history
records (``includeExecutionData`` is false), and never appear in an error's cause, an audit
record or an event. Only ConfirmTotp, VerifySecondFactor, VerifyMfaLogin and CheckStepUp (the
step-up of ChangePassword, ChangeEmail and DeleteAccount: :func:`with_step_up`) may
``kms:Decrypt``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from steps.core.contract import errors as contract
from steps.core.contract.entities import MFA_TOTP

from .audit import AuditOwner, AuditTrail
from .bundling import STEP_REQUIREMENTS, python_code
from .config import StackConfig
from .events import publish
from .items import state_key
from .resilience import commit_deadline
from .workflow_parts import (
    CLIENT_ERROR,
    ErrorResponses,
    account_locked,
    audited_lockout,
    find_user,
    invoke,
    locked_response,
    no_content,
    on_error,
    password_check,
    reject,
    reject_step_errors,
    respond,
)

#: The MFA steps' bundle: TOTP (pyotp) and its QR code (segno), both pure Python.
MFA_STEP_REQUIREMENTS = (*STEP_REQUIREMENTS, "pyotp>=2.9", "segno>=1.6")


@dataclass(frozen=True)
class MfaSteps:
    start_totp_enrolment: lambda_.IFunction
    confirm_totp: lambda_.IFunction
    validate_mfa_proof: lambda_.IFunction
    verify_second_factor: lambda_.IFunction
    replace_recovery_codes: lambda_.IFunction
    start_mfa_challenge: lambda_.IFunction
    validate_mfa_login: lambda_.IFunction
    verify_mfa_login: lambda_.IFunction
    issue_tokens: lambda_.IFunction
    verify_password: lambda_.IFunction
    check_step_up: lambda_.IFunction


#: The workflows that change credentials: on an account with MFA they need a recent second
#: factor (steps/core/mfa_step_up.py), by the audit action their records carry.
STEP_UP_WORKFLOWS = {
    "ChangePassword": "change_password",
    "ChangeEmail": "change_email",
    "DeleteAccount": "delete_account",
}


def with_step_up(
    definition: Callable[..., sfn.IChainable], check: lambda_.IFunction, *, action: str
) -> Callable[..., sfn.IChainable]:
    """``definition`` behind CheckStepUp: an account without MFA, or a caller whose token came
    from a recent sign-in with a second factor, goes on at once; else the request's ``code`` or
    ``recovery_code`` is checked behind the lockout (401 wrong, 429 locked); none: 403
    ``mfa_required``."""

    def build(scope: Construct, table: dynamodb.ITable, shared: object) -> sfn.IChainable:
        then = definition(scope, table, shared)
        audit = AuditTrail(scope, table)
        step_up = invoke(
            scope,
            "CheckStepUp",
            check,
            comment="A recent second factor on an account with MFA (kms:Decrypt for a code).",
            payload={
                "request": sfn.JsonPath.object_at("$.request"),
                "caller": sfn.JsonPath.object_at("$.caller"),
                "deadline": commit_deadline(),
            },
            result_path="$.stepUp",
        )
        # The wrapped definition has its own ErrorResponses (state ids are per workflow): the
        # step-up's rejections are Fail states of their own.
        on_error(
            step_up,
            "SecondFactorRequired",
            reject(scope, "RejectSecondFactorRequired", contract.SECOND_FACTOR_REQUIRED),
        )
        caller = AuditOwner.user("$.caller.userId")
        on_error(
            step_up,
            "MfaCodeRejected",
            audit.record(
                "AuditStepUpFailure", action=action, outcome="second_factor_failure", owner=caller
            ),
            reject(scope, "RejectStepUpCode", contract.MFA_CODE_REJECTED),
        )
        on_error(
            step_up,
            "InvalidToken",
            reject(scope, "RejectStepUpUnknownAccount", contract.INVALID_TOKEN),
        )
        locked = (
            audit.record("AuditStepUpLocked", action=action, outcome="locked", owner=caller)
            .next(
                sfn.Pass(
                    scope,
                    "RespondStepUpLocked",
                    parameters={"response": locked_response("$.stepUp")},
                )
            )
            .next(
                sfn.Fail(
                    scope,
                    "StepUpLocked",
                    error=CLIENT_ERROR,
                    cause_path=sfn.JsonPath.json_to_string(sfn.JsonPath.object_at("$.response")),
                )
            )
        )
        return step_up.next(
            sfn.Choice(scope, "StepUpLocked?")
            .when(sfn.Condition.boolean_equals("$.stepUp.locked", True), locked)
            .otherwise(then)
        )

    return build


def _request_with_deadline() -> dict[str, object]:
    """The payload of a committing step that reads the request itself: the execution input's
    request and caller, and the commit deadline (cdk/resilience.py)."""
    return {
        "request": sfn.JsonPath.object_at("$.request"),
        "caller": sfn.JsonPath.object_at("$.caller"),
        "deadline": commit_deadline(),
    }


def _catch_request_errors(task: tasks.LambdaInvoke, errors: ErrorResponses) -> None:
    reject_step_errors(task, errors)
    on_error(task, "InvalidToken", errors.fixed("RejectUnknownAccount", contract.INVALID_TOKEN))


def _already_on(errors: ErrorResponses) -> sfn.Fail:
    return errors.fixed("RejectMfaAlreadyEnabled", contract.MFA_ALREADY_ENABLED)


def _not_on(errors: ErrorResponses) -> sfn.Fail:
    return errors.fixed("RejectMfaNotEnabled", contract.MFA_NOT_ENABLED)


def enrol_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: MfaSteps
) -> sfn.IChainable:
    """start the enrolment (secret encrypted, pending) → audit → 200 with secret, URI, QR."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    start = invoke(
        scope,
        "StartTotpEnrolment",
        steps.start_totp_enrolment,
        comment="Creates the secret, stores it KMS-encrypted (pending), answers it once.",
        payload=_request_with_deadline(),
    )
    _catch_request_errors(start, errors)
    on_error(start, "MfaAlreadyEnabled", _already_on(errors))
    started = audit.record(
        "AuditMfaEnrolmentStarted",
        action="mfa_enrol",
        outcome="started",
        owner=AuditOwner.user("$.user_id"),
    )
    return start.next(started).next(respond(scope, "RespondOk", 200, "$.enrolment"))


def confirm_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: MfaSteps,
    bus: events.IEventBus,
) -> sfn.IChainable:
    """check the first code, turn MFA on (recovery codes, once) → audit → MfaEnabled → 200."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    confirm = invoke(
        scope,
        "ConfirmTotp",
        steps.confirm_totp,
        comment="Checks the first code (kms:Decrypt), turns MFA on, creates the recovery codes.",
        payload=_request_with_deadline(),
    )
    _catch_request_errors(confirm, errors)
    on_error(
        confirm,
        "MfaCodeRejected",
        audit.record(
            "AuditMfaConfirmFailure",
            action="mfa_confirm",
            outcome="failure",
            owner=AuditOwner.user("$.caller.userId"),
        ),
        errors.fixed("RejectWrongCode", contract.WRONG_ENROLMENT_CODE),
    )
    on_error(
        confirm,
        "EnrolmentNotStarted",
        errors.fixed("RejectNoEnrolment", contract.ENROLMENT_NOT_STARTED),
    )
    on_error(confirm, "MfaAlreadyEnabled", _already_on(errors))
    enabled = audit.record(
        "AuditMfaEnabled",
        action="mfa_confirm",
        outcome="success",
        owner=AuditOwner.user("$.user_id"),
    )
    published = publish(
        scope,
        "PublishMfaEnabled",
        bus,
        "MfaEnabled",
        user_id_path="$.user_id",
        facts={"method": "totp"},
    )
    return (
        confirm.next(enabled).next(published).next(respond(scope, "RespondOk", 200, "$.confirmed"))
    )


def _second_factor(
    scope: Construct,
    steps: MfaSteps,
    errors: ErrorResponses,
    audit: AuditTrail,
    *,
    action: str,
    not_on: sfn.IChainable,
) -> tasks.LambdaInvoke:
    """VerifySecondFactor on ``$.change``/``$.answer`` → ``$.verified``; a wrong code is audited
    and answered 401, no MFA 409."""
    verify = invoke(
        scope,
        "VerifySecondFactor",
        steps.verify_second_factor,
        comment="A current code or a recovery code (kms:Decrypt), behind the login lockout.",
        payload={
            "user_id": sfn.JsonPath.string_at("$.change.user_id"),
            "email": sfn.JsonPath.string_at("$.change.email"),
            "answer": sfn.JsonPath.object_at("$.answer"),
            "deadline": commit_deadline(),
        },
        result_path="$.verified",
    )
    on_error(
        verify,
        "MfaCodeRejected",
        audit.record(
            "AuditWrongCode",
            action=action,
            outcome="failure",
            owner=AuditOwner.user("$.change.user_id"),
        ),
        errors.fixed("RejectWrongCode", contract.MFA_CODE_REJECTED),
    )
    on_error(verify, "MfaNotEnabled", not_on)
    return verify


def _validate_proof(
    scope: Construct, steps: MfaSteps, errors: ErrorResponses, *, password_allowed: bool
) -> tasks.LambdaInvoke:
    validate = invoke(
        scope,
        "ValidateMfaProof",
        steps.validate_mfa_proof,
        payload={
            "request": sfn.JsonPath.object_at("$.request"),
            "caller": sfn.JsonPath.object_at("$.caller"),
            "password_allowed": password_allowed,
        },
    )
    _catch_request_errors(validate, errors)
    return validate


def disable_definition(
    scope: Construct,
    table: dynamodb.ITable,
    _shared: object,
    *,
    steps: MfaSteps,
    bus: events.IEventBus,
) -> sfn.IChainable:
    """the proof (a code, a recovery code, or the password), behind the lockout → delete the
    enrolment (conditional) → audit → MfaDisabled → 204."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _validate_proof(scope, steps, errors, password_allowed=True)
    not_on = _not_on(errors)
    second_factor = _second_factor(scope, steps, errors, audit, action="mfa_disable", not_on=not_on)
    owner = AuditOwner.user("$.change.user_id")
    by_password = password_check(
        scope,
        steps.verify_password,
        comment="The login's password check and lockout.",
        email_path="$.change.email",
        presented_path="$.password",
        wrong=[
            audit.record(
                "AuditWrongPassword", action="mfa_disable", outcome="failure", owner=owner
            ),
            errors.fixed("RejectWrongPassword", contract.WRONG_PASSWORD),
        ],
    )
    locked = audited_lockout(
        audit, errors, "AuditMfaDisableLocked", action="mfa_disable", owner=owner
    )
    remove = tasks.DynamoDeleteItem(
        scope,
        "RemoveMfa",
        comment="The enrolment, its secret and its recovery codes go in one conditional delete.",
        table=table,
        key=state_key(MFA_TOTP, user_id="$.change.user_id"),
        condition_expression="attribute_exists(pk)",
        result_path=sfn.JsonPath.DISCARD,
    )
    on_error(remove, "DynamoDB.ConditionalCheckFailedException", not_on)
    disabled = audit.record(
        "AuditMfaDisabled",
        action="mfa_disable",
        outcome="success",
        owner=AuditOwner.user("$.change.user_id"),
        detail=sfn.JsonPath.format("proof {}", sfn.JsonPath.string_at("$.change.method")),
    )
    published = publish(
        scope,
        "PublishMfaDisabled",
        bus,
        "MfaDisabled",
        user_id_path="$.change.user_id",
        facts={"proof": "$.change.method"},
    )
    proven = account_locked(
        scope, locked, remove.next(disabled).next(published).next(no_content(scope))
    )
    second_factor.next(proven)
    password_proof = find_user(scope, table, "$.change.email")
    password_proof.next(by_password).next(proven)
    return validate.next(
        sfn.Choice(scope, "ProofMethod?")
        .when(sfn.Condition.string_equals("$.change.method", "password"), password_proof)
        .otherwise(second_factor)
    )


def recovery_codes_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: MfaSteps
) -> sfn.IChainable:
    """a current code, behind the lockout → a new set of recovery codes → audit → 200."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = _validate_proof(scope, steps, errors, password_allowed=False)
    not_on = _not_on(errors)
    second_factor = _second_factor(
        scope, steps, errors, audit, action="mfa_recovery_codes", not_on=not_on
    )
    locked = audited_lockout(
        audit,
        errors,
        "AuditRecoveryCodesLocked",
        action="mfa_recovery_codes",
        owner=AuditOwner.user("$.change.user_id"),
    )
    replace = invoke(
        scope,
        "ReplaceRecoveryCodes",
        steps.replace_recovery_codes,
        comment="Ten new codes (stored as hashes) replace the old set; answered once.",
        payload={
            "user_id": sfn.JsonPath.string_at("$.change.user_id"),
            "deadline": commit_deadline(),
        },
        result_path="$.replaced",
    )
    on_error(replace, "MfaNotEnabled", not_on)
    replaced = audit.record(
        "AuditRecoveryCodesReplaced",
        action="mfa_recovery_codes",
        outcome="success",
        owner=AuditOwner.user("$.change.user_id"),
    )
    return validate.next(second_factor).next(
        account_locked(
            scope,
            locked,
            replace.next(replaced).next(respond(scope, "RespondOk", 200, "$.replaced")),
        )
    )


def login_mfa_definition(
    scope: Construct, table: dynamodb.ITable, _shared: object, *, steps: MfaSteps
) -> sfn.IChainable:
    """validate (the mfa_token hashed) → answer the challenge, behind the lockout → issue the
    token pair with amr/acr/auth_time → audit → 200; wrong code 401, locked 429."""
    errors = ErrorResponses(scope)
    audit = AuditTrail(scope, table)
    validate = reject_step_errors(
        invoke(scope, "ValidateMfaLogin", steps.validate_mfa_login), errors
    )
    verify = invoke(
        scope,
        "VerifyMfaLogin",
        steps.verify_mfa_login,
        comment="Checks the code (kms:Decrypt) or spends a recovery code; spends the challenge.",
        payload={
            "challenge": sfn.JsonPath.object_at("$.challenge"),
            "answer": sfn.JsonPath.object_at("$.answer"),
            "context": sfn.JsonPath.object_at("$.context"),
            "deadline": commit_deadline(),
        },
        result_path="$.verified",
    )
    on_error(
        verify,
        "MfaChallengeInvalid",
        audit.record(
            "AuditMfaChallengeInvalid",
            action="login_mfa",
            outcome="invalid_challenge",
            owner=AuditOwner.anonymous(),
        ),
        errors.fixed("RejectInvalidChallenge", contract.MFA_CHALLENGE_INVALID),
    )
    issue_tokens = invoke(
        scope,
        "IssueTokens",
        steps.issue_tokens,
        payload={
            "user": sfn.JsonPath.object_at("$.verified.user"),
            "context": sfn.JsonPath.object_at("$.verified.context"),
            "authentication": sfn.JsonPath.object_at("$.verified.authentication"),
            "deadline": commit_deadline(),
        },
    )
    accepted = issue_tokens.next(
        audit.record(
            "AuditLoginMfaSuccess",
            action="login_mfa",
            outcome="success",
            owner=AuditOwner.user("$.user.id"),
        )
    ).next(respond(scope, "RespondOk", 200))
    locked = audited_lockout(
        audit,
        errors,
        "AuditLoginMfaLocked",
        action="login_mfa",
        owner=AuditOwner.user("$.verified.user_id"),
    )
    rejected = audit.record(
        "AuditLoginMfaFailure",
        action="login_mfa",
        outcome="failure",
        owner=AuditOwner.user("$.verified.user_id"),
    ).next(errors.fixed("RejectWrongCode", contract.MFA_CODE_REJECTED))
    return validate.next(verify).next(
        sfn.Choice(scope, "SecondFactorAccepted?")
        .when(sfn.Condition.string_equals("$.verified.outcome", "accepted"), accepted)
        .when(sfn.Condition.string_equals("$.verified.outcome", "locked"), locked)
        .otherwise(rejected)
    )


class MultiFactor(Construct):
    """The key, functions, grants and workflows of MFA (see the module doc).

    ``function`` and ``workflow`` build a step Lambda and an EXPRESS workflow as the stack
    builds its others.
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
        workflow: Callable[..., sfn.StateMachine],
        issue_tokens: lambda_.IFunction,
        verify_password: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "SecretKey",
            description="stepauth: encrypts TOTP secrets at rest",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        code = python_code(("steps",), MFA_STEP_REQUIREMENTS, config.lambda_architecture)
        key_env = {"MFA_KEY_ARN": self.key.key_arn}

        def mfa_function(name: str, module: str, *, key: bool = False) -> lambda_.Function:
            return function(name, module, asset=code, extra_environment=key_env if key else None)

        self.steps = steps = MfaSteps(
            start_totp_enrolment=mfa_function(
                "StartTotpEnrolment", "start_totp_enrolment", key=True
            ),
            confirm_totp=mfa_function("ConfirmTotp", "confirm_totp", key=True),
            validate_mfa_proof=mfa_function("ValidateMfaProof", "validate_mfa_proof"),
            verify_second_factor=mfa_function(
                "VerifySecondFactor", "verify_second_factor", key=True
            ),
            replace_recovery_codes=mfa_function("ReplaceRecoveryCodes", "replace_recovery_codes"),
            start_mfa_challenge=mfa_function("StartMfaChallenge", "start_mfa_challenge"),
            validate_mfa_login=mfa_function("ValidateMfaLogin", "validate_mfa_login"),
            verify_mfa_login=mfa_function("VerifyMfaLogin", "verify_mfa_login", key=True),
            issue_tokens=issue_tokens,
            verify_password=verify_password,
            check_step_up=mfa_function("CheckStepUp", "check_step_up", key=True),
        )
        # Least privilege (as the stack's other steps): each function may do to the table only
        # what its code does; a gsi1 Query is the caller's account by id.
        table_actions: list[tuple[lambda_.IFunction, tuple[str, ...]]] = [
            (steps.start_totp_enrolment, ("Query", "UpdateItem")),
            (steps.confirm_totp, ("Query", "GetItem", "UpdateItem")),
            (steps.validate_mfa_proof, ("Query",)),
            # the lockout (read, count, clear) and the enrolment (read, last step, spend a code)
            (steps.verify_second_factor, ("GetItem", "UpdateItem", "DeleteItem")),
            (steps.replace_recovery_codes, ("UpdateItem",)),
            (steps.start_mfa_challenge, ("PutItem",)),
            # the challenge (read, count, spend), the lockout, the enrolment
            (steps.verify_mfa_login, ("GetItem", "UpdateItem", "DeleteItem")),
            # the enrolment, the caller's email by id (gsi1), the lockout, the last step
            (steps.check_step_up, ("GetItem", "Query", "UpdateItem", "DeleteItem")),
        ]
        for grantee, actions in table_actions:
            table.grant(grantee, *(f"dynamodb:{action}" for action in actions))
        # Only the enrolment encrypts; only the steps that check a code decrypt.
        steps.start_totp_enrolment.add_to_role_policy(
            iam.PolicyStatement(actions=["kms:Encrypt"], resources=[self.key.key_arn])
        )
        for decrypter in (
            steps.confirm_totp,
            steps.verify_second_factor,
            steps.verify_mfa_login,
            steps.check_step_up,
        ):
            decrypter.add_to_role_policy(
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.key.key_arn])
            )
        self.enrol = workflow("MfaEnrol", functools.partial(enrol_definition, steps=steps))
        self.confirm = workflow(
            "MfaConfirm", functools.partial(confirm_definition, steps=steps, bus=bus)
        )
        self.disable = workflow(
            "MfaDisable", functools.partial(disable_definition, steps=steps, bus=bus)
        )
        self.recovery_codes = workflow(
            "MfaRecoveryCodes", functools.partial(recovery_codes_definition, steps=steps)
        )
        self.login = workflow("LoginMfa", functools.partial(login_mfa_definition, steps=steps))

    @property
    def workflows(self) -> dict[str, sfn.StateMachine]:
        return {
            "MfaEnrol": self.enrol,
            "MfaConfirm": self.confirm,
            "MfaDisable": self.disable,
            "MfaRecoveryCodes": self.recovery_codes,
            "LoginMfa": self.login,
        }

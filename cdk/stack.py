"""The stepauth stack: one table, the step Lambdas, the EXPRESS workflows and the REST API."""

from __future__ import annotations

import functools
from typing import Any

from aws_cdk import (
    Aws,
    CfnCondition,
    CfnOutput,
    CfnParameter,
    CustomResource,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .api import STAGE_NAME, StepAuthApi, WorkflowRoute
from .bundling import (
    AUTHORIZER_REQUIREMENTS,
    BUNDLE_METADATA_KEY,
    PASSWORD_STEP_REQUIREMENTS,
    STEP_REQUIREMENTS,
    TOKEN_STEP_REQUIREMENTS,
    bundle_metadata,
    python_code,
)
from .cleanup import add_stream_cleanup
from .config import StackConfig
from .events import LifecycleEvents
from .lifecycle_workflows import EmailVerification
from .mfa_workflows import STEP_UP_WORKFLOWS, MultiFactor, with_step_up
from .nag import acknowledge_findings
from .observability import Observability
from .resilience import TASK_RETRY, WORKFLOW_TIMEOUT_SECONDS, RetryPolicy, make_resilient
from .workflow_parts import refuse_oversized_body
from .workflows import (
    StepFunctions,
    delete_account_definition,
    disable_user_definition,
    end_session_definition,
    list_sessions_definition,
    login_definition,
    logout_definition,
    refresh_definition,
    register_definition,
)

TTL_ATTRIBUTE = "expires_at"


class StepAuthStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, stack_name=config.stack_name, **kwargs)
        self.config = config
        retention = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=f"{config.stack_name}-table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            removal_policy=retention,
        )
        self.table.add_global_secondary_index(
            index_name="gsi1",
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
        )

        # The private JWK set. CloudFormation cannot make an Ed25519 key: the secret starts as a
        # placeholder and the SigningKeysReady custom resource writes the set during the deploy.
        self.signing_keys = secretsmanager.Secret(
            self,
            "SigningKeys",
            secret_name=f"{config.stack_name}/signing-keys",
            description="stepauth private JWK set (Ed25519); public parts served as JWKS",
            removal_policy=retention,
        )

        # The HMAC key that derives each refresh token's successor (steps/core/refresh_key.py):
        # generated here, read by the refresh step only.
        self.refresh_token_key = secretsmanager.Secret(
            self,
            "RefreshTokenKey",
            secret_name=f"{config.stack_name}/refresh-token-key",
            description="stepauth refresh token derivation key (HMAC-SHA256)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=retention,
        )

        self.workflow_log_groups: dict[str, logs.LogGroup] = {}
        self.steps = self._step_functions()
        # The stream drives the clean-up of refresh tokens and the denylist (cdk/cleanup.py).
        self.cleanup_failures = add_stream_cleanup(
            self, table=self.table, function=self.stream_cleanup, config=config
        )
        # The lifecycle bus (cdk/events.py): the workflows publish to it.
        self.lifecycle_events = LifecycleEvents(
            self,
            "LifecycleEvents",
            stack_name=config.stack_name,
            retention=_retention(config.log_retention_days),
        )
        bus = self.lifecycle_events.bus
        # Multi-factor sign-in (cdk/mfa_workflows.py): the KMS key, the steps, the workflows.
        self.multi_factor = MultiFactor(
            self,
            "MultiFactor",
            config=config,
            table=self.table,
            bus=bus,
            function=self._function,
            workflow=self._workflow,
            issue_tokens=self.steps.issue_tokens,
            verify_password=self.steps.verify_password,
        )
        check_step_up = self.multi_factor.steps.check_step_up

        def workflow(name: str, definition: Any, **options: Any) -> sfn.StateMachine:
            """A workflow; one that changes credentials needs a recent second factor first."""
            if name in STEP_UP_WORKFLOWS:
                definition = with_step_up(definition, check_step_up, action=STEP_UP_WORKFLOWS[name])
            return self._workflow(name, definition, **options)

        self.workflows = {
            "Register": self._workflow(
                "Register",
                functools.partial(
                    register_definition,
                    uniform=config.uniform_registration,
                    bus=bus,
                    email_verification=config.email_verification,
                    mfa=config.mfa,
                ),
            ),
            "Login": self._workflow(
                "Login",
                functools.partial(
                    login_definition,
                    bus=bus,
                    email_verification=config.email_verification,
                    mfa=config.mfa,
                    start_mfa_challenge=self.multi_factor.steps.start_mfa_challenge,
                ),
            ),
            "Refresh": self._workflow("Refresh", functools.partial(refresh_definition, bus=bus)),
            "Logout": self._workflow("Logout", logout_definition),
            "DisableUser": self._workflow(
                "DisableUser", functools.partial(disable_user_definition, bus=bus)
            ),
            "DeleteAccount": workflow(
                "DeleteAccount", functools.partial(delete_account_definition, bus=bus)
            ),
            "ListSessions": self._workflow("ListSessions", list_sessions_definition),
            "EndSession": self._workflow("EndSession", end_session_definition),
        }
        # Email verification (cdk/lifecycle_workflows.py): a STANDARD workflow started by a rule.
        self.email_verification = EmailVerification(
            self,
            "EmailVerification",
            config=config,
            table=self.table,
            bus=bus,
            function=self._function,
            issue_tokens=self.steps.issue_tokens,
            hash_password=self.steps.hash_password,
            verify_password=self.steps.verify_password,
            workflow=workflow,
        )
        self.workflows["EmailVerification"] = self.email_verification.machine
        self.workflows["VerifyEmail"] = self.email_verification.verify
        self.workflows["ResendVerification"] = self.email_verification.resend
        self.workflows["PasswordRecovery"] = self.email_verification.recovery
        self.workflows["ForgotPassword"] = self.email_verification.forgot
        self.workflows["ResetPassword"] = self.email_verification.reset
        self.workflows["ChangePassword"] = self.email_verification.change_password
        self.workflows["EmailChange"] = self.email_verification.email_change
        self.workflows["ChangeEmail"] = self.email_verification.change_email
        self.workflows["ConfirmEmailChange"] = self.email_verification.confirm_email_change
        self.workflows.update(self.multi_factor.workflows)
        # The issuer URL: the IssuerUrl parameter when given (a custom domain; the local cloud
        # passes its gateway's URL), else the stage URL. Built from the RestApi's id and the
        # literal stage name, not from the Stage resource: the functions that sign tokens are
        # behind the API's methods, and a reference to the Stage would make a cycle.
        issuer_parameter = CfnParameter(
            self,
            "IssuerUrl",
            type="String",
            default=config.token_issuer,
            description="The token issuer URL (iss); empty: the REST API's stage URL",
        )
        issuer_given = CfnCondition(
            self,
            "IssuerUrlGiven",
            expression=Fn.condition_not(Fn.condition_equals(issuer_parameter.value_as_string, "")),
        )
        self.api = StepAuthApi(
            self,
            "Api",
            config=config,
            issuer=lambda rest_api: Fn.condition_if(
                issuer_given.logical_id,
                issuer_parameter.value_as_string,
                Fn.join(
                    "",
                    [
                        "https://",
                        rest_api.rest_api_id,
                        ".execute-api.",
                        Aws.REGION,
                        ".",
                        Aws.URL_SUFFIX,
                        f"/{STAGE_NAME}",
                    ],
                ),
            ).to_string(),
            routes=[
                WorkflowRoute("register", self.workflows["Register"]),
                WorkflowRoute("login", self.workflows["Login"]),
                WorkflowRoute("email/verify", self.workflows["VerifyEmail"]),
                WorkflowRoute("email/verify/resend", self.workflows["ResendVerification"]),
                WorkflowRoute("password/forgot", self.workflows["ForgotPassword"]),
                WorkflowRoute("password/reset", self.workflows["ResetPassword"]),
                WorkflowRoute("password", self.workflows["ChangePassword"], protected=True),
                WorkflowRoute("me/email", self.workflows["ChangeEmail"], protected=True),
                WorkflowRoute(
                    "me/email/verify", self.workflows["ConfirmEmailChange"], protected=True
                ),
                WorkflowRoute("token/refresh", self.workflows["Refresh"]),
                WorkflowRoute("login/mfa", self.workflows["LoginMfa"]),
                WorkflowRoute("mfa/totp", self.workflows["MfaEnrol"], protected=True),
                WorkflowRoute(
                    "mfa/totp", self.workflows["MfaDisable"], protected=True, method="DELETE"
                ),
                WorkflowRoute("mfa/totp/confirm", self.workflows["MfaConfirm"], protected=True),
                WorkflowRoute(
                    "mfa/recovery-codes", self.workflows["MfaRecoveryCodes"], protected=True
                ),
                WorkflowRoute("logout", self.workflows["Logout"], protected=True),
                WorkflowRoute(
                    "admin/users/{id}/disable",
                    self.workflows["DisableUser"],
                    protected=True,
                    path_parameter="id",
                ),
                WorkflowRoute(
                    "me", self.workflows["DeleteAccount"], protected=True, method="DELETE"
                ),
                WorkflowRoute(
                    "sessions", self.workflows["ListSessions"], protected=True, method="GET"
                ),
                WorkflowRoute(
                    "sessions/{id}",
                    self.workflows["EndSession"],
                    protected=True,
                    method="DELETE",
                    path_parameter="id",
                    target_field="sessionId",
                ),
            ],
            table=self.table,
            jwks_function=self.publish_jwks,
            authorizer_function=self.authorizer,
            log_retention=_retention(config.log_retention_days),
        )

        # Server-fault, throttling and 5xx alarms (cdk/observability.py).
        self.observability = Observability(
            self,
            "Observability",
            stack_name=config.stack_name,
            # The API's EXPRESS workflows (a throttle alarm sums at most 10 metrics); the
            # STANDARD EmailVerification fails only with a server fault, which its log shows.
            workflows={
                n: w
                for n, w in self.workflows.items()
                if n not in ("EmailVerification", "PasswordRecovery", "EmailChange")
            },
            workflow_log_groups=self.workflow_log_groups,
            api=self.api.rest_api,
        )

        self.issuer = self.api.issuer
        for function in self.node.find_all():
            if isinstance(function, lambda_.Function):
                function.add_environment("TOKEN_ISSUER", self.issuer)

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        # Exported: other stacks' JWT authorizers trust this issuer (cdk/protect.py).
        CfnOutput(self, "Issuer", value=self.issuer, export_name=f"{config.stack_name}-Issuer")
        CfnOutput(
            self,
            "DiscoveryUrl",
            value=f"{self.issuer}/.well-known/openid-configuration",
        )
        CfnOutput(self, "TokenSigningAlgorithm", value=config.token_signing_algorithm)
        # Other stacks protect their APIs with this function (cdk/protect.py).
        CfnOutput(
            self,
            "AuthorizerFunctionArn",
            value=self.authorizer.function_arn,
            export_name=f"{config.stack_name}-AuthorizerFunctionArn",
        )
        CfnOutput(self, "JwksUrl", value=f"{self.api.rest_api.url}.well-known/jwks.json")
        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "EventBusName", value=bus.event_bus_name)
        CfnOutput(self, "EmailSender", value=config.email_sender)
        CfnOutput(self, "EmailVerificationPolicy", value=config.email_verification)
        CfnOutput(self, "MfaPolicy", value=config.mfa)
        CfnOutput(self, "EventLogGroup", value=self.lifecycle_events.log_group.log_group_name)
        CfnOutput(self, "SigningKeysSecretArn", value=self.signing_keys.secret_arn)
        # `make test-api` reads it: how long a revoked access token may still be answered from
        # API Gateway's authorizer cache.
        CfnOutput(
            self,
            "AuthorizerCacheTtlSeconds",
            value=str(self.config.authorizer_cache_ttl_seconds),
        )
        CfnOutput(self, "CleanupFunctionName", value=self.stream_cleanup.function_name)
        CfnOutput(self, "CleanupFailureQueueUrl", value=self.cleanup_failures.queue_url)
        for name, workflow in self.workflows.items():
            CfnOutput(self, f"{name}StateMachineArn", value=workflow.state_machine_arn)
            # Express executions have no history API: their history is this log group.
            CfnOutput(
                self,
                f"{name}WorkflowLogGroup",
                value=self.workflow_log_groups[name].log_group_name,
            )

    def acknowledge_nag_findings(self) -> None:
        """cdk-nag findings accepted on purpose, each with its reason (see cdk/nag.py)."""
        acknowledge_findings(
            self,
            functions=[c for c in self.node.find_all() if isinstance(c, lambda_.Function)],
            table=self.table,
        )

    def _step_functions(self) -> StepFunctions:
        config = self.config
        code = python_code(("steps",), STEP_REQUIREMENTS, config.lambda_architecture)
        password_code = python_code(
            ("steps",), PASSWORD_STEP_REQUIREMENTS, config.lambda_architecture
        )
        token_code = python_code(("steps",), TOKEN_STEP_REQUIREMENTS, config.lambda_architecture)
        architecture = (
            lambda_.Architecture.ARM_64
            if config.lambda_architecture == "arm64"
            else lambda_.Architecture.X86_64
        )
        environment = {
            "TABLE_NAME": self.table.table_name,
            "SIGNING_KEYS_SECRET_ID": self.signing_keys.secret_arn,
            # TOKEN_ISSUER is added once the API exists (its URL is the issuer).
            "TOKEN_AUDIENCE": config.token_audience,
            "TOKEN_SIGNING_ALGORITHM": config.token_signing_algorithm,
            "TOKEN_CLIENTS": config.clients,
            "MFA_ENROLLMENT_AUDIENCE": config.mfa_enrollment_audience,
            "ACCESS_TOKEN_TTL_SECONDS": str(config.access_token_ttl_seconds),
            "REFRESH_TOKEN_TTL_SECONDS": str(config.refresh_token_ttl_seconds),
            "ARGON2_MEMORY_KIB": str(config.argon2_memory_kib),
            "ARGON2_TIME_COST": str(config.argon2_time_cost),
            "ARGON2_PARALLELISM": str(config.argon2_parallelism),
            "PASSWORD_MIN_LENGTH": str(config.password_min_length),
            "LOCKOUT_FREE_ATTEMPTS": str(config.lockout_free_attempts),
            "LOCKOUT_MAX_SECONDS": str(config.lockout_max_seconds),
            "LOCKOUT_RESET_SECONDS": str(config.lockout_reset_seconds),
            "REFRESH_REUSE_GRACE_SECONDS": str(config.refresh_reuse_grace_seconds),
            "AUDIT_RETENTION_DAYS": str(config.audit_retention_days),
            "MAX_BODY_BYTES": str(config.max_body_bytes),
            "POWERTOOLS_SERVICE_NAME": "stepauth",
            # email (steps/core/verification.py MailSettings)
            "EMAIL_SENDER": config.email_sender,
            "MAIL_SERVICE_NAME": config.mail_service_name,
            "LINK_BASE_URL": config.link_base_url,
            "VERIFICATION_CODE_TTL_SECONDS": str(config.verification_timeout_seconds),
            "RESET_CODE_TTL_SECONDS": str(config.reset_code_ttl_seconds),
            "VERIFICATION_MAX_RESENDS": str(config.verification_max_resends),
            "EMAIL_SENDS_PER_HOUR": str(config.email_sends_per_hour),
        }

        def function(
            name: str,
            module: str,
            memory: int = 256,
            asset: lambda_.Code = code,
            package: str = "steps",
            timeout_seconds: int = 10,
            extra_environment: dict[str, str] | None = None,
        ) -> lambda_.Function:
            log_group = logs.LogGroup(
                self,
                f"{name}Logs",
                log_group_name=f"/aws/lambda/{config.stack_name}-{name}",
                retention=_retention(config.log_retention_days),
                removal_policy=RemovalPolicy.DESTROY,
            )
            created = lambda_.Function(
                self,
                name,
                function_name=f"{config.stack_name}-{name}",
                runtime=lambda_.Runtime.PYTHON_3_12,
                architecture=architecture,
                handler=f"{package}.{module}.handler",
                code=asset,
                memory_size=memory,
                timeout=Duration.seconds(timeout_seconds),
                environment={**environment, **(extra_environment or {})},
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
            )
            # Which bundle this function runs from (tests/test_bundles.py imports each).
            cfn_function = created.node.default_child
            assert isinstance(cfn_function, lambda_.CfnFunction)
            cfn_function.add_metadata(BUNDLE_METADATA_KEY, bundle_metadata(asset))
            return created

        self._function = function
        # argon2id is CPU-bound; Lambda CPU grows with memory.
        steps = StepFunctions(
            validate_registration=function("ValidateRegistration", "validate_registration"),
            validate_login=function("ValidateLogin", "validate_login"),
            hash_password=function(
                "HashPassword", "hash_password", memory=1024, asset=password_code
            ),
            verify_password=function(
                "VerifyPassword", "verify_password", memory=1024, asset=password_code
            ),
            issue_tokens=function("IssueTokens", "issue_tokens", asset=token_code),
            validate_refresh=function("ValidateRefresh", "validate_refresh"),
            rotate_refresh_token=function(
                "RotateRefreshToken",
                "rotate_refresh_token",
                asset=token_code,
                extra_environment={
                    "REFRESH_TOKEN_KEY_SECRET_ID": self.refresh_token_key.secret_arn
                },
            ),
            validate_logout=function("ValidateLogout", "validate_logout"),
            end_sessions=function("EndSessions", "end_sessions"),
            disable_user=function("DisableUser", "disable_user"),
            delete_account=function("DeleteAccount", "delete_account"),
            list_sessions=function("ListSessions", "list_sessions"),
            end_session=function("EndSession", "end_session"),
        )
        # A batch of up to cleanup_batch_size records, each a query and a few writes.
        self.stream_cleanup = function("StreamCleanup", "stream_cleanup", timeout_seconds=60)
        self.publish_jwks = function("PublishJwks", "publish_jwks", asset=token_code)
        self.authorizer = function(
            "Authorizer",
            "handler",
            asset=python_code(
                ("authorizer", "steps"), AUTHORIZER_REQUIREMENTS, config.lambda_architecture
            ),
            package="authorizer",
        )
        # Least privilege: each function may do to the table only what its code does (the
        # local cloud enforces these policies; tests/test_iam.py and the test run's "IAM grants
        # no call exercised" summary keep the list exact). Transactions count as their parts.
        table_actions: list[tuple[lambda_.IFunction, tuple[str, ...]]] = [
            # the lockout and TOTP records read together (BatchGetItem), the lockout counters
            # (update, reset) and the user (a re-hashed password)
            (steps.verify_password, ("BatchGetItem", "UpdateItem", "DeleteItem")),
            # a new family: its item and its first token, in one transaction
            (steps.issue_tokens, ("PutItem",)),
            # the token, then its family and user together (BatchGetItem); the rotation
            # (Query: the account by its id, gsi1, after an email change moved it)
            (
                steps.rotate_refresh_token,
                ("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"),
            ),
            (steps.end_sessions, ("GetItem", "Query", "UpdateItem")),
            (steps.disable_user, ("Query", "UpdateItem")),
            # the caller's session and user (GetItem), else the user by id (gsi1)
            (steps.delete_account, ("GetItem", "Query", "UpdateItem", "DeleteItem")),
            (steps.end_session, ("UpdateItem",)),
            # the sessions (gsi1) and the caller's own, read consistently
            (steps.list_sessions, ("Query", "GetItem")),
            (self.publish_jwks, ("GetItem",)),
            # the public keys; the denylist and the "tokens valid after" marker, read together
            (self.authorizer, ("GetItem", "BatchGetItem")),
        ]
        for grantee, actions in table_actions:
            self.table.grant(grantee, *(f"dynamodb:{action}" for action in actions))
        # Only the token issuers (IssueTokens, RotateRefreshToken) read the private keys;
        # everyone else reads the public item. Only the refresh step reads the refresh key.
        for issuer in (steps.issue_tokens, steps.rotate_refresh_token):
            issuer.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self.signing_keys.secret_arn],
                )
            )
        steps.rotate_refresh_token.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.refresh_token_key.secret_arn],
            )
        )
        self._signing_keys_ready(function("InitSigningKeys", "init_signing_keys", asset=token_code))
        return steps

    def _signing_keys_ready(self, initialiser: lambda_.Function) -> None:
        """A custom resource that writes the first key set while the stack deploys, so that
        `cdk deploy` alone yields a stack that signs tokens (idempotent: a valid set stays)."""
        initialiser.add_to_role_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
                resources=[self.signing_keys.secret_arn],
            )
        )
        self.table.grant(initialiser, "dynamodb:GetItem", "dynamodb:PutItem")
        ready = CustomResource(
            self,
            "SigningKeysReady",
            service_token=initialiser.function_arn,
            resource_type="Custom::SigningKeys",
            properties={
                "SecretArn": self.signing_keys.secret_arn,
                "TableName": self.table.table_name,
                "Algorithm": self.config.token_signing_algorithm,
            },
        )
        # The function's role, its policy and its log group must exist before CloudFormation
        # invokes it (an invocation that wrote its logs first would make the log group clash).
        ready.node.add_dependency(initialiser)
        ready.node.add_dependency(initialiser.log_group)

    def _workflow(
        self,
        name: str,
        definition: Any,
        *,
        standard: bool = False,
        retry: RetryPolicy = TASK_RETRY,
    ) -> sfn.StateMachine:
        config = self.config
        log_group = self.workflow_log_groups[name] = logs.LogGroup(
            self,
            f"{name}WorkflowLogs",
            log_group_name=f"/aws/vendedlogs/states/{config.stack_name}-{name}",
            retention=_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        scope = Construct(self, f"{name}Workflow")
        machine = sfn.StateMachine(
            self,
            f"{name}StateMachine",
            state_machine_name=f"{config.stack_name}-{name}",
            # STANDARD: waits for a person (email verification); never holds a secret.
            state_machine_type=(
                sfn.StateMachineType.STANDARD if standard else sfn.StateMachineType.EXPRESS
            ),
            definition_body=sfn.DefinitionBody.from_chainable(
                make_resilient(
                    scope,
                    refuse_oversized_body(scope, definition(scope, self.table, self.steps)),
                    retry,
                )
            ),
            # EXPRESS: under API Gateway's 29 s, a request the gateway gave up on must not commit
            # later. STANDARD: waits for a person, up to the verification time-out.
            timeout=(
                Duration.seconds(config.verification_timeout_seconds + 3600)
                if standard
                else Duration.seconds(WORKFLOW_TIMEOUT_SECONDS)
            ),
            tracing_enabled=True,
            # The execution input carries the password: history must never hold data.
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        return machine


_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION_DAYS:
        raise ValueError(f"log_retention_days must be one of {sorted(_RETENTION_DAYS)}")
    return _RETENTION_DAYS[days]

"""The REST API: public flows as synchronous Step Functions executions, JWKS as a Lambda.

Mapping templates live in ``cdk/mapping_templates/`` as plain VTL; the local gateway renders the
synthesized copies of these same templates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from steps.core import user_agent
from steps.core.contract import errors as contract
from steps.core.contract.entities import GSI1_NAME, GSI1PK, GSI1SK, USER, KeyTemplate
from steps.core.contract.errors import ErrorSpec
from steps.core.table.layout import STATUS_ACTIVE

from .config import StackConfig
from .resilience import UNAVAILABLE_ERROR
from .workflow_parts import CLIENT_ERROR

TEMPLATES = Path(__file__).resolve().parent / "mapping_templates"
STAGE_NAME = "live"
#: How long clients and API Gateway may cache the JWKS and the discovery documents.
METADATA_CACHE_CONTROL = "public, max-age=300"

# Statuses a workflow can answer with (the response template overrides the integration's 200).
WORKFLOW_STATUSES = (
    "200",
    "201",
    "202",
    "204",
    "400",
    "401",
    "403",
    "404",
    "409",
    "413",
    "429",
    "500",
    "503",
)

# API Gateway's own errors, every default response type of the CDK ResponseType enum, in the
# contract's error shape instead of API Gateway's {"message": …}. A spec without a status keeps
# the status API Gateway chose (the two DEFAULT_* families).
_GATEWAY_ERRORS: dict[apigw.ResponseType, ErrorSpec] = {
    apigw.ResponseType.ACCESS_DENIED: contract.INSUFFICIENT_SCOPE,
    apigw.ResponseType.API_CONFIGURATION_ERROR: contract.SERVER_ERROR,
    apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR: contract.SERVER_ERROR,
    apigw.ResponseType.AUTHORIZER_FAILURE: contract.SERVER_ERROR,
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: contract.BAD_REQUEST_PARAMETERS,
    apigw.ResponseType.BAD_REQUEST_BODY: contract.BAD_REQUEST_BODY,
    apigw.ResponseType.EXPIRED_TOKEN: contract.SIGNATURE_EXPIRED,
    apigw.ResponseType.INVALID_SIGNATURE: contract.SIGNATURE_INVALID,
    apigw.ResponseType.INTEGRATION_FAILURE: contract.GATEWAY_TIMEOUT,
    apigw.ResponseType.INTEGRATION_TIMEOUT: contract.GATEWAY_TIMEOUT,
    apigw.ResponseType.INVALID_API_KEY: contract.API_KEY_INVALID,
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: contract.NO_SUCH_ROUTE,
    apigw.ResponseType.QUOTA_EXCEEDED: contract.SLOW_DOWN,
    apigw.ResponseType.REQUEST_TOO_LARGE: contract.BODY_TOO_LARGE,
    apigw.ResponseType.RESOURCE_NOT_FOUND: contract.NO_SUCH_ROUTE,
    apigw.ResponseType.THROTTLED: contract.SLOW_DOWN,
    apigw.ResponseType.UNAUTHORIZED: contract.INVALID_TOKEN,
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: contract.UNSUPPORTED_MEDIA_TYPE,
    apigw.ResponseType.WAF_FILTERED: contract.REQUEST_REFUSED,
    apigw.ResponseType.DEFAULT_4_XX: contract.REJECTED,
    apigw.ResponseType.DEFAULT_5_XX: contract.GATEWAY_SERVER_ERROR,
}

# Content types whose body is handed to a workflow. curl's default for -d is form-encoded;
# the validate steps still require the body itself to be a JSON object.
_ACCEPTED_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")


def template_constants() -> dict[str, str]:
    """What the VTL files' ``${NAME}`` placeholders stand for: the contract's keys and errors,
    so that no template restates a key layout or an error text."""
    return {
        "GSI1_NAME": GSI1_NAME,
        "GSI1PK": GSI1PK,
        "GSI1SK": GSI1SK,
        # The authorizer's principal, escaped into $userId by the template.
        "USER_ID_PARTITION": KeyTemplate(USER.gsi1pk or "").format({"user_id": "$userId"}),
        "USER_GSI1SK": USER.gsi1sk or "",
        "STATUS_ACTIVE": STATUS_ACTIVE,
        "CLIENT_ERROR": CLIENT_ERROR,
        "UNAVAILABLE_ERROR": UNAVAILABLE_ERROR,
        "TEMPORARILY_UNAVAILABLE": contract.TEMPORARILY_UNAVAILABLE.body_text(),
        "INVALID_TOKEN": contract.INVALID_TOKEN.body_text(),
        "INVALID_TOKEN_CODE": contract.INVALID_TOKEN.code,
        "SERVER_ERROR_CODE": contract.SERVER_ERROR.code,
        "SERVER_ERROR_DESCRIPTION": contract.SERVER_ERROR.describe(),
    }


def mapping_template(name: str) -> str:
    """A VTL file of ``cdk/mapping_templates/`` with the contract's constants filled in."""
    text = (TEMPLATES / name).read_text()
    for placeholder, value in template_constants().items():
        text = text.replace(f"${{{placeholder}}}", value)
    return text


_template = mapping_template


@dataclass(frozen=True)
class WorkflowRoute:
    """A route under /v1 answered by one EXPRESS workflow."""

    path: str
    workflow: sfn.StateMachine
    protected: bool = False
    method: str = "POST"
    path_parameter: str | None = None  # handed to the workflow as target.<target_field>
    target_field: str = "userId"


def _escaped_twice(variable: str, expression: str) -> str:
    """A ``#set`` of ``variable`` to ``expression`` escaped for the input and for the document
    (escapeJavaScript's \\' is not JSON, hence the replaceAll after each); "" when null."""
    once = f'$util.escapeJavaScript({expression}).replaceAll("\\\\\'", "\'")'
    twice = f'$util.escapeJavaScript({once}).replaceAll("\\\\\'", "\'")'
    return f'#set(${variable} = "")\n#if({expression})\n#set(${variable} = {twice})\n#end'


# The authorizer's context is built from a verified token, but it is still escaped: one rule
# for every interpolated value.
_CALLER_PRELUDE = "\n".join(
    _escaped_twice(name, f"$context.authorizer.{field}")
    for name, field in (
        ("callerUserId", "principalId"),
        ("callerJti", "jti"),
        ("callerExp", "exp"),
        ("callerAmr", "amr"),
        ("callerAuthTime", "authTime"),
        ("callerSid", "sid"),  # "" for a token without a session
    )
)
# Extra fields of the execution input, as they appear inside the escaped "input" string.
_CALLER_INPUT = (
    ',\\"caller\\":{\\"userId\\":\\"$callerUserId\\",'
    '\\"jti\\":\\"$callerJti\\",\\"exp\\":\\"$callerExp\\",'
    '\\"amr\\":\\"$callerAmr\\",\\"authTime\\":\\"$callerAuthTime\\",\\"sid\\":\\"$callerSid\\"}'
)


def base64_length(size: int) -> int:
    """Characters of the base64 text of ``size`` bytes."""
    return 4 * -(-size // 3)


def sync_execution_template(
    route: WorkflowRoute,
    *,
    audit_retention_days: int,
    max_body_bytes: int = StackConfig.max_body_bytes,
) -> str:
    preludes, extra = [], ""
    if route.protected:
        preludes.append(_CALLER_PRELUDE)
        extra += _CALLER_INPUT
    if route.path_parameter:
        preludes.append(_escaped_twice("target", f"$input.params('{route.path_parameter}')"))
        extra += f',\\"target\\":{{\\"{route.target_field}\\":\\"$target\\"}}'
    return (
        _template("start_sync_execution.vtl")
        .replace("${STATE_MACHINE_ARN}", route.workflow.state_machine_arn)
        .replace("${PRELUDE}", "\n".join(preludes))
        .replace("${EXTRA_INPUT}", extra)
        .replace("${AUDIT_RETENTION_SECONDS}", str(audit_retention_days * 86_400))
        .replace("${MAX_BODY_BASE64_CHARS}", str(base64_length(max_body_bytes)))
        .replace("${USER_AGENT_DROPPED}", user_agent.DROPPED.pattern)
        .replace("${SECRET_SHAPES}", user_agent.SECRET_VALUE)
        .replace("${USER_AGENT_MAX}", str(user_agent.USER_AGENT_MAX))
        .replace("${USER_AGENT_CUT_SHORT}", str(user_agent.USER_AGENT_MAX - 1))
    )


class StepAuthApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        routes: list[WorkflowRoute],
        table: dynamodb.ITable,
        jwks_function: lambda_.IFunction,
        authorizer_function: lambda_.IFunction,
        log_retention: logs.RetentionDays,
        issuer: Callable[[apigw.RestApi], str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{config.stack_name}-api",
            description="stepauth: registration, login, sessions and tokens",
            # Every body is binary to API Gateway: the workflows receive the client's exact
            # bytes (base64) and refuse invalid UTF-8, instead of a decoded text in which
            # different invalid bytes have become the same replacement character.
            binary_media_types=["*/*"],
            # API Gateway writes its logs through one role per account and region.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
                # One line per request: who, what, status, latency. Never a body: execution
                # logs are at ERROR level and data tracing stays off (bodies carry passwords).
                access_log_destination=apigw.LogGroupLogDestination(
                    logs.LogGroup(
                        self,
                        "AccessLogs",
                        log_group_name=f"/aws/apigateway/{config.stack_name}-access",
                        retention=log_retention,
                        removal_policy=RemovalPolicy.DESTROY,
                    )
                ),
                # The request id stepauth answers and names executions after is the extended
                # one; the client can choose requestId, logged only as what the client sent.
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(
                        {
                            "requestId": apigw.AccessLogField.context_extended_request_id(),
                            "clientRequestId": apigw.AccessLogField.context_request_id(),
                            "ip": apigw.AccessLogField.context_identity_source_ip(),
                            "requestTime": apigw.AccessLogField.context_request_time(),
                            "httpMethod": apigw.AccessLogField.context_http_method(),
                            "resourcePath": apigw.AccessLogField.context_resource_path(),
                            "status": apigw.AccessLogField.context_status(),
                            "protocol": apigw.AccessLogField.context_protocol(),
                            "responseLength": apigw.AccessLogField.context_response_length(),
                        }
                    )
                ),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
            ),
        )
        for response_type, spec in _GATEWAY_ERRORS.items():
            status = None if spec.status is None else str(spec.status)
            headers = (
                {"WWW-Authenticate": f"'Bearer error=\"{spec.code}\"'"} if status == "401" else None
            )
            self.rest_api.add_gateway_response(
                f"GatewayResponse{response_type.response_type}",
                type=response_type,
                status_code=status,
                response_headers=headers,
                templates={"application/json": spec.body_text()},
            )
        # API Gateway caches the authorizer's answer per token for this long: it is the bound
        # on how late a revoked access token is still accepted (see README).
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "AccessTokenAuthorizer",
            authorizer_name=f"{config.stack_name}-access-token",
            handler=authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(config.authorizer_cache_ttl_seconds),
        )
        integration_role = iam.Role(
            self,
            "IntegrationRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets the REST API start the stepauth workflows and read profiles",
        )
        v1 = self.rest_api.root.add_resource("v1")
        for route in routes:
            route.workflow.grant_start_sync_execution(integration_role)
            v1.resource_for_path(route.path).add_method(
                route.method,
                self._sync_execution(route, integration_role, config),
                method_responses=[apigw.MethodResponse(status_code=s) for s in WORKFLOW_STATUSES],
                **self._auth(route.protected),
            )
        # GET /v1/me is one Query on the user-id index; nothing else.
        table.grant(integration_role, "dynamodb:Query")
        v1.resource_for_path("me").add_method(
            "GET",
            apigw.AwsIntegration(
                service="dynamodb",
                action="Query",
                options=apigw.IntegrationOptions(
                    credentials_role=integration_role,
                    passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_TEMPLATES,
                    request_templates={
                        "application/json": _template("me.vtl").replace(
                            "${TABLE_NAME}", table.table_name
                        )
                    },
                    integration_responses=[
                        apigw.IntegrationResponse(
                            status_code="200",
                            response_templates={"application/json": _template("me_result.vtl")},
                        ),
                        _REFUSED_BY_SERVICE,
                    ],
                ),
            ),
            method_responses=[
                apigw.MethodResponse(status_code=s) for s in ("200", "401", "500", "503")
            ],
            **self._auth(True),
        )
        self.issuer = issuer(self.rest_api)
        well_known = self.rest_api.root.add_resource(".well-known")
        well_known.add_resource("jwks.json").add_method(
            "GET", apigw.LambdaIntegration(jwks_function, proxy=True)
        )
        # The issuer metadata is static once deployed: a mock integration answers it with no
        # function behind it (the issuer URL is resolved by CloudFormation into the template).
        document = issuer_metadata(self.issuer, config)
        for name in ("openid-configuration", "oauth-authorization-server"):
            well_known.add_resource(name).add_method(
                "GET",
                apigw.MockIntegration(
                    passthrough_behavior=apigw.PassthroughBehavior.WHEN_NO_TEMPLATES,
                    request_templates={"application/json": '{"statusCode": 200}'},
                    integration_responses=[
                        apigw.IntegrationResponse(
                            status_code="200",
                            response_parameters={
                                "method.response.header.Cache-Control": (
                                    f"'{METADATA_CACHE_CONTROL}'"
                                )
                            },
                            response_templates={"application/json": document},
                        )
                    ],
                ),
                method_responses=[
                    apigw.MethodResponse(
                        status_code="200",
                        response_parameters={"method.response.header.Cache-Control": True},
                    )
                ],
            )

    def _auth(self, protected: bool) -> dict[str, object]:
        if not protected:
            return {}
        return {
            "authorizer": self.authorizer,
            "authorization_type": apigw.AuthorizationType.CUSTOM,
        }

    @staticmethod
    def _sync_execution(
        route: WorkflowRoute, role: iam.IRole, config: StackConfig
    ) -> apigw.AwsIntegration:
        request = sync_execution_template(
            route,
            audit_retention_days=config.audit_retention_days,
            max_body_bytes=config.max_body_bytes,
        )
        return apigw.AwsIntegration(
            service="states",
            action="StartSyncExecution",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                # With binaryMediaTypes */*, the body reaches the template as the base64 of
                # its exact bytes (API Gateway, "Content type conversions").
                content_handling=apigw.ContentHandling.CONVERT_TO_TEXT,
                request_templates={ct: request for ct in _ACCEPTED_CONTENT_TYPES},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_templates={"application/json": _template("execution_result.vtl")},
                    ),
                    _REFUSED_BY_SERVICE,
                ],
            ),
        )


def issuer_metadata(issuer: str, config: StackConfig) -> str:
    """The authorization server metadata (RFC 8414 §2; OIDC Discovery 1.0 §3) as JSON text.

    stepauth is a token issuer without OAuth's authorization or token endpoints (its routes take
    JSON, not RFC 6749 form requests), so it lists no response or grant types and hence needs no
    ``authorization_endpoint``/``token_endpoint``; its own routes are listed under
    ``stepauth_endpoints``. ``jwks_uri`` and the signing algorithm are what API Gateway's JWT
    authorizers and JOSE libraries read. ``issuer`` may be a CloudFormation token: the text is
    joined by CloudFormation.
    """
    from steps.core.config import parse_clients

    clients = parse_clients(config.clients, default_audience=config.token_audience)
    scopes = sorted({scope for client in clients for scope in client.scopes})
    marker = "__ISSUER__"
    document = {
        "issuer": marker,
        "jwks_uri": f"{marker}/.well-known/jwks.json",
        "response_types_supported": [],
        "grant_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [config.token_signing_algorithm],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": scopes,
        "claims_supported": [
            "iss",
            "aud",
            "sub",
            "client_id",
            "scope",
            "iat",
            "exp",
            "jti",
            "roles",
            "sid",
            "email_verified",
        ],
        "stepauth_endpoints": {
            "register": f"{marker}/v1/register",
            "login": f"{marker}/v1/login",
            "refresh": f"{marker}/v1/token/refresh",
            "logout": f"{marker}/v1/logout",
            "userinfo": f"{marker}/v1/me",
        },
    }
    text = json.dumps(document, indent=2)
    parts = text.split(marker)
    joined: list[str] = []
    for index, part in enumerate(parts):
        if index:
            joined.append(issuer)
        joined.append(part)
    return Fn.join("", joined)


# The AWS service refused the call itself (throttled, misconfigured): nothing the client did.
_REFUSED_BY_SERVICE = apigw.IntegrationResponse(
    selection_pattern="[45]\\d{2}",
    status_code="500",
    response_templates={"application/json": contract.SERVER_ERROR.body_text()},
)

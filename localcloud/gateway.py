"""A local REST API gateway that serves the routes of the synthesized template.

It reads ``AWS::ApiGateway::Resource``/``Method``/``GatewayResponse`` from the deployed stack and
behaves like API Gateway v1 for the integrations stepauth uses:

* ``AWS`` integrations with Step Functions (``StartSyncExecution``): the method's real request
  template is rendered, the action is called on the local cloud, and the integration response is
  chosen by selection pattern and rendered with its real response template.
* ``AWS`` integrations with other service actions (DynamoDB ``Query`` for ``/v1/me``): the same,
  calling the named action.
* ``AWS_PROXY`` Lambda integrations: the proxy event is built and the function invoked.
* ``TOKEN`` Lambda authorizers: the function is invoked with the token and the method ARN, its
  policy is evaluated (an explicit Deny wins; no Allow is a Deny) and cached per token for the
  authorizer's ``AuthorizerResultTtlInSeconds``; its context becomes ``$context.authorizer``.

Errors the gateway itself produces (unknown route, unsupported media type, body too large, a
failed integration) use the template's gateway responses, as on AWS.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from steps.core.contract import errors
from steps.core.contract.errors import ErrorSpec

from . import iam, inprocess
from .deploy import DeployedStack
from .jwt_authorizer import JwtAuthorizer, JwtAuthorizerConfig
from .mapping_templates import (
    MappingTemplateError,
    RequestData,
    render_request_template,
    render_response_template,
)

LOG = logging.getLogger("stepauth.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's hard limit
# Every gateway response type and API Gateway's default status for it.
DEFAULT_GATEWAY_RESPONSES = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403,
    "INVALID_SIGNATURE": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
}


def extended_request_id() -> str:
    """A new id shaped like API Gateway's extended request ids (base64 text, e.g.
    ``Fx0mVHcBoAMFR7Q=``), from the URL-safe alphabet so that it is its execution's name as it
    is (the request template maps '/' and '+', should AWS's ids hold them). Never starting
    with '-', which a command line (``stepauth executions show ID``) would read as an option."""
    while True:
        found = base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")
        if not found.startswith("-"):
            return found


def media_type(content_type: str | None) -> str:
    """``application/json`` from ``Application/JSON; charset=utf-8``; API Gateway's default
    when there is no Content-Type."""
    found = (content_type or "").split(";")[0].strip().lower()
    return found or "application/json"


def is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    """Whether API Gateway treats a body of this Content-Type as binary (wildcards allowed;
    CloudFormation may spell '/' as '~1')."""
    kind = media_type(content_type)
    return any(_glob(pattern.replace("~1", "/").lower(), kind) for pattern in binary_media_types)


# API Gateway's own name for a service in integration URIs → botocore's.
_SERVICE_NAMES = {"states": "stepfunctions"}


@dataclass(frozen=True)
class Authorizer:
    """A TOKEN or REQUEST Lambda authorizer of the template."""

    logical_id: str
    function_arn: str
    header: str  # from IdentitySource method.request.header.<Name>
    ttl_seconds: int
    type: str = "TOKEN"
    #: REQUEST: every identity source (``method.request.header.X``, ``stageVariables.Y`` …).
    identity_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    method: str
    resource_path: str  # e.g. /v1/admin/users/{id}/disable
    pattern: re.Pattern[str]
    integration: dict[str, Any]  # resolved against the deployed stack
    authorizer: Authorizer | None = None
    jwt_authorizer: JwtAuthorizerConfig | None = None
    scopes: tuple[str, ...] = ()  # AuthorizationScopes (JWT authorizers)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method and self.method != "ANY":
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass
class GatewayResult:
    status: int
    body: bytes
    headers: dict[str, str]


def _path_pattern(resource_path: str) -> re.Pattern[str]:
    regex = ""
    for part in resource_path.strip("/").split("/"):
        if part.startswith("{") and part.endswith("+}"):
            regex += f"/(?P<{part[1:-2]}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            regex += f"/(?P<{part[1:-1]}>[^/]+)"
        elif part:
            regex += "/" + re.escape(part)
    return re.compile(regex or "/")


def routes_from_stack(stack: DeployedStack) -> list[Route]:
    """Every method of the stack's REST API, with its resource path and resolved integration."""
    resources = stack.resources_of_type("AWS::ApiGateway::Resource")

    def path_of(reference: Any) -> str:
        if isinstance(reference, dict) and "Ref" in reference:
            resource = resources[reference["Ref"]]["Properties"]
            return path_of(resource["ParentId"]).rstrip("/") + "/" + resource["PathPart"]
        return "/"  # Fn::GetAtt [RestApi, RootResourceId]

    authorizers = authorizers_from_stack(stack)
    jwt_authorizers = jwt_authorizers_from_stack(stack)
    routes = []
    for method in stack.resources_of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        resource_path = path_of(properties["ResourceId"])
        authorizer = jwt_authorizer = None
        if properties.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers[properties["AuthorizerId"]["Ref"]]
        if properties.get("AuthorizationType") == "JWT":
            jwt_authorizer = jwt_authorizers[properties["AuthorizerId"]["Ref"]]
        routes.append(
            Route(
                method=properties["HttpMethod"],
                resource_path=resource_path,
                pattern=_path_pattern(resource_path),
                integration=stack.resolve(properties.get("Integration", {})),
                authorizer=authorizer,
                jwt_authorizer=jwt_authorizer,
                scopes=tuple(properties.get("AuthorizationScopes") or ()),
            )
        )
    # Literal segments win over path parameters, as in API Gateway.
    routes.sort(key=lambda r: (r.resource_path.count("{"), -len(r.resource_path)))
    return routes


def authorizers_from_stack(stack: DeployedStack) -> dict[str, Authorizer]:
    found = {}
    for logical_id, resource in stack.resources_of_type("AWS::ApiGateway::Authorizer").items():
        properties = stack.resolve(resource["Properties"])
        kind = properties.get("Type")
        if kind == "JWT":
            continue  # see jwt_authorizers_from_stack
        if kind not in ("TOKEN", "REQUEST"):
            raise ValueError(f"authorizer {logical_id}: {kind} authorizers are not served locally")
        uri = str(properties["AuthorizerUri"])
        sources = tuple(
            s.strip() for s in str(properties.get("IdentitySource", "")).split(",") if s.strip()
        )
        found[logical_id] = Authorizer(
            logical_id=logical_id,
            function_arn=_function_arn(uri),
            header=sources[0].rsplit(".", 1)[-1] if sources else "Authorization",
            # CloudFormation's default when the property is absent.
            ttl_seconds=int(properties.get("AuthorizerResultTtlInSeconds", 300)),
            type=str(kind),
            identity_sources=sources,
        )
    return found


def jwt_authorizers_from_stack(stack: DeployedStack) -> dict[str, JwtAuthorizerConfig]:
    return {
        logical_id: JwtAuthorizerConfig.from_properties(
            logical_id, stack.resolve(resource["Properties"])
        )
        for logical_id, resource in stack.resources_of_type("AWS::ApiGateway::Authorizer").items()
        if resource["Properties"].get("Type") == "JWT"
    }


def stage_variables_from_stack(stack: DeployedStack) -> dict[str, str]:
    """The variables of the stack's (first) REST API stage."""
    for resource in stack.resources_of_type("AWS::ApiGateway::Stage").values():
        variables = stack.resolve(resource["Properties"].get("Variables") or {})
        return {str(k): str(v) for k, v in variables.items()}
    return {}


def _function_arn(uri: str) -> str:
    found = re.search(r"functions/(arn:[^/]+)/invocations", uri)
    if not found:
        raise ValueError(f"not a Lambda invocation URI: {uri}")
    return found.group(1)


def policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke: an explicit Deny wins, then any Allow."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(_glob(a, "execute-api:Invoke") for a in actions):
            continue
        if not any(_glob(r, method_arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _glob(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE if ":" not in value else 0) is not None


@dataclass
class _CachedPolicy:
    principal_id: str
    policy: dict[str, Any]
    context: dict[str, Any]
    expires: float


@dataclass
class AuthorizerCache:
    """Authorizer answers per (authorizer, token), kept for the authorizer's TTL."""

    entries: dict[tuple[str, str], _CachedPolicy] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str], now: float) -> _CachedPolicy | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry and entry.expires > now:
                return entry
            self.entries.pop(key, None)
            return None

    def put(self, key: tuple[str, str], entry: _CachedPolicy) -> None:
        with self.lock:
            self.entries[key] = entry


def gateway_responses_from_stack(stack: DeployedStack) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["ResponseType"]: stack.resolve(resource["Properties"])
        for resource in stack.resources_of_type("AWS::ApiGateway::GatewayResponse").values()
    }


class LocalGateway:
    """Answers HTTP requests for one deployed stack; transport-free so tests can call it."""

    def __init__(
        self,
        stack: DeployedStack,
        session: Any,
        stage: str = "live",
        clock: Any = time.time,
    ) -> None:
        self.stack = stack
        self.stage = stage
        self.routes = routes_from_stack(stack)
        self.gateway_responses = gateway_responses_from_stack(stack)
        self.binary_media_types = [
            str(t)
            for resource in stack.resources_of_type("AWS::ApiGateway::RestApi").values()
            for t in resource["Properties"].get("BinaryMediaTypes") or []
        ]
        # The deployed stack does not change under a gateway: its API id is read once.
        rest_api = next(iter(stack.resources_of_type("AWS::ApiGateway::RestApi")), "")
        self._api_id = stack.physical_ids.get(rest_api, "local")
        self.authorizer_cache = AuthorizerCache()
        self.stage_variables = stage_variables_from_stack(stack)
        self._clock = clock
        self.jwt_authorizers = {
            logical_id: JwtAuthorizer(config, clock=clock)
            for logical_id, config in jwt_authorizers_from_stack(stack).items()
        }
        self._session = session
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._lambda = self._client("lambda")

    def _client(self, service: str) -> Any:
        service = _SERVICE_NAMES.get(service, service)
        with self._clients_lock:
            if service not in self._clients:
                # Step Functions' sync API lives on the sync-states. host on AWS; the local
                # endpoint has one host, so botocore must not prefix it.
                config = Config(inject_host_prefix=False, retries={"max_attempts": 0})
                self._clients[service] = self._session.client(service, config=config)
            return self._clients[service]

    # -- entry point --------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> GatewayResult:
        path, _, query_string = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        # As on API Gateway, a client may choose $context.requestId with an x-amzn-RequestId
        # header (taken here as sent, whatever it holds: the worst case); the extended id is
        # always the gateway's own, and it is the id the gateway answers and logs.
        extended_id = extended_request_id()
        context = {
            "requestId": lowered.get("x-amzn-requestid") or extended_id,
            "extendedRequestId": extended_id,
            "httpMethod": method,
            "path": f"/{self.stage}{path}",
            "stage": self.stage,
            "protocol": "HTTP/1.1",
            "accountId": self.stack.account_id,
            "apiId": self._api_id,
            "domainName": lowered.get("host", "localhost"),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": lowered.get("user-agent")},
        }
        result = self._dispatch(method, path, query_string, headers, body, context)
        result.headers.setdefault("Content-Type", "application/json")
        result.headers["x-amzn-RequestId"] = extended_id
        result.headers["x-amz-apigw-id"] = extended_id
        LOG.info("%s %s -> %s (request id %s)", method, path, result.status, extended_id)
        return result

    def _dispatch(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        context: dict[str, Any],
    ) -> GatewayResult:
        if len(body) > MAX_PAYLOAD_BYTES:
            return self.gateway_error("REQUEST_TOO_LARGE", context)
        for route in self.routes:
            params = route.match(method, path)
            if params is None:
                continue
            context["resourcePath"] = route.resource_path
            if route.jwt_authorizer is not None:
                denied = self._authorize_jwt(route, headers, context)
                if denied is not None:
                    return denied
            if route.authorizer is not None:
                denied = self._authorize(route, method, path, headers, context, params)
                if denied is not None:
                    return denied
            text = self._integration_payload(route, headers, body)
            request = RequestData(
                body=text,
                headers=_CaseInsensitive(headers),
                query=_query_params(query_string),
                path_params=params,
                stage_variables=dict(self.stage_variables),
                context=context,
            )
            integration_type = route.integration.get("Type")
            if integration_type == "AWS":
                return self._aws_integration(route, request)
            if integration_type == "AWS_PROXY":
                return self._lambda_proxy(route, request, method, path)
            if integration_type == "MOCK":
                return self._mock_integration(route, request)
            LOG.error("unsupported integration type %s on %s", integration_type, path)
            return self.gateway_error("DEFAULT_5XX", context)
        return self.gateway_error("MISSING_AUTHENTICATION_TOKEN", context)

    def _integration_payload(self, route: Route, headers: dict[str, str], body: bytes) -> str:
        """``$input.body`` as API Gateway builds it ("Content type conversions"): a body whose
        Content-Type is a binary media type reaches a CONVERT_TO_TEXT integration as base64 of
        its exact bytes; any other body is decoded as UTF-8, with replacement characters."""
        if self._body_is_binary(route, headers):
            return base64.b64encode(body).decode("ascii")
        return body.decode("utf-8", errors="replace")

    def _body_is_binary(self, route: Route, headers: dict[str, str]) -> bool:
        """Whether the integration receives the body as base64: a proxy integration whenever
        the Content-Type is a binary media type (isBase64Encoded), another one only when its
        contentHandling is CONVERT_TO_TEXT."""
        if not is_binary(_CaseInsensitive(headers).get("Content-Type"), self.binary_media_types):
            return False
        integration = route.integration
        return (
            integration.get("Type") == "AWS_PROXY"
            or integration.get("ContentHandling") == "CONVERT_TO_TEXT"
        )

    # -- Lambda authorizer -------------------------------------------------------------------

    def method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{self.stack.region}:{self.stack.account_id}:{self._api_id}/"
            f"{self.stage}/{method}/{path.lstrip('/')}"
        )

    def _authorize_jwt(
        self, route: Route, headers: dict[str, str], context: dict[str, Any]
    ) -> GatewayResult | None:
        """The native JWT authorizer (localcloud/jwt_authorizer.py); None when allowed."""
        config = route.jwt_authorizer
        assert config is not None
        decision = self.jwt_authorizers[config.logical_id].decide(
            _CaseInsensitive(headers).get(config.header), route.scopes
        )
        if decision.status is None:
            context["authorizer"] = {
                "claims": decision.claims,
                "principalId": str(decision.claims.get("sub", "")),
            }
            return None
        response_type = "ACCESS_DENIED" if decision.status == 403 else "UNAUTHORIZED"
        result = self.gateway_error(response_type, context)
        error = (errors.INSUFFICIENT_SCOPE if decision.status == 403 else errors.INVALID_TOKEN).code
        result.headers.setdefault(
            "WWW-Authenticate",
            f'Bearer error="{error}" error_description="{decision.reason}"',
        )
        return result

    def _identity(
        self,
        authorizer: Authorizer,
        headers: dict[str, str],
        query_string: dict[str, str],
    ) -> tuple[str, ...] | None:
        """The values of a REQUEST authorizer's identity sources; None when one is missing."""
        values = []
        for source in authorizer.identity_sources:
            if source.startswith("method.request.header."):
                value = _CaseInsensitive(headers).get(source.removeprefix("method.request.header."))
            elif source.startswith("method.request.querystring."):
                value = query_string.get(source.removeprefix("method.request.querystring."))
            elif source.startswith("stageVariables."):
                value = self.stage_variables.get(source.removeprefix("stageVariables."))
            else:
                value = None
            if not value:
                return None
            values.append(str(value))
        return tuple(values)

    def _authorize(
        self,
        route: Route,
        method: str,
        path: str,
        headers: dict[str, str],
        context: dict[str, Any],
        path_params: dict[str, str] | None = None,
    ) -> GatewayResult | None:
        """Runs the route's authorizer; None when the request may go on."""
        authorizer = route.authorizer
        assert authorizer is not None
        method_arn = self.method_arn(method, path)
        event: dict[str, Any]
        if authorizer.type == "REQUEST":
            identity = self._identity(authorizer, headers, {})
            if identity is None:
                return self.gateway_error("UNAUTHORIZED", context)
            cache_token = "\n".join(identity)
            event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                "resource": route.resource_path,
                "path": path,
                "httpMethod": method,
                "headers": dict(headers),
                "queryStringParameters": {},
                "pathParameters": dict(path_params or {}),
                "stageVariables": dict(self.stage_variables),
                "requestContext": {k: v for k, v in context.items() if k != "authorizer"},
            }
        else:
            token = _CaseInsensitive(headers).get(authorizer.header)
            if not token:
                return self.gateway_error("UNAUTHORIZED", context)
            cache_token = token
            event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
        key = (authorizer.logical_id, cache_token)
        now = self._clock()
        entry = self.authorizer_cache.get(key, now) if authorizer.ttl_seconds > 0 else None
        if entry is None:
            try:
                answer = self._lambda.invoke(
                    FunctionName=authorizer.function_arn, Payload=json.dumps(event).encode()
                )
                payload = json.loads(answer["Payload"].read() or b"null")
            except (ClientError, ValueError):
                LOG.exception("authorizer invocation failed")
                return self.gateway_error("AUTHORIZER_FAILURE", context)
            if answer.get("FunctionError"):
                if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
                    return self.gateway_error("UNAUTHORIZED", context)
                LOG.error("authorizer failed: %s", (payload or {}).get("errorType"))
                return self.gateway_error("AUTHORIZER_FAILURE", context)
            if not isinstance(payload, dict) or "policyDocument" not in payload:
                return self.gateway_error("AUTHORIZER_FAILURE", context)
            entry = _CachedPolicy(
                principal_id=str(payload.get("principalId", "")),
                policy=payload["policyDocument"],
                context=dict(payload.get("context") or {}),
                expires=now + authorizer.ttl_seconds,
            )
            if authorizer.ttl_seconds > 0:
                self.authorizer_cache.put(key, entry)
        if not policy_allows(entry.policy, method_arn):
            return self.gateway_error("ACCESS_DENIED", context)
        context["authorizer"] = {**entry.context, "principalId": entry.principal_id}
        return None

    # -- gateway responses --------------------------------------------------------------------

    def gateway_error(self, response_type: str, context: dict[str, Any]) -> GatewayResult:
        family = "DEFAULT_5XX" if DEFAULT_GATEWAY_RESPONSES[response_type] >= 500 else "DEFAULT_4XX"
        configured = self.gateway_responses.get(response_type) or self.gateway_responses.get(
            family, {}
        )
        status = int(configured.get("StatusCode") or DEFAULT_GATEWAY_RESPONSES[response_type])
        template = (configured.get("ResponseTemplates") or {}).get("application/json")
        if template is None:
            body = json.dumps({"message": response_type.replace("_", " ").capitalize()})
        else:
            request = RequestData("", {}, {}, {}, {}, {**context, "error": {}})
            try:
                body = render_response_template(template, "{}", request).body
            except MappingTemplateError:
                body = template
        headers = {"x-amzn-ErrorType": response_type}
        for name, value in (configured.get("ResponseParameters") or {}).items():
            if name.startswith("gatewayresponse.header."):
                # Static values are quoted in single quotes, as in the template.
                headers[name.removeprefix("gatewayresponse.header.")] = str(value).strip("'")
        return GatewayResult(status, body.encode(), headers)

    # -- AWS service integration (Step Functions) ---------------------------------------------

    def _aws_integration(self, route: Route, request: RequestData) -> GatewayResult:
        integration = route.integration
        uri = str(integration.get("Uri", ""))
        action = re.search(r":apigateway:[^:]*:([a-z0-9-]+):action/(\w+)$", uri)
        if not action:
            LOG.error("unsupported AWS integration %s", uri)
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        service, operation = action.groups()
        templates = integration.get("RequestTemplates") or {}
        content_type = request.headers.get("Content-Type") or "application/json"
        content_type = content_type.split(";")[0].strip().lower()
        template = templates.get(content_type)
        if template is None:
            if integration.get("PassthroughBehavior") == "NEVER" or templates:
                return self.gateway_error("UNSUPPORTED_MEDIA_TYPE", dict(request.context))
            template = "$input.body"
        try:
            rendered = render_request_template(template, request)
            parameters = json.loads(rendered)
        except (MappingTemplateError, ValueError):
            LOG.exception("request mapping template failed on %s", route.resource_path)
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        try:
            client = self._client(service)
            # The integration calls the service as its credentials role (localcloud/iam.py).
            with iam.acting_as(integration.get("Credentials")):
                if operation == "StartSyncExecution" and inprocess.serves_client(client):
                    answer = inprocess.start_sync_execution(client, parameters)
                else:
                    answer = getattr(client, xform_name(operation))(**parameters)
            status = 200
            integration_body = json.dumps(
                {k: v for k, v in answer.items() if k != "ResponseMetadata"}, default=str
            )
        except ClientError as error:
            status = int(error.response["ResponseMetadata"].get("HTTPStatusCode", 500))
            integration_body = json.dumps(
                {
                    "__type": error.response["Error"].get("Code"),
                    "message": error.response["Error"].get("Message"),
                }
            )
            LOG.warning("%s refused: %s", operation, error.response["Error"].get("Code"))
        return self._integration_response(integration, status, integration_body, request)

    def _mock_integration(self, route: Route, request: RequestData) -> GatewayResult:
        """MOCK: the request template's ``statusCode`` selects the integration response."""
        integration = route.integration
        template = (integration.get("RequestTemplates") or {}).get("application/json")
        try:
            rendered = render_request_template(template or '{"statusCode": 200}', request)
            status = int(json.loads(rendered).get("statusCode", 200))
        except (MappingTemplateError, ValueError, TypeError, AttributeError):
            LOG.exception("mock request template failed on %s", route.resource_path)
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        return self._integration_response(integration, status, "", request)

    def _integration_response(
        self, integration: dict[str, Any], status: int, body: str, request: RequestData
    ) -> GatewayResult:
        responses = integration.get("IntegrationResponses") or []
        chosen = None
        for response in responses:
            pattern = response.get("SelectionPattern")
            if pattern and re.fullmatch(pattern, str(status)):
                chosen = response
                break
        if chosen is None:
            chosen = next((r for r in responses if not r.get("SelectionPattern")), None)
        if chosen is None:
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        # Static header values ('quoted'), as in the template's ResponseParameters.
        static_headers = {
            name.removeprefix("method.response.header."): str(value)[1:-1]
            for name, value in (chosen.get("ResponseParameters") or {}).items()
            if name.startswith("method.response.header.")
            and str(value).startswith("'")
            and str(value).endswith("'")
        }
        template = (chosen.get("ResponseTemplates") or {}).get("application/json")
        if template is None:
            return GatewayResult(int(chosen["StatusCode"]), body.encode(), static_headers)
        try:
            rendered = render_response_template(template, body, request)
        except MappingTemplateError:
            LOG.exception("response mapping template failed")
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        status_code = rendered.status_override or int(chosen["StatusCode"])
        headers = {**static_headers, **rendered.header_overrides}
        return GatewayResult(status_code, rendered.body.encode(), headers)

    # -- Lambda proxy integration -------------------------------------------------------------

    def _lambda_proxy(
        self, route: Route, request: RequestData, method: str, path: str
    ) -> GatewayResult:
        try:
            function_arn = _function_arn(str(route.integration.get("Uri", "")))
        except ValueError:
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        event = {
            "resource": route.resource_path,
            "path": path,
            "httpMethod": method,
            "headers": dict(request.headers.items()),
            "multiValueHeaders": {k: [v] for k, v in request.headers.items()},
            "queryStringParameters": dict(request.query) or None,
            "pathParameters": dict(request.path_params) or None,
            "stageVariables": None,
            "requestContext": dict(request.context),
            "body": request.body or None,
            "isBase64Encoded": bool(request.body)
            and self._body_is_binary(route, dict(request.headers.items())),
        }
        try:
            answer = self._lambda.invoke(
                FunctionName=function_arn, Payload=json.dumps(event).encode()
            )
            payload = json.loads(answer["Payload"].read() or b"null")
        except (ClientError, ValueError):
            LOG.exception("lambda proxy invocation failed")
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        if answer.get("FunctionError") or not isinstance(payload, dict):
            LOG.error("lambda proxy function failed on %s", route.resource_path)
            return self.gateway_error("DEFAULT_5XX", dict(request.context))
        return GatewayResult(
            int(payload.get("statusCode", 200)),
            str(payload.get("body") or "").encode(),
            {str(k): str(v) for k, v in (payload.get("headers") or {}).items()},
        )


class _CaseInsensitive(dict):
    """Header map with case-insensitive ``get`` (API Gateway keeps the client's spelling)."""

    def get(self, key: Any, default: Any = None) -> Any:
        for name, value in self.items():
            if name.lower() == str(key).lower():
                return value
        return default

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value


_MISSING = object()


def _query_params(query_string: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query_string, keep_blank_values=True))


# -- HTTP transport -------------------------------------------------------------------------

#: Longest request target (path and query) accepted: API Gateway's URL limit for an
#: edge-optimized API (the CDK default endpoint type); longer is 414.
MAX_URL_BYTES = 8192
#: API Gateway's limit on the request line and the header values together; over it is 431.
MAX_HEADER_BYTES = 10240
#: How long the server waits for the rest of a request that has started (408 after that).
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
#: Pending connections the kernel queues before accept(); Python's default of 5 resets
#: connections when a few dozen clients connect at once.
LISTEN_BACKLOG = 128
#: Longest chunk-size line of a chunked body (hex digits and extensions).
_MAX_CHUNK_LINE_BYTES = 1024
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,8})(?:[ \t]*;[^\r\n]*)?\r?\n")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
#: What the server reads (and throws away) after refusing a request, so that closing the
#: socket with unread data does not reset the connection before the client reads the answer.
_DRAIN_BYTES = 1024 * 1024
_DRAIN_SECONDS = 0.5


class FrontDoorRefusal(Exception):
    """A request refused by the HTTP transport itself, before the gateway sees it: the
    contract's answer for it (``steps.core.contract.errors.FRONT_DOOR_ERRORS``)."""

    def __init__(self, answer: ErrorSpec) -> None:
        super().__init__(answer.describe())
        self.answer = answer


class ClientGone(Exception):
    """The client closed the connection before the request was complete: nothing runs."""


def front_door_error(
    answer: ErrorSpec, request_id: str, *, status: int | None = None
) -> GatewayResult:
    """A transport-level error in the contract's shape, with the request id header; ``status``
    for an answer that keeps the status it is given (``REJECTED``)."""
    code = answer.status if status is None else status
    if code is None:
        raise ValueError(f"{answer.name} has no status of its own: pass one")
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": "FRONT_DOOR",
    }
    return GatewayResult(code, json.dumps(answer.body()).encode(), headers)


class LocalGatewayServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def serve(
    gateway: LocalGateway,
    host: str,
    port: int,
    *,
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> ThreadingHTTPServer:
    """Starts the HTTP server on a daemon thread and returns it (``shutdown()`` to stop)."""
    server = make_server(gateway, host, port, read_timeout_seconds=read_timeout_seconds)
    thread = threading.Thread(target=server.serve_forever, name="local-gateway", daemon=True)
    thread.start()
    return server


def make_server(
    gateway: LocalGateway,
    host: str,
    port: int,
    *,
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> ThreadingHTTPServer:
    """The listening HTTP server for ``gateway``, not serving yet (``serve_forever()``).

    The handler parses requests itself, strictly, so that it holds up as a front door: a
    request is handed to the gateway only once it has arrived whole; a malformed or
    incomplete one is answered (400, 408, 413, 414, 431) or, when the client is gone, dropped,
    and never executed.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stepauth-local-gateway"
        timeout = read_timeout_seconds  # applied to the socket by StreamRequestHandler.setup
        # A response leaves in one send (head and body buffered, flushed once) and nothing
        # waits for the client's ACK: with Nagle on, a body sent after the head waited for
        # the client's delayed ACK, about 40 ms on every response of a kept-alive connection.
        wbufsize = -1
        disable_nagle_algorithm = True

        request_id = "-"
        requests_on_connection = 0

        # -- reading ------------------------------------------------------------------------

        def _read_line(self, limit: int, too_long: FrontDoorRefusal) -> bytes:
            line = self.rfile.readline(limit + 1)
            if not line:
                raise ClientGone
            if len(line) > limit or not line.endswith(b"\n"):
                if len(line) > limit:
                    raise too_long
                raise ClientGone  # the connection ended in the middle of a line
            return line

        def _read_head(self) -> bool:
            """Reads the request line and headers; False when the client sent nothing."""
            try:
                line = self.rfile.readline(MAX_HEADER_BYTES + 1)
            except TimeoutError:
                if self.requests_on_connection:
                    raise ClientGone from None  # an idle kept-alive connection: just close it
                raise
            if not line:
                return False
            if len(line) > MAX_HEADER_BYTES or not line.endswith(b"\n"):
                if len(line) > MAX_HEADER_BYTES:
                    raise FrontDoorRefusal(errors.URI_TOO_LONG)
                raise ClientGone
            self.raw_requestline = line
            words = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(words) != 3 or not words[0].isalpha() or words[0].upper() != words[0]:
                raise FrontDoorRefusal(errors.MALFORMED_REQUEST_LINE)
            method, target, version = words
            self.command, self.path, self.request_version = method, target, version
            if version not in ("HTTP/1.1", "HTTP/1.0"):
                raise FrontDoorRefusal(errors.HTTP_VERSION_NOT_SUPPORTED)
            if version == "HTTP/1.0":
                self.close_connection = True
            if len(target.encode("latin-1")) > MAX_URL_BYTES:
                raise FrontDoorRefusal(errors.URI_TOO_LONG)
            if not target.startswith("/") or not target.isprintable():
                raise FrontDoorRefusal(errors.MALFORMED_REQUEST_TARGET)
            total = len(line)
            raw_headers = []
            too_large = FrontDoorRefusal(errors.HEADERS_TOO_LARGE)
            while True:
                header_line = self._read_line(max(MAX_HEADER_BYTES - total, 0), too_large)
                total += len(header_line)
                if header_line in (b"\r\n", b"\n"):
                    break
                if header_line[:1] in (b" ", b"\t") or b":" not in header_line:
                    # Obsolete line folding and lines without a name are smuggling tools.
                    raise FrontDoorRefusal(errors.MALFORMED_HEADER)
                raw_headers.append(header_line)
            self.headers = http.client.parse_headers(io.BytesIO(b"".join(raw_headers) + b"\r\n"))
            connection = (self.headers.get("Connection") or "").lower()
            if "close" in connection:
                self.close_connection = True
            elif version == "HTTP/1.0" and "keep-alive" in connection:
                self.close_connection = False
            return True

        def _read_body(self) -> bytes:
            """The whole request body; raises FrontDoorRefusal or ClientGone otherwise."""
            transfer_encodings = self.headers.get_all("Transfer-Encoding") or []
            lengths = self.headers.get_all("Content-Length") or []
            if transfer_encodings:
                if lengths:
                    raise FrontDoorRefusal(errors.AMBIGUOUS_BODY_LENGTH)
                if [e.strip().lower() for e in transfer_encodings] != ["chunked"]:
                    raise FrontDoorRefusal(errors.UNSUPPORTED_TRANSFER_ENCODING)
                self._continue_if_expected()
                return self._read_chunked()
            if len(lengths) > 1 or (lengths and not _CONTENT_LENGTH.fullmatch(lengths[0])):
                raise FrontDoorRefusal(errors.MALFORMED_CONTENT_LENGTH)
            length = int(lengths[0]) if lengths else 0
            if length > MAX_PAYLOAD_BYTES:
                raise FrontDoorRefusal(errors.BODY_TOO_LARGE)
            if not length:
                return b""
            self._continue_if_expected()
            body = self.rfile.read(length)
            if len(body) < length:
                raise ClientGone
            return body

        def _read_chunked(self) -> bytes:
            chunks, total = [], 0
            malformed = FrontDoorRefusal(errors.MALFORMED_CHUNKED_BODY)
            while True:
                size_line = self._read_line(_MAX_CHUNK_LINE_BYTES, malformed)
                found = _CHUNK_SIZE.fullmatch(size_line)
                if not found:  # "-1", "0x10", spaces, garbage: never guess a size
                    raise malformed
                size = int(found.group(1), 16)
                if size == 0:
                    break
                total += size
                if total > MAX_PAYLOAD_BYTES:
                    raise FrontDoorRefusal(errors.BODY_TOO_LARGE)
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise ClientGone
                chunks.append(chunk)
                if self._read_line(2, malformed) not in (b"\r\n", b"\n"):
                    raise malformed
            # Trailer fields (ignored) up to the blank line that ends the body.
            trailer_bytes = 0
            while True:
                trailer = self._read_line(MAX_HEADER_BYTES, malformed)
                trailer_bytes += len(trailer)
                if trailer_bytes > MAX_HEADER_BYTES:
                    raise FrontDoorRefusal(errors.TRAILERS_TOO_LARGE)
                if trailer in (b"\r\n", b"\n"):
                    return b"".join(chunks)

        def _continue_if_expected(self) -> None:
            expect = (self.headers.get("Expect") or "").lower()
            if expect == "100-continue" and self.request_version == "HTTP/1.1":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()

        # -- one request --------------------------------------------------------------------

        def handle_one_request(self) -> None:
            self.request_id = extended_request_id()
            self.requestline = ""
            self.command = ""
            self.request_version = self.protocol_version
            self.close_connection = True
            try:
                self.close_connection = False
                if not self._read_head():
                    self.close_connection = True
                    return
                body = self._read_body()
            except ClientGone:
                # The request never arrived whole: it is not executed, and nobody is waiting.
                self.close_connection = True
                return
            except TimeoutError:
                self._refuse(FrontDoorRefusal(errors.REQUEST_TIMEOUT))
                return
            except FrontDoorRefusal as refusal:
                self._refuse(refusal)
                return
            except OSError:  # reset by the peer
                self.close_connection = True
                return
            self.requests_on_connection += 1
            try:
                result = gateway.handle(
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                    self.client_address[0],
                )
            except Exception:  # the gateway must answer, never drop the connection
                LOG.exception("gateway fault")
                result = gateway.gateway_error(
                    "DEFAULT_5XX",
                    {"requestId": self.request_id, "extendedRequestId": self.request_id},
                )
                result.headers.setdefault("Content-Type", "application/json")
                result.headers["x-amzn-RequestId"] = self.request_id
            self._write(result)

        def _refuse(self, refusal: FrontDoorRefusal) -> None:
            """Answers a refused request, then closes the connection (its framing is lost)."""
            self.close_connection = True
            LOG.info(
                "refused at the front door: %s (request id %s)",
                refusal.answer.status,
                self.request_id,
            )
            try:
                self._write(front_door_error(refusal.answer, self.request_id))
                self._drain()
            except OSError:
                pass

        def _drain(self) -> None:
            """Reads what the client still sends (bounded), so that close() does not reset."""
            connection = self.connection
            try:
                self.wfile.flush()
                connection.shutdown(socket.SHUT_WR)
                connection.settimeout(_DRAIN_SECONDS)
                drained = 0
                while drained < _DRAIN_BYTES:
                    data = connection.recv(65536)
                    if not data:
                        break
                    drained += len(data)
            except OSError:
                pass

        def _write(self, result: GatewayResult) -> None:
            # 204 and 304 carry no body (a mapping template's stray newline would otherwise
            # corrupt the next response on a kept-alive connection).
            bodiless = result.status in (204, 304)
            self.send_response(result.status)
            for name, value in result.headers.items():
                self.send_header(name, value)
            if not bodiless:
                self.send_header("Content-Length", str(len(result.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and not bodiless:
                self.wfile.write(result.body)
            self.wfile.flush()

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            # BaseHTTPRequestHandler answers its own errors with an HTML page: never here.
            self.close_connection = True
            self._write(front_door_error(errors.REJECTED, self.request_id, status=code))

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            pass  # the gateway logs one line per request itself, without bodies

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return LocalGatewayServer((host, port), Handler)

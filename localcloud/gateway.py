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

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

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
DEFAULT_GATEWAY_RESPONSES = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "AUTHORIZER_FAILURE": 500,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "REQUEST_TOO_LARGE": 413,
    "INTEGRATION_FAILURE": 504,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
}


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
        request_id = str(uuid.uuid4())
        path, _, query_string = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        context = {
            "requestId": request_id,
            "extendedRequestId": request_id,
            "httpMethod": method,
            "path": f"/{self.stage}{path}",
            "stage": self.stage,
            "protocol": "HTTP/1.1",
            "accountId": self.stack.account_id,
            "apiId": self.stack.physical_ids.get(self._rest_api_id(), "local"),
            "domainName": lowered.get("host", "localhost"),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": lowered.get("user-agent")},
        }
        result = self._dispatch(method, path, query_string, headers, body, context)
        result.headers.setdefault("Content-Type", "application/json")
        result.headers["x-amzn-RequestId"] = request_id
        LOG.info("%s %s -> %s (request id %s)", method, path, result.status, request_id)
        return result

    def _rest_api_id(self) -> str:
        return next(iter(self.stack.resources_of_type("AWS::ApiGateway::RestApi")), "")

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
            text = body.decode("utf-8", errors="replace")
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

    # -- Lambda authorizer -------------------------------------------------------------------

    def method_arn(self, method: str, path: str) -> str:
        api_id = self.stack.physical_ids.get(self._rest_api_id(), "local")
        return (
            f"arn:aws:execute-api:{self.stack.region}:{self.stack.account_id}:{api_id}/"
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
        error = "insufficient_scope" if decision.status == 403 else "invalid_token"
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
            call = getattr(self._client(service), xform_name(operation))
            answer = call(**parameters)
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
            "isBase64Encoded": False,
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


def serve(gateway: LocalGateway, host: str, port: int) -> ThreadingHTTPServer:
    """Starts the HTTP server on a daemon thread and returns it (``shutdown()`` to stop)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stepauth-local-gateway"

        def _read_body(self) -> bytes | None:
            """The request body; None when it is larger than API Gateway accepts."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks, total = [], 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()  # the blank line after the last chunk
                        return b"".join(chunks)
                    total += size
                    if total > MAX_PAYLOAD_BYTES:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError("negative Content-Length")
            if length > MAX_PAYLOAD_BYTES:
                return None
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            try:
                body = self._read_body()
            except ValueError:  # a malformed length or chunk header: nothing more to read
                self.close_connection = True
                result = gateway.gateway_error("DEFAULT_4XX", {"requestId": "-"})
            else:
                if body is None:
                    self.close_connection = True
                    result = gateway.gateway_error("REQUEST_TOO_LARGE", {"requestId": "-"})
                else:
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
                        result = gateway.gateway_error("DEFAULT_5XX", {"requestId": "-"})
            # 204 and 304 carry no body (a mapping template's stray newline would otherwise
            # corrupt the next response on a kept-alive connection).
            bodiless = result.status in (204, 304)
            self.send_response(result.status)
            for name, value in result.headers.items():
                self.send_header(name, value)
            if not bodiless:
                self.send_header("Content-Length", str(len(result.body)))
            self.end_headers()
            if self.command != "HEAD" and not bodiless:
                self.wfile.write(result.body)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway (TRACE, PROPFIND …): an unknown method answers
            # like an unknown route, as API Gateway does, never with the server's own 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the gateway logs one line per request itself, without bodies

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="local-gateway", daemon=True)
    thread.start()
    return server

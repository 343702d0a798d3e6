"""AWS calls made inside the local cloud's process are answered in-process, not over HTTP.

Handlers, Task states, the gateway and the stream poller all run in the process that hosts moto,
yet each of their calls used to leave through a socket to moto's server on loopback: a new TCP
connection per call (werkzeug answers ``Connection: close``), a server thread, and about 4 ms of
parsing and dispatch. Here a botocore ``before-send`` handler answers a request addressed to the
local cloud's endpoint by calling moto's own WSGI dispatcher (the application its server runs) on
the caller's thread, and hands botocore the response. Everything before the send still happens:
parameter validation, serialization, signing, and every ``before-call`` hook (fault injection,
per-principal checks), so a call behaves as it did over HTTP. Clients outside the process still
reach moto's server on its port.

A signed request is handed to the moto response handler its path names, as moto's own in-memory
mode (``mock_aws``) does: the service is found from the signature's credential scope once per
service and region (moto's dispatcher would scan its module list on every call), and the request
skips the WSGI environ, Flask's routing and its response object. A request this route does not
know (unsigned, or no moto handler matches its path) goes through moto's whole WSGI application.

A DynamoDB request goes further still (``localcloud/dynamodb_inprocess.py``): moto's DynamoDB
handler gets the decoded JSON body and its result is encoded as JSON, skipping moto's
request object and its shape-walking parser and serializer.

A Lambda Task goes one step further (:func:`invoke_lambda_task`): the interpreter hands the
invocation to moto's Lambda backend directly, after the IAM decision and the fault injection a
client would have run, so no request is serialized, signed or parsed for it. The gateway's
``StartSyncExecution`` goes to the Step Functions backend the same way
(:func:`start_sync_execution`).

The handler is installed in botocore's built-in handlers, so every client created in this process
afterwards has it; it answers only for the endpoints registered by a running local cloud and lets
every other request go out as usual.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

_endpoints: dict[str, Any] = {}  # "host:port" → moto's WSGI application
#: (signing service, region, X-Amz-Target prefix, first path segment) → moto backend name.
_backend_names: dict[tuple[str, str, str, str], str | None] = {}
#: moto backend name → its (path pattern, handler) pairs, in moto's order.
_routes: dict[str, list[tuple[re.Pattern[str], Callable[..., Any]]]] = {}
_endpoints_lock = threading.Lock()
_installed = False


class _RawBody(BytesIO):
    """The raw response botocore reads: ``stream()`` as urllib3's response offers it."""

    def stream(self, **_kwargs: Any) -> Any:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body(body: Any) -> bytes:
    if body is None:
        return b""
    if hasattr(body, "read"):
        position = body.tell() if hasattr(body, "tell") else None
        data = body.read()
        if position is not None and hasattr(body, "seek"):
            body.seek(position)  # botocore may retry with the same body
        body = data
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _backend_name(app: Any, request: Any, path: str) -> str | None:
    """The moto backend a signed request is for, as moto's WSGI dispatcher finds it (cached)."""
    authorization = _text(request.headers.get("Authorization", ""))
    try:
        scope = authorization.split(",")[0].split()[1].split("/")
        region, service = scope[2], scope[3]
    except IndexError:
        return None  # unsigned, or not SigV4: moto's dispatcher handles those
    target = _text(request.headers.get("X-Amz-Target", ""))
    key = (service, region, target.split(".", 1)[0], path.split("/", 2)[1] if "/" in path else "")
    if key not in _backend_names:
        environ = {
            "HTTP_AUTHORIZATION": authorization,
            "HTTP_X_AMZ_TARGET": target,
            "PATH_INFO": path,
            "HTTP_HOST": urlsplit(request.url).netloc,
        }
        with app.lock:
            host = app.infer_service_region_host(environ, path)
            found = app.get_backend_for_host(host)
        _backend_names[key] = found if isinstance(found, str) else None
    return _backend_names[key]


def _routes_of(backend_name: str) -> list[tuple[re.Pattern[str], Callable[..., Any]]]:
    """The path patterns of a moto backend and their handlers (what its Flask app routes)."""
    routes = _routes.get(backend_name)
    if routes is None:
        from moto import backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.base_backend import BackendDict

        backend_dict = backends.get_backend(backend_name)  # type: ignore[call-overload]
        if isinstance(backend_dict, BackendDict):
            regions = backend_dict[DEFAULT_ACCOUNT_ID]
            backend = regions["us-east-1" if "us-east-1" in regions else "aws"]
        else:
            backend = backend_dict["global"]
        routes = [(re.compile(path), handler) for path, handler in backend.url_paths.items()]
        _routes[backend_name] = routes
    return routes


def _answer_directly(app: Any, request: Any) -> Any:
    """moto's answer from the handler the request's path names; None when there is none."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ClientError
    from moto.core.request import normalize_request
    from werkzeug.exceptions import HTTPException

    path = urlsplit(request.url).path or "/"
    backend_name = _backend_name(app, request, path)
    if backend_name is None:
        return None
    handler = next((h for pattern, h in _routes_of(backend_name) if pattern.match(path)), None)
    if handler is None:
        return None
    try:
        result = _answer_dynamodb(request) if backend_name == "dynamodb" else None
        if result is None:
            moto_request = normalize_request(request)
            result = handler(moto_request, moto_request.raw_url, moto_request.headers)
    except HTTPException as error:
        result = error.code, dict(error.get_headers()), error.get_body()
    except ClientError as error:  # as moto's Flask view answers one
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    if isinstance(content, str):
        content = content.encode("utf-8")
    response_headers = {name: _text(value) for name, value in dict(headers).items()}
    return AWSResponse(request.url, int(status), response_headers, _RawBody(content or b""))


def _answer_dynamodb(request: Any) -> Any:
    """moto's DynamoDB handler's answer without moto's generic layers (None: not for it)."""
    from . import dynamodb_inprocess

    headers = {name: _text(value) for name, value in request.headers.items()}
    region = headers["Authorization"].split(",")[0].split()[1].split("/")[2]  # _backend_name's
    return dynamodb_inprocess.answer(headers, _body(request.body), region)


def answer(app: Any, request: Any) -> Any:
    """moto's answer to a botocore ``AWSPreparedRequest``, as a botocore ``AWSResponse``."""
    direct = _answer_directly(app, request)
    if direct is not None:
        return direct
    return answer_through_wsgi(app, request)


def answer_through_wsgi(app: Any, request: Any) -> Any:
    """moto's answer through its whole WSGI application (any request moto's server takes)."""
    from botocore.awsrequest import AWSResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    url = urlsplit(request.url)
    headers = [(_text(name), _text(value)) for name, value in request.headers.items()]
    builder = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path or "/",
        query_string=url.query,
        headers=headers,
        data=_body(request.body),
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    status_code = int(str(status).split(" ", 1)[0])
    return AWSResponse(request.url, status_code, dict(response_headers), _RawBody(content))


def before_send(request: Any, **_kwargs: Any) -> Any:
    """botocore's ``before-send`` event: answer in-process for a registered endpoint."""
    app = _endpoints.get(urlsplit(request.url).netloc)
    if app is None:
        return None  # not the local cloud: the request goes out over the network
    return answer(app, request)


def install() -> None:
    """Add the handler to botocore's built-in handlers (clients created from now on get it)."""
    global _installed
    with _endpoints_lock:
        if _installed:
            return
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("before-send", before_send))
        _installed = True


def serve_in_process(host: str, port: int) -> None:
    """Answer in-process every call this process makes to ``host:port`` (and its aliases)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    install()
    install_direct_lambda_tasks()
    app = DomainDispatcherApplication(create_backend_app)
    aliases = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
    with _endpoints_lock:
        for name in aliases:
            _endpoints[f"{name}:{port}"] = app


def stop_serving(port: int) -> None:
    with _endpoints_lock:
        for netloc in [n for n in _endpoints if n.rsplit(":", 1)[-1] == str(port)]:
            del _endpoints[netloc]


def serves(netloc: str) -> bool:
    return netloc in _endpoints


def serves_client(client: Any) -> bool:
    """Whether ``client``'s calls are answered in this process."""
    return serves(urlsplit(client.meta.endpoint_url).netloc)


# Lambda Tasks ----------------------------------------------------------------------------------

#: Lambda's limit on a synchronous response payload (moto's LambdaResponse checks the same).
MAX_RESPONSE_PAYLOAD_BYTES = 6_000_000


def invoke_lambda_task(parameters: dict[str, Any], region: str) -> dict[str, Any]:
    """A Lambda Task's ``lambda:Invoke``, answered by the function's backend on this thread.

    What the call did through a botocore client is done here: IAM's decision for the running
    principal (the state machine's role) and any injected throttle or internal error, both
    raised as the ``ClientError`` the client would raise; then moto's Lambda backend runs the
    function (in-process, as its role). The answer has the fields the interpreter reads from
    the client's (``StatusCode``, ``FunctionError``, ``Payload``); nothing is serialized, signed
    or parsed on the way.
    """
    from botocore.exceptions import ClientError
    from botocore.response import StreamingBody
    from moto.awslambda.models import lambda_backends

    from . import faults, iam

    function_name = str(parameters["FunctionName"])
    payload = parameters.get("Payload") or b"{}"
    body = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
    iam.authorize_call("lambda", "Invoke", parameters)
    fault = faults.service_fault("lambda", "Invoke", function_name, body)
    if fault is not None:
        raise ClientError(fault, "Invoke")  # type: ignore[arg-type]
    account = _account_of(function_name)
    response_headers: dict[str, str] = {}
    answer = lambda_backends[account][region].invoke(
        function_name, parameters.get("Qualifier"), body, {}, response_headers
    )
    content = answer.encode("utf-8") if isinstance(answer, str) else bytes(answer or b"")
    result: dict[str, Any] = {"StatusCode": 200}
    if len(content) > MAX_RESPONSE_PAYLOAD_BYTES:
        content = json.dumps(
            {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                "(6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        ).encode("utf-8")
        result["FunctionError"] = "Unhandled"
    elif "x-amz-function-error" in response_headers:
        result["FunctionError"] = response_headers["x-amz-function-error"]
    result["Payload"] = StreamingBody(BytesIO(content), len(content))
    return result


# DynamoDB Tasks ----------------------------------------------------------------------------------


def call_dynamodb_task(client: Any, operation_name: str, parameters: dict[str, Any]) -> Any:
    """An optimized DynamoDB Task's call (``getItem``, ``putItem``...), answered by moto's DynamoDB
    handler on this thread without a request being signed or sent.

    As for a Lambda Task, what ``client`` did is done here: botocore's validation, IAM's
    decision for the running principal (the state machine's role) and any injected fault, raised
    as the client raised them; the body is what botocore would have serialized. The answer is
    parsed as botocore parses one (a plain JSON result directly; an error, or a result moto's
    serializer wrote, by botocore's parser), and an error is raised as the client's exception.
    A call the in-process DynamoDB path does not take (a binary value) goes through ``client``.
    """
    from botocore import xform_name
    from botocore.exceptions import ClientError
    from botocore.validate import validate_parameters

    from . import dynamodb_inprocess, faults, iam

    try:
        body = json.dumps(parameters)
    except (TypeError, ValueError):
        body = ""  # not JSON (bytes): botocore serializes it, on moto's own path
    if not body or not dynamodb_inprocess.takes(operation_name, body.encode("utf-8")):
        return getattr(client, xform_name(operation_name))(**parameters)
    operation = client.meta.service_model.operation_model(operation_name)
    validate_parameters(parameters, operation.input_shape)
    iam.authorize_call("dynamodb", operation_name, parameters)
    fault = faults.service_fault("dynamodb", operation_name, "", body)
    if fault is not None:
        raise ClientError(fault, operation_name)  # type: ignore[arg-type]
    headers = {
        "X-Amz-Target": f"DynamoDB_20120810.{operation_name}",
        "Content-Type": "application/x-amz-json-1.0",
        "x-moto-account-id": _account_of(""),
    }
    answered = dynamodb_inprocess.answer(headers, body.encode("utf-8"), client.meta.region_name)
    assert answered is not None  # takes() said so
    status, response_headers, content = answered
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    if status == 200 and not dynamodb_inprocess.holds_binary(text):
        members = operation.output_shape.members if operation.output_shape else {}
        result = {k: v for k, v in json.loads(text).items() if k in members}
        headers_seen = {str(k).lower(): str(v) for k, v in response_headers.items()}
        result["ResponseMetadata"] = {
            "RequestId": headers_seen.get("x-amzn-requestid", ""),
            "HTTPStatusCode": 200,
            "HTTPHeaders": headers_seen,
            "RetryAttempts": 0,
        }
        return result
    return _parsed_as_botocore(client, operation, status, response_headers, text)


def _parsed_as_botocore(
    client: Any, operation: Any, status: int, headers: dict[str, Any], text: str
) -> Any:
    """A response parsed and, when it is an error, raised, as botocore's client does it."""
    response = {
        "status_code": status,
        "headers": {str(k).lower(): str(v) for k, v in headers.items()},
        "body": text.encode("utf-8"),
        "context": {"operation_name": operation.name},
    }
    parser = client._response_parser  # noqa: SLF001 - the client's own parser, as it parses
    parsed = parser.parse(response, operation.output_shape)
    if status < 300:
        return parsed
    code = parsed.get("Error", {}).get("Code")
    error_shape = client.meta.service_model.shape_for_error_code(code)
    if error_shape is not None:  # modeled fields (CancellationReasons, Item), as botocore adds
        parsed.update(parser.parse(response, error_shape))
    raise client.exceptions.from_code(code)(parsed, operation.name)


# The gateway's StartSyncExecution ---------------------------------------------------------------


def start_sync_execution(client: Any, parameters: dict[str, Any]) -> dict[str, Any]:
    """The gateway's ``StartSyncExecution``, answered by the Step Functions backend on this thread.

    What the call did through ``client`` is done here, as for a Lambda Task: botocore's
    validation of the parameters, IAM's decision for the running principal (the integration's
    role) and any injected throttle or internal error, raised as the client would raise them;
    then moto's backend runs the execution. The answer holds the members of the API's output
    (dates as epoch seconds, as Step Functions writes them in its JSON). A call moto refuses
    (an unknown machine, a Standard one, input that is not JSON) refuses before anything runs:
    that one is made again through the client, which turns moto's refusal into the
    ``ClientError`` it always raised.
    """
    from botocore.exceptions import ClientError
    from botocore.validate import validate_parameters
    from moto.core.exceptions import ServiceException
    from moto.stepfunctions.responses import get_backend
    from werkzeug.exceptions import HTTPException

    from . import faults, iam
    from .stepfunctions import sync_execution_answer

    operation = client.meta.service_model.operation_model("StartSyncExecution")
    validate_parameters(parameters, operation.input_shape)
    iam.authorize_call("stepfunctions", "StartSyncExecution", parameters)
    fault = faults.service_fault("states", "StartSyncExecution", "", lambda: json.dumps(parameters))
    if fault is not None:
        raise ClientError(fault, "StartSyncExecution")  # type: ignore[arg-type]
    backend = get_backend(_account_of(str(parameters["stateMachineArn"])), client.meta.region_name)
    try:
        execution = backend.start_sync_execution(
            parameters["stateMachineArn"],
            parameters.get("name"),
            parameters.get("input") or "{}",
            parameters.get("traceHeader"),
        )
    except (HTTPException, ServiceException):
        return client.start_sync_execution(**parameters)  # type: ignore[no-any-return]
    members = operation.output_shape.members
    return {
        key: _as_json_member(value)
        for key, value in sync_execution_answer(execution).items()
        if key in members and value is not None
    }


def _as_json_member(value: Any) -> Any:
    """A member of moto's answer as Step Functions' JSON carries it (and botocore parsed it)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Enum):
        return value.value
    return value


def _account_of(function_name: str) -> str:
    """The account of a function ARN, else of the running principal, else moto's default."""
    from moto.core import DEFAULT_ACCOUNT_ID

    from . import iam

    if function_name.startswith("arn:") and function_name.count(":") >= 6:
        return function_name.split(":")[4]
    principal = iam.current_principal()
    if principal and principal.count(":") >= 5:
        return principal.split(":")[4]
    return DEFAULT_ACCOUNT_ID


def install_direct_lambda_tasks() -> None:
    """Lambda Tasks invoke their function through :func:`invoke_lambda_task` while a local cloud
    serves this process (moto's interpreter would go through a botocore client otherwise)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils._invoke_lambda_function
    if getattr(original, "_stepauth_direct", False):
        return

    def _invoke_lambda_function(
        parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> Any:
        if not _endpoints:
            return original(parameters, region, state_credentials)
        invocation = invoke_lambda_task(parameters, region)
        invocation["Payload"] = lambda_eval_utils._from_payload(invocation["Payload"])
        return invocation

    _invoke_lambda_function._stepauth_direct = True  # type: ignore[attr-defined]
    lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function

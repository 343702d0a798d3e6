"""Fault injection for the local cloud (off by default): make chosen service calls fail.

A rule names a service and an operation (botocore's names: ``dynamodb`` / ``PutItem``,
``lambda`` / ``Invoke``, ``*`` for any), optionally a Lambda function (a substring of its name)
or a substring of the call's parameters (``match``, e.g. ``"entity": {"S": "user"}`` or
``DENY#``), and how it fails: ``throttle`` (the service's throttling error), ``internal`` (its
internal server error), ``crash`` (a Lambda function that dies: ``Runtime.ExitError``) or
``timeout`` (a Lambda function that runs out of time: ``Sandbox.Timedout``), the first ``times``
matching calls or each with ``probability``.

Where it acts, independent of the transport:

* throttling and internal errors answer a botocore ``before-call`` event on every client the
  process creates (the step handlers', the ASL interpreter's, in-process or over HTTP alike): the
  call never reaches the service and botocore raises the error the real service would. A
  ``before-call`` answer skips botocore's own retries, so one injected fault is one failure;
* crashes and time-outs happen in the in-process Lambda invoke path (:func:`lambda_fault`),
  where a function runs, so the invocation fails as a dead function does on AWS.

Switch: ``STEPAUTH_FAULTS`` (read by :func:`install`), a ``;``-separated list of
``service:Operation:kind[:times=N|p=0.25][:function=Name][:match=text]``; tests use
:func:`inject` and read :func:`fired`. At run time, the local AWS port answers
``/_aws/faults`` (beside the mailbox's ``/_aws/ses``): ``POST`` adds rules written in that
syntax, ``GET`` lists the rules with how often each fired, ``DELETE`` removes them all; so a
test can put faults into a running ``stepauth local`` (a child server) case by case.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

#: Error codes per service for ``throttle`` and ``internal``.
_THROTTLE = {"dynamodb": "ThrottlingException", "lambda": "TooManyRequestsException"}
_INTERNAL = {"dynamodb": "InternalServerError", "lambda": "ServiceException"}
_STATUS = {"throttle": 400, "internal": 500}
#: What a dead function reports on AWS (the Lambda runtime's error types).
_LAMBDA_ERRORS = {"crash": "Runtime.ExitError", "timeout": "Sandbox.Timedout"}
KINDS = ("throttle", "internal", "crash", "timeout")
ENV_VAR = "STEPAUTH_FAULTS"
#: The run-time control on the local AWS port.
FAULTS_PATH = "/_aws/faults"
#: The longest body of rules the control takes (rules are a line or two).
MAX_CONTROL_BODY_BYTES = 64 * 1024


@dataclass
class FaultRule:
    """One fault: which calls fail, how, and how often."""

    service: str
    operation: str
    kind: str
    times: int | None = 1
    probability: float | None = None
    function: str | None = None
    match: str | None = None
    #: How many calls this rule has failed so far.
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; use one of {', '.join(KINDS)}.")
        if self.kind in _LAMBDA_ERRORS and self.service not in ("lambda", "*"):
            raise ValueError("Crashes and time-outs are Lambda faults.")
        if self.probability is not None:
            if not 0 <= self.probability <= 1:
                raise ValueError("A fault probability is between 0 and 1.")
            self.times = None

    def spec(self) -> str:
        """The rule in the ``STEPAUTH_FAULTS`` syntax."""
        options = []
        if self.probability is not None:
            options.append(f"p={self.probability}")
        elif self.times is not None:
            options.append(f"times={self.times}")
        if self.function is not None:
            options.append(f"function={self.function}")
        if self.match is not None:
            options.append(f"match={self.match}")
        return ":".join([self.service, self.operation, self.kind, *options])

    def error_code(self) -> str:
        table = _THROTTLE if self.kind == "throttle" else _INTERNAL
        return table.get(
            self.service, "ThrottlingException" if self.kind == "throttle" else "InternalFailure"
        )

    def _selects(self, service: str, operation: str, function: str, params: str) -> bool:
        return (
            self.service in ("*", service)
            and self.operation in ("*", operation)
            and (self.function is None or _names_function(function, self.function))
            and (self.match is None or self.match in params)
        )

    def take(self, service: str, operation: str, function: str, params: str) -> bool:
        """Whether this call fails (and count it). Called under the module lock."""
        if not self._selects(service, operation, function, params):
            return False
        if self.probability is not None:
            hit = random.random() < self.probability  # noqa: S311 - not security
        else:
            hit = self.times is None or self.fired < self.times
        if hit:
            self.fired += 1
        return hit


def _names_function(function: str, wanted: str) -> bool:
    """Whether a function name or ARN is ``wanted`` (a name, or its part after the stack's
    ``<stack>-`` prefix: ``EndSession`` names ``stepauth-EndSession``, not ``…-EndSessions``)."""
    name = function.rsplit(":function:", 1)[-1].split(":", 1)[0]
    return name == wanted or name.endswith(f"-{wanted}")


def parse_rules(spec: str) -> list[FaultRule]:
    """Rules from the ``STEPAUTH_FAULTS`` syntax (see the module docstring)."""
    rules = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        fields_ = part.split(":")
        if len(fields_) < 3:
            raise ValueError(f"A fault is service:Operation:kind[:options], got {part!r}.")
        service, operation, kind, *options = fields_
        values: dict[str, Any] = {}
        for option in options:
            name, _, value = option.partition("=")
            if name == "times":
                values["times"] = _number(int, name, value)
            elif name == "p":
                values["probability"] = _number(float, name, value)
            elif name in ("function", "match"):
                values[name] = value
            else:
                raise ValueError(f"Unknown fault option {name!r}.")
        rules.append(FaultRule(service.lower(), operation, kind, **values))
    return rules


def _number(kind: type[int] | type[float], name: str, text: str) -> int | float:
    """A rule option's number, or a ValueError that says which option (not Python's words)."""
    try:
        return kind(text)
    except ValueError:
        wanted = "a whole number" if kind is int else "a number"
        raise ValueError(f"The fault option {name} must be {wanted}, got {text!r}.") from None


_lock = threading.Lock()
_rules: list[FaultRule] = []
_installed = False


def _pick(
    service: str, operation: str, function: str, params: str, kinds: tuple[str, ...]
) -> FaultRule | None:
    with _lock:
        for rule in _rules:
            if rule.kind in kinds and rule.take(service, operation, function, params):
                return rule
    return None


def service_fault(
    service: str, operation: str, function: str, params: str | Callable[[], str]
) -> dict[str, Any] | None:
    """The parsed error response of a throttle or internal error injected into this call
    (``params``: the call's body, or what writes it when a rule needs to read it)."""
    if not _rules:
        return None
    if callable(params):
        params = params()
    rule = _pick(service, operation, function, params, ("throttle", "internal"))
    if rule is None:
        return None
    code = rule.error_code()
    return {
        "Error": {"Code": code, "Message": f"Injected fault ({code})."},
        "ResponseMetadata": {"HTTPStatusCode": _STATUS[rule.kind], "RequestId": "injected-fault"},
    }


def _before_call(model: Any, params: Any, **_: Any) -> Any:
    if not _rules:
        return None
    from botocore.awsrequest import AWSResponse

    service = model.service_model.endpoint_prefix
    body = params.get("body") if isinstance(params, dict) else None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    path = str(params.get("url_path", "")) if isinstance(params, dict) else ""
    # Lambda's Invoke path: /2015-03-31/functions/<name or ARN, quoted>/invocations
    function = (
        unquote(path.split("/functions/", 1)[1].split("/", 1)[0]) if "/functions/" in path else ""
    )
    parsed = service_fault(service, model.name, function, text)
    if parsed is None:
        return None
    status = parsed["ResponseMetadata"]["HTTPStatusCode"]
    return AWSResponse("http://injected-fault", status, {}, None), parsed


def lambda_fault(function_name: str, event: Any) -> dict[str, str] | None:
    """The error payload of a crash or time-out injected into this invocation, if any."""
    if not _rules:
        return None
    params = json.dumps(event, default=str) if not isinstance(event, str | bytes) else str(event)
    rule = _pick("lambda", "Invoke", function_name, params, ("crash", "timeout"))
    if rule is None:
        return None
    error_type = _LAMBDA_ERRORS[rule.kind]
    return {"errorType": error_type, "errorMessage": f"Injected fault ({error_type})."}


def install() -> None:
    """Hook every botocore client created from now on (idempotent); read ``STEPAUTH_FAULTS``."""
    global _installed
    with _lock:
        if _installed:
            return
        from botocore.client import ClientCreator

        original = ClientCreator.create_client

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(self, *args, **kwargs)
            client.meta.events.register("before-call.*.*", _before_call)
            return client

        ClientCreator.create_client = create_client  # type: ignore[method-assign]
        _patch_control_endpoint()
        _installed = True
    spec = os.environ.get(ENV_VAR, "")
    if spec.strip():
        set_rules(parse_rules(spec))


def set_rules(rules: list[FaultRule]) -> None:
    with _lock:
        _rules[:] = rules


def add_rules(rules: list[FaultRule]) -> None:
    with _lock:
        _rules.extend(rules)


def clear() -> None:
    set_rules([])


def described() -> list[dict[str, Any]]:
    """The current rules, each with how many calls it failed so far."""
    with _lock:
        return [
            {
                "rule": rule.spec(),
                "service": rule.service,
                "operation": rule.operation,
                "kind": rule.kind,
                "times": rule.times,
                "probability": rule.probability,
                "function": rule.function,
                "match": rule.match,
                "fired": rule.fired,
            }
            for rule in _rules
        ]


def control_response(method: str, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """``/_aws/faults``: (status line, headers, body). ``POST`` adds the rules of its body (the
    ``STEPAUTH_FAULTS`` syntax), ``GET`` lists them, ``DELETE`` removes them all."""
    json_type = [("Content-Type", "application/json")]

    def refused(status: str, description: str) -> tuple[str, list[tuple[str, str]], bytes]:
        problem = {"error": "invalid_request", "error_description": description}
        return status, json_type, json.dumps(problem).encode()

    if method == "DELETE":
        clear()
        return "204 No Content", [], b""
    if method == "POST":
        if len(body) > MAX_CONTROL_BODY_BYTES:
            return refused("413 Content Too Large", "The fault rules are too long.")
        try:
            rules = parse_rules(body.decode("utf-8"))
        except UnicodeDecodeError:
            return refused("400 Bad Request", "The fault rules must be UTF-8 text.")
        except ValueError as error:  # our own messages (parse_rules, FaultRule)
            return refused("400 Bad Request", str(error))
        add_rules(rules)
    elif method != "GET":
        status, headers, answer = refused("405 Method Not Allowed", "Use GET, POST or DELETE.")
        return status, [*headers, ("Allow", "GET, POST, DELETE")], answer
    return "200 OK", json_type, json.dumps({"rules": described()}).encode()


def _patch_control_endpoint() -> None:
    """Serve :data:`FAULTS_PATH` on the local AWS port (moto's server application)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == FAULTS_PATH:
            length = str(environ.get("CONTENT_LENGTH") or "0")
            # Past the limit, one byte more than it is enough to refuse (no 10 MB read).
            wanted = min(int(length), MAX_CONTROL_BODY_BYTES + 1) if length.isdigit() else 0
            body = environ["wsgi.input"].read(wanted) if wanted else b""
            status, headers, answer = control_response(environ.get("REQUEST_METHOD", "GET"), body)
            start_response(status, [*headers, ("Content-Length", str(len(answer)))])
            return [answer]
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]


@contextmanager
def inject(*rules: FaultRule) -> Iterator[list[FaultRule]]:
    """Run with these faults in place (and no others); the rules count what they fired."""
    install()
    set_rules(list(rules))
    try:
        yield list(rules)
    finally:
        clear()


def fired() -> int:
    """How many calls the current rules have failed."""
    with _lock:
        return sum(rule.fired for rule in _rules)


def patch_lambda_task_errors() -> None:
    """A Lambda Task (function ARN as Resource) whose Invoke call fails reports ``Lambda.<code>``
    on AWS (e.g. ``Lambda.TooManyRequestsException``, which the workflows retry); moto 5.2.5 says
    ``Exception``. Name it as AWS does."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import (
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = StateTaskLambda._from_error
    if getattr(original, "_names_lambda_errors", False):
        return

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            error = f"Lambda.{ex.response['Error']['Code']}"
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error),
                event_type=HistoryEventType.LambdaFunctionFailed,
                event_details=EventDetails(
                    lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                        error=error, cause=str(ex.response["Error"].get("Message", ""))
                    )
                ),
            )
        return original(self, env, ex)

    _from_error._names_lambda_errors = True  # type: ignore[attr-defined]
    StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]

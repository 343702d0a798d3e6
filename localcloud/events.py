"""EventBridge and Step Functions behaviour the lifecycle flows rely on, where moto 5.2.5 differs.

``apply()`` installs these once per process (``patches.apply`` calls it). Tests:
``tests/test_localcloud_events.py``.

1. Rule targets: moto delivers only to SQS, CloudWatch Logs and other buses, and raises
   ``NotImplementedError`` inside ``PutEvents`` for any other target. Here a rule also delivers
   to state machines (``StartExecution`` with a generated name, refused without the target's
   ``RoleArn`` as EventBridge refuses it) and to Lambda functions (an asynchronous invocation,
   off the caller's thread). The event a target receives is shaped as on AWS (``time`` an ISO
   8601 string, ``account`` present) and ``Input``, ``InputPath`` and ``InputTransformer``
   apply to every target as EventBridge applies them (:func:`target_input`).
2. ``Ref`` of an ``AWS::Events::EventBus`` in CloudFormation is the bus name, as on AWS (moto
   hands the model object to whatever refers to it, and a rule on the bus fails to deploy).
3. A second ``StartExecution`` with the name and input of a RUNNING execution answers with that
   execution, as AWS does (moto answers ``ExecutionAlreadyExists``); another input, or a name
   whose execution has ended, is still refused.
4. ``aws-sdk`` Task parameters are named in PascalCase, as AWS's SDK integrations take them
   (``"TaskToken"`` for ``sfn:sendTaskSuccess``); moto hands them to botocore unchanged, which
   refuses every service whose API members are camelCase. Top-level names are matched to the
   operation's members without regard to case (:func:`sdk_parameters`).
5. An ``aws-sdk`` Task's error is ``ServiceName.ErrorName`` (the service's error code, with the
   ``Exception`` suffix), as AWS documents it: moto names an error the SDK does not model after
   the Python class (``Sfn.SfnException`` for a throttled ``StartExecution``: botocore's sfn
   model has no ThrottlingException), so no Retry on ``Sfn.ThrottlingException`` ever matched
   locally (:func:`sdk_error_name`).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
from typing import Any

from . import iam

LOG = logging.getLogger("stepauth.localcloud.events")

_applied = False
_lock = threading.Lock()


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _patch_rule_targets()
        _patch_event_bus_ref()
        _patch_idempotent_start_execution()
        _patch_sdk_parameter_names()
        _patch_sdk_error_names()
        _applied = True


# Event shape and target input ----------------------------------------------------------------


def aws_event(moto_event: dict[str, Any]) -> dict[str, Any]:
    """moto's internal event → the JSON document EventBridge hands a target."""
    event = {key: value for key, value in moto_event.items() if key != "ingestion-time"}
    moment = event.get("time")
    if isinstance(moment, int | float):
        event["time"] = (
            datetime.datetime.fromtimestamp(float(moment), datetime.UTC)
            .replace(microsecond=0)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    elif isinstance(moment, datetime.datetime):
        event["time"] = moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


_PATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']+)'\]")


def json_path_value(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$``, ``$.a.b``, ``$.a[0]``, ``$['detail-type']``);
    ``None`` when nothing is there (EventBridge then sends ``null``)."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path}")
    value: Any = document
    position = 1
    while position < len(path):
        match = _PATH_PART.match(path, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath: {path}")
        key, index, quoted = match.groups()
        if index is not None:
            value = (
                value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
            )
        else:
            name = key if key is not None else quoted
            value = value.get(name) if isinstance(value, dict) else None
        if value is None:
            return None
        position = match.end()
    return value


def _render_template(template: str, values: dict[str, Any]) -> str:
    """Fills ``<name>`` placeholders as EventBridge does: inside a JSON string the value's text
    (escaped for JSON), outside a string the value as JSON. A template that is not JSON (plain
    text) gets each value's text."""
    if template.lstrip()[:1] not in ("{", "[", '"'):
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            template = template.replace(f"<{name}>", text)
        return template
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        if char == "<":
            end = template.find(">", position)
            name = template[position + 1 : end] if end > 0 else ""
            if name in values:
                value = values[name]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append(json.dumps(value))
                position = end + 1
                continue
        out.append(char)
        position += 1
    return "".join(out)


def target_input(target: dict[str, Any], event: dict[str, Any], rule_arn: str = "") -> str:
    """The text a target receives for ``event``: the event itself, or ``Input`` (a constant),
    ``InputPath`` (a part of the event) or ``InputTransformer`` (a template)."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(json_path_value(event, target["InputPath"]))
    transformer = target.get("InputTransformer")
    if transformer:
        values = {
            name: json_path_value(event, path)
            for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values["aws.events.event.json"] = event
        values["aws.events.rule-arn"] = rule_arn
        values["aws.events.rule-name"] = rule_arn.rsplit("/", 1)[-1]
        return _render_template(transformer["InputTemplate"], values)
    return json.dumps(event)


# 1. Rule targets ----------------------------------------------------------------------------


def _start_state_machine(rule: Any, target: dict[str, Any], payload: str) -> None:
    from moto.stepfunctions.responses import get_backend

    if not target.get("RoleArn"):
        # EventBridge needs a role to call StartExecution: the invocation fails.
        LOG.warning("rule %s: state machine target %s has no RoleArn", rule.name, target["Id"])
        return
    arn = target["Arn"]
    account, region = arn.split(":")[4], arn.split(":")[3]
    # EventBridge calls StartExecution as the target's role: IAM decides as on AWS.
    iam.check(str(target["RoleArn"]), [("states:StartExecution", arn)])
    get_backend(account, region).start_execution(arn, None, payload, None)


def _invoke_function(target: dict[str, Any], payload: str) -> None:
    from moto.awslambda.models import lambda_backends

    from .awslambda import invoke_in_process

    arn = target["Arn"]
    account, region = arn.split(":")[4], arn.split(":")[3]
    function = lambda_backends[account][region].get_function(arn)

    def run() -> None:
        _, errored, _ = invoke_in_process(function, payload)
        if errored:
            # Asynchronous invocations are retried by Lambda and then dropped; say so.
            LOG.warning("event target %s failed", function.function_name)

    threading.Thread(target=run, name=f"event-target-{function.function_name}", daemon=True).start()


def _write_log_event(arn: str, payload: str) -> None:
    """A log group target: one log event per event, the event's JSON text as the message."""
    import time
    import uuid

    from moto.logs import logs_backends

    backend = logs_backends[arn.split(":")[4]][arn.split(":")[3]]
    group = arn.split(":")[6]
    stream = str(uuid.uuid4())
    backend.create_log_stream(group, stream)
    backend.put_log_events(
        group, stream, [{"timestamp": int(time.time() * 1000), "message": payload}]
    )


def deliver(rule: Any, original_event: dict[str, Any]) -> None:
    """Delivers an event that ``rule`` matched to each of its targets."""
    event = aws_event(original_event)
    for target in rule.targets:
        arn: str = target["Arn"]
        service = arn.split(":")[2]
        payload = target_input(target, event, rule.arn)
        # Each delivery runs as the target's role (EventBridge assumes it), never as whoever
        # published the event; a target without one is reached through its resource policy
        # (Lambda permission, queue policy, log group policy), by the service itself.
        try:
            with iam.acting_as(target.get("RoleArn")):
                _deliver_to(rule, target, arn, service, payload, original_event)
        except Exception:  # noqa: BLE001 - EventBridge never fails PutEvents for a target
            LOG.warning("rule %s: delivery to %s failed", rule.name, target["Id"], exc_info=True)


def _deliver_to(
    rule: Any,
    target: dict[str, Any],
    arn: str,
    service: str,
    payload: str,
    original_event: dict[str, Any],
) -> None:
    if service == "states":
        _start_state_machine(rule, target, payload)
    elif service == "lambda":
        _invoke_function(target, payload)
    elif service == "sqs":
        from moto.sqs import sqs_backends

        sqs_backends[arn.split(":")[4]][arn.split(":")[3]].send_message(
            queue_name=arn.split(":")[5],
            message_body=payload,
            group_id=target.get("SqsParameters", {}).get("MessageGroupId"),
        )
    elif service == "logs":
        _write_log_event(arn, payload)
    else:
        rule_target = {**target}
        _ORIGINAL_SEND[0](_single_target_rule(rule, rule_target), original_event)


class _single_target_rule:  # noqa: N801 - a view of a rule with one target, for moto's sender
    def __init__(self, rule: Any, target: dict[str, Any]) -> None:
        self._rule = rule
        self.targets = [target]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


_ORIGINAL_SEND: list[Any] = []


def _patch_rule_targets() -> None:
    from moto.events.models import Rule

    _ORIGINAL_SEND.append(Rule.send_to_targets)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not transform_input:
            # Archive replays and bus-to-bus copies: moto's own path.
            _ORIGINAL_SEND[0](self, original_event, transform_input)
            return
        if not self.event_pattern.matches_event(original_event):
            return
        deliver(self, original_event)

    Rule.send_to_targets = send_to_targets


# 2. Ref of an event bus ---------------------------------------------------------------------


def _patch_event_bus_ref() -> None:
    from moto.events.models import EventBus

    EventBus.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]


# 3. Idempotent StartExecution ---------------------------------------------------------------


def same_input(first: Any, second: Any) -> bool:
    def parsed(value: Any) -> Any:
        if isinstance(value, str | bytes):
            try:
                return json.loads(value or "{}")
            except ValueError:
                return value
        return {} if value is None else value

    return bool(parsed(first) == parsed(second))


def _patch_idempotent_start_execution() -> None:
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists
    from moto.stepfunctions.models import StateMachine

    original = StateMachine._handle_name_input_idempotency

    def _handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
        for execution in self.executions:
            if execution.name != name or not hasattr(execution, "exec_status"):
                continue
            # An execution of moto's ASL interpreter: it has input_data and exec_status.
            running = getattr(execution.exec_status, "value", execution.exec_status) == "RUNNING"
            if running and same_input(execution.input_data, execution_input):
                return execution
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{execution.exec_arn}'")
        return original(self, name, execution_input)

    StateMachine._handle_name_input_idempotency = _handle_name_input_idempotency


# 4. aws-sdk parameter names -----------------------------------------------------------------


def sdk_parameters(parameters: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """Top-level parameter names → the operation's member names, matched without case."""
    by_folded = {member.lower(): member for member in members}
    return {by_folded.get(key.lower(), key): value for key, value in parameters.items()}


def _patch_sdk_parameter_names() -> None:
    from botocore.session import get_session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )

    service_class = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    original = service_class._eval_service_task
    session = get_session()

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        model = session.get_service_model(self._get_boto_service_name())
        operation = model.operation_model(model.operation_names[0])
        wanted = self._get_boto_service_action()
        for name in model.operation_names:
            candidate = model.operation_model(name)
            if name.lower() == wanted.replace("_", "").lower():
                operation = candidate
                break
        members = list(operation.input_shape.members) if operation.input_shape else []
        renamed = sdk_parameters(normalised_parameters, members)
        normalised_parameters.clear()
        normalised_parameters.update(renamed)
        return original(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    service_class._eval_service_task = _eval_service_task


# 5. aws-sdk error names ---------------------------------------------------------------------


def sdk_error_name(service: str, exception: Exception) -> str:
    """``Service.CodeException`` for an error botocore does not model (a plain ClientError),
    from the error code the service answered; modeled errors keep their class name."""
    from botocore.exceptions import ClientError

    name = type(exception).__name__
    if type(exception) is ClientError:
        code = exception.response.get("Error", {}).get("Code")
        name = code if isinstance(code, str) and code else f"{service}Exception"
    return f"{service}.{name}" if name.endswith("Exception") else f"{service}.{name}Exception"


def _patch_sdk_error_names() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )

    service_class = state_task_service_aws_sdk.StateTaskServiceAwsSdk

    def _normalise_exception_name(norm_service_name: str, ex: Exception) -> str:
        return sdk_error_name(norm_service_name, ex)

    service_class._normalise_exception_name = staticmethod(_normalise_exception_name)

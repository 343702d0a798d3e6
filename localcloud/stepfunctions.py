"""Step Functions in the local cloud, where moto 5.2.5 differs from AWS.

1. ``StartSyncExecution`` exists: moto has a synchronous execution class nobody calls.
2. Executions started without a name get a unique one (moto names them ``None``).
3. Execution history honours ``includeExecutionData: false`` as CloudWatch Logs does on AWS: no
   input, output or parameters are recorded (the workflows carry passwords). Each history event
   is made in one pass with its workflow log record (:func:`add_history_event`, in place of
   moto's ``EventManager.add_event``).
4. Task states reuse one boto3 client per service and region (moto builds one per Task, ~11 ms).
5. ``$$.Execution.StartTime`` is an ISO 8601 string as on AWS (moto hands the state a datetime,
   which then breaks any service call that receives it).
6. Each definition is parsed once: moto re-parses the ASL on every execution (60-160 ms for
   these workflows). Executions share the parsed program unless it has Map or Parallel states
   (``localcloud/interpreter.py``, with the JSONPath cache and the other interpreter fixes).
7. Code runs as its role, for IAM (``localcloud/iam.py``): an execution's states as the state
   machine's role. moto's interpreter runs each state on a thread of its own; those threads
   inherit the execution's principal. The threads of executions and Task states are reused
   (``localcloud/worker_threads.py``) rather than started for each.

Workflow logs in CloudWatch Logs are ``localcloud/stepfunctions_logs.py``; state machines from
CloudFormation are ``localcloud/cloudformation.py``. ``apply()`` installs these (``patches.apply``
calls it). Tests: ``tests/test_localcloud_patches.py``.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import importlib
import json
import threading
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from . import iam
from .worker_threads import PooledThread

# Keys of history event details that carry execution data.
EXECUTION_DATA_KEYS = ("input", "inputDetails", "output", "outputDetails", "parameters")


def apply() -> None:
    _patch_start_sync_execution()
    _patch_execution_names()
    _patch_history_without_execution_data()
    _patch_task_clients()
    _patch_context_start_time()
    _patch_parse_once_per_definition()
    _patch_principals()


# 1. StartSyncExecution ----------------------------------------------------------------------


def _snapshot(state_machine: Any) -> Any:
    # As moto's start_execution: copy the definition, not the live executions or the backend.
    return copy.deepcopy(
        state_machine,
        {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend},
    )


def _patch_start_sync_execution() -> None:
    import re

    from moto.core.exceptions import AWSError
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    def start_sync_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        state_machine = self.describe_state_machine(state_machine_arn)
        if state_machine.type != "EXPRESS":
            raise AWSError(
                "This operation is not supported by this type of state machine",
                exception_type="StateMachineTypeNotSupported",
            )
        input_data = execution_input or "{}"
        try:
            json.loads(input_data)
        except ValueError as error:
            raise InvalidExecutionInput(f"Invalid State Machine Execution Input: {error}") from None
        name = name or str(uuid.uuid4())
        execution = SyncExecution(
            name=name,
            sm_type=state_machine.type,
            role_arn=state_machine.roleArn,
            # Express execution ARNs carry the name and a unique id.
            exec_arn=(
                f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:express:"
                f"{state_machine.name}:{name}:{uuid.uuid4()}"
            ),
            account_id=self.account_id,
            region_name=self.region_name,
            state_machine=_snapshot(state_machine),
            start_date=datetime.datetime.now(tz=datetime.UTC),
            cloud_watch_logging_session=None,
            input_data=input_data,
            trace_header=trace_header,
            activity_store={},
        )
        # Kept (unlike AWS) so `list-executions` and the history work for operators locally.
        state_machine.executions.append(execution)
        execution.start()  # SyncExecutionWorker runs the program on this thread
        return execution

    def start_sync_execution_response(self: Any) -> Any:
        from moto.core.responses import ActionResult

        execution = self.stepfunction_backend.start_sync_execution(
            self._get_param("stateMachineArn"),
            self._get_param("name"),
            self._get_param("input", if_none="{}"),
            self._get_param("traceHeader"),
        )
        return ActionResult(sync_execution_answer(execution))

    # Express execution ARNs (…:express:machine:name:id) are accepted by describe-execution and
    # get-execution-history, which AWS does not offer for Express: locally operators can read them.
    StepFunctionBackend.accepted_exec_arn_format = re.compile(
        StepFunctionBackend.accepted_exec_arn_format.pattern.replace(
            ":execution:", ":(?:execution|express):"
        )
    )
    StepFunctionsParserBackend.start_sync_execution = start_sync_execution
    StepFunctionResponse.start_sync_execution = start_sync_execution_response


def sync_execution_answer(execution: Any) -> dict[str, Any]:
    """StartSyncExecution's answer for a finished execution (moto's output structure)."""
    answer: dict[str, Any] = execution.to_start_sync_execution_output()
    if not includes_execution_data(execution.state_machine.loggingConfiguration):
        # The caller gets its answer; what stays behind for describe-execution holds no data.
        execution.input_data = {}
        execution.execution_input = "{}"
        execution.output = None
    return answer


# 2. Execution names -------------------------------------------------------------------------


def _patch_execution_names() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        return original(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    StepFunctionsParserBackend.start_execution = start_execution


# 3. History without execution data ----------------------------------------------------------


def includes_execution_data(logging_configuration: dict[str, Any] | None) -> bool:
    """AWS default is true; stepauth's workflows set it false."""
    if not logging_configuration:
        return True
    return bool(logging_configuration.get("includeExecutionData", True))


def strip_execution_data(event_details: dict[str, Any]) -> dict[str, Any]:
    stripped = {}
    for binding, details in event_details.items():
        if isinstance(details, dict):
            details = {k: v for k, v in details.items() if k not in EXECUTION_DATA_KEYS}
        stripped[binding] = details
    return stripped


def _patch_history_without_execution_data() -> None:
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution import Execution, SyncExecution
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def with_data_flag(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def _get_start_execution_worker(self: Any) -> Any:
            worker = original(self)
            worker.include_execution_data = includes_execution_data(
                getattr(self.state_machine, "loggingConfiguration", None)
            )
            return worker

        return _get_start_execution_worker

    original_environment = ExecutionWorker._get_evaluation_environment

    def _get_evaluation_environment(self: Any) -> Any:
        environment = original_environment(self)
        environment.event_manager.include_execution_data = getattr(
            self, "include_execution_data", True
        )
        return environment

    # SyncExecution overrides the worker factory, so both classes need the flag.
    for execution_class in (Execution, SyncExecution):
        execution_class._get_start_execution_worker = with_data_flag(
            execution_class.__dict__["_get_start_execution_worker"]
        )
    ExecutionWorker._get_evaluation_environment = _get_evaluation_environment
    EventManager.add_event = add_history_event  # type: ignore[method-assign]


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MILLISECOND = datetime.timedelta(milliseconds=1)


def add_history_event(
    self: Any,
    context: Any,
    event_type: Any,
    event_details: dict[str, Any] | None = None,
    timestamp: datetime.datetime | None = None,
    update_source_event_id: bool = True,
) -> int:
    """moto's ``EventManager.add_event``: the execution's next history event, and its workflow
    log record (``stepfunctions_logs.WorkflowLogSession.record_event``), without execution data
    when the machine's logging says so.

    Same event and ids as moto's; moto formatted the time with ``strftime`` and built a log
    record whose time the session then parsed back, about 75 µs an event and 33 events a login.
    """
    with self._mutex:
        event_id: int = self._event_id_gen.get()
        source_event_id: int = context.source_event_id
        moment = timestamp or datetime.datetime.now(tz=datetime.UTC)
        context.last_published_event_id = event_id
        if update_source_event_id:
            context.source_event_id = event_id
        if event_details and not getattr(self, "include_execution_data", True):
            event_details = strip_execution_data(event_details)
        event: dict[str, Any] = dict(event_details) if event_details else {}
        event["id"] = event_id
        event["previousEventId"] = source_event_id
        event["type"] = event_type
        # moto's iso_8601_datetime_with_milliseconds (a UTC time, "Z"), without strftime.
        event["timestamp"] = moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        self._history_event_list.append(event)
        session = self._cloud_watch_logging_session
        if session is not None:
            millis = (moment - _EPOCH) // _MILLISECOND
            session.record_event(event_id, source_event_id, event_type, millis, event_details)
        return event_id


# 4. One boto3 client per service for Task states --------------------------------------------


def _patch_task_clients() -> None:
    import sys

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: F401
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (  # noqa: F401
        state_task_service_aws_sdk,
        state_task_service_dynamodb,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, str], Any] = {}
    cache_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto hands Lambda Tasks a credentials object that its own client factory ignores
        # (every local client uses the same dummy keys), so it does not split the cache.
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        # In-process mocks and server mode need different clients; the port may change between
        # test sessions.
        key = (region, service, "stub" if botocore_stubber.enabled else moto_server_port())
        with cache_lock:
            client = cache.get(key)
            if client is None:
                client = cache[key] = original(region=region, service=service)
        return client

    for module in list(sys.modules.values()):
        if (
            getattr(module, "__name__", "").startswith("moto.stepfunctions.parser")
            and getattr(module, "boto_client_for", None) is original
        ):
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]
    _patch_direct_dynamodb_tasks(boto_client_for)


def _patch_direct_dynamodb_tasks(boto_client_for: Callable[..., Any]) -> None:
    """Optimized DynamoDB Tasks call moto's DynamoDB handler directly while the local cloud
    serves this process (``localcloud/inprocess.py``: no request signed, sent or parsed)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (  # noqa: E501
        StateTaskServiceDynamoDB,
    )

    from . import inprocess

    original = StateTaskServiceDynamoDB._eval_service_task

    def _eval_service_task(  # moto's signature (it is called with keywords)
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        client = boto_client_for(region=resource_runtime_part.region, service="dynamodb")
        if not inprocess.serves_client(client):
            original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
            return
        operation = client.meta.method_to_api_mapping[self._get_boto_service_action()]
        response = inprocess.call_dynamodb_task(client, operation, normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    StateTaskServiceDynamoDB._eval_service_task = _eval_service_task


# 5. $$.Execution.StartTime ------------------------------------------------------------------


def iso_timestamp(moment: datetime.datetime) -> str:
    """AWS's format for the context object: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _patch_context_start_time() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.get_start_execution_details

    def get_start_execution_details(self: Any) -> Any:
        details = original(self)
        if isinstance(details.start_time, datetime.datetime):
            details.start_time = iso_timestamp(details.start_time)
        return details

    Execution.get_start_execution_details = get_start_execution_details


# 6. Parse each definition once -------------------------------------------------------------


@lru_cache(maxsize=128)
def parsed_program(definition: str) -> Any:
    """The interpreter's program for a definition, parsed once (60-160 ms for our workflows)."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[0]


def _patch_parse_once_per_definition() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def _get_evaluation_entrypoint(self: Any) -> Any:
        # Shared between executions unless the definition has Map or Parallel (interpreter.py).
        from .interpreter import program_for_execution

        return program_for_execution(self._evaluation_details.state_machine_details.definition)

    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint


# 7. Code runs as its role ------------------------------------------------------------------


class ContextThread(threading.Thread):
    """A thread that runs in a copy of its creator's context (the IAM principal among it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._creator_context = contextvars.copy_context()

    def run(self) -> None:
        self._creator_context.run(super().run)


class _ThreadingWithContext:
    """The ``threading`` module as seen by moto's interpreter: same, but contextual threads."""

    Thread = ContextThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _ThreadingWithPool(_ThreadingWithContext):
    """The same, with the threads of short jobs reused (``worker_threads``)."""

    Thread = PooledThread


# moto modules that start a thread per execution or Task state: short jobs, run pooled.
_POOLED_THREAD_MODULES = (
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
)

# moto modules that start a thread per branch, iteration or callback wait.
_INTERPRETER_THREAD_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration."
    "inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_callback",
)


def _patch_principals() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    iam.install()
    for names, thread, threading_module in (
        (_POOLED_THREAD_MODULES, PooledThread, _ThreadingWithPool),
        (_INTERPRETER_THREAD_MODULES, ContextThread, _ThreadingWithContext),
    ):
        for name in names:
            module = importlib.import_module(name)
            if getattr(module, "Thread", None) is threading.Thread:
                module.Thread = thread  # type: ignore[attr-defined]
            if getattr(module, "threading", None) is threading:
                module.threading = threading_module()  # type: ignore[attr-defined]

    original = ExecutionWorker._execution_logic

    def _execution_logic(self: Any) -> None:
        role_arn = self._evaluation_details.aws_execution_details.role_arn
        with iam.acting_as(str(role_arn) if role_arn else None, service_uses=True):
            original(self)

    ExecutionWorker._execution_logic = _execution_logic

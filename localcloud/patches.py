"""Where moto 5.2.5 differs from AWS in ways stepauth depends on, and the fix for each.

Every gap is closed here and nowhere else; ``apply()`` installs all of them once per process.
Each fix has a test in ``tests/test_localcloud_patches.py``.

1. Lambda code runs in-process: moto would start a Docker container. The handler named by the
   function's ``Handler`` is imported from the project and called with the event (every invoke
   path, API or event source mapping, ends in ``LambdaFunction._invoke_lambda``).
2. ``StartSyncExecution`` exists: moto has a synchronous execution class nobody calls.
3. Executions started without a name get a unique one (moto names them ``None``).
4. CloudFormation creates state machines in the executing backend, with their type, logging and
   tracing configuration and ``DefinitionSubstitutions``.
5. CloudFormation applies a table's ``TimeToLiveSpecification``.
6. CloudFormation creates ``AWS::SecretsManager::Secret``.
7. Execution history honours ``includeExecutionData: false`` as CloudWatch Logs does on AWS: no
   input, output or parameters are recorded (the workflows carry passwords).
8. Task states reuse one boto3 client per service and region (moto builds one per Task, ~11 ms).
9. ``$$.Execution.StartTime`` is an ISO 8601 string as on AWS (moto hands the state a datetime,
   which then breaks any service call that receives it).
10. DynamoDB writes are atomic: moto evaluates a condition and writes in two steps, so two
    concurrent requests could both pass ``attribute_not_exists`` or ``status = :active``. Every
    write of one backend is serialized, as DynamoDB serializes writes to an item.
11. Stream records are delivered off the writer's thread. moto's ``StreamShard.add`` invokes
    every mapped Lambda synchronously inside the write (and then forgets the records, so
    GetRecords misses them). With writes serialized (10) and in-process handlers calling
    DynamoDB over HTTP on other server threads, a handler run inside a write would deadlock.
    Here a write only appends its record and signals ``stream_records_written``; the poller in
    ``localcloud/streams.py`` delivers, honouring the mapping's settings as Lambda does.
    Transactions keep an undo log of the items they touch instead of moto's copy of every table
    (``localcloud/dynamodb_transactions.py``); a cancelled transaction puts the items back and
    takes back the records of its partial writes. Reads take the write lock too.
12. Deletions by Time to Live carry ``userIdentity`` (``{"Type": "Service", "PrincipalId":
    "dynamodb.amazonaws.com"}`` in GetRecords, ``{"type", "principalId"}`` in Lambda events):
    moto never expires items and records no identity. The sweeper in ``localcloud/streams.py``
    deletes expired items inside :func:`deleting_by_ttl`, and only those deletions carry it.
13. FilterCriteria are applied to stream records as Lambda applies them (moto ignores them):
    :func:`filter_criteria_matches` evaluates the mapping's patterns (OR-ed) against the
    Lambda-shaped record, with the comparison operators Lambda event filtering supports.
14. Workflows log their history to CloudWatch Logs as Step Functions does for Express
    workflows: one JSON event per history event (``id, type, details, previous_event_id,
    event_timestamp, execution_arn``) in the state machine's log group, at its log level and
    without execution data unless ``includeExecutionData`` is true. moto's interpreter has a
    logging session for this, but never creates it for these executions and its own writer
    cannot store an event (``WorkflowLogSession`` replaces it); an execution's events are written
    in one batch when it ends. Its test is in
    ``tests/test_observability_workflow_logs.py``.
15. Each definition is parsed once: moto re-parses the ASL on every execution (60-160 ms for
    these workflows). Executions share the parsed program unless it has Map or Parallel states
    (``localcloud/interpreter.py``, with the JSONPath cache and the other interpreter fixes).
16. Code runs as its role, for IAM (``localcloud/iam.py``): a Lambda handler as the function's
    execution role, an execution's states as the state machine's role. moto's interpreter runs
    each state on a thread of its own; those threads inherit the execution's principal.
"""

from __future__ import annotations

import contextvars
import copy
import datetime
import importlib
import json
import os
import secrets
import string
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from localcloud import consistency, faults

from . import iam

_applied = False
_lock = threading.Lock()

# Keys of history event details that carry execution data.
EXECUTION_DATA_KEYS = ("input", "inputDetails", "output", "outputDetails", "parameters")


def apply() -> None:
    """Install every fix below (idempotent) and turn on moto's ASL interpreter."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.core.config import default_user_config

        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        _patch_in_process_lambda()
        _patch_start_sync_execution()
        _patch_execution_names()
        _patch_cloudformation_state_machines()
        _patch_cloudformation_table_ttl()
        _register_cloudformation_secret()
        _patch_history_without_execution_data()
        _patch_task_clients()
        _patch_context_start_time()
        _patch_atomic_dynamodb_writes()
        _patch_parse_once_per_definition()
        _patch_stream_shards()
        _patch_workflow_logs()
        _patch_principals()
        from . import interpreter, logs

        logs.apply()  # a template's log group adopts one a Lambda invocation made first

        interpreter.apply()  # JSONPath cache, shared programs, batched logs (interpreter.py)
        _patch_cloudformation_mock_methods()
        _install_resilience_hooks()
        # EventBridge targets, idempotent StartExecution and the SES mailbox: their own modules.
        from . import events, mail

        events.apply()
        mail.apply()
        _applied = True


# 1. In-process Lambda ------------------------------------------------------------------------


class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    def __init__(self, function: Any) -> None:
        self.function_name: str = function.function_name
        self.function_version: str = "$LATEST"
        self.invoked_function_arn: str = function.function_arn
        self.memory_limit_in_mb: int = int(function.memory_size)
        self.aws_request_id: str = str(uuid.uuid4())
        self.log_group_name: str = function.logs_group_name
        self.log_stream_name: str = f"local/{self.aws_request_id}"
        self._deadline = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            seconds=int(function.timeout or 3)
        )

    def get_remaining_time_in_millis(self) -> int:
        remaining = self._deadline - datetime.datetime.now(datetime.UTC)
        return max(0, int(remaining.total_seconds() * 1000))


@lru_cache(maxsize=256)
def resolve_handler(handler: str) -> Callable[[Any, Any], Any]:
    """``package.module.function`` → the function, imported from the project."""
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ImportError(f"Bad handler '{handler}': expected module.function")
    return getattr(importlib.import_module(module_name), attribute)


def apply_function_environment(variables: dict[str, str]) -> None:
    """Functions share one process: their variables must agree, or a handler would read another's.

    A conflict is a deployment error, reported loudly rather than silently overwritten.
    """
    for key, value in variables.items():
        current = os.environ.get(key)
        if current is not None and current != value and key in _function_environment_keys:
            raise RuntimeError(
                f"Lambda functions disagree on environment variable {key}; "
                "the in-process local cloud needs one value per variable"
            )
        os.environ[key] = value
        _function_environment_keys.add(key)


_function_environment_keys: set[str] = set()


def invoke_in_process(function: Any, event: Any) -> tuple[str, bool, str]:
    """Run the function's handler; returns (payload, errored, logs) like moto's Docker path."""
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    context = LambdaContext(function)
    injected = faults.lambda_fault(function.function_name, event)  # off unless a test asks
    if injected is not None:
        return json.dumps({**injected, "requestId": context.aws_request_id}), True, ""
    try:
        apply_function_environment(dict(function.environment_vars or {}))
        handler = resolve_handler(function.handler)
        with iam.acting_as(str(function.role) if function.role else None, service_uses=True):
            result = handler(event, context)
    except Exception as error:  # noqa: BLE001 - reported to the caller as Lambda does
        payload = {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": context.aws_request_id,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
        return json.dumps(payload), True, ""
    return json.dumps(result), False, ""


def _patch_in_process_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda


def _install_resilience_hooks() -> None:
    """Fault injection (localcloud/faults.py), AWS's Lambda Task error names and the index lag
    switch (localcloud/consistency.py)."""
    faults.install()
    faults.patch_lambda_task_errors()
    consistency.emulate_index_lag()  # off unless STEPAUTH_INDEX_LAG_SECONDS or a test sets it


# 2. StartSyncExecution ----------------------------------------------------------------------


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
        answer = execution.to_start_sync_execution_output()
        if not includes_execution_data(execution.state_machine.loggingConfiguration):
            # The caller gets its answer; what stays behind for describe-execution holds no data.
            execution.input_data = {}
            execution.execution_input = "{}"
            execution.output = None
        return ActionResult(answer)

    # Express execution ARNs (…:express:machine:name:id) are accepted by describe-execution and
    # get-execution-history, which AWS does not offer for Express: locally operators can read them.
    StepFunctionBackend.accepted_exec_arn_format = re.compile(
        StepFunctionBackend.accepted_exec_arn_format.pattern.replace(
            ":execution:", ":(?:execution|express):"
        )
    )
    StepFunctionsParserBackend.start_sync_execution = start_sync_execution
    StepFunctionResponse.start_sync_execution = start_sync_execution_response


# 3. Execution names -------------------------------------------------------------------------


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


# 4. State machines from CloudFormation ------------------------------------------------------


def _camel_keys(value: Any) -> Any:
    """CloudFormation's PascalCase property shapes → the API's camelCase shapes."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


def substitute_definition(definition: str, substitutions: dict[str, Any] | None) -> str:
    for key, value in (substitutions or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def _patch_cloudformation_state_machines() -> None:
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        if "Definition" in properties:
            definition = json.dumps(properties["Definition"])
        logging = properties.get("LoggingConfiguration")
        tracing = properties.get("TracingConfiguration")
        return get_backend(account_id, region_name).create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=substitute_definition(definition, properties.get("DefinitionSubstitutions")),
            roleArn=properties.get("RoleArn", ""),
            tags=[{"key": tag["Key"], "value": tag["Value"]} for tag in properties.get("Tags", [])],
            loggingConfiguration=_camel_keys(logging) if logging else None,
            tracingConfiguration=_camel_keys(tracing) if tracing else None,
            sm_type=properties.get("StateMachineType", "STANDARD"),
        )

    def delete_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    StateMachine.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)


# 5. Table TTL from CloudFormation -----------------------------------------------------------


def _patch_cloudformation_table_ttl() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        table = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        ttl = cloudformation_json["Properties"].get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            table.ttl = {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}
        return table

    Table.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


# 6. Secrets from CloudFormation -------------------------------------------------------------


def _generated_secret(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation
    for excluded in spec.get("ExcludeCharacters", ""):
        alphabet = alphabet.replace(excluded, "")
    length = int(spec.get("PasswordLength", 32))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template and key:
        document = json.loads(template)
        document[key] = value
        return json.dumps(document)
    return value


_cloudformation_models: list[type] = []


def _register_cloudformation_secret() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class CloudFormationSecret(CloudFormationModel):
        """``AWS::SecretsManager::Secret``: Ref is the ARN, as on AWS."""

        def __init__(self, arn: str, name: str) -> None:
            self.arn = arn
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("Id",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> CloudFormationSecret:
            properties = cloudformation_json.get("Properties", {})
            name = properties.get("Name", resource_name)
            secret_string = properties.get("SecretString")
            if secret_string is None:
                secret_string = _generated_secret(properties.get("GenerateSecretString", {}))
            backend = secretsmanager_backends[account_id][region_name]
            created = json.loads(
                backend.create_secret(
                    name=name,
                    secret_string=secret_string,
                    secret_binary=None,
                    description=properties.get("Description"),
                    tags=properties.get("Tags"),
                    kms_key_id=properties.get("KmsKeyId"),
                    client_request_token=None,
                    replica_regions=[],
                    force_overwrite=False,
                )
            )
            return cls(created["ARN"], name)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            backend = secretsmanager_backends[account_id][region_name]
            backend.delete_secret(
                resource_name, recovery_window_in_days=None, force_delete_without_recovery=True
            )

    # moto finds models through __subclasses__(), which holds classes weakly: keep one reference.
    _cloudformation_models.append(CloudFormationSecret)
    parsing.get_model_map.cache_clear()


# 7. History without execution data ----------------------------------------------------------


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
    original_publish = EventManager._publish_history_event

    def _get_evaluation_environment(self: Any) -> Any:
        environment = original_environment(self)
        environment.event_manager.include_execution_data = getattr(
            self, "include_execution_data", True
        )
        return environment

    def _publish_history_event(self: Any, **kwargs: Any) -> None:
        details = kwargs.get("event_details")
        if details and not getattr(self, "include_execution_data", True):
            kwargs["event_details"] = strip_execution_data(details)
        original_publish(self, **kwargs)

    # SyncExecution overrides the worker factory, so both classes need the flag.
    for execution_class in (Execution, SyncExecution):
        execution_class._get_start_execution_worker = with_data_flag(
            execution_class.__dict__["_get_start_execution_worker"]
        )
    ExecutionWorker._get_evaluation_environment = _get_evaluation_environment
    EventManager._publish_history_event = _publish_history_event


# 8. One boto3 client per service for Task states --------------------------------------------


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


# 9. $$.Execution.StartTime ------------------------------------------------------------------


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


# 10. Atomic DynamoDB writes -----------------------------------------------------------------

DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)


#: Held by every DynamoDB write of the local cloud (and by the TTL sweeper).
DYNAMODB_WRITE_LOCK = threading.RLock()


def _patch_atomic_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    def serialized(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with DYNAMODB_WRITE_LOCK:
                return original(self, *args, **kwargs)

        write.__wrapped__ = original  # type: ignore[attr-defined]
        return write

    for name in DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))


# 11. Stream delivery off the writer's thread ------------------------------------------------

#: Set whenever a stream record is written; the stream poller waits on it.
stream_records_written = threading.Event()


def stream_event_name(old: Any, new: Any) -> str:
    if old is None:
        return "INSERT"
    return "REMOVE" if new is None else "MODIFY"


def _patch_stream_shards() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    def add(self: Any, old: Any, new: Any) -> None:
        """Record the change (called inside the serialized write); never invoke anything."""
        event_name = stream_event_name(old, new)
        sequence = self.starting_sequence_number + len(self.items)
        record = StreamRecord(
            self.table,
            self.table.stream_specification["StreamViewType"],
            event_name,
            old,
            new,
            sequence,
        )
        identity = deletion_identity()
        if identity is not None and event_name == "REMOVE":
            record.record["userIdentity"] = dict(identity)
        self.items.append(record)
        stream_records_written.set()

    StreamShard.add = add
    # Transactions keep an undo log of the items they touch (no copy of the table) and take
    # back their partial writes' stream records when cancelled; reads share the write lock.
    from . import dynamodb_transactions

    dynamodb_transactions.install(DynamoDBBackend, DYNAMODB_WRITE_LOCK)


# 12. Deletions by Time to Live carry userIdentity -------------------------------------------

#: The identity DynamoDB gives its TTL deletions, as the Streams API spells it.
TTL_USER_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}

_deleting = threading.local()


def deletion_identity() -> dict[str, str] | None:
    """The identity of the deletions this thread is doing now (None: an ordinary caller)."""
    return getattr(_deleting, "identity", None)


@contextmanager
def deleting_by_ttl() -> Iterator[None]:
    """Deletions made on this thread inside the block are Time to Live's."""
    previous = deletion_identity()
    _deleting.identity = TTL_USER_IDENTITY
    try:
        yield
    finally:
        _deleting.identity = previous


# 13. FilterCriteria ---------------------------------------------------------------------------

_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_matches(spec: Any, value: Any) -> bool:
    if not isinstance(spec, list) or len(spec) % 2 or not spec:
        raise ValueError(f"numeric needs operator/value pairs, got {spec!r}")
    if not _is_number(value):
        return False
    for operator, bound in zip(spec[::2], spec[1::2], strict=True):
        if operator not in _NUMERIC_OPERATORS or not _is_number(bound):
            raise ValueError(f"unsupported numeric comparison {operator!r} {bound!r}")
        if not _NUMERIC_OPERATORS[operator](value, bound):
            return False
    return True


def _string_matches(operator: str, spec: Any, value: Any) -> bool:
    """prefix / suffix / equals-ignore-case, each optionally ``{"equals-ignore-case": x}``."""
    fold = False
    if isinstance(spec, dict) and set(spec) == {"equals-ignore-case"}:
        fold, spec = True, spec["equals-ignore-case"]
    if not isinstance(spec, str):
        raise ValueError(f"{operator} needs a string, got {spec!r}")
    if not isinstance(value, str):
        return False
    if fold:
        spec, value = spec.casefold(), value.casefold()
    if operator == "prefix":
        return value.startswith(spec)
    if operator == "suffix":
        return value.endswith(spec)
    return value.casefold() == spec.casefold()


def _equals(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return bool(expected == value)
    return type(expected) is type(value) and expected == value


def _anything_but(spec: Any, value: Any) -> bool:
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise ValueError(f"anything-but takes one operator, got {spec!r}")
        ((operator, inner),) = spec.items()
        if operator not in ("prefix", "suffix", "equals-ignore-case"):
            raise ValueError(f"unsupported anything-but operator {operator!r}")
        return isinstance(value, str) and not _string_matches(operator, inner, value)
    excluded = spec if isinstance(spec, list) else [spec]
    return not any(_equals(item, value) for item in excluded)


def _condition_matches(condition: Any, value: Any) -> bool:
    """One entry of a rule's list against one (non-array) value."""
    if not isinstance(condition, dict):
        return _equals(condition, value)
    if len(condition) != 1:
        raise ValueError(f"a comparison takes one operator, got {condition!r}")
    ((operator, spec),) = condition.items()
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        return _string_matches(operator, spec, value)
    if operator == "anything-but":
        return _anything_but(spec, value)
    if operator == "numeric":
        return _numeric_matches(spec, value)
    raise ValueError(f"unsupported filter operator {operator!r}")


def _rule_matches(rule: list[Any], present: bool, value: Any) -> bool:
    """A leaf rule (a list of alternatives) against a field: any alternative may match."""
    values = value if isinstance(value, list) else [value]
    for condition in rule:
        if isinstance(condition, dict) and set(condition) == {"exists"}:
            if not isinstance(condition["exists"], bool):
                raise ValueError("exists takes true or false")
            if condition["exists"] == (present and value != []):
                return True
        elif present and any(_condition_matches(condition, v) for v in values):
            return True
    return False


def pattern_matches(pattern: Any, data: Any) -> bool:
    """One filter pattern against a record: every field the pattern names must match."""
    if not isinstance(pattern, dict):
        raise ValueError(f"a filter pattern must be an object, got {pattern!r}")
    for key, rule in pattern.items():
        present = isinstance(data, dict) and key in data
        value = data.get(key) if present else None
        if isinstance(rule, dict):
            if not present or not pattern_matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not _rule_matches(rule, present, value):
                return False
        else:
            raise ValueError(f"a filter rule must be an object or a list, got {rule!r}")
    return True


def filter_criteria_matches(criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether an event source mapping's FilterCriteria let ``record`` through.

    No criteria (or no filters) let everything through; several filters are OR-ed. A pattern
    that is not valid JSON or uses an operator Lambda does not offer raises ValueError (AWS
    refuses such a mapping when it is created).
    """
    filters = (criteria or {}).get("Filters") or []
    if not filters:
        return True
    return any(pattern_matches(json.loads(f["Pattern"]), record) for f in filters)


# 14. Express workflow logs in CloudWatch Logs -------------------------------------------------

#: Serializes the local cloud's writes to log streams (moto's stream is not thread-safe).
_WORKFLOW_LOG_LOCK = threading.Lock()


def workflow_log_record(
    history_log: dict[str, Any], *, include_execution_data: bool
) -> dict[str, Any]:
    """One history event in the shape Step Functions writes to CloudWatch Logs."""
    moment = history_log["event_timestamp"]
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.fromisoformat(str(moment))
    details = dict(history_log.get("details") or {})
    if not include_execution_data:
        details = {k: v for k, v in details.items() if k not in EXECUTION_DATA_KEYS}
    event_type = history_log["type"]
    return {
        "id": str(history_log["id"]),
        "type": str(getattr(event_type, "value", event_type)),  # moto's enum or a name
        "details": details,
        "previous_event_id": str(history_log["previous_event_id"]),
        "event_timestamp": str(int(moment.timestamp() * 1000)),
        "execution_arn": str(history_log["execution_arn"]),
    }


def workflow_log_stream(execution_arn: str, millis: int) -> str:
    """``states/<state machine>/<yyyy-mm-dd-HH-MM>/local``: one stream per machine and minute."""
    machine = execution_arn.split(":")[6]
    minute = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    return f"states/{machine}/{minute:%Y-%m-%d-%H-%M}/local"


class WorkflowLogSession:
    """What the interpreter's event manager calls for every history event of one execution."""

    def __init__(self, execution_arn: str, configuration: Any) -> None:
        self.execution_arn = execution_arn
        self.configuration = configuration  # moto's CloudWatchLoggingConfiguration
        self._pending: list[dict[str, Any]] = []  # records not yet written, see flush()

    def log_level_filter(self, history_event_type: Any) -> bool:
        from moto.stepfunctions.parser.asl.eval.event.logging import is_logging_enabled_for

        return bool(is_logging_enabled_for(self.configuration.log_level, history_event_type))

    def publish_history_log(self, history_log: dict[str, Any]) -> None:
        """Keep the event for :meth:`flush`; a logging failure never fails the execution."""
        try:
            record = workflow_log_record(
                history_log, include_execution_data=bool(self.configuration.include_execution_data)
            )
            self._pending.append(record)
        except Exception:  # noqa: BLE001 - as on AWS, delivery problems do not fail executions
            import logging

            logging.getLogger(__name__).debug("workflow log event not recorded", exc_info=True)

    def flush(self) -> None:
        """Append the execution's events to the log group in one call per log stream.

        Called when the execution ends (``localcloud/interpreter.py``): one locked write per
        execution instead of one per history event.
        """
        from moto.logs.models import logs_backends

        config = self.configuration
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            by_stream: dict[str, list[dict[str, Any]]] = {}
            for record in pending:
                millis = int(record["event_timestamp"])
                by_stream.setdefault(workflow_log_stream(self.execution_arn, millis), []).append(
                    {
                        "timestamp": millis,
                        "message": json.dumps(record, separators=(",", ":"), default=str),
                    }
                )
            backend = logs_backends[config.log_account_id][config.log_region]
            with _WORKFLOW_LOG_LOCK:
                if config.log_group_name not in backend.groups:
                    return  # AWS refuses such a logging configuration when it is set
                for stream, events in by_stream.items():
                    backend.ensure_log_stream(config.log_group_name, stream)
                    backend.put_log_events(config.log_group_name, stream, events)
        except Exception:  # noqa: BLE001 - as on AWS, delivery problems do not fail executions
            import logging

            logging.getLogger(__name__).debug("workflow log events not delivered", exc_info=True)


def workflow_log_session(
    execution_arn: str, logging_configuration: Any
) -> WorkflowLogSession | None:
    """The session for an execution of a machine with this logging configuration (None: off)."""
    from moto.stepfunctions.parser.asl.eval.event.logging import CloudWatchLoggingConfiguration

    if not logging_configuration:
        return None
    configuration = CloudWatchLoggingConfiguration.from_logging_configuration(
        state_machine_arn=execution_arn,
        logging_configuration={
            "includeExecutionData": False,
            **logging_configuration,
        },
    )
    return None if configuration is None else WorkflowLogSession(execution_arn, configuration)


def _patch_workflow_logs() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution

    original = Execution.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # moto's own session (standard executions of the provider) cannot store events either.
        configuration = getattr(self.state_machine, "loggingConfiguration", None)
        self._cloud_watch_logging_session = workflow_log_session(self.exec_arn, configuration)

    Execution.__init__ = __init__


# 15. Parse each definition once -------------------------------------------------------------


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


# 16. Code runs as its role ------------------------------------------------------------------


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


# moto modules that start a thread per program, state, branch, iteration or callback wait.
_INTERPRETER_THREAD_MODULES = (
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration."
    "inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_callback",
)


def _patch_principals() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    iam.install()
    for name in _INTERPRETER_THREAD_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "Thread", None) is threading.Thread:
            module.Thread = ContextThread  # type: ignore[attr-defined]
        if getattr(module, "threading", None) is threading:
            module.threading = _ThreadingWithContext()  # type: ignore[attr-defined]

    original = ExecutionWorker._execution_logic

    def _execution_logic(self: Any) -> None:
        role_arn = self._evaluation_details.aws_execution_details.role_arn
        with iam.acting_as(str(role_arn) if role_arn else None, service_uses=True):
            original(self)

    ExecutionWorker._execution_logic = _execution_logic


# MOCK integrations in CloudFormation -----------------------------------------------------------


def _patch_cloudformation_mock_methods() -> None:
    """moto 5.2.5 requires ``IntegrationHttpMethod`` and ``Uri`` on every method's integration;
    a MOCK integration (the discovery documents) has neither, and CloudFormation accepts that.
    The local gateway serves methods from the template, so moto only needs to create them."""
    from moto.apigateway.models import Method

    original = Method.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        integration = properties.get("Integration") or {}
        if integration.get("Type") == "MOCK":
            integration = {"IntegrationHttpMethod": "POST", "Uri": "", **integration}
            properties = {**properties, "Integration": integration}
            cloudformation_json = {**cloudformation_json, "Properties": properties}
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Method.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        create_from_cloudformation_json
    )

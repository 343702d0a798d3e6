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
"""

from __future__ import annotations

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
from collections.abc import Callable
from functools import lru_cache
from typing import Any

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
    try:
        apply_function_environment(dict(function.environment_vars or {}))
        handler = resolve_handler(function.handler)
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
        if state_credentials is not None:
            return original(region=region, service=service, state_credentials=state_credentials)
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


def _patch_atomic_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    write_lock = threading.RLock()

    def serialized(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with write_lock:
                return original(self, *args, **kwargs)

        write.__wrapped__ = original  # type: ignore[attr-defined]
        return write

    for name in DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))

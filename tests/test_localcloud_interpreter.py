"""The interpreter's hot spots (localcloud/interpreter.py), on the running local cloud."""

from __future__ import annotations

import json
import string
import threading
import uuid

import boto3
import pytest
from botocore.config import Config

from localcloud import interpreter, stepfunctions
from localcloud.cloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/local-test"

#: Choice, Retry-free Pass states, JSONPath in InputPath/ResultPath/Parameters and a Fail branch:
#: every piece keeps per-execution values, which must not leak between concurrent executions.
BRANCHING = {
    "StartAt": "Pick",
    "States": {
        "Pick": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 0, "Next": "Shape"}],
            "Default": "Refuse",
        },
        "Shape": {
            "Type": "Pass",
            "InputPath": "$",
            "Parameters": {"echo.$": "$.n", "label.$": "States.Format('n={}', $.n)"},
            "ResultPath": "$.shaped",
            "Next": "Keep",
        },
        "Keep": {"Type": "Pass", "OutputPath": "$.shaped", "End": True},
        "Refuse": {"Type": "Fail", "Error": "Negative", "Cause": "n < 0"},
    },
}

MAPPED = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "Iterator": {
                "StartAt": "Double",
                "States": {"Double": {"Type": "Pass", "End": True}},
            },
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def _machine(aws: boto3.Session, definition: dict) -> str:
    return aws.client("stepfunctions").create_state_machine(
        name=f"test-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type="EXPRESS",
    )["stateMachineArn"]


def _sfn(aws: boto3.Session):  # the sync API must not be host-prefixed locally
    return aws.client("stepfunctions", config=Config(inject_host_prefix=False))


def test_executions_share_the_program_unless_it_has_map_or_parallel() -> None:
    shared = json.dumps(BRANCHING)
    assert interpreter.shares_program(shared)
    assert interpreter.program_for_execution(shared) is interpreter.program_for_execution(shared)
    mapped = json.dumps(MAPPED)
    assert not interpreter.shares_program(mapped)
    first, second = (interpreter.program_for_execution(mapped) for _ in range(2))
    assert first is not second
    assert first is not stepfunctions.parsed_program(mapped)
    nested = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [BRANCHING]}}}
    assert interpreter.state_types(nested) == {"Parallel", "Choice", "Pass", "Fail"}


def test_concurrent_executions_of_one_shared_program_do_not_interfere(aws: boto3.Session) -> None:
    arn = _machine(aws, BRANCHING)
    inputs = [n if n % 5 else -n - 1 for n in range(40)]  # every fifth one fails
    answers: dict[int, dict] = {}
    errors: list[BaseException] = []

    def run(chunk: list[int]) -> None:
        client = _sfn(aws)
        try:
            for n in chunk:
                answers[n] = client.start_sync_execution(
                    stateMachineArn=arn, input=json.dumps({"n": n, "noise": "x" * (n % 7)})
                )
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(inputs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in inputs:
        answer = answers[n]
        if n >= 0:
            assert answer["status"] == "SUCCEEDED", answer
            assert json.loads(answer["output"]) == {"echo": n, "label": f"n={n}"}
        else:
            assert answer["status"] == "FAILED"
            assert answer["error"] == "Negative"


def test_a_map_definition_still_runs_with_its_own_program(aws: boto3.Session) -> None:
    arn = _machine(aws, MAPPED)
    answer = _sfn(aws).start_sync_execution(stateMachineArn=arn, input='{"items": [1, 2, 3]}')
    assert answer["status"] == "SUCCEEDED"
    assert json.loads(answer["output"]) == [1, 2, 3]


#: Paths jsonpath_ng reads beyond plain names: brackets, an index, a wildcard.
BRACKETED = {
    "StartAt": "Pick",
    "States": {
        "Pick": {
            "Type": "Pass",
            "Parameters": {"first.$": "$.items[0]", "all.$": "$.items[*].n", "k.$": "$['key']"},
            "End": True,
        }
    },
}


def test_json_paths_are_parsed_once_per_path_string(aws: boto3.Session) -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    assert json_path.parse is interpreter.parsed_json_path_ext
    arn = _machine(aws, BRACKETED)
    client = _sfn(aws)
    document = {"items": [{"n": 1}, {"n": 2}], "key": "v"}
    client.start_sync_execution(stateMachineArn=arn, input=json.dumps(document))
    before = interpreter.parsed_json_path_ext.cache_info()
    for _ in range(3):
        answer = client.start_sync_execution(stateMachineArn=arn, input=json.dumps(document))
        assert json.loads(answer["output"]) == {"first": {"n": 1}, "all": [1, 2], "k": "v"}
    after = interpreter.parsed_json_path_ext.cache_info()
    assert after.misses == before.misses  # the same paths: nothing parsed again
    assert after.hits > before.hits


#: (path, data) pairs: plain names (read directly) and everything else (moto's reader).
EXTRACTIONS = [
    ("$.a", {"a": 1}),
    ("$.a.b", {"a": {"b": [1, {"c": None}]}}),
    ("$.a.b", {"a": {"b": None}}),
    ("$.a_1.B2", {"a_1": {"B2": {"x": "y"}}}),
    ("$.a", {"a": [1, 2]}),
    ("$.a.b", {"a": [1, 2]}),  # a list on the way
    ("$.a.b", {"a": "text"}),  # a string on the way
    ("$.missing", {"a": 1}),
    ("$.a.missing", {"a": {}}),
    ("$.a", [{"a": 1}]),
    ("$.where", {"where": 1}),
    ("$.null", {"null": 1}),
    ("$.a-b", {"a-b": 1}),
    ("$.a[0]", {"a": [7, 8]}),
    ("$.a[*]", {"a": [7, 8]}),
    ("$.a[1:]", {"a": [7, 8, 9]}),
    ("$['a']", {"a": 1}),
    ("$.a.*", {"a": {"x": 1, "y": 2}}),
    ("$", {"a": 1}),
]


def _outcome(read, path, data):
    try:
        return ("value", read(path, data))
    except Exception as error:  # noqa: BLE001 - the comparison is of what each raises
        return ("raised", type(error).__name__, str(error))


@pytest.mark.usefixtures("local_cloud")
@pytest.mark.parametrize(("path", "data"), EXTRACTIONS)
def test_a_path_is_read_as_moto_reads_it(path, data) -> None:
    from moto.stepfunctions.parser.asl.eval import states
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_extract_json = json_path.extract_json.__wrapped__
    assert states.extract_json is interpreter.extract_json
    ours = _outcome(interpreter.extract_json, path, data)
    assert ours == _outcome(moto_extract_json, path, data)
    if ours[0] == "value" and interpreter.plain_path_names(path) is not None:
        value = data
        for name in interpreter.plain_path_names(path):
            value = value[name]
        assert ours[1] is value  # the value itself, as moto's reader gives it


def test_plain_paths_are_the_ones_read_directly() -> None:
    assert interpreter.plain_path_names("$.user.Item") == ("user", "Item")
    for path in ("$", "$.a[0]", "$['a']", "$.a-b", "$.where", "$.a.null", "$..a", "$.a.", "$.1a"):
        assert interpreter.plain_path_names(path) is None, path


def test_response_method_names_are_listed_once_per_class(local_cloud: LocalCloud) -> None:
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler

    assert responses.method_names_from_class is interpreter.method_names_of
    names = interpreter.method_names_of(DynamoHandler)
    assert {"get_item", "transact_write_items"} <= names
    assert interpreter.method_names_of(DynamoHandler) is names


@pytest.mark.parametrize(
    "action",
    [
        "PutItem",
        "TransactWriteItems",
        "StartSyncExecution",
        "GetSecretValue",
        "ListTagsForResource",
        "DescribeTimeToLive",
        "PutEvents",
        "CreateSAMLProvider",
        "",
        "invoke",
    ],
)
def test_action_names_become_the_method_names_moto_calls(
    action: str, local_cloud: LocalCloud
) -> None:
    from moto.core import responses
    from moto.core.utils import camelcase_to_underscores

    assert responses.camelcase_to_underscores is interpreter.method_name_of
    assert interpreter.method_name_of(action) == camelcase_to_underscores(action)


def test_moto_answers_carry_request_ids_of_moto_s_shape(aws: boto3.Session) -> None:
    import re

    from moto.core import responses

    assert responses.gen_amzn_requestid_long is interpreter.request_id
    headers: dict[str, str] = {}
    ids = {interpreter.request_id(headers) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9]{52}", value) for value in ids)
    assert headers["x-amzn-requestid"] in ids
    # Every letter and digit is drawn: the alphabet covers all 62.
    assert set("".join(ids)) == set(string.ascii_letters + string.digits)
    # A client of the running cloud reads its answer's id from the header.
    answer = aws.client("dynamodb").list_tables()
    assert re.fullmatch(r"[A-Za-z0-9]{52}", answer["ResponseMetadata"]["RequestId"])


def test_state_values_are_copied_as_independently_as_deepcopy_copies_them() -> None:
    import copy
    import datetime

    moment = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    value = {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "when": moment}
    copied = interpreter.copy_json_value(value)
    assert copied == copy.deepcopy(value) == value
    copied["a"][2]["b"] = "changed"
    copied["a"].append(3)
    assert value == {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "when": moment}


def test_program_states_are_copied_as_independently_as_deepcopy_copies_them() -> None:
    import copy
    import datetime

    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramError,
        ProgramRunning,
        ProgramStopped,
    )

    assert environment.copy.deepcopy is interpreter.copy_json_value
    running = ProgramRunning()
    running.next_state_name = "Verify"
    running.next_field_name = "Parameters"
    copied = interpreter.copy_json_value(running)
    assert type(copied) is ProgramRunning and copied is not running
    assert vars(copied) == vars(copy.deepcopy(running)) == vars(running)
    copied.next_state_name = "Elsewhere"
    assert (running.next_state_name, running.next_field_name) == ("Verify", "Parameters")
    moment = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
    stopped = interpreter.copy_json_value(ProgramStopped(moment, "Error", "cause"))
    assert (stopped.stop_date, stopped.error, stopped.cause) == (moment, "Error", "cause")
    # An error holds a dict: it is deep-copied.
    failed = ProgramError({"error": "E", "cause": "C"})
    copied_error = interpreter.copy_json_value(failed)
    assert copied_error.error == failed.error and copied_error.error is not failed.error


def test_a_workflow_that_changes_its_input_leaves_earlier_values_alone(aws: boto3.Session) -> None:
    """The interpreter reads the same input in several states; each read is its own copy."""
    definition = {
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Pass", "ResultPath": "$.kept", "Next": "Change"},
            "Change": {"Type": "Pass", "Result": "changed", "ResultPath": "$.kept.v", "End": True},
        },
    }
    arn = _machine(aws, definition)
    answer = _sfn(aws).start_sync_execution(stateMachineArn=arn, input='{"v": "original"}')
    assert answer["status"] == "SUCCEEDED", answer
    assert json.loads(answer["output"]) == {"v": "original", "kept": {"v": "changed"}}


def _logged_machine(aws: boto3.Session, definition: dict, *, include_data: bool) -> str:
    group = f"/aws/vendedlogs/states/test-{uuid.uuid4().hex[:8]}"
    aws.client("logs").create_log_group(logGroupName=group)
    return aws.client("stepfunctions").create_state_machine(
        name=f"test-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=ROLE,
        type="EXPRESS",
        loggingConfiguration={
            "level": "ALL",
            "includeExecutionData": include_data,
            "destinations": [
                {
                    "cloudWatchLogsLogGroup": {
                        "logGroupArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
                    }
                }
            ],
        },
    )["stateMachineArn"]


def _state_events(aws: boto3.Session, arn: str, n: int) -> dict[str, list[dict]]:
    answer = _sfn(aws).start_sync_execution(stateMachineArn=arn, input=json.dumps({"n": n}))
    assert answer["status"] == "SUCCEEDED"
    events = aws.client("stepfunctions").get_execution_history(executionArn=answer["executionArn"])[
        "events"
    ]
    details: dict[str, list[dict]] = {"entered": [], "exited": []}
    for event in events:
        if "stateEnteredEventDetails" in event:
            details["entered"].append(event["stateEnteredEventDetails"])
        if "stateExitedEventDetails" in event:
            details["exited"].append(event["stateExitedEventDetails"])
    return details


def test_state_events_carry_each_state_s_input_and_output_as_json(aws: boto3.Session) -> None:
    # Written from the state's value without moto's copy of it (interpreter fix 6).
    details = _state_events(aws, _logged_machine(aws, BRANCHING, include_data=True), 4)
    shaped = {"n": 4, "shaped": {"echo": 4, "label": "n=4"}}
    assert [(d["name"], json.loads(d["input"])) for d in details["entered"]] == [
        ("Pick", {"n": 4}),
        ("Shape", {"n": 4}),
        ("Keep", shaped),
    ]
    assert [(d["name"], json.loads(d["output"])) for d in details["exited"]] == [
        ("Pick", {"n": 4}),
        ("Shape", shaped),
        ("Keep", {"echo": 4, "label": "n=4"}),
    ]
    assert all(d["inputDetails"] == {"truncated": False} for d in details["entered"])


def test_state_events_without_execution_data_name_the_state_only(aws: boto3.Session) -> None:
    details = _state_events(aws, _logged_machine(aws, BRANCHING, include_data=False), 4)
    assert details["entered"] == [{"name": "Pick"}, {"name": "Shape"}, {"name": "Keep"}]
    assert details["exited"] == [{"name": "Pick"}, {"name": "Shape"}, {"name": "Keep"}]


class _Recording:
    """A component whose body notes each evaluation (and fails when told to)."""

    failure: Exception | None = None

    def __init__(self) -> None:
        self.evaluated = 0

    def _eval_body(self, env: object) -> None:
        self.evaluated += 1
        if self.failure is not None:
            raise self.failure


def _component(failure: Exception | None = None) -> object:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    class Recording(_Recording, EvalComponent):
        def __repr__(self) -> str:
            return "Recording()"

    component = Recording()
    component.failure = failure
    return component


def _environment(program_state: object) -> object:
    class Env:
        _program_state = program_state

        def is_running(self) -> bool:  # what moto's own eval asks
            from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

            return isinstance(self._program_state, ProgramRunning)

        @property
        def next_field_name(self) -> str | None:
            return self._program_state.next_field_name

        @next_field_name.setter
        def next_field_name(self, name: str) -> None:
            self._program_state.next_field_name = name

    return Env()


@pytest.mark.parametrize("lean", [True, False], ids=["patched", "moto"])
def test_components_are_evaluated_as_moto_evaluates_them(
    lean: bool, caplog: pytest.LogCaptureFixture, local_cloud: LocalCloud
) -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import LOG, EvalComponent
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramRunning

    assert getattr(EvalComponent.eval, "_stepauth_lean", False)
    evaluate = EvalComponent.eval if lean else EvalComponent.eval.__wrapped__

    running = ProgramRunning()
    running.next_state_name = "Shape"
    component = _component()
    with caplog.at_level("DEBUG", logger=LOG.name):
        evaluate(component, _environment(running))
    assert component.evaluated == 1
    assert running.next_field_name == "Recording"  # the field an error message names
    assert [r.getMessage() for r in caplog.records] == ["[ASL] [comp] [Recording]: 'Recording()'"]

    caplog.clear()
    stopped = _component()
    with caplog.at_level("DEBUG", logger=LOG.name):
        evaluate(stopped, _environment(ProgramEnded()))
    assert stopped.evaluated == 0  # nothing runs once the program has stopped
    assert [r.getMessage() for r in caplog.records] == ["[ASL] [prun] [Recording]: 'Recording()'"]

    caplog.clear()
    failing = _component(ValueError("broken"))
    with caplog.at_level("INFO", logger=LOG.name), pytest.raises(ValueError, match="broken"):
        evaluate(failing, _environment(running))
    assert [r.getMessage() for r in caplog.records] == [
        "Exception=ValueError, Details=['broken'] at 'Recording()'"
    ]


class _ResultPathEnv:
    """What ResultPath reads of an Environment: the states (the input) and the value stack."""

    def __init__(self, state_input: dict, result: object) -> None:
        from moto.stepfunctions.parser.asl.eval.states import States

        self.states = States(context={"Execution": {"Input": state_input}})  # type: ignore[typeddict-item]
        self.stack: list = [result]


@pytest.mark.usefixtures("local_cloud")
@pytest.mark.parametrize("path", [None, "$", "$.r", "$.a.b", "$.a.new.deep", "$.list[1]"])
def test_result_path_writes_into_a_copy_of_the_uncopied_input(path: str | None) -> None:
    """A state's whole input is read without a copy; ResultPath, the reader that writes into it,
    copies it first, and answers as moto's method does."""
    from moto.stepfunctions.parser.asl.component.common.path.result_path import ResultPath

    def document() -> dict:
        return {"a": {"b": [1, {"c": 2}]}, "list": ["x", "y"], "n": 1}

    env = _ResultPathEnv(document(), {"result": {"nested": [3]}})
    stored = env.states.get_input()
    assert stored is env.states.get_input()  # read, not copied
    ResultPath(result_path_src=path)._eval_body(env)  # type: ignore[arg-type]
    moto_env = _ResultPathEnv(document(), {"result": {"nested": [3]}})
    moto_env.states.get_input = moto_env.states.get_input.__wrapped__.__get__(moto_env.states)  # type: ignore[attr-defined]
    ResultPath._eval_body.__wrapped__(ResultPath(result_path_src=path), moto_env)  # type: ignore[attr-defined]
    assert env.stack == moto_env.stack
    if path is not None:
        assert stored == document()  # the input the state read is as it was
        env.stack[-1]["n"] = "changed later"  # and the output shares nothing with it
        assert stored == document()


@pytest.mark.usefixtures("local_cloud")
def test_a_read_of_a_path_of_the_input_is_still_a_copy() -> None:
    from moto.stepfunctions.parser.asl.eval.states import States

    states = States(context={"Execution": {"Input": {"a": {"b": [1]}}}})  # type: ignore[typeddict-item]
    part = states.get_input("$.a")
    assert part == {"b": [1]}
    part["b"].append(2)
    assert states.get_input() == {"a": {"b": [1]}}

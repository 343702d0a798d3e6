"""The hot spots of moto's Step Functions interpreter and request dispatch, made cheap.

1. JSONPath expressions are parsed once per path string. moto calls ``jsonpath_ng.parse`` on
   every evaluation (about 0.9 ms each, some 25 per login); a parsed expression is immutable
   during ``find`` and ``update_or_create``, so one parse serves every execution. A path of
   plain names (``$.user.Item``, most of the workflows' paths) is read by walking the dicts
   (:func:`extract_json`); jsonpath_ng's ``find`` built a match object per step, a tenth of the
   interpreter's CPU. Any other path, and any miss, goes to moto's ``extract_json``.
2. Executions share one parsed program per definition instead of a deep copy each (a copy held
   about 548 KiB per login). Components keep their per-execution values in the execution's
   ``Environment`` (its stack, heap and frames), with one exception: ``heap_key``, a lazily drawn
   id two executions could draw at once; every component's key is drawn before the program is
   shared. Map and Parallel states keep worker pools and counters on their components, so a
   definition with either still gets its own copy per execution.
3. A workflow's log events are written to CloudWatch Logs in one batch when the execution ends
   (see ``stepfunctions_logs.WorkflowLogSession``), not one locked call per history event.
4. moto's ``BaseResponse.call_action`` lists the response class's methods with
   ``inspect.getmembers`` on every request, and turns the action's name into a method name one
   character at a time; the list is kept per class and the name per action.
5. The interpreter deep-copies a state's input, result and every path's value each time it reads
   them (some 50 copies per login, a fifth of its CPU). The values are JSON documents: they are
   copied by :func:`copy_json_value` (dicts, lists and scalars rebuilt directly, anything else
   by ``copy.deepcopy``), which gives the same independent copy several times faster. The
   environment also deep-copies its program state (running, ended...) each time a state asks for
   it, some ten times per login; those that hold only names and times are copied field by field.
6. Each state's entered and exited history events carry its input and output as JSON text; moto
   deep-copied the state's value only to serialize it, twice per state. The text is now written
   from the value itself, and not at all when the machine's logging leaves execution data out
   (the history and the logs drop it then: ``stepfunctions`` fix 3).
7. moto names every answer with a request id of 52 letters and digits drawn by ``random.choice``
   one at a time (about 50 µs an answer, several per login); :func:`request_id` draws the same
   shape from one ``os.urandom`` call (so moto's seed, which the local cloud never sets, no
   longer decides them).
8. moto evaluates some 230 components per login through ``EvalComponent.eval``, which asks the
   environment twice whether the program runs and calls a logging helper that checks the log
   level first; the patched ``eval`` reads the program state once and checks the level itself
   (the same lines are logged at DEBUG).
9. A state's whole input is read without a copy (``States.get_input()``, some 28 reads per
   login, each a deep copy of the whole document: a thirtieth of a login's CPU). Of its readers,
   only ResultPath writes into what it read (``update_or_create`` on the input); it now copies
   the input first. The others serialize it, compare or extract from it, hand it to
   ``States.reset`` (which copies), or push it as the state's value, which is built on
   (Parameters, ResultSelector), serialized (a Lambda payload), copied (a service Task's
   parameters, ResultPath's result, Parallel's input) or handed to ``reset``. A read with a
   path (``$states.input.x``) is still copied, as are results and error outputs.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import string
from functools import lru_cache
from typing import Any

#: ASL state types whose components hold per-execution state (worker pools, counters).
STATEFUL_STATE_TYPES = frozenset({"Map", "Parallel"})


# 1. JSONPath -----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parsed_json_path_ext(path: str) -> Any:
    """``jsonpath_ng.ext.parse`` (filters and arithmetic), once per path string."""
    from jsonpath_ng.ext import parse

    return parse(path)


@lru_cache(maxsize=4096)
def parsed_json_path(path: str) -> Any:
    """``jsonpath_ng.parse``, once per path string (ResultPath uses the plain grammar)."""
    from jsonpath_ng import parse

    return parse(path)


#: ``$`` and one or more plain names (what jsonpath_ng reads as ``Fields`` children of the root).
_PLAIN_PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
#: Names jsonpath_ng's lexer reads as something else (``where`` is an operator, ``null`` a
#: literal in the extended grammar): such a path goes to moto's reader.
_JSONPATH_WORDS = frozenset({"where", "wherenot", "null"})


@lru_cache(maxsize=4096)
def plain_path_names(path: str) -> tuple[str, ...] | None:
    """The names of a path of plain names (``$.a.b`` → ``("a", "b")``), else None."""
    if not _PLAIN_PATH.fullmatch(path):
        return None
    names = tuple(path[2:].split("."))
    return None if _JSONPATH_WORDS.intersection(names) else names


def extract_json(path: str, data: Any) -> Any:
    """moto's ``extract_json``: the value at ``path`` in ``data`` (the same object, not a copy).

    A path of plain names through dicts is walked directly; it gives what jsonpath_ng's single
    ``Fields`` match gives. Anything else (brackets, wildcards, filters, a missing name, a value
    that is not a dict on the way) is moto's, which also raises its errors."""
    names = plain_path_names(path)
    if names is not None:
        value = data
        for name in names:
            if type(value) is not dict or name not in value:
                break
            value = value[name]
        else:
            return value
    return _moto_extract_json(path, data)


def _moto_extract_json(path: str, data: Any) -> Any:
    from moto.stepfunctions.parser.asl.utils import json_path

    return json_path.extract_json.__wrapped__(path, data)  # type: ignore[attr-defined]


#: The interpreter modules that import moto's ``extract_json`` by name.
_JSON_PATH_READING_MODULES = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations."
    "boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations."
    "numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations."
    "string_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations."
    "timestamp_operators",
)


def _patch_json_path_parsing() -> None:
    import importlib

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = parsed_json_path_ext  # type: ignore[attr-defined]
    result_path.parse = parsed_json_path  # type: ignore[attr-defined]
    original = json_path.extract_json
    if getattr(original, "__wrapped__", None) is None:
        extract_json.__wrapped__ = original  # type: ignore[attr-defined]
    for name in _JSON_PATH_READING_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "extract_json", None) is original:
            module.extract_json = extract_json  # type: ignore[attr-defined]


# 2. One program per definition -----------------------------------------------------------------


def state_types(definition: Any) -> set[str]:
    """Every state ``Type`` in an ASL document, nested branches and iterators included."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            states = node.get("States")
            if isinstance(states, dict):
                for state in states.values():
                    if isinstance(state, dict) and isinstance(state.get("Type"), str):
                        found.add(state["Type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition)
    return found


@lru_cache(maxsize=128)
def shares_program(definition: str) -> bool:
    """Whether executions of this definition may share one parsed program."""
    try:
        document = json.loads(definition)
    except ValueError:
        return False
    return not (state_types(document) & STATEFUL_STATE_TYPES)


def draw_heap_keys(program: Any) -> int:
    """Draw every component's lazy ``heap_key`` now, so that sharing threads never race on it."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    drawn = 0
    pending: list[Any] = [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            _ = node.heap_key
            drawn += 1
        if isinstance(node, Component):
            pending.extend(vars(node).values())
        elif isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            pending.extend(node)
    return drawn


def program_for_execution(definition: str) -> Any:
    """The program one execution evaluates: shared, or a copy for Map/Parallel definitions."""
    from . import stepfunctions

    program = stepfunctions.parsed_program(definition)
    if not shares_program(definition):
        return copy.deepcopy(program)
    if not getattr(program, "_stepauth_heap_keys_drawn", False):
        # Racing first callers each walk the program; a key, once drawn, is never redrawn.
        draw_heap_keys(program)
        program._stepauth_heap_keys_drawn = True
    return program


# 3. Log events in one batch --------------------------------------------------------------------


def _patch_log_flush_at_execution_end() -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._execution_logic

    def _execution_logic(self: Any) -> None:
        try:
            original(self)
        finally:
            session = getattr(self, "_cloud_watch_logging_session", None)
            flush = getattr(session, "flush", None)
            if flush is not None:
                flush()

    _execution_logic.__wrapped__ = original  # type: ignore[attr-defined]
    ExecutionWorker._execution_logic = _execution_logic


# 5. JSON values copied without copy.deepcopy's machinery ----------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def copy_json_value(value: Any, memo: Any = None) -> Any:
    """An independent copy of a JSON value, as ``copy.deepcopy`` gives (a program state whose
    fields are all immutable: a new one with the same fields; other types: deepcopy)."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json_value(item) for key, item in value.items()}
    if kind is list:
        return [copy_json_value(item) for item in value]
    if kind in _SCALARS:
        return value
    if kind in _flat_program_states():
        copied = object.__new__(kind)
        copied.__dict__.update(value.__dict__)
        return copied
    return copy.deepcopy(value, memo)


@lru_cache(maxsize=1)
def _flat_program_states() -> frozenset[type]:
    """moto's program states whose fields are names, texts and times (not ``ProgramError``,
    whose error is a dict)."""
    from moto.stepfunctions.parser.asl.eval import program_state

    return frozenset(
        {
            program_state.ProgramRunning,
            program_state.ProgramEnded,
            program_state.ProgramStopped,
            program_state.ProgramTimedOut,
        }
    )


class _CopyModule:
    """What moto's interpreter modules see as ``copy``: the same, with a faster ``deepcopy``."""

    deepcopy = staticmethod(copy_json_value)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


#: The interpreter modules whose ``copy.deepcopy`` calls copy state values (and, in
#: ``environment``, the program state and the context's ``State``).
_VALUE_COPYING_MODULES = (
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)


def _patch_value_copies() -> None:
    import importlib

    for name in _VALUE_COPYING_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "copy", None) is copy:
            module.copy = _CopyModule()  # type: ignore[attr-defined]


# 4. Method names per response class --------------------------------------------------------------


@lru_cache(maxsize=512)
def method_names_of(response_class: type) -> frozenset[str]:
    """The functions of a response class, as moto's ``method_names_from_class`` lists them."""
    import inspect

    return frozenset(name for name, _ in inspect.getmembers(response_class, inspect.isfunction))


@lru_cache(maxsize=1024)
def method_name_of(action: str) -> str:
    """moto's ``camelcase_to_underscores`` of an action name (``PutItem`` → ``put_item``)."""
    from moto.core.utils import camelcase_to_underscores

    return camelcase_to_underscores(action)


def _patch_method_names() -> None:
    from moto.core import responses

    responses.method_names_from_class = method_names_of  # type: ignore[assignment]
    responses.camelcase_to_underscores = method_name_of  # type: ignore[attr-defined]


def apply() -> None:
    """Install 1 and 3 to 9 (called once by ``patches.apply``; 2 is ``stepfunctions``' fix 6)."""
    _patch_json_path_parsing()
    _patch_log_flush_at_execution_end()
    _patch_method_names()
    _patch_value_copies()
    _patch_state_event_details()
    _patch_request_ids()
    _patch_component_evaluation()
    _patch_state_input_reads()


# 7. Request ids ------------------------------------------------------------------------------

#: Each byte value onto moto's alphabet (letters and digits); 256 is not a multiple of 62, and
#: the slight bias this gives does not matter in an id.
_REQUEST_ID_ALPHABET = bytes(
    (string.ascii_letters + string.digits).encode("ascii")[value % 62] for value in range(256)
)


def request_id(headerdict: dict[str, Any] | None = None) -> str:
    """moto's ``gen_amzn_requestid_long``: 52 random letters and digits, also set as the
    ``x-amzn-requestid`` of ``headerdict`` when one is given."""
    value = os.urandom(52).translate(_REQUEST_ID_ALPHABET).decode("ascii")
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = value
    return value


def _patch_request_ids() -> None:
    from moto.core import responses
    from moto.utilities import aws_headers

    responses.gen_amzn_requestid_long = request_id  # type: ignore[attr-defined]
    aws_headers.gen_amzn_requestid_long = request_id


# 6. A state's input and output in its history events -------------------------------------------


def state_value_json(env: Any) -> str | None:
    """The state's current value as the history's JSON text; None when the execution's history
    and logs leave execution data out (``include_execution_data``, set by ``stepfunctions``)."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    if not getattr(env.event_manager, "include_execution_data", True):
        return None
    # Serialized from the value itself (moto's get_input() deep-copied it first; item 9).
    return to_json_str(env.states._states_data["input"], separators=(",", ":"))


def _patch_state_event_details() -> None:
    from moto.stepfunctions.parser.api import (
        HistoryEventExecutionDataDetails,
        StateEnteredEventDetails,
        StateExitedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    def _get_state_entered_event_details(self: Any, env: Any) -> Any:
        value = state_value_json(env)
        if value is None:
            return StateEnteredEventDetails(name=self.name)
        return StateEnteredEventDetails(
            name=self.name,
            input=value,
            inputDetails=HistoryEventExecutionDataDetails(truncated=False),
        )

    def _get_state_exited_event_details(self: Any, env: Any) -> Any:
        value = state_value_json(env)
        details = StateExitedEventDetails(name=self.name)
        if value is not None:
            details["output"] = value
            details["outputDetails"] = HistoryEventExecutionDataDetails(truncated=False)
        # As moto: the variables this state assigned, and their tracing reset.
        assigned_variables = env.variable_store.get_assigned_variables()
        env.variable_store.reset_tracing()
        if assigned_variables:
            details["assignedVariables"] = assigned_variables  # type: ignore[typeddict-unknown-key]
            details["assignedVariablesDetails"] = {"truncated": False}  # type: ignore[typeddict-unknown-key]
        return details

    CommonStateField._get_state_entered_event_details = _get_state_entered_event_details  # type: ignore[method-assign]
    CommonStateField._get_state_exited_event_details = _get_state_exited_event_details  # type: ignore[method-assign]


# 8. Each component's evaluation ------------------------------------------------------------------


def _patch_component_evaluation() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.eval_component import LOG, EvalComponent
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

    if getattr(EvalComponent.eval, "_stepauth_lean", False):
        return
    original = EvalComponent.eval

    def eval(self: Any, env: Any) -> None:  # noqa: A001 - moto's method name
        """moto's ``EvalComponent.eval``: the body while the program runs (the field name
        noted for error messages), a failure logged and raised; nothing once it has stopped."""
        program_state = env._program_state
        if not isinstance(program_state, ProgramRunning):
            if LOG.isEnabledFor(logging.DEBUG):
                self._log_evaluation_step("Pruning")
            return
        if LOG.isEnabledFor(logging.DEBUG):
            self._log_evaluation_step("Computing")
        try:
            field_name = self._field_name()
            if field_name is not None:
                program_state.next_field_name = field_name
            self._eval_body(env)
        except FailureEventException as failure_event_exception:
            self._log_failure_event_exception(failure_event_exception=failure_event_exception)
            raise
        except Exception as exception:
            self._log_exception(exception=exception)
            raise

    eval.__wrapped__ = original  # type: ignore[attr-defined]
    eval._stepauth_lean = True  # type: ignore[attr-defined]
    EvalComponent.eval = eval  # type: ignore[method-assign]


# 9. The state input read without a copy -----------------------------------------------------------


def _patch_state_input_reads() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.eval.states import States

    if getattr(States.get_input, "_stepauth_uncopied", False):
        return
    get_input_copied = States.get_input

    def get_input(self: Any, query: str | None = None) -> Any:
        if query is None:
            return self._states_data["input"]
        return get_input_copied(self, query)

    def _eval_body(self: Any, env: Any) -> None:
        """moto's ``ResultPath._eval_body``, copying the input it writes the result into."""
        if self.result_path_src is None:  # the state's output is its input, unchanged
            env.stack.clear()
            env.stack.append(env.states.get_input())
            return
        current_output = env.stack.pop()
        state_output = result_path.parse(self.result_path_src).update_or_create(
            copy_json_value(env.states.get_input()), copy_json_value(current_output)
        )
        env.stack.append(state_output)

    get_input.__wrapped__ = get_input_copied  # type: ignore[attr-defined]
    get_input._stepauth_uncopied = True  # type: ignore[attr-defined]
    _eval_body.__wrapped__ = result_path.ResultPath._eval_body  # type: ignore[attr-defined]
    States.get_input = get_input  # type: ignore[method-assign]
    result_path.ResultPath._eval_body = _eval_body  # type: ignore[method-assign]

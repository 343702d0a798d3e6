"""Lambda in the local cloud, where moto 5.2.5 differs from AWS: handlers run in-process and
event source mappings honour FilterCriteria.

1. Lambda code runs in-process: moto would start a Docker container. The handler named by the
   function's ``Handler`` is imported from the project and called with the event (every invoke
   path, API or event source mapping, ends in ``LambdaFunction._invoke_lambda``). Code runs as
   the function's execution role, for IAM (``localcloud/iam.py``).
2. FilterCriteria are applied to stream records as Lambda applies them (moto ignores them):
   :func:`filter_criteria_matches` evaluates the mapping's patterns (OR-ed) against the
   Lambda-shaped record, with the comparison operators Lambda event filtering supports. The
   poller in ``localcloud/streams.py`` calls it.

``apply()`` installs 1 (``patches.apply`` calls it). Tests: ``tests/test_localcloud_patches.py``,
``tests/test_filter_criteria.py``.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import traceback
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from localcloud import faults

from . import iam


def apply() -> None:
    _patch_in_process_lambda()


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


# 2. FilterCriteria ---------------------------------------------------------------------------

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

"""Lambda in the local cloud, where moto 5.2.5 differs from AWS: handlers run in-process and
event source mappings honour FilterCriteria.

1. Lambda code runs in-process: moto would start a Docker container. The handler named by the
   function's ``Handler`` is imported from the project and called with the event (every invoke
   path, API or event source mapping, ends in ``LambdaFunction._invoke_lambda``). Code runs as
   the function's execution role, for IAM (``localcloud/iam.py``).
2. FilterCriteria are applied to stream records as Lambda applies them (moto ignores them):
   :func:`filter_criteria_matches` evaluates the mapping's patterns (OR-ed) against the
   Lambda-shaped record with moto's own EventBridge matcher (the same grammar), after refusing
   the operators and malformed comparisons Lambda refuses. The poller in
   ``localcloud/streams.py`` calls it.

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
from steps.core.config import encoded_environ

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
    pairs = tuple(variables.items())
    if pairs in _applied_environments and _environment_holds(pairs):
        return  # a warm function: every variable is already its own
    for key, value in variables.items():
        current = os.environ.get(key)
        if current == value:  # the usual case: setting it again costs a putenv per variable
            _function_environment_keys.add(key)
            continue
        if current is not None and key in _function_environment_keys:
            raise RuntimeError(
                f"Lambda functions disagree on environment variable {key}; "
                "the in-process local cloud needs one value per variable"
            )
        os.environ[key] = value
        _function_environment_keys.add(key)
    _applied_environments.add(pairs)


_function_environment_keys: set[str] = set()
#: The variable sets applied so far (a stack has a few dozen functions).
_applied_environments: set[tuple[tuple[str, str], ...]] = set()


@lru_cache(maxsize=256)
def _encoded(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((os.fsencode(key), os.fsencode(value)) for key, value in pairs)


def _environment_holds(pairs: tuple[tuple[str, str], ...]) -> bool:
    """Whether the process environment has every one of these values now (every invocation
    asks, for each of its function's variables: read as ``steps/core/config.py`` reads its own)."""
    store = encoded_environ()
    if store is None:
        return all(os.environ.get(key) == value for key, value in pairs)
    return all(store.get(key) == value for key, value in _encoded(pairs))


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

#: The comparison operators Lambda event filtering offers (moto's matcher also knows EventBridge's
#: ``wildcard`` and ``cidr``, which Lambda refuses).
_LAMBDA_OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
)
_NUMERIC_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_operator(operator: str, spec: Any) -> None:
    """Refuse what AWS refuses when the mapping is created (moto's parser only checks that
    every value is an object or a non-empty list, and would match malformed operators)."""
    if operator not in _LAMBDA_OPERATORS:
        raise ValueError(f"unsupported filter operator {operator!r}")
    if operator == "exists" and not isinstance(spec, bool):
        raise ValueError("exists takes true or false")
    if operator == "numeric":
        pairs = spec if isinstance(spec, list) and spec and len(spec) % 2 == 0 else None
        if pairs is None or any(
            op not in _NUMERIC_OPERATORS or not _is_number(bound)
            for op, bound in zip(pairs[::2], pairs[1::2], strict=True)
        ):
            raise ValueError(f"numeric needs operator/value pairs, got {spec!r}")
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        if isinstance(spec, dict) and operator != "equals-ignore-case":
            _check_comparison(spec)
            spec = spec.get("equals-ignore-case")
        if not isinstance(spec, str):
            raise ValueError(f"{operator} needs a string, got {spec!r}")
    if operator == "anything-but" and isinstance(spec, dict):
        _check_comparison(spec)
        if set(spec) - {"prefix", "suffix", "equals-ignore-case"}:
            raise ValueError(f"unsupported anything-but operator {spec!r}")


def _check_comparison(condition: dict[str, Any]) -> None:
    if len(condition) != 1:
        raise ValueError(f"a comparison takes one operator, got {condition!r}")
    ((operator, spec),) = condition.items()
    _check_operator(operator, spec)


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, dict):
        raise ValueError(f"a filter pattern must be an object, got {pattern!r}")
    for rule in pattern.values():
        if isinstance(rule, dict):
            _check_pattern(rule)
        elif isinstance(rule, list) and rule:
            for condition in rule:
                if isinstance(condition, dict):
                    _check_comparison(condition)
        else:
            raise ValueError(f"a filter rule must be an object or a list, got {rule!r}")


@lru_cache(maxsize=64)
def _event_pattern(raw: str) -> Any:
    """A mapping's pattern, checked and parsed once; matched by moto's EventBridge matcher
    (``moto.events.models.EventPattern``), which implements Lambda's filter grammar."""
    from moto.events.models import EventPattern

    pattern = json.loads(raw)
    _check_pattern(pattern)
    return EventPattern(raw, pattern)


def pattern_matches(pattern: Any, data: Any) -> bool:
    """One filter pattern against a record: every field the pattern names must match."""
    return bool(_event_pattern(json.dumps(pattern)).matches_event(data))


def _refused_at_top(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether a top-level rule made only of strings refuses the record's string value there.

    moto's ``_does_item_match_filters`` compares a plain value with ``==``; any other rule (an
    operator, a number, a nested field, ``$or``) is left to the matcher itself.
    """
    for field_name, rule in pattern.items():
        value = record.get(field_name)
        if (
            isinstance(value, str)
            and isinstance(rule, list)
            and rule
            and all(isinstance(allowed, str) for allowed in rule)
            and value not in rule
        ):
            return True
    return False


def filter_criteria_matches(criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether an event source mapping's FilterCriteria let ``record`` through.

    No criteria (or no filters) let everything through; several filters are OR-ed. A pattern
    that is not valid JSON or uses an operator Lambda does not offer raises ValueError (AWS
    refuses such a mapping when it is created).
    """
    filters = (criteria or {}).get("Filters") or []
    if not filters:
        return True
    patterns = [_event_pattern(f["Pattern"]) for f in filters]
    if any(not pattern.get_pattern() for pattern in patterns):
        return True  # an empty pattern matches everything (moto's matches_event)
    # Most records fail every pattern on a top-level field (an INSERT against MODIFY and
    # REMOVE filters): decided before the whole record is flattened, as moto would decide it.
    patterns = [p for p in patterns if not _refused_at_top(p.get_pattern(), record)]
    if not patterns:
        return False
    # moto's matches_event flattens the whole record (both images) for every pattern; the
    # record is flattened once here, as it does it, and each pattern matched against that.
    from moto.events.models import EventPattern

    flat = EventPattern._flatten_dict(json.loads(json.dumps(record)))
    return any(bool(p._does_event_match(flat, p.get_pattern())) for p in patterns)

r"""API Gateway (REST API, v1) mapping-template renderer for the local gateway.

Templates are parsed by ``airspeed`` (LocalStack's Velocity engine); the parse tree is then
adjusted so that evaluation follows Apache Velocity 1.7 as API Gateway runs it, and the
variables ``$input``, ``$util``, ``$context`` and ``$stageVariables`` are provided as described
in the API Gateway mapping template reference.

Public API: :class:`RequestData`, :class:`RenderedResponse`, :class:`MappingTemplateError`,
:func:`render_request_template`, :func:`render_response_template`, and the verified example
templates :data:`EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE` and
:data:`EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE` (copy them byte for byte: they are raw VTL,
exactly as they must appear in the template file).

Semantics that differ from a naive airspeed rendering (all deliberate, to match AWS):

* Velocity 1.7 truthiness: ``#if($x)`` is false only for null and ``false``; ``""`` and ``0``
  are true (airspeed treats null as *true* and ``""``/``0`` as false). ``!$missing`` is true.
* ``#set($x = <null>)`` leaves ``$x`` unchanged (Velocity 1.7 default); airspeed assigns null.
* ``==`` between values of different types compares their ``toString()`` forms (``1 == "1"``);
  ``<``/``>`` on non-numbers is false; ``+`` with a string operand concatenates; integer ``/``
  and ``%`` truncate toward zero as in Java; division by zero gives null.
* Values print as Java prints them: maps as ``{a=1, b=x}``, lists as ``[1, 2]``, booleans as
  ``true``, doubles as ``1.0E7``. Null references print as nothing (API Gateway is quiet).
* ``#foreach`` over a map iterates its *values* (Velocity); use ``.keySet()`` for the keys.
* Methods are Java's: ``String.replaceAll`` takes a regex (Python ``re`` dialect) and a
  *Java* replacement string (``$1``, ``\$``); ``split`` is Java's regex split; ``length``,
  ``substring``, ``indexOf`` and ``charAt`` count UTF-16 code units. A method that does not
  exist on the value gives null, as in Velocity 1.7 without strict mode (so it renders as
  nothing); a method called on null gives null.
* String literals are not unescaped (as in Velocity): ``"\\'"`` is the three characters
  ``\\'``, i.e. the Java regex that matches ``\'``. So the documented idiom
  ``$util.escapeJavaScript($x).replaceAll("\\'","'")`` turns the ``it\'s`` made by
  escapeJavaScript back into ``it's`` — the same result as on AWS. airspeed already behaves
  like this; no work-around was needed.
* ``$context.responseOverride.header.Retry-After`` parses as written: Velocity identifiers may
  contain ``-`` and airspeed accepts it, so templates are not pre-processed.
* Whitespace follows the Velocity 1.7 lexer: ``#else`` and the ``)`` closing ``#foreach``, a
  macro call, ``#include``/``#parse``/``#evaluate`` swallow the rest of their line, and
  ``#set`` swallows the blanks before it (airspeed keeps them).
* ``$util.parseJson``, ``urlEncode``, ``urlDecode``, ``base64Encode`` and ``base64Decode`` of
  null fail the template (Java throws); ``escapeJavaScript`` of null is null (Commons Lang).
* ``$util.escapeJavaScript`` is Commons Lang 2's: like its source, 0x7F is left as is (only
  code units above 0x7F become ``\\uXXXX``). ``$util.urlEncode``/``urlDecode`` follow
  ``java.net.URLEncoder``/``URLDecoder``; ``base64Decode`` follows ``java.util.Base64``.

``$input`` on payloads that are not JSON: ``$input.body`` is always the raw text.
``$input.path('$')`` returns the raw text as a string — AWS behaves so (the well-known
``$input.path('$').split('&')`` form-urlencoded templates rely on it). Assumed from that (not
verified against AWS): ``$input.json('$')`` returns the text as a JSON string literal, any
deeper path is null (renders as nothing), an empty or blank payload is ``{}``, and
``$input.json`` of a definite path that does not exist is null. A JSONPath outside the
supported subset (``$``, ``.name``, ``['name']``, ``["name"]``, ``[n]``, ``[-n]``, ``[*]``,
``.*``) raises :class:`MappingTemplateError`.

The rendered body is returned exactly as Velocity produces it, whitespace included (a response
template whose body line is followed by ``#else`` yields e.g. ``{"a":1}\n``); strip it if the
exact bytes matter.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airspeed import operators as vtl

__all__ = [
    "EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE",
    "EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE",
    "MappingTemplateError",
    "RenderedResponse",
    "RequestData",
    "escape_javascript",
    "render_request_template",
    "render_response_template",
]

# Verified by tests/test_mapping_templates.py: renders to valid JSON whose "input" is itself
# valid JSON and whose body / userAgent round-trip any string (quotes, backslashes, slashes,
# control characters, non-ASCII, emoji). The body travels base64-encoded so that it needs no
# escaping; the user agent is escaped twice (once per JSON level), each time turning the
# JavaScript-only \' back into a plain ' so that both levels stay valid JSON.
EXAMPLE_SYNC_EXECUTION_REQUEST_TEMPLATE = r"""{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:X",
 "name": "$context.requestId",
 "input": "{\"request\": {\"body\": \"$util.base64Encode($input.body)\", \"sourceIp\": \"$context.identity.sourceIp\", \"userAgent\": \"$util.escapeJavaScript($util.escapeJavaScript($context.identity.userAgent).replaceAll("\\'","'")).replaceAll("\\'","'")\", \"requestId\": \"$context.requestId\"}}"}
"""  # noqa: E501

# Verified by the tests: SUCCEEDED with output {"statusCode": 201, "body": "{\"a\":1}"} gives
# status 201 and body {"a":1} (plus the newline that ends the body line); anything else
# (FAILED, TIMED_OUT, ABORTED, a body that is not JSON) gives status 500 and the generic error.
EXAMPLE_SYNC_EXECUTION_RESPONSE_TEMPLATE = r"""#set($status = $input.path('$.status'))
#if($status == "SUCCEEDED")
#set($out = $util.parseJson($input.path('$.output')))
#set($context.responseOverride.status = $out.statusCode)
$out.body
#else
#set($context.responseOverride.status = 500)
{"error":"server_error","error_description":"The request could not be completed."}
#end
"""


class MappingTemplateError(Exception):
    """The template could not be rendered (syntax error, bad data for a util).

    The message is short and meant for logs; callers answer the client with a generic 500.
    """


@dataclass
class RequestData:
    """What API Gateway knows about the incoming HTTP request."""

    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    path_params: Mapping[str, str] = field(default_factory=dict)
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RenderedResponse:
    """Result of an integration-response template."""

    body: str
    status_override: int | None
    header_overrides: dict[str, str]


def render_request_template(template: str, request: RequestData) -> str:
    """Render an integration-request template; ``$input`` is the HTTP request."""
    context = _plain(request.context)
    context["requestOverride"] = {"header": {}, "querystring": {}, "path": {}}
    return _render(template, _namespace(request, request.body, context))


def render_response_template(
    template: str, integration_body: str, request: RequestData
) -> RenderedResponse:
    """Render an integration-response template; ``$input`` is the integration's answer.

    ``$context`` is still the request's context; ``#set($context.responseOverride.status = n)``
    and ``#set($context.responseOverride.header.Name = v)`` are returned as overrides.
    """
    context = _plain(request.context)
    override: dict[str, Any] = {"header": {}}
    context["responseOverride"] = override
    body = _render(template, _namespace(request, integration_body, context))
    headers = override.get("header")
    header_overrides: dict[str, str] = {}
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if value is None:
                continue
            text = _java_str(value)
            if "\r" in text or "\n" in text or "\r" in str(name) or "\n" in str(name):
                raise MappingTemplateError("invalid response header override")
            header_overrides[str(name)] = text
    return RenderedResponse(body, _status_override(override.get("status")), header_overrides)


# --------------------------------------------------------------------------------------------
# Rendering


def _render(template: str, namespace: dict[str, Any]) -> str:
    compiled = _compile(template)
    try:
        return str(compiled.merge(namespace))
    except MappingTemplateError:
        raise
    except Exception as exc:
        raise _evaluation_error(exc) from exc


# airspeed reads a '#' that starts no directive as text together with every following character
# that is not a letter, digit, brace, '#' or '*' — including '$', so in "USERID#$id" the
# reference is never rendered. Velocity renders it; so does this copy of the rule, which stops
# the text at '$'.
vtl.Text.PLAIN = re.compile(
    r"((?:[^\\\$#]+|\\[\$#])+|\$[^!\{a-z0-9_]|\$$|#$"
    r"|#[^\{\}a-zA-Z0-9#\*\$]+|\\.)(.*)$",
    re.S + re.I,
)


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> vtl.Template:
    """Parse with airspeed and patch the tree for Velocity 1.7 semantics (cached, read-only)."""
    try:
        compiled = vtl.Template(template)
        compiled.ensure_compiled()
        _patch_tree(compiled.root_element)
    except Exception as exc:
        raise MappingTemplateError(f"template syntax error: {_short(exc)}") from exc
    return compiled


def _evaluation_error(exc: BaseException) -> MappingTemplateError:
    cause: BaseException | None = exc
    root: BaseException = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, MappingTemplateError):
            return MappingTemplateError(str(cause))
        seen.add(id(cause))
        root = cause
        cause = cause.__cause__ or cause.__context__
    if isinstance(root, vtl.TemplateSyntaxError):  # from #evaluate
        return MappingTemplateError(f"template syntax error: {_short(root)}")
    kind = type(root).__name__
    return MappingTemplateError(f"template evaluation failed: {kind}: {_short(root)}")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_override(value: Any) -> int | None:
    if value is None:
        return None
    status: int | None = None
    if isinstance(value, bool):
        status = None
    elif isinstance(value, int):
        status = value
    elif isinstance(value, float) and value.is_integer():
        status = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]{3}\s*", value, re.ASCII):
        status = int(value)
    if status is None or not 100 <= status <= 599:
        raise MappingTemplateError("invalid response status override")
    return status


# --------------------------------------------------------------------------------------------
# Parse-tree patching: airspeed's parser is kept, its evaluation rules are replaced per node.


def _patch_tree(root: Any) -> None:
    elements: list[Any] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, vtl._Element):
            if id(item) in seen:
                continue
            seen.add(id(item))
            elements.append(item)
            stack.extend(vars(item).values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(getattr(item, "__self__", None), vtl._Element):
            # e.g. ParenthesizedExpression keeps its Expression only as a bound method.
            stack.append(item.__self__)
    for element in elements:
        _patch_element(element)


_LINE_END = re.compile(r"[ \t]*(?:\r\n|\n|\r)")
# Directives whose closing ")" Velocity's lexer lets swallow the rest of the line (airspeed
# already does so for #if, #elseif, #set, #macro, #define and #end).
_LINE_DIRECTIVES = (vtl.MacroCall, vtl.IncludeDirective, vtl.ParseDirective, vtl.EvaluateDirective)


def _drop_line_end(element: Any) -> None:
    if isinstance(element, vtl.Text):
        match = _LINE_END.match(element.text)
        if match:
            element.text = element.text[match.end() :]


def _fix_whitespace(block: Any) -> None:
    """Velocity 1.7 whitespace rules that airspeed's parser does not follow."""
    children = block.children
    for before, after in zip(children, children[1:], strict=False):
        if isinstance(after, vtl.SetDirective) and isinstance(before, vtl.Text):
            before.text = before.text.rstrip(" \t")  # "#set" eats the blanks before it
        if isinstance(before, _LINE_DIRECTIVES):
            _drop_line_end(after)


def _patch_element(el: Any) -> None:
    if isinstance(el, vtl.Block):
        _fix_whitespace(el)
    elif isinstance(el, vtl.ElseBlock | vtl.ForeachDirective) and el.block.children:
        _drop_line_end(el.block.children[0])  # "#else" / "#foreach(...)" end their line
    if isinstance(el, vtl.NameOrCall):
        el.calculate = functools.partial(_name_or_call, el, el.calculate)
    elif isinstance(el, vtl.FormalReference):
        el.evaluate_raw = functools.partial(_render_reference, el)
    elif isinstance(el, vtl.BinaryOperator):
        el.apply_to = _BINARY_OPERATORS[el.my_text().strip()]
    elif isinstance(el, vtl.UnaryOperatorValue):
        el.calculate = functools.partial(_logical_not, el)
    elif isinstance(el, vtl.Condition):
        el.calculate = functools.partial(_condition, el)
    elif isinstance(el, vtl.ElseifBlock):
        el.calculate = functools.partial(_condition, el.condition)
    elif isinstance(el, vtl.ForeachDirective):
        el.value.calculate = functools.partial(_foreach_items, el.value.calculate)
    elif isinstance(el, vtl.Assignment):
        el.evaluate_raw = functools.partial(_assign, el)
    elif isinstance(el, vtl.EvaluateDirective) and not isinstance(el, vtl.ReturnDirective):
        el.evaluate_raw = functools.partial(_evaluate_directive, el)


def _name_or_call(
    el: Any, original: Callable[..., Any], current: Any, loader: Any, top_namespace: Any
) -> Any:
    if isinstance(current, vtl.LocalNamespace):  # a top-level $name: variables, macros
        return original(current, loader, top_namespace)
    if current is None:  # Velocity: anything on null is null
        return None
    name: str = el.name
    if el.parameters is None:
        value = _property(current, name)
        if el.index is not None:
            value = _index(value, el.index.calculate(top_namespace, loader))
        return value
    method = _method(current, name)
    if method is None:  # Velocity 1.7 (not strict): an unknown method is null, not an error
        return None
    return method(*el.parameters.calculate(top_namespace, loader))


def _property(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    capitalised = name[:1].upper() + name[1:]
    getter = _method(obj, "get" + capitalised) or _method(obj, "is" + capitalised)
    return getter() if getter is not None else None


def _index(value: Any, index: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(index)
    if isinstance(value, list | tuple | range):
        if not isinstance(index, int) or isinstance(index, bool):
            raise MappingTemplateError("list index must be an integer")
        return value[index] if -len(value) <= index < len(value) else None
    return None


def _render_reference(el: Any, stream: Any, namespace: Any, loader: Any) -> None:
    if el.expression is None:
        stream.write(el.my_text())
        return
    value = el.expression.calculate(namespace, loader)
    if value is None and el.alternate is not None:
        value = el.alternate.calculate(namespace, loader)
    if value is not None:  # API Gateway renders null references as nothing
        stream.write(_java_str(value))


def _truthy(value: Any) -> bool:
    """Velocity 1.7 #if: null and false are false, everything else (even "" and 0) is true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return True


def _condition(condition: Any, namespace: Any, loader: Any) -> bool:
    return _truthy(condition.expression.calculate(namespace, loader))


def _logical_not(el: Any, namespace: Any, loader: Any) -> bool:
    return not _truthy(el.value.calculate(namespace, loader))


def _foreach_items(calculate: Callable[..., Any], namespace: Any, loader: Any) -> Any:
    items = calculate(namespace, loader)
    if isinstance(items, Mapping):
        return list(items.values())
    if isinstance(items, list | tuple | range):
        return items
    if items is not None and not isinstance(items, str) and hasattr(items, "__iter__"):
        return list(items)
    return None  # Velocity skips a #foreach over null or a non-collection


def _assign(el: Any, stream: Any, namespace: Any, loader: Any) -> None:
    value = el.value.calculate(namespace, loader)
    if value is None:  # Velocity 1.7: a null right-hand side leaves the target unchanged
        return
    if not el.terms:
        namespace.set_inherited(el.root_term, value)
        return
    try:
        target = namespace[el.root_term]
    except KeyError:
        raise MappingTemplateError(f"#set on undefined ${el.root_term}") from None
    for term in el.terms[:-1]:
        target = _index(target, term.calculate(namespace, loader))
    key = el.terms[-1].calculate(namespace, loader)
    if isinstance(target, dict | list):
        target[key] = value
    else:
        raise MappingTemplateError(f"#set on a property of {_type_name(target)}")


def _evaluate_directive(el: Any, stream: Any, namespace: Any, loader: Any) -> None:
    source = el.value.calculate(namespace, loader)
    if source is not None:
        _compile(_java_str(source)).merge_to(namespace, stream, loader)


# --------------------------------------------------------------------------------------------
# Operators (Velocity 1.7)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, bool) != isinstance(right, bool):
        return _java_str(left) == _java_str(right)
    if isinstance(left, type(right)) or isinstance(right, type(left)):
        return bool(left == right)
    return _java_str(left) == _java_str(right)


def _compare(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        return _is_number(left) and _is_number(right) and test(left, right)

    return compare


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str) or isinstance(right, str):
        return _java_str_or_empty(left) + _java_str_or_empty(right)
    return left + right if _is_number(left) and _is_number(right) else None


def _java_str_or_empty(value: Any) -> str:
    return "" if value is None else _java_str(value)


def _arithmetic(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        return operation(left, right) if _is_number(left) and _is_number(right) else None

    return apply


def _divide(left: Any, right: Any) -> Any:
    if right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        quotient = abs(left) // abs(right)
        return quotient if (left < 0) == (right < 0) else -quotient
    return left / right


def _remainder(left: Any, right: Any) -> Any:
    if right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        rest = abs(left) % abs(right)
        return rest if left >= 0 else -rest
    return math.fmod(left, right)


def _and(left: Any, right: Any) -> bool:
    return _truthy(left) and _truthy(right)


def _or(left: Any, right: Any) -> bool:
    return _truthy(left) or _truthy(right)


def _not_equals(left: Any, right: Any) -> bool:
    return not _equals(left, right)


_BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": _equals,
    "eq": _equals,
    "!=": _not_equals,
    "ne": _not_equals,
    ">": _compare(lambda a, b: a > b),
    "gt": _compare(lambda a, b: a > b),
    ">=": _compare(lambda a, b: a >= b),
    "ge": _compare(lambda a, b: a >= b),
    "<": _compare(lambda a, b: a < b),
    "lt": _compare(lambda a, b: a < b),
    "<=": _compare(lambda a, b: a <= b),
    "le": _compare(lambda a, b: a <= b),
    "&&": _and,
    "and": _and,
    "||": _or,
    "or": _or,
    "+": _plus,
    "-": _arithmetic(lambda a, b: a - b),
    "*": _arithmetic(lambda a, b: a * b),
    "/": _arithmetic(_divide),
    "%": _arithmetic(_remainder),
}


# --------------------------------------------------------------------------------------------
# Java's view of values


def _java_str(value: Any) -> str:
    """``String.valueOf`` as Java would print the equivalent Java object."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_java_str(k)}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | range | set | frozenset):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    return str(value)


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) - 1 + exponent
    return ("-" if sign else "") + shown[0] + "." + (shown[1:] or "0") + "E" + str(power)


def _type_name(value: Any) -> str:
    if isinstance(value, _HostObject):
        return "$" + value.name
    if isinstance(value, str):
        return "String"
    if isinstance(value, bool):
        return "Boolean"
    if _is_number(value):
        return "Number"
    if isinstance(value, Mapping):
        return "Map"
    if isinstance(value, list | tuple | range):
        return "List"
    return type(value).__name__


def _method(obj: Any, name: str) -> Callable[..., Any] | None:
    if isinstance(obj, _HostObject):
        return obj.methods.get(name)
    table: Mapping[str, Callable[..., Any]]
    if isinstance(obj, str):
        table = _STRING_METHODS
    elif isinstance(obj, bool):
        table = _BOOLEAN_METHODS
    elif _is_number(obj):
        table = _NUMBER_METHODS
    elif isinstance(obj, Mapping):
        table = _MAP_METHODS
    elif isinstance(obj, list | tuple | range):
        table = _LIST_METHODS
    else:
        return None
    function = table.get(name)
    return functools.partial(function, obj) if function is not None else None


class _HostObject:
    """A Java object exposed to templates ($input, $util): only the listed methods exist."""

    def __init__(self, name: str, methods: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        self.methods = dict(methods)

    def __str__(self) -> str:
        return f"${self.name}"


class _HeaderMap(dict[str, Any]):
    """Header map: iterates with the names as received, looks them up case-insensitively."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(headers)
        self._folded = {key.lower(): key for key in self if isinstance(key, str)}

    def _key(self, key: Any) -> Any:
        if isinstance(key, str) and not dict.__contains__(self, key):
            return self._folded.get(key.lower(), key)
        return key

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        key = self._key(key)
        super().__setitem__(key, value)
        if isinstance(key, str):
            self._folded[key.lower()] = key

    def __delitem__(self, key: Any) -> None:
        key = self._key(key)
        super().__delitem__(key)
        if isinstance(key, str):
            self._folded.pop(key.lower(), None)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)

    def pop(self, key: Any, *default: Any) -> Any:
        key = self._key(key)
        if isinstance(key, str) and dict.__contains__(self, key):
            self._folded.pop(key.lower(), None)
        return super().pop(key, *default)


# ---- java.lang.String ----------------------------------------------------------------------

_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _utf16(text: str) -> str:
    """The string with every astral character split into its two surrogates (Java chars)."""
    if not _ASTRAL.search(text):
        return text
    return "".join(_utf16_units(text))


def _utf16_units(text: str) -> Iterator[str]:
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            yield chr(0xD800 + (code >> 10))
            yield chr(0xDC00 + (code & 0x3FF))
        else:
            yield char


def _from_utf16(text: str) -> str:
    """Rejoin surrogate pairs (lone surrogates stay as they are)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _java_regex(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(_java_str(pattern))
    except re.error as exc:
        raise MappingTemplateError(f"invalid regular expression: {exc}") from None


def _replacement(replacement: Any, pattern: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
    text = _java_str(replacement)
    if len(text) <= 64:  # a template's own literal: the same few on every request, kept
        return _kept_java_replacement(text, pattern)
    return _java_replacement(text, pattern)


def _java_replacement(text: str, pattern: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
    """``Matcher.appendReplacement`` rules: ``$n``/``${name}`` insert groups, ``\\x`` is x."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise MappingTemplateError("character to be escaped is missing in replacement")
            literal.append(text[i + 1])
            i += 2
        elif char == "$":
            if i + 1 >= len(text):
                raise MappingTemplateError("illegal group reference in replacement")
            parts.append("".join(literal))
            literal = []
            if text[i + 1] == "{":
                end = text.find("}", i + 2)
                group_name = text[i + 2 : end] if end > 0 else ""
                if group_name not in pattern.groupindex:
                    raise MappingTemplateError("unknown group name in replacement")
                parts.append(pattern.groupindex[group_name])
                i = end + 1
                continue
            if not text[i + 1].isdigit() or not text[i + 1].isascii():
                raise MappingTemplateError("illegal group reference in replacement")
            number = int(text[i + 1])
            if number > pattern.groups:
                raise MappingTemplateError("no such group in replacement")
            i += 2
            while i < len(text) and text[i].isascii() and text[i].isdigit():
                longer = number * 10 + int(text[i])
                if longer > pattern.groups:
                    break
                number = longer
                i += 1
            parts.append(number)
        else:
            literal.append(char)
            i += 1
    parts.append("".join(literal))

    def expand(match: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in parts)

    return expand


_kept_java_replacement = functools.lru_cache(maxsize=256)(_java_replacement)


def _replace_all(text: str, regex: Any, replacement: Any) -> str:
    pattern = _java_regex(regex)
    return pattern.sub(_replacement(replacement, pattern), text)


def _replace_first(text: str, regex: Any, replacement: Any) -> str:
    pattern = _java_regex(regex)
    return pattern.sub(_replacement(replacement, pattern), text, count=1)


def _split(text: str, regex: Any, limit: int = 0) -> list[str]:
    pattern = _java_regex(regex)
    parts: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if limit > 0 and len(parts) == limit - 1:
            break
        if match.end() == 0:  # a zero-width match at the beginning never yields a leading ""
            continue
        parts.append(text[start : match.start()])
        start = match.end()
    if not parts and start == 0:
        return [text]
    parts.append(text[start:])
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def _substring(text: str, begin: int, end: int | None = None) -> str:
    units = _utf16(text)
    stop = len(units) if end is None else end
    if not 0 <= begin <= stop <= len(units):
        raise MappingTemplateError("substring index out of range")
    return _from_utf16(units[begin:stop])


def _char_at(text: str, index: int) -> str:
    units = _utf16(text)
    if not 0 <= index < len(units):
        raise MappingTemplateError("charAt index out of range")
    return units[index]


def _index_of(text: str, needle: Any, start: int = 0) -> int:
    return _utf16(text).find(_utf16(_java_str(needle)), max(start, 0))


def _last_index_of(text: str, needle: Any, start: int | None = None) -> int:
    units, sought = _utf16(text), _utf16(_java_str(needle))
    if start is None:
        return units.rfind(sought)
    if start < 0:
        return -1
    return units.rfind(sought, 0, start + len(sought))


def _starts_with(text: str, prefix: Any, offset: int = 0) -> bool:
    units = _utf16(text)
    return 0 <= offset <= len(units) and units.startswith(_utf16(_java_str(prefix)), offset)


_JAVA_WHITESPACE = "".join(chr(code) for code in range(0x21))

_STRING_METHODS: dict[str, Callable[..., Any]] = {
    "length": lambda s: len(_utf16(s)),
    "isEmpty": lambda s: s == "",
    "charAt": _char_at,
    "substring": _substring,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "contains": lambda s, other: _java_str(other) in s,
    "startsWith": _starts_with,
    "endsWith": lambda s, suffix: s.endswith(_java_str(suffix)),
    "equals": lambda s, other: isinstance(other, str) and s == other,
    "equalsIgnoreCase": lambda s, other: isinstance(other, str) and s.lower() == other.lower(),
    "concat": lambda s, other: s + _java_str(other),
    "replace": lambda s, old, new: s.replace(_java_str(old), _java_str(new)),
    "replaceAll": _replace_all,
    "replaceFirst": _replace_first,
    "matches": lambda s, regex: _java_regex(regex).fullmatch(s) is not None,
    "split": _split,
    "toLowerCase": lambda s: s.lower(),
    "toUpperCase": lambda s: s.upper(),
    "trim": lambda s: s.strip(_JAVA_WHITESPACE),
    "toString": lambda s: s,
}

# ---- java.lang.Number / Boolean ------------------------------------------------------------

_NUMBER_METHODS: dict[str, Callable[..., Any]] = {
    "toString": _java_str,
    "intValue": lambda n: int(n),
    "longValue": lambda n: int(n),
    "doubleValue": lambda n: float(n),
    "floatValue": lambda n: float(n),
    "equals": lambda n, other: _is_number(other) and type(n) is type(other) and n == other,
}

_BOOLEAN_METHODS: dict[str, Callable[..., Any]] = {
    "toString": _java_str,
    "booleanValue": lambda b: b,
    "equals": lambda b, other: isinstance(other, bool) and b == other,
}

# ---- java.util.List / Map ------------------------------------------------------------------


def _list_get(items: Any, index: int) -> Any:
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
        raise MappingTemplateError("list index out of range")
    return items[index]


def _list_add(items: Any, *args: Any) -> Any:
    if len(args) == 1:
        items.append(args[0])
        return True
    index, value = args
    items.insert(index, value)
    return None


def _list_set(items: Any, index: int, value: Any) -> Any:
    previous = _list_get(items, index)
    items[index] = value
    return previous


def _list_remove(items: Any, what: Any) -> Any:
    if isinstance(what, int) and not isinstance(what, bool):
        return items.pop(_list_get(range(len(items)), what))
    if what in items:
        items.remove(what)
        return True
    return False


def _list_add_all(items: Any, values: Any) -> bool:
    before = len(items)
    items.extend(values)
    return len(items) != before


def _list_index_of(items: Any, value: Any) -> int:
    for position, item in enumerate(items):
        if _equals(item, value):
            return position
    return -1


_LIST_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda items: len(items) == 0,
    "get": _list_get,
    "contains": lambda items, value: _list_index_of(items, value) >= 0,
    "indexOf": _list_index_of,
    "add": _list_add,
    "addAll": _list_add_all,
    "set": _list_set,
    "remove": _list_remove,
    "clear": lambda items: items.clear(),
    "subList": lambda items, start, end: list(items[start:end]),
    "equals": lambda items, other: isinstance(other, list | tuple) and list(items) == list(other),
    "toString": _java_str,
}


def _map_put(mapping: Any, key: Any, value: Any) -> Any:
    previous = mapping.get(key)
    mapping[key] = value
    return previous


_MAP_METHODS: dict[str, Callable[..., Any]] = {
    "get": lambda m, key: m.get(key),
    "getOrDefault": lambda m, key, default: m[key] if key in m else default,
    "containsKey": lambda m, key: key in m,
    "containsValue": lambda m, value: any(_equals(v, value) for v in m.values()),
    "keySet": lambda m: list(m.keys()),
    "values": lambda m: list(m.values()),
    "entrySet": lambda m: [{"key": k, "value": v} for k, v in m.items()],
    "size": len,
    "isEmpty": lambda m: len(m) == 0,
    "put": _map_put,
    "putAll": lambda m, other: m.update(other),
    "remove": lambda m, key: m.pop(key, None),
    "equals": lambda m, other: isinstance(other, Mapping) and dict(m) == dict(other),
    "toString": _java_str,
}


# --------------------------------------------------------------------------------------------
# $util


def escape_javascript(text: str) -> str:
    """Apache Commons Lang 2 ``StringEscapeUtils.escapeJavaScript`` (what API Gateway uses).

    Works on UTF-16 code units like Java: ``'`` ``"`` ``\\`` ``/`` get a backslash, ``\\b \\f
    \\n \\r \\t`` are named, other code units below 0x20 or above 0x7F become ``\\uXXXX``
    (upper-case hex; astral characters as two escaped surrogates). 0x7F itself is kept as is.
    """
    if text.isascii():  # every request's body and headers: one C call, not a loop per char
        return text.translate(_ASCII_ESCAPES)
    out: list[str] = []
    for char in _utf16_units(text):
        code = ord(char)
        if code > 0x7F or (code < 0x20 and char not in _NAMED_ESCAPES):
            out.append(f"\\u{code:04X}")
        else:
            out.append(_NAMED_ESCAPES.get(char, char))
    return "".join(out)


_NAMED_ESCAPES = {
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "'": "\\'",
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
}
#: The same rules for ASCII text (0x7F is kept as is).
_ASCII_ESCAPES = {
    **{code: f"\\u{code:04X}" for code in range(0x20)},
    **{ord(char): escaped for char, escaped in _NAMED_ESCAPES.items()},
}


def _util_escape_javascript(value: Any) -> str | None:
    return None if value is None else escape_javascript(_java_str(value))


def _util_parse_json(value: Any) -> Any:
    if value is None:  # Java: a NullPointerException, the template fails
        raise MappingTemplateError("$util.parseJson: argument is null")
    try:
        return json.loads(_java_str(value), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MappingTemplateError("$util.parseJson: argument is not valid JSON") from None


_URL_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*_")


def _util_url_encode(value: Any) -> str | None:
    """``java.net.URLEncoder.encode(s, "UTF-8")``: space is +, only ``.-*_`` stay unescaped."""
    if value is None:  # Java: a NullPointerException, the template fails
        raise MappingTemplateError("$util.urlEncode: argument is null")
    data = _java_str(value).encode("utf-8", "replace")
    return "".join(chr(b) if b in _URL_SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in data)


def _util_url_decode(value: Any) -> str | None:
    """``java.net.URLDecoder.decode(s, "UTF-8")``: + is space; a broken %-escape is an error."""
    if value is None:  # Java: a NullPointerException, the template fails
        raise MappingTemplateError("$util.urlDecode: argument is null")
    text = _java_str(value)
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise MappingTemplateError("$util.urlDecode: malformed %-escape")
    return urllib.parse.unquote_plus(text, encoding="utf-8", errors="replace")


def _util_base64_encode(value: Any) -> str | None:
    if value is None:  # Java: a NullPointerException, the template fails
        raise MappingTemplateError("$util.base64Encode: argument is null")
    return base64.b64encode(_java_str(value).encode("utf-8", "replace")).decode("ascii")


def _util_base64_decode(value: Any) -> str | None:
    if value is None:  # Java: a NullPointerException, the template fails
        raise MappingTemplateError("$util.base64Decode: argument is null")
    # Like java.util.Base64's basic decoder: padding is optional, anything outside the
    # alphabet (whitespace included) is an error.
    text = _java_str(value)
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MappingTemplateError("$util.base64Decode: argument is not base64") from None
    return data.decode("utf-8", "replace")


_UTIL = _HostObject(
    "util",
    {
        "escapeJavaScript": _util_escape_javascript,
        "parseJson": _util_parse_json,
        "urlEncode": _util_url_encode,
        "urlDecode": _util_url_decode,
        "base64Encode": _util_base64_encode,
        "base64Decode": _util_base64_decode,
    },
)


# --------------------------------------------------------------------------------------------
# $input and JSONPath


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_payload(payload: str) -> Any:
    if not payload.strip():
        return {}
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return payload  # not JSON: the whole payload is one string


_PATH_STEP = re.compile(
    r"""\.(?P<name>[^.\[\]]+)
      | \[\s*'(?P<single>(?:[^'\\]|\\.)*)'\s*\]
      | \[\s*"(?P<double>(?:[^"\\]|\\.)*)"\s*\]
      | \[\s*(?P<index>-?[0-9]+)\s*\]
      | \[\s*(?P<star>\*)\s*\]""",
    re.VERBOSE,
)
_WILDCARD = object()


@functools.lru_cache(maxsize=512)
def _parse_path(expression: str) -> tuple[Any, ...]:
    path = expression.strip()
    if not path.startswith("$"):
        path = "$." + path  # Jayway reads "a.b" as "$.a.b"
    steps: list[Any] = []
    position = 1
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None:
            raise MappingTemplateError(f"unsupported JSONPath expression: {expression[:80]}")
        if match.group("index") is not None:
            steps.append(int(match.group("index")))
        elif match.group("star") is not None or match.group("name") == "*":
            steps.append(_WILDCARD)
        else:
            name = match.group("name")
            if name is None:
                quoted = match.group("single")
                quoted = quoted if quoted is not None else match.group("double")
                name = re.sub(r"\\(.)", r"\1", quoted)
            steps.append(name)
        position = match.end()
    return tuple(steps)


def _json_path(document: Any, expression: Any) -> Any:
    steps = _parse_path(_java_str(expression))
    nodes = [document]
    definite = True
    for step in steps:
        found: list[Any] = []
        for node in nodes:
            if step is _WILDCARD:
                if isinstance(node, Mapping):
                    found.extend(node.values())
                elif isinstance(node, list):
                    found.extend(node)
            elif isinstance(step, int):
                if isinstance(node, list) and -len(node) <= step < len(node):
                    found.append(node[step])
            elif isinstance(node, Mapping) and step in node:
                found.append(node[step])
        if step is _WILDCARD:
            definite = False
        nodes = found
    if definite:
        return nodes[0] if nodes else None
    return nodes


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_java_str)


def _make_input(payload: str, params: dict[str, Any]) -> _HostObject:
    parsed: list[Any] = []

    def document() -> Any:
        if not parsed:
            parsed.append(_parse_payload(payload))
        return parsed[0]

    def path(expression: Any) -> Any:
        return _json_path(document(), expression)

    def as_json(expression: Any) -> str | None:
        value = path(expression)
        return None if value is None else _to_json(value)

    def input_params(*name: Any) -> Any:
        if not name:
            return params
        (key,) = name
        for kind in ("path", "querystring", "header"):
            if key in params[kind]:
                return params[kind][key]
        return ""

    return _HostObject(
        "input",
        {"getBody": lambda: payload, "json": as_json, "path": path, "params": input_params},
    )


def _plain(value: Any) -> Any:
    """Deep copy into plain dicts/lists, so templates can neither see nor change caller data."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _namespace(request: RequestData, payload: str, context: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "path": dict(request.path_params),
        "querystring": dict(request.query),
        "header": _HeaderMap(request.headers),
    }
    return {
        "input": _make_input(payload, params),
        "util": _UTIL,
        "context": context,
        "stageVariables": dict(request.stage_variables),
    }

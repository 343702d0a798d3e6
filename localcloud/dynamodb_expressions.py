"""DynamoDB expressions in the local cloud: each expression string is read once, not per call.

moto 5.2.5 lexes a ConditionExpression with six regular expressions per token on every call, and
a TransactWriteItems checks each condition up to three times; it parses an UpdateExpression into
its syntax tree on every call too (once in the response layer, once in the backend). A refresh's
transaction spent about a sixth of its CPU there. Here:

- a condition's tokens are kept per expression string, and each call gets new token nodes from
  them;
- a condition's syntax tree is kept per expression string, names and values (most conditions
  repeat all three: ``attribute_not_exists(pk)``, ``#status = :active``). The tree's operators
  only read the item they are given, so one tree serves every call; a condition whose values
  change per call (a time) is parsed from its kept tokens;
- an UpdateExpression's syntax tree is kept per expression string: moto only reads it, and its
  validator works on a deep copy of it (``Validator.__init__``).

A malformed expression is not kept: it raises again on every call.

One check is added, where moto is looser than DynamoDB: DynamoDB refuses an
``ExpressionAttributeValues`` entry that no expression of the request uses
(``ValidationException``), and moto checks that only in ``UpdateItem``. ``PutItem`` and
``DeleteItem`` now refuse one too, so a step that would be refused on AWS is refused locally
(``TransactWriteItems`` is still not checked: README, "Known differences").

``apply()`` installs all of this (``dynamodb.apply`` calls it). Test:
``tests/test_localcloud_dynamodb_expressions.py``.
"""

from __future__ import annotations

import functools
import json
from collections import deque
from typing import Any

#: Distinct expression strings kept (a stack has a few dozen).
KEPT_EXPRESSIONS = 1024


def apply() -> None:
    _keep_condition_tokens()
    _keep_condition_trees()
    _keep_update_expression_trees()
    _refuse_unused_values()


def _refuse_unused_values() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.responses import DynamoHandler, validate_attributes_used

    def checking(original: Any) -> Any:
        def operation(self: Any) -> Any:
            values = self.body.get("ExpressionAttributeValues")
            if values:  # the condition is the request's only expression that can use one
                parser = ConditionExpressionParser(
                    self.body.get("ConditionExpression"),
                    self.body.get("ExpressionAttributeNames"),
                    values,
                )
                parser.parse()
                validate_attributes_used(values, parser.expr_attr_values_found, "Values")
            return original(self)

        operation.refuses_unused_values = True  # type: ignore[attr-defined]
        return operation

    for name in ("put_item", "delete_item"):
        original = getattr(DynamoHandler, name)
        if not getattr(original, "refuses_unused_values", False):
            setattr(DynamoHandler, name, checking(original))


def _keep_condition_tokens() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lex = ConditionExpressionParser._lex_condition_expression
    if getattr(lex, "keeps_tokens", False):
        return

    @functools.lru_cache(maxsize=KEPT_EXPRESSIONS)
    def tokens(expression: str) -> tuple[tuple[str, str], ...]:
        parser = ConditionExpressionParser(expression, None, None)
        return tuple((node.nonterminal, node.text) for node in lex(parser))

    def _lex_condition_expression(self: Any) -> deque[Any]:
        node, literal = self.Node, self.Kind.LITERAL
        # As moto's lexer makes them: a literal whose value is its text, no children yet.
        return deque(
            node(nonterminal=nonterminal, kind=literal, text=text, value=text, children=[])
            for nonterminal, text in tokens(self.condition_expression)
        )

    _lex_condition_expression.keeps_tokens = True  # type: ignore[attr-defined]
    _lex_condition_expression.tokens = tokens  # type: ignore[attr-defined]
    ConditionExpressionParser._lex_condition_expression = _lex_condition_expression  # type: ignore[method-assign]


def _keep_condition_trees() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    if getattr(parse, "keeps_trees", False):
        return

    @functools.lru_cache(maxsize=KEPT_EXPRESSIONS)
    def tree(expression: str, names: str, values: str) -> tuple[Any, list[str], list[str]]:
        parser = ConditionExpressionParser(expression, json.loads(names), json.loads(values))
        op = parse(parser)
        return op, parser.expr_attr_names_found, parser.expr_attr_values_found

    def cached_parse(self: Any) -> Any:
        if not self.condition_expression:
            return parse(self)
        try:
            names = json.dumps(self.expression_attribute_names, sort_keys=True)
            values = json.dumps(self.expression_attribute_values, sort_keys=True)
        except (TypeError, ValueError):  # a binary value (bytes): parsed as moto parses it
            return parse(self)
        op, names_found, values_found = tree(self.condition_expression, names, values)
        # As parse() leaves them: callers check that every name and value was used.
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    cached_parse.keeps_trees = True  # type: ignore[attr-defined]
    cached_parse.kept = tree  # type: ignore[attr-defined]
    cached_parse.moto_parse = parse  # type: ignore[attr-defined]
    ConditionExpressionParser.parse = cached_parse  # type: ignore[method-assign]


def _keep_update_expression_trees() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    make = UpdateExpressionParser.make
    if getattr(make, "keeps_trees", False):
        return
    kept = functools.lru_cache(maxsize=KEPT_EXPRESSIONS)(make)

    def cached_make(cls: Any, expression_str: str) -> Any:
        return kept(expression_str)

    cached_make.keeps_trees = True  # type: ignore[attr-defined]
    cached_make.kept = kept  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(cached_make)  # type: ignore[assignment,method-assign]

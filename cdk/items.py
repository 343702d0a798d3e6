"""The workflows' DynamoDB Task keys and items, built from the contract's entities.

A workflow never spells a key or an item: it names the entity of
:mod:`steps.core.contract.entities` and says where each value comes from, so the Tasks and the
Python codec write the same layout. A value is

* a JSONPath of the state (``"$.account.email"``, ``"$$.Execution.Name"``),
* an intrinsic already built with ``sfn.JsonPath`` (``JsonPath.format(...)``), or
* :class:`Fixed`: a value known at synth time (``Fixed("active")``, ``Fixed(["user"])``).

The type of each attribute is the contract's; an attribute it does not declare, or a required
one left out, fails the synthesis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Token
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from steps.core.contract.entities import (
    BOOL,
    ENTITY_ATTRIBUTE,
    PK,
    SK,
    Entity,
    KeyTemplate,
)


@dataclass(frozen=True)
class Fixed:
    """A value known when the workflow is synthesized."""

    value: Any


Value = str | Fixed


def _text(value: Value) -> str:
    """A string value: the literal, the intrinsic as it is, or the JSONPath's string."""
    if isinstance(value, Fixed):
        return str(value.value)
    if Token.is_unresolved(value):
        return value
    if value.startswith("$"):
        return sfn.JsonPath.string_at(value)
    raise ValueError(f"{value!r} is neither a JSONPath nor an intrinsic: wrap literals in Fixed.")


def key_value(template: KeyTemplate, values: Mapping[str, Value]) -> str:
    """A key attribute's text: Fixed fields written in, the others by ``States.Format``."""
    pieces = template.parts()
    text, arguments = pieces[0], []
    for name, piece in zip(template.fields, pieces[1:], strict=True):
        if name not in values:
            raise ValueError(f"The key {template.text} needs {name}.")
        value = values[name]
        if isinstance(value, Fixed):
            text += str(value.value)
        else:
            text += "{}"
            arguments.append(_text(value))
        text += piece
    return sfn.JsonPath.format(text, *arguments) if arguments else text


def _attribute(kind: str, value: Value) -> tasks.DynamoAttributeValue:
    if kind == BOOL:
        if not isinstance(value, Fixed) or not isinstance(value.value, bool):
            raise ValueError("A BOOL attribute takes Fixed(True) or Fixed(False).")
        return tasks.DynamoAttributeValue.from_boolean(value.value)
    if kind == "L":
        if not isinstance(value, Fixed) or not isinstance(value.value, list | tuple):
            raise ValueError("A list attribute takes a Fixed list of strings.")
        return tasks.DynamoAttributeValue.from_list(
            [tasks.DynamoAttributeValue.from_string(str(entry)) for entry in value.value]
        )
    if kind == "N":
        return tasks.DynamoAttributeValue.number_from_string(_text(value))
    return tasks.DynamoAttributeValue.from_string(_text(value))


def state_key(entity: Entity, **fields: Value) -> dict[str, tasks.DynamoAttributeValue]:
    """An entity's primary key from the state."""
    return {
        PK: tasks.DynamoAttributeValue.from_string(key_value(KeyTemplate(entity.pk), fields)),
        SK: tasks.DynamoAttributeValue.from_string(key_value(KeyTemplate(entity.sk), fields)),
    }


def state_item(
    entity: Entity, attributes: Mapping[str, Value], **fields: Value
) -> dict[str, tasks.DynamoAttributeValue]:
    """An entity's whole item from the state: keys, gsi1 keys, the entity tag, attributes.

    Key fields come from ``fields``, else from the attribute of the same name.
    """
    entity.check_attributes(attributes)
    values = {**attributes, **fields}
    item = {
        name: tasks.DynamoAttributeValue.from_string(key_value(template, values))
        for name, template in entity.templates().items()
    }
    if entity.tagged:
        item[ENTITY_ATTRIBUTE] = tasks.DynamoAttributeValue.from_string(entity.name)
    for name, value in attributes.items():
        item[name] = _attribute(entity.attributes[name], value)
    return item

"""Plain Python values ⇄ DynamoDB attribute-value JSON, with boto3's own serializers.

Attribute-value JSON (``{"S": ...}``, ``{"N": ...}``, ``{"L": [...]}``) is the format of the
low-level client and of Step Functions' DynamoDB integrations. Numbers come back as ``int`` (the
table stores epoch seconds and counters only), not boto3's ``Decimal``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from steps.core.contract.entities import Entity

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

Item = dict[str, dict[str, Any]]


@cache
def _serializers() -> tuple[TypeSerializer, TypeDeserializer]:
    # Imported on first use: the authorizer imports the table module and must start without
    # boto3 (tests/authorizer: test_cold_import_stays_light).
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(plain: Mapping[str, Any]) -> Item:
    """Attribute-value JSON of a plain mapping (None values are left out)."""
    serializer, _ = _serializers()
    return {name: serializer.serialize(value) for name, value in plain.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, list):
        return [_plain(entry) for entry in value]
    if isinstance(value, dict):
        return {name: _plain(entry) for name, entry in value.items()}
    return value


#: An ``N`` that is an integer boto3 would read exactly (DynamoDB keeps 38 digits).
_INTEGER = re.compile(r"-?[0-9]{1,38}")


def _plain_value(value: Any) -> Any:
    """One attribute value as a plain value. The types the table holds are read here, as boto3
    reads them, without its Decimal round trip (items are read on every request path); any
    other value goes through boto3's deserializer."""
    if type(value) is dict and len(value) == 1:
        ((kind, data),) = value.items()
        if kind == "S" and type(data) is str:
            return data
        if kind == "N" and type(data) is str and _INTEGER.fullmatch(data):
            return int(data)
        if kind == "BOOL" and type(data) is bool:
            return data
        if kind == "L" and type(data) is list:
            return [_plain_value(entry) for entry in data]
        if kind == "M" and type(data) is dict:
            return {name: _plain_value(entry) for name, entry in data.items()}
        if kind == "SS" and type(data) is list and all(type(entry) is str for entry in data):
            return set(data)
    _, deserializer = _serializers()
    return _plain(deserializer.deserialize(value))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of an item; ValueError for anything that is not attribute-value JSON."""
    try:
        return {name: _plain_value(value) for name, value in item.items()}
    except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ValueError("The item is not DynamoDB attribute-value JSON.") from exc


def key(entity: Entity, **fields: Any) -> Item:
    """An entity's primary key (from its contract templates) as attribute values (strings)."""
    return {name: {"S": value} for name, value in entity.key(**fields).items()}


def entity_item(entity: Entity, attributes: Mapping[str, Any], **fields: Any) -> Item:
    """An entity's whole item (keys, gsi1 keys, tag, attributes; checked by the contract)."""
    return to_item(entity.item(attributes, **fields))

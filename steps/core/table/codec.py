"""Plain Python values ⇄ DynamoDB attribute-value JSON, with boto3's own serializers.

Attribute-value JSON (``{"S": ...}``, ``{"N": ...}``, ``{"L": [...]}``) is the format of the
low-level client and of Step Functions' DynamoDB integrations. Numbers come back as ``int`` (the
table stores epoch seconds and counters only), not boto3's ``Decimal``.
"""

from __future__ import annotations

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


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values of an item; ValueError for anything that is not attribute-value JSON."""
    try:
        _, deserializer = _serializers()
        return {name: _plain(deserializer.deserialize(value)) for name, value in item.items()}
    except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ValueError("The item is not DynamoDB attribute-value JSON.") from exc


def key(entity: Entity, **fields: Any) -> Item:
    """An entity's primary key (from its contract templates) as attribute values (strings)."""
    return {name: {"S": value} for name, value in entity.key(**fields).items()}


def entity_item(entity: Entity, attributes: Mapping[str, Any], **fields: Any) -> Item:
    """An entity's whole item (keys, gsi1 keys, tag, attributes; checked by the contract)."""
    return to_item(entity.item(attributes, **fields))

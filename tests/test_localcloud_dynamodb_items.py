"""localcloud/dynamodb_items.py: an item built with one size check decides as moto's per-insertion
checks do, and the item stays checked afterwards."""

from __future__ import annotations

import random
from typing import Any

import pytest
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

from localcloud import patches
from localcloud.dynamodb_items import ITEM_SIZE_LIMIT

patches.apply()

KEY = DynamoType({"S": "USER#a@example.com"})


def moto_accepts(attrs: dict[str, Any]) -> bool:
    """moto's own rule: each attribute inserted into a LimitedSizeDict, checked each time."""
    checked = LimitedSizeDict()
    try:
        for name, value in attrs.items():
            checked[name] = DynamoType(value)
    except ItemSizeTooLarge:
        return False
    return True


def builds(attrs: dict[str, Any]) -> bool:
    try:
        item = Item(KEY, KEY, attrs)
    except ItemSizeTooLarge:
        return False
    assert isinstance(item.attrs, LimitedSizeDict)
    assert item.attrs == {name: DynamoType(value) for name, value in attrs.items()}
    return True


def sized(total: int) -> dict[str, Any]:
    """Attributes whose size by moto's rule is exactly ``total`` bytes."""
    fixed = {"pk": {"S": "USER#a@example.com"}, "n": {"N": "12345"}, "ok": {"BOOL": True}}
    base = sum(len(k) + DynamoType(v).size() for k, v in fixed.items())
    filler = total - base - len("blob")
    return {**fixed, "blob": {"S": "x" * filler}}


@pytest.mark.parametrize("total", [ITEM_SIZE_LIMIT - 1, ITEM_SIZE_LIMIT, ITEM_SIZE_LIMIT + 1])
def test_the_limit_is_where_moto_puts_it(total: int) -> None:
    attrs = sized(total)
    assert builds(attrs) is moto_accepts(attrs) is (total <= ITEM_SIZE_LIMIT)


def test_random_items_are_accepted_and_refused_as_moto_does() -> None:
    rng = random.Random(17)
    for _ in range(200):
        attrs: dict[str, Any] = {}
        for index in range(rng.randint(0, 12)):
            kind = rng.choice(["S", "N", "M", "L", "SS", "BOOL"])
            if kind == "S":
                value: Any = {"S": "é" * rng.choice([1, 10, 60_000, 140_000])}
            elif kind == "N":
                value = {"N": str(rng.randint(-(10**9), 10**9))}
            elif kind == "M":
                value = {"M": {"inner": {"S": "y" * rng.choice([1, 100_000])}}}
            elif kind == "L":
                value = {"L": [{"S": "z" * rng.choice([1, 50_000])}, {"N": "1"}]}
            elif kind == "SS":
                value = {"SS": ["a", "b" * rng.choice([1, 90_000])]}
            else:
                value = {"BOOL": rng.random() < 0.5}
            attrs[f"attr{index}"] = value
        assert builds(attrs) is moto_accepts(attrs), sorted(attrs)


def test_later_writes_to_a_built_item_are_still_checked() -> None:
    item = Item(KEY, KEY, sized(ITEM_SIZE_LIMIT - 10))
    item.attrs["small"] = DynamoType({"S": "a"})
    with pytest.raises(ItemSizeTooLarge):
        item.attrs["big"] = DynamoType({"S": "x" * 100})

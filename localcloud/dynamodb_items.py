"""A DynamoDB item's size is checked once when moto builds it (a speed-up, no semantics).

moto's ``Item.__init__`` inserts the attributes one by one into a ``LimitedSizeDict``, which
sums the size of every attribute already there on each insertion: quadratic in the attributes
(about 0.2 ms for a 13-attribute item, three or more items per login). Sizes are never negative,
so the last of those checks is the largest and alone decides whether moto's 405,000-byte limit
is passed; the item is built with that one check. ``apply()`` installs it (``dynamodb.apply``
calls it). Tests: ``tests/test_localcloud_dynamodb_items.py``.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models.utilities import bytesize  # imported by dynamodb.apply() only

#: moto's limit on an item's size (bytes), as ``LimitedSizeDict`` checks it.
ITEM_SIZE_LIMIT = 405_000


def item_size(attrs: dict[str, Any]) -> int:
    """The size moto gives an item of these attributes (names and values; DynamoType values)."""
    return sum(bytesize(name) + value.size() for name, value in attrs.items())


def apply() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {name: DynamoType(value) for name, value in attrs.items()}
        if item_size(values) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)  # checked above; later writes go through __setitem__

    Item.__init__ = __init__

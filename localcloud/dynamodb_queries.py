"""DynamoDB queries that read only the items they can match, not the whole table.

moto 5.2.5's ``Table.query`` starts from ``all_items()``: every item of the table, sorted, on
every query, for the base table and for an index alike, and only then keeps the partition it
was asked for. Its cost grows with the table: ``GET /v1/me`` and ``GET /v1/sessions`` each query
gsi1, so on a local stack that had served a few thousand requests every such request spent tens
of milliseconds sorting items it then threw away, and eight clients queued behind it (the p99
of issue 17's load test).

Here ``Table.query`` gets only the candidates:

* a query on the base table, the items of its partition (``table.items[hash_key]``);
* a query on a secondary index, the items whose index partition key values are the ones asked
  for, from a map kept per table (:class:`IndexPartitions`): built on the table's first index
  query, then kept up to date by every write of an item (``Table.put_item``,
  ``Table.delete_item``, the backend's ``update_item``, which changes an item in place, and a
  cancelled transaction's undo, ``localcloud/dynamodb_transactions.py``).

moto's own query then runs on those candidates unchanged: it checks every key condition of each
item again, sorts, pages, filters and projects as before, so a stale candidate is harmless and
the answer is the one the whole-table pass gave (``tests/test_localcloud_queries.py`` compares
the two after random writes). Everything here runs under the DynamoDB lock
(``localcloud/dynamodb.py``), which every read and write of the local cloud holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

#: A primary key as moto keys its items: (hash DynamoType, range DynamoType or None).
PrimaryKey = tuple[Any, Any]

_INDEX_ATTRIBUTE = "_stepauth_index_partitions"


def items_of(table: Any) -> list[Any]:
    """Every item of a moto table, unsorted (moto's ``all_items`` sorts them all)."""
    if table.range_key_attr is None:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]


def _current(table: Any, key: PrimaryKey) -> Any:
    hash_key, range_key = key
    if table.range_key_attr is None:
        return table.items.get(hash_key)
    partition = table.items.get(hash_key)  # .get: never insert into moto's defaultdict
    return None if partition is None else partition.get(range_key)


def _index_hash_attributes(table: Any) -> dict[str, tuple[str, ...]]:
    return {
        index.name: tuple(k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH")
        for index in table.all_indexes()
    }


class IndexPartitions:
    """For each secondary index of one table: partition key values → the items' primary keys."""

    def __init__(self, table: Any) -> None:
        self.hash_attributes = _index_hash_attributes(table)
        self.partitions: dict[str, dict[tuple[Any, ...], dict[PrimaryKey, None]]] = {
            name: {} for name in self.hash_attributes
        }
        self._placed: dict[PrimaryKey, list[tuple[str, tuple[Any, ...]]]] = {}
        for item in items_of(table):
            self._place((item.hash_key, item.range_key), item)

    def _place(self, key: PrimaryKey, item: Any) -> None:
        placed = []
        for name, attributes in self.hash_attributes.items():
            values = tuple(item.attrs.get(attribute) for attribute in attributes)
            if all(values):  # an item without the index's key is not in the index
                self.partitions[name].setdefault(values, {})[key] = None
                placed.append((name, values))
        if placed:
            self._placed[key] = placed

    def _remove(self, key: PrimaryKey) -> None:
        for name, values in self._placed.pop(key, ()):
            partition = self.partitions[name].get(values)
            if partition is not None:
                partition.pop(key, None)
                if not partition:
                    del self.partitions[name][values]

    def item_changed(self, table: Any, key: PrimaryKey) -> None:
        """Place the item stored under ``key`` now (or nothing, if it is gone)."""
        self._remove(key)
        item = _current(table, key)
        if item is not None:
            self._place(key, item)

    def candidates(self, table: Any, index_name: str, values: tuple[Any, ...]) -> list[Any]:
        keys = self.partitions[index_name].get(values, {})
        found = (_current(table, key) for key in keys)
        return [item for item in found if item is not None]


def _partitions(table: Any, *, build: bool) -> IndexPartitions | None:
    index = table.__dict__.get(_INDEX_ATTRIBUTE)
    if index is not None and index.hash_attributes != _index_hash_attributes(table):
        index = None  # the table's indexes changed (UpdateTable): start again
        table.__dict__.pop(_INDEX_ATTRIBUTE, None)
    if index is None and build:
        index = IndexPartitions(table)
        table.__dict__[_INDEX_ATTRIBUTE] = index
    return index


def item_changed(table: Any, hash_key: Any, range_key: Any) -> None:
    """Tell the table's index map that the item under this key was written or deleted."""
    index = _partitions(table, build=False)
    if index is not None:
        index.item_changed(table, (hash_key, range_key))


class _Candidates:
    """The table as its query sees it: ``all_items`` are the candidates, all else the table's."""

    def __init__(self, table: Any, candidates: list[Any]) -> None:
        self._table = table
        self._candidates = candidates

    def all_items(self) -> list[Any]:
        return self._candidates

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def candidates(
    table: Any,
    hash_key: Any,
    index_name: str | None,
    hash_key_conditions: Iterable[tuple[str, Any]] | None,
) -> list[Any] | None:
    """The items a query can match, or None when only the whole table can tell."""
    if not index_name:
        if hash_key is None:
            return None
        if table.range_key_attr is None:
            found = table.items.get(hash_key)
            return [] if found is None else [found]
        partition = table.items.get(hash_key)
        return [] if partition is None else list(partition.values())
    index = _partitions(table, build=True)
    assert index is not None  # noqa: S101 - build=True always gives one
    attributes = index.hash_attributes.get(index_name)
    conditions = dict(hash_key_conditions or ())
    if not attributes or any(attribute not in conditions for attribute in attributes):
        return None  # an unknown index or a partial key: moto answers (or refuses) it
    return index.candidates(table, index_name, tuple(conditions[a] for a in attributes))


def install(table_class: Any, backend_class: Any, lock: Any) -> None:
    """Queries from the candidates; every write of an item keeps the index map current."""
    if getattr(table_class.query, "_stepauth_candidates", False):
        return
    query = table_class.query

    def candidate_query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        with lock:
            found = candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
            target = self if found is None else _Candidates(self, found)
            return query(
                target,
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                *args,
                **kwargs,
            )

    candidate_query._stepauth_candidates = True  # type: ignore[attr-defined]
    candidate_query.__wrapped__ = query  # type: ignore[attr-defined]
    table_class.query = candidate_query

    put_item, delete_item = table_class.put_item, table_class.delete_item

    def indexed_put(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with lock:
            item = put_item(self, item_attrs, *args, **kwargs)
            item_changed(self, item.hash_key, item.range_key)
            return item

    def indexed_delete(self: Any, hash_key: Any, range_key: Any) -> Any:
        with lock:
            deleted = delete_item(self, hash_key, range_key)
            item_changed(self, hash_key, range_key)
            return deleted

    table_class.put_item, table_class.delete_item = indexed_put, indexed_delete
    _reindex_after(backend_class, "update_item", lock)


def _reindex_after(backend_class: Any, name: str, lock: Any) -> None:
    """The backend's ``update_item`` changes the item in place: place it again afterwards."""
    original: Callable[..., Any] = getattr(backend_class, name)

    def write(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with lock:
            try:
                return original(self, table_name, key, *args, **kwargs)
            finally:  # also after a failure: moto may have changed the item before raising
                _key_changed(self, table_name, key)

    write.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(backend_class, name, write)


def _key_changed(backend: Any, table_name: str, key: dict[str, Any]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.tables.get(table_name)
    if table is None or _partitions(table, build=False) is None:
        return
    hash_value = key.get(table.hash_key_attr)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    if hash_value is None or (table.range_key_attr and range_value is None):
        return  # moto refused the key before writing anything
    item_changed(
        table,
        DynamoType(hash_value),
        DynamoType(range_value) if range_value is not None else None,
    )

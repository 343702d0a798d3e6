"""DynamoDB transactions with an undo log, and reads that never race the writers.

moto 5.2.5's ``transact_write_items`` deep-copies every table a transaction names before it
starts and puts the copy back when an operation fails. That costs about 0.18 ms per item of the
table, on every transaction: at 5,000 items a login spent more than a second of CPU copying.

Here a transaction runs under the write lock (``dynamodb.DYNAMODB_WRITE_LOCK``) and keeps an undo
log instead: before each operation it copies the one item the operation touches (or notes its
absence). When the transaction is cancelled, the items are put back in reverse order and the
stream records the partial writes appended are taken back, so the table, and what GetRecords and
the stream poller see, are as they were. The cost grows with the number of operations (at most
100), never with the table.

moto's tables are plain dicts, and reading one is not free of writes: ``Table.get_item`` on a
table with a sort key indexes a ``defaultdict``, which inserts an empty entry for a missing
partition key. A scan or a query iterating the dict at that moment fails with ``RuntimeError:
dictionary changed size during iteration``. So reads take the same (re-entrant) lock as writes:
DynamoDB serializes nothing of the kind, but in one Python process the reads are short and the
lock makes every read see a whole write.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import dynamodb_queries

#: Backend reads that walk or index the tables' dicts; each takes the write lock.
DYNAMODB_READS = (
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_get_items",
    "describe_table",
)

#: The most operations one TransactWriteItems may carry (DynamoDB's limit).
MAX_TRANSACTION_ITEMS = 100


@dataclass
class TransactionCounters:
    """What transactions cost, for tests and the bench: items copied into undo logs."""

    transactions: int = 0
    items_copied: int = 0
    rollbacks: int = 0


counters = TransactionCounters()
_counters_lock = threading.Lock()


@dataclass
class _UndoEntry:
    table: Any  # moto's Table
    hash_key: Any  # DynamoType
    range_key: Any  # DynamoType | None
    previous: Any  # a copy of the item before the operation, or None if there was none


def _restore(entry: _UndoEntry) -> None:
    """Put one item back as it was, without writing a stream record."""
    try:
        _put_back(entry)
    finally:
        dynamodb_queries.item_changed(entry.table, entry.hash_key, entry.range_key)


def _put_back(entry: _UndoEntry) -> None:
    items = entry.table.items
    if entry.range_key is None:
        if entry.previous is None:
            items.pop(entry.hash_key, None)
        else:
            items[entry.hash_key] = entry.previous
        return
    partition = items.get(entry.hash_key)
    if entry.previous is None:
        if partition is not None:
            partition.pop(entry.range_key, None)
            if not partition:
                items.pop(entry.hash_key, None)
        return
    if partition is None:
        partition = items[entry.hash_key] = {}
    partition[entry.range_key] = entry.previous


def _operation_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(backend: Any, transact_items: list[dict[str, Any]], lock: Any) -> None:
    """moto's semantics (errors, cancellation reasons, validation), with an undo log."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(transact_items) > MAX_TRANSACTION_ITEMS:
        raise TooManyTransactionsException()
    with lock:
        undo: list[_UndoEntry] = []
        shard_lengths: dict[int, tuple[Any, int]] = {}
        targets: set[tuple[str, str]] = set()
        errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []

        def roll_back() -> None:
            for entry in reversed(undo):
                _restore(entry)
            for shard, length in shard_lengths.values():
                del shard.items[length:]
            with _counters_lock:
                counters.rollbacks += 1

        for transact_item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(transact_item) > 1:
                roll_back()
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(transact_item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                key = _operation_key(backend, op_type, op)
                unique = (str(table_name), str(dict(sorted(key.items()))))
                if unique in targets:
                    raise MultipleTransactionsException()
                targets.add(unique)

                current = backend.get_item(table_name, key)
                if condition_expression is not None:
                    condition = get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type == "ConditionCheck":
                    errors.append((None, None, None))
                    continue

                table = backend.get_table(table_name)
                if table.stream_shard is not None and id(table) not in shard_lengths:
                    shard_lengths[id(table)] = (table.stream_shard, len(table.stream_shard.items))
                range_key = (
                    DynamoType(key[table.range_key_attr])
                    if table.range_key_attr is not None
                    else None
                )
                undo.append(
                    _UndoEntry(
                        table,
                        DynamoType(key[table.hash_key_attr]),
                        range_key,
                        copy.deepcopy(current),
                    )
                )
                if current is not None:
                    with _counters_lock:
                        counters.items_copied += 1

                if op_type == "Put":
                    backend.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    backend.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                else:
                    backend.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                roll_back()
                raise
            except ConditionalCheckFailed as error:
                errors.append(("ConditionalCheckFailed", str(error.message), original_item))
            except Exception as error:  # noqa: BLE001 - moto reports any other failure per item
                errors.append((type(error).__name__, str(error), original_item))

        with _counters_lock:
            counters.transactions += 1
        if any(code is not None for code, _, _ in errors):
            roll_back()
            raise TransactionCanceledException(errors)


def serialized_reads(backend_class: Any, lock: Any) -> None:
    """Every read of ``backend_class`` runs under ``lock`` (see the module's docstring)."""

    def serialized(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        read.__wrapped__ = original  # type: ignore[attr-defined]
        return read

    for name in DYNAMODB_READS:
        original = getattr(backend_class, name)
        if not hasattr(original, "__wrapped__"):
            setattr(backend_class, name, serialized(original))


def install(backend_class: Any, lock: Any) -> None:
    """Replace moto's copying ``transact_write_items``; serialize reads with the writes."""

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        transact_write_items(self, transact_items, lock)

    transact.__wrapped__ = backend_class.transact_write_items  # type: ignore[attr-defined]
    backend_class.transact_write_items = transact
    serialized_reads(backend_class, lock)

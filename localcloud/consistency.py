"""Eventual consistency of the local DynamoDB's global secondary indexes.

On AWS a gsi1 query trails the table by a fraction of a second; moto's index never does. The
switch below (``STEPAUTH_INDEX_LAG_SECONDS`` or :func:`index_lag` in a test) hides items
written less than that long ago from every index query, so that the paths that read the index
right after a write can be tested under lag. (Reads that take the writes' lock, against the
"dictionary changed size during iteration" race, live with the transactions in
``localcloud/dynamodb_transactions.py``.)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# -- Eventually consistent global secondary indexes ------------------------------------------
#
# On AWS a write reaches a GSI "within a fraction of a second"; moto updates the index at once,
# so code that queries the index right after a write always passes locally. With a lag set
# (``STEPAUTH_INDEX_LAG_SECONDS`` or :func:`index_lag`), an item written less than that long
# ago is missing from every index query (a simplification: on AWS an update would show the
# item's previous version for that long; a base-table read is never affected, and a
# ``ConsistentRead`` is not accepted on a GSI at all).

LAG_ENV_VAR = "STEPAUTH_INDEX_LAG_SECONDS"
_lag_seconds = 0.0
_recent_writes: dict[tuple[str, str], float] = {}
_lag_lock = threading.Lock()
_lag_installed = False


def set_index_lag(seconds: float) -> None:
    """Emulate this much index lag from now on (0: off, moto's immediate index)."""
    global _lag_seconds
    if seconds < 0:
        raise ValueError("An index lag is at least 0 seconds.")
    with _lag_lock:
        _lag_seconds = float(seconds)
        _recent_writes.clear()


@contextmanager
def index_lag(seconds: float) -> Iterator[None]:
    """Run with the index lag on (tests)."""
    set_index_lag(seconds)
    try:
        yield
    finally:
        set_index_lag(0)


def _key_of(table: Any, attributes: dict[str, Any]) -> str:
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return json.dumps({name: attributes.get(name) for name in names}, sort_keys=True, default=str)


def _record(backend: Any, table_name: str, attributes: dict[str, Any]) -> None:
    table = backend.tables.get(table_name)
    if table is None:
        return
    with _lag_lock:
        _recent_writes[(table_name, _key_of(table, attributes))] = time.monotonic()


def _visible(table_name: str, table: Any, item: Any) -> bool:
    attributes = item.to_json()["Attributes"]
    written = _recent_writes.get((table_name, _key_of(table, attributes)))
    return written is None or time.monotonic() - written >= _lag_seconds


def emulate_index_lag() -> None:
    """Wrap the backend's writes (to note when each key was written) and its queries (to hide
    recent items from index queries while a lag is set). Idempotent."""
    global _lag_installed
    if _lag_installed:
        return
    from moto.dynamodb.models import DynamoDBBackend

    put_item, update_item = DynamoDBBackend.put_item, DynamoDBBackend.update_item
    delete_item, transact = DynamoDBBackend.delete_item, DynamoDBBackend.transact_write_items
    query = DynamoDBBackend.query

    def noted(original: Callable[..., Any], key_of: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if _lag_seconds > 0:
                for table_name, attributes in key_of(*args, **kwargs):
                    _record(self, table_name, attributes)
            return result

        write.__wrapped__ = original  # type: ignore[attr-defined]
        return write

    def transacted(items: list[dict[str, Any]], *_: Any, **__: Any) -> list[tuple[str, Any]]:
        written = []
        for entry in items:
            for kind, operation in entry.items():
                attributes = operation.get("Item") if kind == "Put" else operation.get("Key")
                if kind != "ConditionCheck" and attributes:
                    written.append((operation.get("TableName"), attributes))
        return written

    def lagging_query(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        results, scanned, last_key = query(self, table_name, *args, **kwargs)
        if _lag_seconds > 0 and kwargs.get("index_name"):
            table = self.get_table(table_name)
            with _lag_lock:
                results = [item for item in results if _visible(table_name, table, item)]
        return results, scanned, last_key

    lagging_query.__wrapped__ = query  # type: ignore[attr-defined]
    DynamoDBBackend.put_item = noted(put_item, lambda t, item, *a, **k: [(t, item)])
    DynamoDBBackend.update_item = noted(update_item, lambda t, key, *a, **k: [(t, key)])
    DynamoDBBackend.delete_item = noted(delete_item, lambda t, key, *a, **k: [(t, key)])
    DynamoDBBackend.transact_write_items = noted(transact, transacted)
    DynamoDBBackend.query = lagging_query
    _lag_installed = True
    configured = os.environ.get(LAG_ENV_VAR, "").strip()
    if configured:
        set_index_lag(float(configured))

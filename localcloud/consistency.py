"""DynamoDB reads in the local cloud that behave under concurrency.

moto's reads are not read-only: ``Table.get_item`` indexes ``items[hash_key]``, a defaultdict,
so reading an unknown key inserts an empty partition. A concurrent ``transact_write_items``
deep-copies the table to roll back on failure, and the copy fails with ``RuntimeError:
dictionary changed size during iteration`` (a 500 for the request, most of them hidden by SDK
retries). The local cloud already serializes every write with one lock
(``localcloud.patches.DYNAMODB_WRITE_LOCK``); here the reads take the same lock, so a read sees
a table that no write is changing and no write copies a table a read is changing. DynamoDB
itself gives each read a consistent item; the lock costs the local cloud nothing it promises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

#: The backend methods that read (and may insert empty partitions as a side effect).
DYNAMODB_READS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")

_installed = False


def serialize_reads(lock: threading.RLock) -> None:
    """Make every DynamoDB backend read hold ``lock`` (the writes' lock). Idempotent."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend

    def serialized(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        read.__wrapped__ = original  # type: ignore[attr-defined]
        return read

    for name in DYNAMODB_READS:
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))
    _installed = True

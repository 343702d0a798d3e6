"""DynamoDB in the local cloud, where moto 5.2.5 differs from AWS: atomic writes, streams and
Time to Live deletions.

1. Writes are atomic: moto evaluates a condition and writes in two steps, so two concurrent
   requests could both pass ``attribute_not_exists`` or ``status = :active``. Every write of one
   backend is serialized (:data:`DYNAMODB_WRITE_LOCK`), as DynamoDB serializes writes to an item.
2. Stream records are delivered off the writer's thread. moto's ``StreamShard.add`` invokes
   every mapped Lambda synchronously inside the write (and then forgets the records, so
   GetRecords misses them). With writes serialized (1) and in-process handlers calling
   DynamoDB over HTTP on other server threads, a handler run inside a write would deadlock.
   Here a write only appends its record and signals ``stream_records_written``; the poller in
   ``localcloud/streams.py`` delivers, honouring the mapping's settings as Lambda does.
   Transactions keep an undo log of the items they touch instead of moto's copy of every table
   (``localcloud/dynamodb_transactions.py``); a cancelled transaction puts the items back and
   takes back the records of its partial writes. Reads take the write lock too. A query reads
   only its partition or its index partition (``localcloud/dynamodb_queries.py``), not the
   whole table.
3. Deletions by Time to Live carry ``userIdentity`` (``{"Type": "Service", "PrincipalId":
   "dynamodb.amazonaws.com"}`` in GetRecords, ``{"type", "principalId"}`` in Lambda events):
   moto never expires items and records no identity. The sweeper in ``localcloud/streams.py``
   deletes expired items inside :func:`deleting_by_ttl`, and only those deletions carry it.

A table's TTL from CloudFormation is ``localcloud/cloudformation.py``. ``apply()`` installs 1 and
2 (``patches.apply`` calls it), each expression string read once
(``localcloud/dynamodb_expressions.py``) and an item's size checked once when it is built
(``localcloud/dynamodb_items.py``). Tests: ``tests/test_localcloud_patches.py``,
``tests/test_localcloud_transactions.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def apply() -> None:
    from . import dynamodb_expressions, dynamodb_items

    _patch_atomic_dynamodb_writes()
    _patch_stream_shards()
    dynamodb_expressions.apply()  # each expression string read once (a speed-up, no semantics)
    dynamodb_items.apply()  # an item's size checked once when it is built (the same)


# 1. Atomic DynamoDB writes -----------------------------------------------------------------

DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
)


#: Held by every DynamoDB write of the local cloud (and by the TTL sweeper).
DYNAMODB_WRITE_LOCK = threading.RLock()


def _patch_atomic_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    def serialized(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with DYNAMODB_WRITE_LOCK:
                return original(self, *args, **kwargs)

        write.__wrapped__ = original  # type: ignore[attr-defined]
        return write

    for name in DYNAMODB_WRITES:
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))


# 2. Stream delivery off the writer's thread ------------------------------------------------

#: Set whenever a stream record is written; the stream poller waits on it.
stream_records_written = threading.Event()


def stream_event_name(old: Any, new: Any) -> str:
    if old is None:
        return "INSERT"
    return "REMOVE" if new is None else "MODIFY"


def _patch_stream_shards() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    def add(self: Any, old: Any, new: Any) -> None:
        """Record the change (called inside the serialized write); never invoke anything."""
        event_name = stream_event_name(old, new)
        sequence = self.starting_sequence_number + len(self.items)
        record = StreamRecord(
            self.table,
            self.table.stream_specification["StreamViewType"],
            event_name,
            old,
            new,
            sequence,
        )
        identity = deletion_identity()
        if identity is not None and event_name == "REMOVE":
            record.record["userIdentity"] = dict(identity)
        self.items.append(record)
        stream_records_written.set()

    StreamShard.add = add
    # Transactions keep an undo log of the items they touch (no copy of the table) and take
    # back their partial writes' stream records when cancelled; reads share the write lock.
    from . import dynamodb_transactions

    dynamodb_transactions.install(DynamoDBBackend, DYNAMODB_WRITE_LOCK)
    # Queries start from the partition (base table) or an index map, not the whole table.
    from moto.dynamodb.models.table import Table

    from . import dynamodb_queries

    dynamodb_queries.install(Table, DynamoDBBackend, DYNAMODB_WRITE_LOCK)


# 3. Deletions by Time to Live carry userIdentity -------------------------------------------

#: The identity DynamoDB gives its TTL deletions, as the Streams API spells it.
TTL_USER_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}

_deleting = threading.local()


def deletion_identity() -> dict[str, str] | None:
    """The identity of the deletions this thread is doing now (None: an ordinary caller)."""
    return getattr(_deleting, "identity", None)


@contextmanager
def deleting_by_ttl() -> Iterator[None]:
    """Deletions made on this thread inside the block are Time to Live's."""
    previous = deletion_identity()
    _deleting.identity = TTL_USER_IDENTITY
    try:
        yield
    finally:
        _deleting.identity = previous

"""The service table's repository: every read and write of the table goes through it.

Wraps an injected low-level DynamoDB client (the steps', the CLI's, or a test's); items are
attribute-value JSON (:mod:`steps.core.table.codec`). Multi-page reads use boto3's paginators.

A table may carry a commit deadline (``commit_by``, see :mod:`steps.core.deadline`): each write
call first checks it, until one write has succeeded. A step's first write is its commit, checked
immediately before it is sent; the writes after it complete that commit (revoking the sessions
of a stored password, marking the account of a spent code verified) and are not stopped half-way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from steps.core.aws import error_code
from steps.core.contract.entities import GSI1_NAME, GSI1PK, GSI1SK, PK
from steps.core.deadline import check_deadline, commit_deadline
from steps.core.table.codec import Item

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
#: BatchWriteItem takes at most this many requests.
BATCH_WRITE_MAX = 25
#: Tries of one BatchWriteItem chunk before giving up on its unprocessed items.
BATCH_ATTEMPTS = 5


class Table:
    """The service table through an injected low-level DynamoDB client.

    Build one with ``Table.from_client(boto3.client("dynamodb"), table_name)``. With
    ``commit_by`` (an epoch second), a write call past it sends nothing and raises
    DeadlinePassed, until the first write has succeeded (see the module docstring); ``clock``
    tells the time (the wall clock: the deadline is Step Functions' elapsed time).
    """

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        commit_by: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.name = name
        self.commit_by = commit_by
        self.clock = clock
        self.committed = False

    def _write(self, call: Callable[..., Any], **request: Any) -> Any:
        """Send one write request, after the commit deadline's check (the first write only)."""
        if not self.committed:
            check_deadline(self.commit_by, self.clock())
        answer = call(**request)
        self.committed = True
        return answer

    @classmethod
    def from_client(cls, client: Any, name: str) -> Table:
        """The table ``name`` through a boto3 low-level DynamoDB client."""
        if not isinstance(name, str) or not name:
            raise ValueError("A table name is required.")
        return cls(client, name)

    def put(self, item: Item) -> None:
        """Put an item unconditionally (replaces any item with the same key)."""
        self._write(self.client.put_item, TableName=self.name, Item=item)

    def put_new(self, item: Item) -> None:
        """Put an item that must not exist yet (conditional on ``attribute_not_exists(pk)``)."""
        self._write(
            self.client.put_item,
            TableName=self.name,
            Item=item,
            ConditionExpression=f"attribute_not_exists({PK})",
        )

    def put_all_new(self, items: Sequence[Item]) -> None:
        """Put several items atomically, each one only if it does not exist yet."""
        self._write(
            self.client.transact_write_items,
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.name,
                        "Item": item,
                        "ConditionExpression": f"attribute_not_exists({PK})",
                    }
                }
                for item in items
            ],
        )

    def transact(self, operations: Sequence[Mapping[str, Mapping[str, Any]]]) -> bool:
        """Run a write transaction of ``{"Put" | "Update" | "ConditionCheck": {...}}`` items.

        ``TableName`` is filled in. Returns False when the transaction was cancelled (a
        condition failed or another transaction conflicted), True when it was written.
        """
        transact_items = [
            {kind: {"TableName": self.name, **params} for kind, params in operation.items()}
            for operation in operations
        ]
        try:
            self._write(self.client.transact_write_items, TransactItems=transact_items)
        except Exception as exc:
            if error_code(exc) == TRANSACTION_CANCELED:
                return False
            raise
        return True

    def get(self, key: Item, *, consistent: bool = True) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        item = response.get("Item")
        return item or None

    def get_many(self, keys: Sequence[Item], *, consistent: bool = True) -> list[Item]:
        """The items that exist among ``keys`` (one BatchGetItem; unprocessed keys retried)."""
        wanted = [dict(key) for key in keys]
        found: list[Item] = []
        for _ in range(BATCH_ATTEMPTS):
            if not wanted:
                return found
            response = self.client.batch_get_item(
                RequestItems={self.name: {"Keys": wanted, "ConsistentRead": consistent}}
            )
            found.extend(response.get("Responses", {}).get(self.name, []))
            wanted = response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
        if wanted:
            raise RuntimeError("DynamoDB left keys unprocessed; retry later.")
        return found

    def update_if(
        self,
        key: Item,
        *,
        update: str,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
    ) -> bool:
        """One conditional UpdateItem; False (nothing written) when the condition fails."""
        return self._conditionally(
            self.client.update_item,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=dict(values),
        )

    def delete_if(
        self,
        key: Item,
        *,
        condition: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
    ) -> bool:
        """One conditional DeleteItem; False (nothing deleted) when the condition fails."""
        return self._conditionally(
            self.client.delete_item,
            Key=key,
            ConditionExpression=condition,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=dict(values),
        )

    def _conditionally(self, write: Any, **request: Any) -> bool:
        try:
            self._write(write, TableName=self.name, **request)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def update_returning(
        self,
        key: Item,
        *,
        update: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
        condition: str | None = None,
    ) -> Item | None:
        """One UpdateItem (conditional when ``condition`` is given) returning the item as
        written, in the same request (an atomic counter's new value); None when the condition
        fails."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": key,
            "UpdateExpression": update,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": dict(values),
            "ReturnValues": "ALL_NEW",
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        try:
            answer = self._write(self.client.update_item, **request)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                return None
            raise
        return answer.get("Attributes") or None

    def delete(self, key: Item) -> None:
        """Delete an item unconditionally (deleting a missing item is not an error)."""
        self._write(self.client.delete_item, TableName=self.name, Key=key)

    def delete_all(
        self,
        keys: Sequence[Item],
        *,
        attempts: int = BATCH_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Delete every item of ``keys`` (BatchWriteItem, 25 at a time); return how many.

        Deleting an item that does not exist is not an error, so this is idempotent. Items
        DynamoDB leaves unprocessed (throttling) are retried with a growing pause; RuntimeError
        when some are still left after ``attempts`` tries (the caller's stream record is retried).
        """
        for start in range(0, len(keys), BATCH_WRITE_MAX):
            requests: list[dict[str, Any]] = [
                {"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_MAX]
            ]
            for attempt in range(attempts):
                response = self._write(
                    self.client.batch_write_item, RequestItems={self.name: requests}
                )
                requests = response.get("UnprocessedItems", {}).get(self.name, [])
                if not requests:
                    break
                sleep(0.05 * 2**attempt)
            if requests:
                raise RuntimeError("DynamoDB left deletions unprocessed; try again later.")
        return len(keys)

    def put_once(self, receipt: Item, *items: Item) -> bool:
        """Put ``items`` together with ``receipt``, only if the receipt does not exist yet.

        One transaction: either the receipt and every item are written, or nothing is. Returns
        False when the receipt already exists (this was done before), True when written. Any
        other cancellation (a conflicting transaction) raises, so the caller retries.
        """
        operations = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": receipt,
                    "ConditionExpression": f"attribute_not_exists({PK})",
                }
            },
            *({"Put": {"TableName": self.name, "Item": item}} for item in items),
        ]
        try:
            self._write(self.client.transact_write_items, TransactItems=operations)
        except Exception as exc:
            if error_code(exc) == TRANSACTION_CANCELED and _receipt_exists(exc):
                return False
            raise
        return True

    def query(
        self,
        condition: str,
        *,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
        index: str | None = None,
        consistent: bool = False,
        where: str | None = None,
    ) -> Iterator[Item]:
        """Every item a Query finds (all pages, through boto3's paginator); ``where``: a filter
        applied by DynamoDB after the key condition."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": dict(values),
        }
        if index is not None:
            params["IndexName"] = index
        if consistent:
            params["ConsistentRead"] = True
        if where:
            params["FilterExpression"] = where
        for page in self.client.get_paginator("query").paginate(**params):
            yield from page.get("Items", [])

    def query_gsi1(
        self, partition: str, *, sk_prefix: str = "", sk_equals: str = ""
    ) -> Iterator[Item]:
        """Every item of a gsi1 partition (all pages), optionally narrowed by its sort key.

        Global secondary indexes are eventually consistent: an item written a moment ago may
        be missing from the result.
        """
        condition = "#pk = :pk"
        values: dict[str, Any] = {":pk": {"S": partition}}
        names = {"#pk": GSI1PK}
        if sk_equals:
            condition += " AND #sk = :sk"
            values[":sk"] = {"S": sk_equals}
            names["#sk"] = GSI1SK
        elif sk_prefix:
            condition += " AND begins_with(#sk, :sk)"
            values[":sk"] = {"S": sk_prefix}
            names["#sk"] = GSI1SK
        return self.query(condition, names=names, values=values, index=GSI1_NAME)

    def scan(
        self,
        *,
        where: str,
        names: Mapping[str, str],
        values: Mapping[str, Mapping[str, Any]],
        attributes: Sequence[str] = (),
        page_size: int = 200,
    ) -> Iterator[Item]:
        """Every item a filtered Scan finds (all pages, ``page_size`` items read per request);
        ``attributes``: only these (by placeholder, as some names are reserved words)."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "FilterExpression": where,
            "ExpressionAttributeNames": dict(names),
            "ExpressionAttributeValues": dict(values),
            "PaginationConfig": {"PageSize": page_size},
        }
        if attributes:
            params["ProjectionExpression"] = ", ".join(f"#a{n}" for n in range(len(attributes)))
            params["ExpressionAttributeNames"].update(
                {f"#a{n}": name for n, name in enumerate(attributes)}
            )
        for page in self.client.get_paginator("scan").paginate(**params):
            yield from page.get("Items", [])


def _receipt_exists(exc: BaseException) -> bool:
    """Whether a cancelled put_once failed on its receipt's condition (the first operation)."""
    response = getattr(exc, "response", None)
    reasons = response.get("CancellationReasons") if isinstance(response, dict) else None
    if not isinstance(reasons, list) or not reasons or not isinstance(reasons[0], dict):
        return False
    return reasons[0].get("Code") == "ConditionalCheckFailed"


def default_table(commit_by: float | None = None) -> Table:
    """The table named by TABLE_NAME, through the process-wide DynamoDB client; ``commit_by``:
    the step's commit deadline (from its input's ``deadline``, :mod:`steps.core.deadline`)."""
    from steps.core.aws import client
    from steps.core.config import get_config

    return Table(client("dynamodb"), get_config().required_table_name, commit_by=commit_by)


def committing_table(event: Any) -> Table:
    """:func:`default_table` with the commit deadline of a step input's ``deadline`` (none when
    the input has none: a step called outside a request-bound workflow)."""
    deadline = event.get("deadline") if isinstance(event, Mapping) else None
    return default_table(commit_deadline(deadline))

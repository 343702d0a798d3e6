"""Event-driven clean-up: what the table's stream records ask to be done, done idempotently.

The clean-up Lambda reads the table's stream through an event source mapping whose
FilterCriteria let through only these record kinds (``cdk/cleanup.py``); :func:`classify`
checks them again, so a record the filter should have dropped is ignored, never acted on.

==================  ===============================================  ==========================
task                stream record                                    what is done
==================  ===============================================  ==========================
family_revoked      MODIFY of a refresh family, status active ->     every refresh token item of
                    revoked (logout, reuse, user disabled, account   the family is deleted
                    deleted, session ended)
family_expired      REMOVE of a refresh family by TTL                its remaining token items
                                                                     are deleted; an audit record
                                                                     "session_expired" if it was
                                                                     still active
token_expired       REMOVE of a refresh token by TTL                 nothing (a metric)
denylist_expired    REMOVE of a denylist entry by TTL                nothing (a metric)
user_disabled       MODIFY of a user, status -> disabled             every active family revoked
==================  ===============================================  ==========================

A REMOVE is TTL's only when its ``userIdentity`` is ``{"type": "Service", "principalId":
"dynamodb.amazonaws.com"}``; a delete by a caller (an account deletion, this clean-up's own
deletes) carries none and is ignored.

Delivery is at least once: every task leaves the same state when run twice. Deleting an item
that is gone is no error, revoking a revoked family writes nothing, and the one side effect
that would repeat (the audit record) is written in one transaction with a receipt keyed by the
family, so the second run finds the receipt and writes nothing. Metrics count deliveries, so a
redelivered record is counted again; state never changes twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBStreamEvent,
    StreamRecord,
)

from steps.core.audit import audit_item
from steps.core.clock import Clock
from steps.core.contract.entities import RECEIPT
from steps.core.sessions import revoke_all_families
from steps.core.table import (
    DENY_PREFIX,
    ENTITY_REFRESH_FAMILY,
    ENTITY_REFRESH_TOKEN,
    ENTITY_USER,
    PK,
    REFRESH_PREFIX,
    SK,
    STATUS_ACTIVE,
    STATUS_DISABLED,
    STATUS_REVOKED,
    TTL_ATTRIBUTE,
    Item,
    Table,
    entity_item,
    user_id_partition,
)

#: The ``userIdentity`` of a stream record written by DynamoDB's Time to Live.
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
TTL_IDENTITY_TYPE = "Service"

FAMILY_REVOKED = "family_revoked"
FAMILY_EXPIRED = "family_expired"
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a task name, not a secret
DENYLIST_EXPIRED = "denylist_expired"
USER_DISABLED = "user_disabled"
TASKS = (FAMILY_REVOKED, FAMILY_EXPIRED, TOKEN_EXPIRED, DENYLIST_EXPIRED, USER_DISABLED)

#: A receipt outlives the stream's 24-hour retention: no record can come back after it is gone.
RECEIPT_TTL_SECONDS = 2 * 86_400

SESSION_EXPIRED_ACTION = "session_expired"


class MetricSink(Protocol):
    """What the clean-up needs of a metrics recorder (Powertools ``Metrics`` fits)."""

    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


@dataclass(frozen=True)
class CleanupTask:
    """One thing a stream record asks for (see the module's table)."""

    kind: str
    user_id: str | None = None
    family_id: str | None = None
    #: The family's ``expires_at`` (family_expired only).
    expired_at: int | None = None
    #: The family was still active when TTL removed it (family_expired only).
    was_active: bool = False


@dataclass(frozen=True)
class RecordOutcome:
    """What became of one record: done (with safe facts), ignored, or failed (error name)."""

    sequence_number: str
    task: str | None
    facts: dict[str, str] = field(default_factory=dict)
    error: str | None = None


# -- reading stream records (Powertools' DynamoDB stream data classes) ------------------------


_IMAGES = {"Keys": "keys", "NewImage": "new_image", "OldImage": "old_image"}


def _image(record: DynamoDBRecord, name: str) -> Mapping[str, Any]:
    """An image of the record, deserialized (``{}`` when absent); ValueError when malformed."""
    change = record.dynamodb
    if not isinstance(change, StreamRecord) or not isinstance(change.get(name), Mapping):
        return {}
    try:
        return dict(getattr(change, _IMAGES[name]))
    except (TypeError, ValueError, AttributeError, KeyError):
        raise ValueError(f"The stream record's {name} is malformed.") from None


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = image.get(name)
    return value if isinstance(value, str) else None


def _required(image: Mapping[str, Any], name: str) -> str:
    value = _string(image, name)
    if not value:
        raise ValueError(f"The stream record's image has no {name} string.")
    return value


def _number(image: Mapping[str, Any], name: str) -> int | None:
    value = image.get(name)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def sequence_number(record: Mapping[str, Any]) -> str:
    """The record's SequenceNumber: its ``itemIdentifier`` in a partial batch response."""
    change = record.get("dynamodb")
    value = change.get("SequenceNumber") if isinstance(change, Mapping) else None
    return value if isinstance(value, str) else ""


def removed_by_ttl(record: Mapping[str, Any]) -> bool:
    """Whether the record is a deletion by DynamoDB's Time to Live (not by any caller)."""
    identity = record.get("userIdentity")
    return (
        record.get("eventName") == "REMOVE"
        and isinstance(identity, Mapping)
        and identity.get("type") == TTL_IDENTITY_TYPE
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def _modified(record: DynamoDBRecord) -> CleanupTask | None:
    new, old = _image(record, "NewImage"), _image(record, "OldImage")
    entity = _string(new, "entity")
    status, before = _string(new, "status"), _string(old, "status")
    if entity == ENTITY_REFRESH_FAMILY and status == STATUS_REVOKED and before == STATUS_ACTIVE:
        return CleanupTask(
            FAMILY_REVOKED,
            user_id=_required(new, "user_id"),
            family_id=_required(new, "family_id"),
        )
    if entity == ENTITY_USER and status == STATUS_DISABLED and before != STATUS_DISABLED:
        return CleanupTask(USER_DISABLED, user_id=_required(new, "user_id"))
    return None


def _expired(record: DynamoDBRecord) -> CleanupTask | None:
    old = _image(record, "OldImage")
    entity = _string(old, "entity")
    if entity == ENTITY_REFRESH_FAMILY:
        return CleanupTask(
            FAMILY_EXPIRED,
            user_id=_required(old, "user_id"),
            family_id=_required(old, "family_id"),
            expired_at=_number(old, TTL_ATTRIBUTE),
            was_active=_string(old, "status") == STATUS_ACTIVE,
        )
    if entity == ENTITY_REFRESH_TOKEN:
        return CleanupTask(
            TOKEN_EXPIRED,
            user_id=_string(old, "user_id"),
            family_id=_string(old, "family_id"),
        )
    keys = _image(record, "Keys")
    if (_string(keys, PK) or "").startswith(DENY_PREFIX):
        return CleanupTask(DENYLIST_EXPIRED)
    return None


def classify(record: Mapping[str, Any]) -> CleanupTask | None:
    """The task a stream record asks for, or None when it asks for nothing.

    ValueError when a record of a handled kind lacks what the task needs (a poison record:
    it is retried, then ends on the failure destination).
    """
    if not isinstance(record, Mapping):
        raise ValueError("A stream record must be an object.")
    if not isinstance(record, DynamoDBRecord):
        record = DynamoDBRecord(dict(record))
    if record.get("eventName") == "MODIFY":
        return _modified(record)
    if removed_by_ttl(record):
        return _expired(record)
    return None


# -- doing the tasks --------------------------------------------------------------------------


def family_token_keys(table: Table, user_id: str, family_id: str) -> list[Item]:
    """The keys of every refresh token item of one family (gsi1, eventually consistent)."""
    prefix = f"{REFRESH_PREFIX}{family_id}#"
    return [
        {PK: item[PK], SK: item[SK]}
        for item in table.query_gsi1(user_id_partition(user_id), sk_prefix=prefix)
        if item.get("entity") == {"S": ENTITY_REFRESH_TOKEN}
        and item.get("family_id") == {"S": family_id}
    ]


def remove_family_tokens(table: Table, user_id: str, family_id: str) -> int:
    """Delete every token item of the family; return how many were found."""
    return table.delete_all(family_token_keys(table, user_id, family_id))


def receipt_item(what: str, subject: str, *, now: float) -> Item:
    """The receipt of a clean-up side effect done once for ``subject``."""
    return entity_item(
        RECEIPT, {TTL_ATTRIBUTE: int(now) + RECEIPT_TTL_SECONDS}, what=what, subject=subject
    )


def record_session_expired(table: Table, task: CleanupTask, *, now: float) -> bool:
    """Write the "session expired" audit record once per family; False if already written."""
    if task.user_id is None or task.family_id is None:
        raise ValueError("A session_expired record needs the user and the family.")
    audit = audit_item(
        action=SESSION_EXPIRED_ACTION,
        outcome="success",
        user_id=task.user_id,
        at=task.expired_at if task.expired_at is not None else now,
        detail=f"session {task.family_id} expired and was removed by TTL",
    )
    return table.put_once(receipt_item(SESSION_EXPIRED_ACTION, task.family_id, now=now), audit)


def run_task(task: CleanupTask, *, table: Table, now: float, metrics: MetricSink) -> dict[str, str]:
    """Do one task; return safe facts for the log (ids and counts, never a key or a token)."""
    facts = {"user_id": task.user_id or "", "family_id": task.family_id or ""}
    if task.kind in (FAMILY_REVOKED, FAMILY_EXPIRED):
        if task.user_id is None or task.family_id is None:
            raise ValueError("A family task needs the user and the family.")
        removed = remove_family_tokens(table, task.user_id, task.family_id)
        metrics.add_metric(name="RefreshTokensRemoved", unit="Count", value=removed)
        facts["tokens_removed"] = str(removed)
        if task.kind == FAMILY_EXPIRED and task.was_active:
            audited = record_session_expired(table, task, now=now)
            metrics.add_metric(name="SessionExpired", unit="Count", value=int(audited))
            facts["audited"] = str(audited).lower()
    elif task.kind == TOKEN_EXPIRED:
        metrics.add_metric(name="RefreshTokenExpired", unit="Count", value=1)
    elif task.kind == DENYLIST_EXPIRED:
        metrics.add_metric(name="DenylistEntryExpired", unit="Count", value=1)
    elif task.kind == USER_DISABLED:
        if task.user_id is None:
            raise ValueError("A user_disabled task needs the user.")
        revoked = revoke_all_families(table, task.user_id, reason="user_disabled", now=now)
        metrics.add_metric(name="UserSessionsRevoked", unit="Count", value=revoked)
        facts["families_revoked"] = str(revoked)
    else:
        raise ValueError(f"Unknown clean-up task {task.kind!r}.")
    return {name: value for name, value in facts.items() if value}


def process_records(
    records: Sequence[Any], *, table: Table, clock: Clock, metrics: MetricSink
) -> tuple[dict[str, list[dict[str, str]]], list[RecordOutcome]]:
    """Run the records in stream order; stop at the first failure.

    Returns the partial batch response (``{"batchItemFailures": [{"itemIdentifier": <the
    failed record's SequenceNumber>}]}``, empty when all succeeded) and one outcome per record
    looked at. Lambda retries a stream batch from the lowest reported sequence number, so the
    records after a failure are left for that retry rather than run out of order.
    """
    outcomes: list[RecordOutcome] = []
    metrics.add_metric(name="CleanupRecordsReceived", unit="Count", value=len(records))
    for record in records:
        sequence = sequence_number(record) if isinstance(record, Mapping) else ""
        kind: str | None = None
        try:
            task = classify(record)
            kind = task.kind if task else None
            facts = run_task(task, table=table, now=clock.now(), metrics=metrics) if task else {}
        except Exception as exc:  # noqa: BLE001 - reported per record, retried by Lambda
            metrics.add_metric(name="CleanupRecordFailed", unit="Count", value=1)
            outcomes.append(RecordOutcome(sequence, kind, error=type(exc).__name__))
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}, outcomes
        outcomes.append(RecordOutcome(sequence, kind, facts))
    return {"batchItemFailures": []}, outcomes


def records_of(event: DynamoDBStreamEvent) -> list[Any]:
    """The records of a DynamoDB stream event (ValueError for anything else); a record that is
    not an object stays as it is, to be reported as a failed record."""
    if not isinstance(event.raw_event, Mapping) or not isinstance(event.get("Records"), list):
        raise ValueError("The event has no Records list.")
    return [
        record if isinstance(record.raw_event, Mapping) else record.raw_event
        for record in event.records
    ]

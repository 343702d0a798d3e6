"""DynamoDB stream records (in the shape Lambda hands them over) built from table items."""

from __future__ import annotations

import itertools
from typing import Any

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

_sequence = itertools.count(1000)


def stream_record(
    event_name: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    *,
    ttl: bool = False,
    identity: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An INSERT/MODIFY/REMOVE record of a NEW_AND_OLD_IMAGES stream.

    ``ttl``: the deletion was Time to Live's (the record carries TTL's ``userIdentity``).
    """
    image = new or old or {}
    change: dict[str, Any] = {
        "Keys": {"pk": image["pk"], "sk": image["sk"]},
        "SequenceNumber": str(next(_sequence)),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "ApproximateCreationDateTime": 1_700_000_000,
    }
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    record: dict[str, Any] = {
        "eventID": f"event-{change['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/label",
    }
    if ttl or identity:
        record["userIdentity"] = dict(identity or TTL_IDENTITY)
    return record


def with_values(item: dict[str, Any], **changes: str) -> dict[str, Any]:
    """A copy of ``item`` with string attributes changed."""
    return {**item, **{name: {"S": value} for name, value in changes.items()}}

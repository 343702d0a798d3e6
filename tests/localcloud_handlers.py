"""Handlers the local-cloud tests deploy as Lambda functions (run in-process)."""

from __future__ import annotations

import os
import threading
from typing import Any


class GreetingRefused(Exception):
    pass


def echo(event: Any, context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "function": context.function_name,
        "setting": os.environ.get("ECHO_SETTING"),
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
    }


def refuse(event: Any, context: Any) -> None:
    raise GreetingRefused("no greetings today")


# Stream batches the stream tests' functions received: (pk of every record, pk of the failed).
STREAM_BATCHES: list[tuple[list[str], list[str]]] = []


def _image(record: dict[str, Any]) -> dict[str, Any]:
    change = record["dynamodb"]
    return change.get("NewImage") or change.get("OldImage") or {}


def stream_consumer(event: Any, context: Any) -> dict[str, Any]:
    """Takes a stream batch; an item's ``poison`` attribute decides how its record fails.

    ``raise``: the whole invocation fails. ``report``: the record is reported in
    ``batchItemFailures`` (with the records after it, as a stream consumer should).
    ``flaky``: fails while ``FLAKY["failing"]`` is true.
    """
    records = event["Records"]
    keys = [_image(r)["pk"]["S"] for r in records]
    for index, record in enumerate(records):
        poison = _image(record).get("poison", {}).get("S")
        if poison == "raise" or (poison == "flaky" and FLAKY["failing"]):
            STREAM_BATCHES.append((keys, keys))
            raise GreetingRefused("poisoned record")
        if poison == "report":
            STREAM_BATCHES.append((keys, keys[index:]))
            sequence = record["dynamodb"]["SequenceNumber"]
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    STREAM_BATCHES.append((keys, []))
    return {"batchItemFailures": []}


FLAKY = {"failing": True}


def stream_writer(event: Any, context: Any) -> None:
    """Writes a receipt of each record into the table it came from, over HTTP.

    Run inside the write that produced the record (moto's own delivery), this would wait for
    the write lock its caller holds: the local cloud must deliver off the writer's thread.
    """
    import boto3

    client = boto3.client("dynamodb")
    for record in event["Records"]:
        table = record["eventSourceARN"].split("/")[1]
        key = record["dynamodb"]["Keys"]["pk"]["S"]
        if not key.startswith("receipt-"):
            client.put_item(TableName=table, Item={"pk": {"S": f"receipt-{key}"}})


# Events the EventBridge tests' Lambda target received, in order.
EVENT_DELIVERIES: list[Any] = []


def event_recorder(event: Any, context: Any) -> None:
    EVENT_DELIVERIES.append(event)


# The time-out test's function: holds its invocation until the test releases it.
HOLD = threading.Event()
HELD_CALLS: list[str] = []


def hold(event: Any, context: Any) -> dict[str, bool]:
    HELD_CALLS.append(context.function_name)
    HOLD.wait(timeout=30)
    return {"held": True}


def custom_resource_success(event: Any, context: Any) -> None:
    """A custom resource that answers CloudFormation SUCCESS at once."""
    from steps.init_signing_keys import send_result

    send_result(
        event["ResponseURL"],
        {
            "Status": "SUCCESS",
            "PhysicalResourceId": "answered-at-once",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        },
    )

"""The local cloud's stream poller and TTL sweeper behave as Lambda and DynamoDB do.

Each test maps a fresh table's stream to a test handler (``tests.localcloud_handlers``) with
the event source mapping settings under test, writes items, and drives delivery with
``streams.drain()`` (and TTL with ``streams.sweep(now)``): nothing sleeps.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from localcloud import dynamodb as local_dynamodb
from localcloud import streams as local_streams
from localcloud.cloud import LocalCloud
from tests import localcloud_handlers as handlers

ROLE = "arn:aws:iam::123456789012:role/local-test"


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    session = boto3.Session(region_name=local_cloud.settings.region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
    }
    iam = session.client("iam")
    try:
        iam.create_role(RoleName="local-test", AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    return session


@pytest.fixture
def streams(local_cloud: LocalCloud) -> local_streams.LocalStreams:
    assert local_cloud.streams is not None
    return local_cloud.streams


@pytest.fixture(autouse=True)
def _fresh_batches() -> None:
    handlers.STREAM_BATCHES.clear()
    handlers.FLAKY["failing"] = True


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "code runs in-process from the project")
    return buffer.getvalue()


@dataclass
class Mapped:
    """A table whose stream feeds a test function, and the mapping's failure queue."""

    aws: boto3.Session
    table: str
    queue_url: str
    mapping_id: str

    def put(self, key: str, **attributes: str) -> None:
        item = {"pk": {"S": key}, **{k: {"S": v} for k, v in attributes.items()}}
        self.aws.client("dynamodb").put_item(TableName=self.table, Item=item)

    def failures(self) -> list[dict[str, Any]]:
        messages = (
            self.aws.client("sqs")
            .receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]

    def delivered(self) -> list[str]:
        """Keys that reached the function in an invocation that did not fail them."""
        done: list[str] = []
        for keys, failed in handlers.STREAM_BATCHES:
            done += [k for k in keys if k not in failed and k not in done]
        return done


def mapped(aws: boto3.Session, handler: str = "stream_consumer", **settings: Any) -> Mapped:
    name = f"streams-{uuid.uuid4().hex[:8]}"
    dynamodb = aws.client("dynamodb")
    table = dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    queue_url = aws.client("sqs").create_queue(QueueName=f"{name}-failures")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler=f"tests.localcloud_handlers.{handler}",
        Code={"ZipFile": _zip()},
    )
    mapping = aws.client("lambda").create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=table["LatestStreamArn"],
        StartingPosition="TRIM_HORIZON",
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
        **settings,
    )
    return Mapped(aws, name, queue_url, mapping["UUID"])


def test_batches_follow_the_batch_size_in_stream_order(aws, streams) -> None:
    table = mapped(aws, BatchSize=2)
    with streams.paused():
        for n in range(5):
            table.put(f"item-{n}")
        streams.drain()
    assert [keys for keys, _ in handlers.STREAM_BATCHES] == [
        ["item-0", "item-1"],
        ["item-2", "item-3"],
        ["item-4"],
    ]


def test_a_poison_record_goes_to_the_destination_and_the_rest_of_its_batch_is_processed(
    aws, streams
) -> None:
    table = mapped(
        aws,
        BatchSize=10,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    with streams.paused():
        for n in range(5):
            table.put(f"item-{n}", **({"poison": "report"} if n == 2 else {}))
        streams.drain()
    assert table.delivered() == ["item-0", "item-1", "item-3", "item-4"]
    (failure,) = table.failures()
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3  # the first try + 2 retries
    assert "functionError" not in failure["responseContext"]  # it answered; it reported a record
    assert f"table/{table.table}/stream/" in info["streamArn"]
    # Metadata only: never the records themselves.
    assert "item-2" not in json.dumps(failure)
    # Nothing is left to deliver.
    count = len(handlers.STREAM_BATCHES)
    streams.drain()
    assert len(handlers.STREAM_BATCHES) == count


def test_bisecting_isolates_a_record_that_makes_the_function_fail(aws, streams) -> None:
    table = mapped(aws, BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1)
    with streams.paused():
        for n in range(6):
            table.put(f"item-{n}", **({"poison": "raise"} if n == 4 else {}))
        streams.drain()
    assert sorted(table.delivered()) == ["item-0", "item-1", "item-2", "item-3", "item-5"]
    (failure,) = table.failures()
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["responseContext"]["functionError"] == "Unhandled"


def test_without_bisect_the_records_after_a_failure_share_its_fate(aws, streams) -> None:
    """As on AWS: the batch is retried from the failed record, and discarded from there."""
    table = mapped(
        aws,
        BatchSize=10,
        MaximumRetryAttempts=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    with streams.paused():
        for n in range(4):
            table.put(f"item-{n}", **({"poison": "report"} if n == 1 else {}))
        streams.drain()
    assert table.delivered() == ["item-0"]
    (failure,) = table.failures()
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 3
    # Two invocations saw the failed part: the first and one retry.
    assert [keys for keys, _ in handlers.STREAM_BATCHES] == [
        ["item-0", "item-1", "item-2", "item-3"],
        ["item-1", "item-2", "item-3"],
    ]


def test_without_reported_failures_an_answer_is_a_success(aws, streams) -> None:
    """Without ReportBatchItemFailures, a batchItemFailures answer means nothing to Lambda."""
    table = mapped(aws, BatchSize=10, MaximumRetryAttempts=0)
    with streams.paused():
        table.put("item-0", poison="report")
        table.put("item-1")
        streams.drain()
    assert len(handlers.STREAM_BATCHES) == 1
    assert table.failures() == []


def test_unbounded_retries_block_the_stream_until_the_record_succeeds(aws, streams) -> None:
    table = mapped(aws, BatchSize=1)  # MaximumRetryAttempts -1: retried until it expires
    with streams.paused():
        table.put("item-0", poison="flaky")
        table.put("item-1")
        streams.drain()
        streams.drain()
        assert table.delivered() == []  # item-1 waits behind item-0
        handlers.FLAKY["failing"] = False
        streams.drain()
    assert table.delivered() == ["item-0", "item-1"]
    assert table.failures() == []


def test_a_disabled_mapping_delivers_nothing(aws, streams) -> None:
    table = mapped(aws, Enabled=False)
    with streams.paused():
        table.put("item-0")
        assert streams.drain() == 0
    assert handlers.STREAM_BATCHES == []


def test_the_background_thread_delivers_without_being_asked(aws, streams) -> None:
    table = mapped(aws)
    table.put("item-0")
    deadline = time.monotonic() + 10
    while not handlers.STREAM_BATCHES and time.monotonic() < deadline:
        time.sleep(0.02)
    assert table.delivered() == ["item-0"]


class _CountingPoller:
    """Stands in for the poller: notes when the background thread delivers."""

    def __init__(self) -> None:
        self.deliveries: list[float] = []
        self.delivered = threading.Event()

    def deliver_pending(self, *, unless: Any = None) -> int:
        self.deliveries.append(time.monotonic())
        self.delivered.set()
        return 0


def test_the_background_thread_polls_at_most_once_per_poll_interval() -> None:
    # Lambda polls a stream four times a second: 300 writes in 0.3 s are a handful of polls,
    # not 300, and the last write is still delivered.
    background = local_streams.LocalStreams("123456789012", "us-east-1", poll_seconds=0.1)
    poller = _CountingPoller()
    background.poller = poller  # type: ignore[assignment]
    background.start()
    try:
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            local_dynamodb.stream_records_written.set()
            time.sleep(0.001)
        last_write = time.monotonic()
        poller.delivered.clear()
        local_dynamodb.stream_records_written.set()
        assert poller.delivered.wait(timeout=10)
    finally:
        background.stop()
    assert 1 <= len(poller.deliveries) <= 0.3 / 0.1 + 3
    # Half the interval: a thread preempted between planning a poll and making it shortens the
    # gap it leaves by that delay (without the pacing they are about 1 ms).
    gaps = [b - a for a, b in zip(poller.deliveries, poller.deliveries[1:], strict=False)]
    assert all(gap >= 0.1 / 2 for gap in gaps), gaps
    assert poller.deliveries[-1] >= last_write


# -- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, None),
        ("", None),
        ("null", None),
        ("{}", None),
        ('{"batchItemFailures": []}', None),
        ('{"batchItemFailures": null}', None),
        ('{"batchItemFailures": [{"itemIdentifier": "12"}]}', 1),
        ('{"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "12"}]}', 1),
        ('{"batchItemFailures": [{"itemIdentifier": ""}]}', 0),
        ('{"batchItemFailures": [{"itemIdentifier": null}]}', 0),
        ('{"batchItemFailures": [{"itemIdentifier": "99"}]}', 0),
        ('{"batchItemFailures": [{"id": "12"}]}', 0),
        ('{"batchItemFailures": "12"}', 0),
        ('"not an object"', 0),
        ("not json", 0),
    ],
)
def test_partial_batch_responses_are_read_as_lambda_reads_them(payload, expected) -> None:
    assert local_streams.first_failure(payload, ["11", "12", "13"]) == expected


def test_ttl_ignores_non_numbers_future_times_and_times_older_than_five_years() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    now = 1_800_000_000
    assert local_streams.is_expired(DynamoType({"N": str(now)}), now)
    assert local_streams.is_expired(DynamoType({"N": str(now - 86_400)}), now)
    assert not local_streams.is_expired(DynamoType({"N": str(now + 1)}), now)
    assert not local_streams.is_expired(DynamoType({"S": str(now - 5)}), now)
    assert not local_streams.is_expired(DynamoType({"N": str(now - 6 * 365 * 86_400)}), now)
    assert not local_streams.is_expired(None, now)
    assert local_streams.ttl_attribute({"TimeToLiveStatus": "DISABLED"}) is None
    assert (
        local_streams.ttl_attribute({"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"})
        == "ttl"
    )


def test_old_stream_records_are_trimmed_after_24_hours(aws, streams) -> None:
    table = mapped(aws)
    with streams.paused():
        table.put("item-0")
        streams.drain()
        shard = _shard(table.table)
        first = shard.starting_sequence_number
        assert len(shard.items) == 1
        streams.poller.trim(now=time.time() + 25 * 3600)
        assert shard.items == [] and shard.starting_sequence_number == first + 1
        table.put("item-1")
        streams.drain()
    assert table.delivered() == ["item-0", "item-1"]


def _shard(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].tables[name].stream_shard

"""Streams and Time to Live in the local cloud: the TTL sweeper and the stream poller.

On AWS, DynamoDB deletes expired items some time after they expire, writing REMOVE records that
carry TTL's ``userIdentity``; Lambda polls each stream for its event source mappings, filters the
records, invokes the function with batches and handles its failures. moto does none of this
(see ``localcloud/dynamodb.py`` and ``localcloud/awslambda.py``). Here:

* :class:`TtlSweeper` ``sweep(now)`` deletes every item of every TTL-enabled table whose TTL
  attribute (the one the table's TTL description names) is a number at or before ``now`` and
  not more than five years old (DynamoDB ignores older ones), as TTL would: the REMOVE records
  carry ``{"type": "Service", "principalId": "dynamodb.amazonaws.com"}``.
* :class:`StreamPoller` ``deliver_pending()`` reads each DynamoDB event source mapping the
  CloudFormation template created (moto's Lambda backend keeps them) and delivers its records
  in stream order, as Lambda does: FilterCriteria (records that match no filter are skipped),
  BatchSize, ReportBatchItemFailures (``{"batchItemFailures": [{"itemIdentifier": <sequence
  number>}]}``: the batch is retried from the lowest one), BisectBatchOnFunctionError (a failed
  batch is split in two; splitting does not use up retries), MaximumRetryAttempts, and
  DestinationConfig.OnFailure (an SQS message with the failed batch's metadata, never the
  records). With unbounded retries (-1) a failing batch blocks its stream and is tried again
  on the next poll, as on AWS until the records age out.
* :class:`LocalStreams` runs both on one background thread: delivery when a write signals a
  new record, at most once every ``poll_seconds`` (Lambda polls a stream's shards four times a
  second: records written in between are delivered together, and a busy stack does not pay a
  poll per write), and a sweep every ``sweep_seconds``. Tests drive them
  directly: ``sweep(now)`` with any clock, ``drain()`` to deliver everything now, and
  ``paused()`` to hold background delivery while they look at the state in between.

Delivery always runs on the poller's thread or the caller's (a test), never inside a write:
writes are serialized (``localcloud/dynamodb.py``) and the handlers call DynamoDB over HTTP on
server threads.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import awslambda, dynamodb, dynamodb_queries

LOG = logging.getLogger("stepauth.localcloud.streams")

#: DynamoDB Streams keeps records this long.
STREAM_RETENTION_SECONDS = 24 * 3600
#: DynamoDB TTL ignores expiry times more than five years in the past.
TTL_MAX_AGE_SECONDS = 5 * 365 * 24 * 3600
DEFAULT_BATCH_SIZE = 100
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


# -- mapping settings -------------------------------------------------------------------------


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _number(value: Any, default: int) -> int:
    try:
        return default if value is None else int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class MappingSettings:
    """The settings of one DynamoDB event source mapping, as the poller honours them."""

    uuid: str
    function_arn: str
    source_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    starting_position: str = "TRIM_HORIZON"
    filter_criteria: dict[str, Any] | None = None
    report_item_failures: bool = False
    bisect: bool = False
    #: -1: unbounded (until the records leave the stream).
    max_retries: int = -1
    on_failure: str | None = None
    enabled: bool = True

    @classmethod
    def of(cls, esm: Any) -> MappingSettings:
        """From moto's ``EventSourceMapping`` (CloudFormation properties or API parameters)."""
        destination = ((esm.destination_config or {}).get("OnFailure") or {}).get("Destination")
        return cls(
            uuid=esm.uuid,
            function_arn=esm.function_arn,
            source_arn=esm.event_source_arn,
            batch_size=_number(esm.batch_size, DEFAULT_BATCH_SIZE),
            starting_position=str(esm.starting_position or "TRIM_HORIZON").upper(),
            filter_criteria=esm.filter_criteria or None,
            report_item_failures=REPORT_BATCH_ITEM_FAILURES in (esm.function_response_types or []),
            bisect=_flag(esm.bisect_on_error, False),
            max_retries=_number(esm.max_retry_attempts, -1),
            on_failure=destination or None,
            enabled=_flag(esm.enabled, True),
        )


# -- records ----------------------------------------------------------------------------------


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:  # moto's utcnow() is naive UTC
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()
    return float(moment or 0)


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lambda_record(record: dict[str, Any], *, region: str, source_arn: str) -> dict[str, Any]:
    """A stream record (as GetRecords returns it) in the shape Lambda hands to functions.

    The approximate creation time becomes epoch seconds; ``userIdentity`` is spelled
    ``{"type", "principalId"}`` as in Lambda events.
    """
    change = dict(record["dynamodb"])
    change["ApproximateCreationDateTime"] = int(_epoch(change.get("ApproximateCreationDateTime")))
    event = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": source_arn,
    }
    identity = record.get("userIdentity")
    if isinstance(identity, dict):
        event["userIdentity"] = {
            "type": identity.get("Type"),
            "principalId": identity.get("PrincipalId"),
        }
    return event


def first_failure(payload: Any, sequence_numbers: Sequence[str]) -> int | None:
    """Where a partial batch response says the batch failed (index), None when it all succeeded.

    As Lambda reads ``ReportBatchItemFailures`` answers: no answer, ``{}``, a null or empty
    ``batchItemFailures`` are complete success; an identifier that is missing, empty or not in
    the batch (or an answer that is not an object) fails the whole batch (index 0); otherwise
    the lowest reported record, from which the batch is retried.
    """
    if payload in (None, "", b"", "null"):
        return None
    try:
        response = json.loads(payload) if isinstance(payload, str | bytes) else payload
    except ValueError:
        return 0
    if response is None:
        return None
    if not isinstance(response, dict):
        return 0
    failures = response.get("batchItemFailures")
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in sequence_numbers:
            return 0
        indexes.append(sequence_numbers.index(identifier))
    return min(indexes)


def failure_record(
    mapping: MappingSettings,
    records: Sequence[dict[str, Any]],
    *,
    shard_id: str,
    condition: str,
    invoke_count: int,
    function_error: bool,
    now: float,
) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination for a stream batch.

    Metadata only (shard, sequence range, arrival times): never the records themselves.
    """
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": mapping.function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": _iso(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
            "batchSize": len(records),
            "streamArn": mapping.source_arn,
        },
    }


# -- the poller -------------------------------------------------------------------------------


@dataclass
class _Batch:
    records: list[dict[str, Any]]
    #: Retries already spent on these records (bisecting spends none).
    retries: int = 0


@dataclass
class _MappingState:
    #: The sequence number of the next record to read.
    position: int
    #: Batches read but not finished (retries, bisected halves), first one next.
    pending: deque[_Batch] = field(default_factory=deque)


class StreamPoller:
    """Delivers DynamoDB stream records to the event source mappings of one account and region."""

    def __init__(
        self, account_id: str, region: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._clock = clock
        self._states: dict[str, _MappingState] = {}
        self._lock = threading.Lock()

    @contextmanager
    def holding(self) -> Iterator[None]:
        """No delivery runs while the block runs (one in progress is waited for)."""
        with self._lock:
            yield

    def deliver_pending(self, *, unless: Callable[[], bool] | None = None) -> int:
        """Deliver every record written so far (and any written meanwhile); return invocations.

        Stops early only for a batch that fails under unbounded retries (its stream stays
        blocked until the next call, as on AWS). ``unless`` is asked once the delivery lock is
        held: when it answers true, nothing is delivered. A mapping that cannot be served (its
        function is gone) does not hold up the others; its first error is raised at the end.
        """
        with self._lock:
            if unless is not None and unless():
                return 0
            invocations, errors = 0, []
            for mapping in self.mappings():
                try:
                    invocations += self._deliver(mapping)
                except Exception as error:  # noqa: BLE001 - one broken mapping must not stop others
                    LOG.error("delivery to mapping %s failed: %r", mapping.uuid, error)
                    errors.append(error)
            if errors:
                raise errors[0]
            return invocations

    def mappings(self) -> list[MappingSettings]:
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[self.account_id][self.region]
        return [
            MappingSettings.of(esm)
            for esm in list(backend._event_source_mappings.values())
            if ":dynamodb:" in esm.event_source_arn
        ]

    def _shard(self, source_arn: str) -> Any:
        """The live shard of the stream ``source_arn`` (None when it no longer exists)."""
        from moto.dynamodb.models import dynamodb_backends

        # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
        resource = source_arn.split(":", 5)[5]
        _, name, _, label = (resource.split("/", 3) + ["", "", ""])[:4]
        table = dynamodb_backends[self.account_id][self.region].tables.get(name)
        if table is None or table.stream_shard is None or table.latest_stream_label != label:
            return None
        return table.stream_shard

    def _state(self, mapping: MappingSettings, shard: Any) -> _MappingState:
        state = self._states.get(mapping.uuid)
        if state is None:
            start = shard.starting_sequence_number
            if mapping.starting_position == "LATEST":
                start += len(shard.items)
            state = self._states[mapping.uuid] = _MappingState(position=start)
        return state

    def _deliver(self, mapping: MappingSettings) -> int:
        shard = self._shard(mapping.source_arn)
        if not mapping.enabled or shard is None:
            return 0
        if not self._may_poll(mapping):
            return 0
        state = self._state(mapping, shard)
        invocations = 0
        while True:
            if not state.pending:
                records = self._read(mapping, shard, state)
                if not records:
                    return invocations
                state.pending.append(_Batch(records))
            finished, count = self._work(mapping, shard, state.pending)
            invocations += count
            if not finished:
                return invocations

    def _may_poll(self, mapping: MappingSettings) -> bool:
        """Lambda reads the stream as the function's execution role (IAM, localcloud/iam.py)."""
        from moto.awslambda.models import lambda_backends

        from . import iam

        function = lambda_backends[self.account_id][self.region].get_function(mapping.function_arn)
        stream = mapping.source_arn
        try:
            iam.check(
                str(function.role),
                [
                    ("dynamodb:DescribeStream", stream),
                    ("dynamodb:GetShardIterator", stream),
                    ("dynamodb:GetRecords", stream),
                    ("dynamodb:ListStreams", "*"),
                ],
            )
        except iam.AccessDenied as denied:
            # As on AWS, the mapping delivers nothing until its role may read the stream.
            LOG.error("stream mapping of %s cannot poll: %s", function.function_name, denied)
            return False
        return True

    def _read(
        self, mapping: MappingSettings, shard: Any, state: _MappingState
    ) -> list[dict[str, Any]]:
        """The next batch of records that pass the filters; the position moves past them."""
        batch: list[dict[str, Any]] = []
        index = max(0, state.position - shard.starting_sequence_number)
        items = shard.items
        while index < len(items) and len(batch) < mapping.batch_size:
            record = lambda_record(
                items[index].to_json(), region=self.region, source_arn=mapping.source_arn
            )
            index += 1
            if awslambda.filter_criteria_matches(mapping.filter_criteria, record):
                batch.append(record)
        state.position = shard.starting_sequence_number + index
        return batch

    def _work(
        self, mapping: MappingSettings, shard: Any, pending: deque[_Batch]
    ) -> tuple[bool, int]:
        """Run the pending batches; (False, n) when one must wait for the next poll."""
        invocations = 0
        while pending:
            batch = pending.popleft()
            failed_from, function_error = self._invoke(mapping, batch.records)
            invocations += 1
            if failed_from is None:
                continue
            failed = batch.records[failed_from:]
            if mapping.bisect and len(failed) > 1:
                half = len(failed) // 2
                pending.appendleft(_Batch(failed[half:], batch.retries))
                pending.appendleft(_Batch(failed[:half], batch.retries))
                continue
            if 0 <= mapping.max_retries <= batch.retries:
                self._discard(mapping, shard, failed, batch.retries + 1, function_error)
                continue
            pending.appendleft(_Batch(failed, batch.retries + 1))
            if mapping.max_retries < 0:
                return False, invocations
        return True, invocations

    def _invoke(
        self, mapping: MappingSettings, records: list[dict[str, Any]]
    ) -> tuple[int | None, bool]:
        """Invoke the function with one batch: (index of the first failed record, errored)."""
        from moto.awslambda.models import lambda_backends

        function = lambda_backends[self.account_id][self.region].get_function(mapping.function_arn)
        payload, errored, _logs = function._invoke_lambda(event=json.dumps({"Records": records}))
        if errored:
            LOG.warning(
                "stream batch of %d record(s) failed in %s", len(records), function.function_name
            )
            return 0, True
        if not mapping.report_item_failures:
            return None, False
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
        return first_failure(payload, sequence_numbers), False

    def _discard(
        self,
        mapping: MappingSettings,
        shard: Any,
        records: list[dict[str, Any]],
        invoke_count: int,
        function_error: bool,
    ) -> None:
        """Records that used up their retries: skipped, their metadata to the destination."""
        destination = mapping.on_failure
        LOG.warning("%d stream record(s) discarded after %d attempt(s)", len(records), invoke_count)
        if not destination:
            return
        if destination.split(":")[2:3] != ["sqs"]:
            LOG.warning("only SQS on-failure destinations are served locally: %s", destination)
            return
        from moto.sqs.models import sqs_backends

        _, _, _, region, account, queue = destination.split(":", 5)
        message = failure_record(
            mapping,
            records,
            shard_id=shard.id,
            condition="RetryAttemptsExhausted",
            invoke_count=invoke_count,
            function_error=function_error,
            now=self._clock(),
        )
        if not self._may_send(mapping, destination):
            return
        queues = sqs_backends[account][region]
        queues.send_message(queue_name=queue, message_body=json.dumps(message))

    def _may_send(self, mapping: MappingSettings, destination: str) -> bool:
        """Lambda sends to the on-failure destination as the function's role."""
        from moto.awslambda.models import lambda_backends

        from . import iam

        function = lambda_backends[self.account_id][self.region].get_function(mapping.function_arn)
        try:
            iam.check(str(function.role), [("sqs:SendMessage", destination)])
        except iam.AccessDenied as denied:
            LOG.error("on-failure destination of %s refused: %s", function.function_name, denied)
            return False
        return True

    def trim(self, now: float | None = None) -> int:
        """Drop records older than the stream's 24-hour retention; return how many.

        Records no mapping has read yet go too, as on AWS. Runs under the write lock (the
        sequence numbers of new records count from the shard's first retained record).
        """
        from moto.dynamodb.models import dynamodb_backends

        cutoff = (self._clock() if now is None else now) - STREAM_RETENTION_SECONDS
        dropped = 0
        with self._lock, dynamodb.DYNAMODB_WRITE_LOCK:
            for table in list(dynamodb_backends[self.account_id][self.region].tables.values()):
                shard = table.stream_shard
                if shard is None:
                    continue
                old = 0
                while (
                    old < len(shard.items)
                    and _epoch(shard.items[old].record["dynamodb"]["ApproximateCreationDateTime"])
                    < cutoff
                ):
                    old += 1
                if old:
                    del shard.items[:old]
                    shard.starting_sequence_number += old
                    dropped += old
        return dropped


# -- the sweeper ------------------------------------------------------------------------------


def ttl_attribute(description: dict[str, Any] | None) -> str | None:
    """The TTL attribute of a table's TTL description, when TTL is enabled."""
    if not description or description.get("TimeToLiveStatus") != "ENABLED":
        return None
    return description.get("AttributeName") or None


def is_expired(value: Any, now: float) -> bool:
    """Whether a TTL attribute value (moto's DynamoType) means the item has expired at ``now``.

    Only a Number counts (DynamoDB ignores other types), and only one within the last five
    years (older values are ignored too).
    """
    if getattr(value, "type", None) != "N":
        return False
    try:
        expiry = float(value.value)
    except (TypeError, ValueError):
        return False
    return now - TTL_MAX_AGE_SECONDS <= expiry <= now


class TtlSweeper:
    """Deletes expired items as DynamoDB's Time to Live does, with TTL's stream identity."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    def sweep(self, now: float) -> int:
        """Delete every item expired at ``now`` in every TTL-enabled table; return how many."""
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[self.account_id][self.region]
        deleted = 0
        with dynamodb.DYNAMODB_WRITE_LOCK, dynamodb.deleting_by_ttl():
            for table in list(backend.tables.values()):
                attribute = ttl_attribute(table.ttl)
                if attribute is None:
                    continue
                # Unsorted: moto's all_items() sorts the whole table, under the lock.
                for item in dynamodb_queries.items_of(table):
                    if is_expired(item.attrs.get(attribute), now):
                        table.delete_item(item.hash_key, item.range_key)
                        deleted += 1
        if deleted:
            LOG.info("time to live deleted %d expired item(s)", deleted)
        return deleted


# -- both, on a background thread -------------------------------------------------------------


class LocalStreams:
    """The stream poller and the TTL sweeper of the local cloud, on one background thread."""

    def __init__(
        self,
        account_id: str,
        region: str,
        *,
        poll_seconds: float = 0.25,
        sweep_seconds: float | None = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.poller = StreamPoller(account_id, region, clock=clock)
        self.sweeper = TtlSweeper(account_id, region)
        self.poll_seconds = poll_seconds
        self.sweep_seconds = sweep_seconds
        self._clock = clock
        self._paused = 0
        self._pause_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> int:
        """Deliver every pending stream record now, on this thread; return invocations."""
        return self.poller.deliver_pending()

    def sweep(self, now: float | None = None) -> int:
        """Expire items as TTL would at ``now`` (default: the clock); return how many."""
        return self.sweeper.sweep(self._clock() if now is None else now)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Background delivery holds off inside the block (``drain()`` still delivers).

        A delivery in progress finishes first; the background thread checks the pause while it
        holds the delivery lock, so none starts once the block has begun.
        """
        with self.poller.holding():
            with self._pause_lock:
                self._paused += 1
        try:
            yield
        finally:
            with self._pause_lock:
                self._paused -= 1
            dynamodb.stream_records_written.set()

    def _is_paused(self) -> bool:
        with self._pause_lock:
            return self._paused > 0

    def start(self) -> LocalStreams:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="stepauth-streams", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        dynamodb.stream_records_written.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        next_sweep = self._clock() + (self.sweep_seconds or 0)
        next_poll = time.monotonic()
        while not self._stopping.is_set():
            dynamodb.stream_records_written.wait(timeout=self.poll_seconds)
            # Polls stay poll_seconds apart, as Lambda's: what is written meanwhile waits for it.
            if self._stopping.wait(max(0.0, next_poll - time.monotonic())):
                return
            dynamodb.stream_records_written.clear()
            next_poll = time.monotonic() + self.poll_seconds
            try:
                self.poller.deliver_pending(unless=self._is_paused)
                if self.sweep_seconds and self._clock() >= next_sweep:
                    next_sweep = self._clock() + self.sweep_seconds
                    self.sweeper.sweep(self._clock())
                    self.poller.trim()
            except Exception:  # noqa: BLE001 - the thread must survive one bad round
                LOG.exception("stream delivery or TTL sweep failed; retrying on the next poll")

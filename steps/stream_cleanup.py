"""Lambda: the table's stream clean-up (DynamoDB stream event -> partial batch response).

Fed by an event source mapping with FilterCriteria, ReportBatchItemFailures, bisect-on-error,
a retry limit and an SQS on-failure destination (``cdk/cleanup.py``); the event is read with
Powertools' ``DynamoDBStreamEvent`` data class. The work is in
:mod:`steps.core.cleanup`; here are the glue, one log line per record (safe facts: the task,
ids and counts, never a key, hash or token) and the metrics (EMF, namespace ``stepauth``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBStreamEvent

from steps.core.cleanup import RecordOutcome, process_records, records_of
from steps.core.clock import system_clock
from steps.core.observability import invocation_metrics, logger, step_log
from steps.core.table import default_table


def log_outcome(outcome: RecordOutcome) -> None:
    facts = {"task": outcome.task or "none", **outcome.facts}
    if outcome.error:
        logger.error(
            "stream record failed", extra={**facts, "outcome": "failed", "error": outcome.error}
        )
    else:
        logger.info("stream record done", extra={**facts, "outcome": "done"})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("stream_cleanup", event) as log, invocation_metrics() as metrics:
        response, outcomes = process_records(
            records_of(DynamoDBStreamEvent(event)),
            table=default_table(),
            clock=system_clock,
            metrics=metrics,
        )
        for outcome in outcomes:
            log_outcome(outcome)
        log.succeeded(records=str(len(outcomes)), failed=str(len(response["batchItemFailures"])))
        return response

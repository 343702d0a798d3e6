"""The stream clean-up: which stream records reach it, and how failures are handled.

The clean-up Lambda (``steps/stream_cleanup.py``) reads the table's stream through an event
source mapping. Its FilterCriteria let through only the records it acts on; the filters are
OR-ed, and Lambda drops (and checkpoints past) every other record without invoking anything,
so the request path's own writes (tokens, audit records, receipts, the clean-up's deletes)
never wake it. Failed records are retried (a bounded number of times, the batch bisected to
isolate the bad record, the function reporting which record failed); a record that keeps
failing is sent, as batch metadata, to an SQS queue.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from steps.core.cleanup import TTL_IDENTITY_TYPE, TTL_PRINCIPAL
from steps.core.table import (
    DENY_PREFIX,
    ENTITY_REFRESH_FAMILY,
    ENTITY_REFRESH_TOKEN,
    ENTITY_USER,
    PK,
    STATUS_ACTIVE,
    STATUS_DISABLED,
    STATUS_REVOKED,
)

from .config import StackConfig

# Deletions by DynamoDB's Time to Live, and only those.
_BY_TTL = {"type": [TTL_IDENTITY_TYPE], "principalId": [TTL_PRINCIPAL]}

#: The event source mapping's filter patterns (Lambda event filtering syntax), OR-ed.
CLEANUP_FILTERS: tuple[dict[str, Any], ...] = (
    # A refresh family revoked: logout, reuse, user disabled, account deleted, session ended.
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": {
                "entity": {"S": [ENTITY_REFRESH_FAMILY]},
                "status": {"S": [STATUS_REVOKED]},
            },
            "OldImage": {"status": {"S": [STATUS_ACTIVE]}},
        },
    },
    # A user disabled (by the admin route, the command line or anything else).
    {
        "eventName": ["MODIFY"],
        "dynamodb": {
            "NewImage": {"entity": {"S": [ENTITY_USER]}, "status": {"S": [STATUS_DISABLED]}},
            "OldImage": {"status": {"S": [{"anything-but": [STATUS_DISABLED]}]}},
        },
    },
    # A refresh token or family deleted by TTL.
    {
        "eventName": ["REMOVE"],
        "userIdentity": _BY_TTL,
        "dynamodb": {"OldImage": {"entity": {"S": [ENTITY_REFRESH_TOKEN, ENTITY_REFRESH_FAMILY]}}},
    },
    # A denylist entry deleted by TTL.
    {
        "eventName": ["REMOVE"],
        "userIdentity": _BY_TTL,
        "dynamodb": {"Keys": {PK: {"S": [{"prefix": DENY_PREFIX}]}}},
    },
)


@jsii.implements(lambda_.IEventSourceDlq)
class SqsOnFailure:
    """An SQS on-failure destination granting only what Lambda needs: ``sqs:SendMessage``.

    (CDK's ``SqsDlq`` also grants ``GetQueueAttributes`` and ``GetQueueUrl``, which Lambda does
    not use for a destination.)
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        target_handler.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)


def add_stream_cleanup(
    scope: Construct,
    *,
    table: dynamodb.ITable,
    function: lambda_.Function,
    config: StackConfig,
) -> sqs.Queue:
    """Map the table's stream to ``function``; return the queue that keeps failed batches."""
    failures = sqs.Queue(
        scope,
        "CleanupFailures",
        queue_name=f"{config.stack_name}-cleanup-failures",
        retention_period=Duration.days(14),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.DESTROY,
    )
    function.add_event_source(
        event_sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=config.cleanup_batch_size,
            bisect_batch_on_error=True,
            retry_attempts=config.cleanup_retry_attempts,
            report_batch_item_failures=True,
            on_failure=SqsOnFailure(failures),
            filters=[lambda_.FilterCriteria.filter(pattern) for pattern in CLEANUP_FILTERS],
        )
    )
    # What the clean-up does to the table (least privilege; see cdk/stack.py).
    table.grant(
        function,
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchWriteItem",
    )
    return failures

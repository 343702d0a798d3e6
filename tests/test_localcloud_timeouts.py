"""A workflow past its TimeoutSeconds answers TIMED_OUT and starts nothing more locally.

API Gateway gives up at 29 s and each workflow at 25 s (cdk/resilience.py); what the client no
longer waits for must not commit afterwards. moto's interpreter returns TIMED_OUT at the
deadline and its worker ends at the next state boundary (the step in flight finishes, as a
Lambda runs to its own time-out on AWS): no later state and no retry runs.
"""

from __future__ import annotations

import json
import uuid

import boto3

from tests import localcloud_handlers
from tests.test_localcloud_patches import _function, _machine, aws, sfn  # noqa: F401


def test_no_state_runs_after_the_workflow_timed_out(aws: boto3.Session) -> None:  # noqa: F811
    from moto.stepfunctions.parser.utils import TMP_THREADS

    dynamodb = aws.client("dynamodb")
    table = f"late-{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    function = _function(aws, "tests.localcloud_handlers.hold")
    arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    definition = {
        "StartAt": "Hold",
        "TimeoutSeconds": 1,
        "States": {
            "Hold": {"Type": "Task", "Resource": arn, "Next": "Commit"},
            "Commit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"pk": {"S": "late"}}},
                "End": True,
            },
        },
    }
    machine = _machine(aws, definition)
    localcloud_handlers.HOLD.clear()
    localcloud_handlers.HELD_CALLS.clear()
    # Only this execution's threads: STANDARD executions of other tests may be waiting for a
    # task token in the same local cloud for hours, and joining them stalled the session.
    earlier_threads = set(TMP_THREADS)
    try:
        answer = sfn(aws).start_sync_execution(stateMachineArn=machine, input=json.dumps({}))
        assert answer["status"] == "TIMED_OUT"
    finally:
        localcloud_handlers.HOLD.set()
    for thread in [t for t in list(TMP_THREADS) if t not in earlier_threads]:
        thread.join(timeout=30)
    assert localcloud_handlers.HELD_CALLS == [function]
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "late"}})


def test_no_retry_runs_after_the_workflow_timed_out(aws: boto3.Session) -> None:  # noqa: F811
    """A direct DynamoDB Task whose retry would come after TimeoutSeconds never sends it: the
    write that failed is the last call (a Task needs no commit deadline of its own)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from localcloud import faults
    from localcloud.faults import FaultRule

    dynamodb = aws.client("dynamodb")
    table = f"late-retry-{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    definition = {
        "StartAt": "Commit",
        "TimeoutSeconds": 1,
        "States": {
            "Commit": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"pk": {"S": "late"}}},
                # The retry would be sent 2 s after the failure: after the time-out.
                "Retry": [
                    {
                        "ErrorEquals": ["DynamoDB.ThrottlingException"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 1,
                    }
                ],
                "End": True,
            },
        },
    }
    machine = _machine(aws, definition)
    earlier_threads = set(TMP_THREADS)
    throttled = FaultRule("dynamodb", "PutItem", "throttle", times=1, match=table)
    with faults.inject(throttled):
        answer = sfn(aws).start_sync_execution(stateMachineArn=machine, input=json.dumps({}))
        assert answer["status"] == "TIMED_OUT"
        for thread in [t for t in list(TMP_THREADS) if t not in earlier_threads]:
            thread.join(timeout=30)  # the interpreter's own retry wait, then its end
    assert throttled.fired == 1
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "late"}})

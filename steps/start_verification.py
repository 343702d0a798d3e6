"""Step: the UserRegistered rule's target; starts the EmailVerification execution of the user.

The execution is named after the user id, so a duplicate delivery of the event (EventBridge
delivers at least once) starts nothing new: StartExecution answers with the running execution
for the same name and input, and ExecutionAlreadyExists once it has ended. (An EventBridge rule
cannot name the executions it starts itself, hence this small target.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from steps.core import aws
from steps.core.aws import error_code
from steps.core.observability import step_log


def execution_request(event: Any, *, machine_arn: str, timeout_seconds: int) -> dict[str, str]:
    if not isinstance(event, Mapping) or not isinstance(event.get("detail"), Mapping):
        raise ValueError("The input must be an EventBridge event.")
    detail = event["detail"]
    document = {
        "user_id": str(detail["user_id"]),
        "email": str(detail["email"]),
        "request_id": str(detail.get("request_id", "")),
        "timeout_seconds": timeout_seconds,
    }
    return {
        "stateMachineArn": machine_arn,
        "name": document["user_id"],
        "input": json.dumps(document, sort_keys=True, separators=(",", ":")),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("start_verification", event) as log:
        request = execution_request(
            event,
            machine_arn=os.environ["EMAIL_VERIFICATION_STATE_MACHINE_ARN"],
            timeout_seconds=int(os.environ["VERIFICATION_TIMEOUT_SECONDS"]),
        )
        try:
            started = aws.client("stepfunctions").start_execution(**request)
        except Exception as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise
            log.succeeded(user_id=request["name"], started="duplicate")
            return {"started": False}
        log.succeeded(user_id=request["name"], started="true")
        return {"started": True, "executionArn": started["executionArn"]}

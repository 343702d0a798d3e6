"""CloudFormation custom resource ``Custom::SigningKeys``: the first signing key, at deploy time.

CloudFormation cannot generate a key pair, so the secret starts as a placeholder. On Create
and Update this function does what ``stepauth keys init`` does (idempotent: a valid key set is
kept, a placeholder replaced by a new set, the public keys published to the table), so that
``cdk deploy`` alone yields a stack that signs tokens. Delete does nothing: the secret (retained
with the table by default) keeps its keys.

It always answers CloudFormation (a PUT of the result to the event's ``ResponseURL``), or a
stack would wait an hour for it. The answer carries the active key id, never key material; a
failure's reason is the error's type only.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from steps.core.signing_keys import DEFAULT_ALGORITHM, initialise_signing_keys
from steps.core.table import Table

LOG = logging.getLogger("stepauth.init_signing_keys")
LOG.setLevel(logging.INFO)

#: How long the answer to CloudFormation may take (its pre-signed URL is an S3 endpoint).
RESPONSE_TIMEOUT_SECONDS = 10


def resource_result(
    event: Mapping[str, Any], *, secrets: Any, table_for: Callable[[str], Table]
) -> dict[str, Any]:
    """The response document for one custom resource event (never raises)."""
    properties = event.get("ResourceProperties") or {}
    physical_id = event.get("PhysicalResourceId") or f"{event.get('LogicalResourceId')}-keys"
    result: dict[str, Any] = {
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "PhysicalResourceId": physical_id,
        "Status": "SUCCESS",
        "Data": {},
    }
    if event.get("RequestType") == "Delete":
        return result
    try:
        kid = initialise_signing_keys(
            secrets,
            str(properties["SecretArn"]),
            table_for(str(properties["TableName"])),
            algorithm=str(properties.get("Algorithm") or DEFAULT_ALGORITHM),
        )
    except Exception as exc:  # answer FAILED (never hang the stack); no message: no secrets
        LOG.error(
            json.dumps({"message": "signing keys not initialised", "error": type(exc).__name__})
        )
        result.update(Status="FAILED", Reason=f"Signing keys not initialised: {type(exc).__name__}")
        return result
    result["Data"] = {"ActiveKid": kid}
    return result


def send_result(response_url: str, result: Mapping[str, Any]) -> None:
    """PUT the result to CloudFormation's pre-signed URL (an empty Content-Type, as S3 wants)."""
    body = json.dumps(result).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL CloudFormation gave us
        response_url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS):  # noqa: S310
        pass


def handler(event: dict[str, Any], context: Any) -> None:
    from steps.core.aws import client

    result = resource_result(
        event,
        secrets=client("secretsmanager"),
        table_for=lambda name: Table(client("dynamodb"), name),
    )
    LOG.info(
        json.dumps(
            {
                "message": "custom resource answered",
                "request_type": event.get("RequestType"),
                "status": result["Status"],
            }
        )
    )
    send_result(event["ResponseURL"], result)

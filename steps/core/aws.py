"""Lazily created, process-wide boto3 clients.

boto3 is imported on first use, never at module import (cold start). The endpoint comes from
the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables, which boto3
honours itself. DynamoDB's client is :class:`steps.core.dynamodb_client.DynamoDBClient`, a
botocore client whose item calls skip botocore's per-call layers.

Time limits are explicit (:data:`CLIENT_LIMITS`). A step checks its commit deadline just before
its write (steps/core/deadline.py); the DynamoDB client must not keep that write in flight, with
its retries, beyond ``COMMIT_MARGIN_SECONDS`` (cdk/resilience.py) after the check, or the write
could land after the workflow timed out. botocore's defaults (60 s connect and read time-outs,
up to 10 DynamoDB attempts) allow minutes. DynamoDB uses botocore's ``legacy`` retry mode: its
DynamoDB policy waits 50 ms × 2^n between attempts (``_retry.json``), where the ``standard``
mode may wait up to a server's ``x-amz-retry-after`` plus 5 s.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

# Variables that change which endpoint or region a new client talks to.
_CLIENT_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class ClientLimits:
    """How long one call of a client may take: seconds to connect and to wait for the answer,
    and attempts in all (the first one included), under botocore's retry ``mode``."""

    connect_timeout: float
    read_timeout: float
    total_max_attempts: int
    retry_mode: str
    #: botocore's client-side check of every parameter against the service model.
    parameter_validation: bool = True

    def botocore_config(self) -> Any:
        from botocore.config import Config

        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": self.retry_mode, "total_max_attempts": self.total_max_attempts},
            parameter_validation=self.parameter_validation,
        )


#: DynamoDB answers in milliseconds; a write must end well inside the commit margin. Its
#: requests are not checked client-side: DynamoDB validates each one itself (a bad request is a
#: ValidationException), and botocore's walk of every parameter was about a tenth of a call's
#: client-side CPU (a TransactWriteItems' most).
DYNAMODB_LIMITS = ClientLimits(
    connect_timeout=1,
    read_timeout=1,
    total_max_attempts=2,
    retry_mode="legacy",
    parameter_validation=False,
)
#: The other services (Secrets Manager, KMS, SES, Step Functions): none holds a step's commit.
OTHER_LIMITS = ClientLimits(
    connect_timeout=2, read_timeout=5, total_max_attempts=3, retry_mode="standard"
)
CLIENT_LIMITS = {"dynamodb": DYNAMODB_LIMITS}


def limits_of(service: str) -> ClientLimits:
    return CLIENT_LIMITS.get(service, OTHER_LIMITS)


def client(service: str) -> Any:
    """A cached boto3 client for ``service`` (a new one if the endpoint or region changed)."""
    service_env = f"AWS_ENDPOINT_URL_{service.upper()}"
    settings = tuple(os.environ.get(name) for name in (*_CLIENT_ENV, service_env))
    return _client(service, settings)


@functools.lru_cache(maxsize=16)
def _client(service: str, settings: tuple[str | None, ...]) -> Any:
    import boto3

    if boto3.DEFAULT_SESSION is None:  # what boto3.client() uses: one session, loaded once
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    botocore_client = session.client(service, config=limits_of(service).botocore_config())
    if service != "dynamodb":
        return botocore_client
    from steps.core.dynamodb_client import DynamoDBClient

    # The item calls of every login, refresh and authorized request: see its module.
    return DynamoDBClient(botocore_client, session.get_credentials())


def reset_clients() -> None:
    """Forget cached clients (tests)."""
    _client.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``""`` for any other exception).

    Read from the exception's ``response`` so callers need not import botocore.
    """
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict):
            return str(error.get("Code", ""))
    return ""

"""Shared fixtures of the step tests: fast argon2 parameters, fake AWS, event builders."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from steps.core import aws, refresh_key, sessions, signing_keys
from steps.core.config import Config, set_config
from tests.fakes.dynamodb import FakeDynamoDB

TABLE = "stepauth-test"
SECRET_ID = "stepauth/test/signing-keys"
REFRESH_KEY_SECRET_ID = "stepauth/test/refresh-token-key"

FAST = {"argon2_memory_kib": 64, "argon2_time_cost": 1, "argon2_parallelism": 1}


@pytest.fixture(autouse=True)
def test_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = Config(
        table_name=TABLE,
        signing_keys_secret_id=SECRET_ID,
        refresh_token_key_secret_id=REFRESH_KEY_SECRET_ID,
        **FAST,
    )
    set_config(config)
    signing_keys.clear_signing_keys_cache()
    refresh_key.clear_refresh_key_cache()
    # moto's index is never behind: no waiting for it (tests that need it pass their waits).
    monkeypatch.setattr(sessions, "INDEX_LAG_WAITS", ())
    yield config
    set_config(None)
    signing_keys.clear_signing_keys_cache()
    refresh_key.clear_refresh_key_cache()


#: moto's settings with boto3's default session kept: by default mock_aws() drops it, and each
#: test's first client then builds a new botocore session (its handlers registered again). moto
#: intercepts every client through botocore's built-in handlers, so one session and the cached
#: clients of steps/core/aws.py serve every test; each mock_aws() still starts with empty backends.
MOTO_CONFIG = {"core": {**default_user_config["core"], "reset_boto3_session": False}}


@pytest.fixture
def aws_mock() -> Iterator[None]:
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        yield


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> FakeDynamoDB:
    """The service table in an in-memory DynamoDB (moto's backend, no mock_aws), and the client
    every step gets from ``aws.client("dynamodb")``; other services pass through (moto, when the
    test also uses ``aws_mock``)."""
    fake = FakeDynamoDB()
    create_table(fake)
    other_client = aws.client
    monkeypatch.setattr(
        aws, "client", lambda service: fake if service == "dynamodb" else other_client(service)
    )
    return fake


@pytest.fixture
def secrets(aws_mock: None) -> Any:
    return aws.client("secretsmanager")


def api_event(
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    request_id: str = "req-123",
) -> dict[str, Any]:
    """The execution input the API gateway builds for a request with this body."""
    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    return {
        "request": {
            "body": base64.b64encode(data).decode("ascii"),
            "contentType": content_type,
            "sourceIp": "203.0.113.7",
            "userAgent": "pytest/1.0",
            "requestId": request_id,
        }
    }


class LogOutput:
    """Everything the handlers logged, formatted exactly as Powertools writes it."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def log_output() -> Iterator[LogOutput]:
    from steps.core.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield LogOutput(stream)
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def table(dynamodb: Any) -> Any:
    from steps.core.table import Table

    return Table.from_client(dynamodb, TABLE)


@pytest.fixture
def initialised(table: Any, secrets: Any) -> str:
    """Signing keys in the secret and their public JWKS in the table, and a refresh key; the
    active kid."""
    from steps.core.signing_keys import initialise_signing_keys

    secrets.create_secret(Name=REFRESH_KEY_SECRET_ID, SecretString="r" * 64)
    return initialise_signing_keys(secrets, SECRET_ID, table)


@pytest.fixture
def world(table: Any, test_config: Config) -> Any:
    from .sessions_world import World

    return World(table=table, config=test_config)

"""Fixtures of the authorizer tests: the step tests' fake AWS, plus tokens to present."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.signing_keys import load_signing_keys
from steps.core.tokens import issue_access_token
from tests.steps import conftest as step_fixtures

SECRET_ID = step_fixtures.SECRET_ID
TABLE = step_fixtures.TABLE
# The step tests' fixtures: autouse test configuration, moto, the table and the signing keys.
test_config = step_fixtures.test_config
aws_mock = step_fixtures.aws_mock
dynamodb = step_fixtures.dynamodb
secrets = step_fixtures.secrets
table = step_fixtures.table
initialised = step_fixtures.initialised

METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/me"
STAGE = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod"


class Minter:
    """Issues access tokens with the service's real signing keys and a manual clock."""

    def __init__(self, secrets_client: Any, config: Config) -> None:
        self.clock = ManualClock(float(int(time.time())))
        self.config = config
        self.secrets = secrets_client

    def key_set(self) -> Any:
        return load_signing_keys(self.secrets, clock=self.clock, config=self.config)

    def token(self, roles: tuple[str, ...] = ("user",), **config_changes: Any) -> str:
        config = replace(self.config, **config_changes) if config_changes else self.config
        token, _ = issue_access_token(
            "u-1", list(roles), key_set=self.key_set(), clock=self.clock, config=config
        )
        return token

    def private_jwk(self) -> dict[str, Any]:
        document = json.loads(self.secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
        return next(k for k in document["keys"] if k["kid"] == document["active_kid"])


@pytest.fixture
def minter(initialised: str, secrets: Any, test_config: Config) -> Minter:
    return Minter(secrets, test_config)

"""Smoke and integrity tests for any stepauth deployment: `make test-api BASE_URL=…`.

They speak HTTP only, create throw-away users (``smoke-…@example.com``) and delete them again
through ``DELETE /v1/me``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

PASSWORD = "smoke test passphrase of decent length"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--base-url",
        default="http://127.0.0.1:8080",
        help="the API's base URL (the stack's ApiUrl output on AWS)",
    )
    parser.addoption(
        "--authorizer-cache-ttl",
        type=int,
        default=None,
        help="the deployment's authorizer cache TTL in seconds (default: read from the stack)",
    )
    parser.addoption(
        "--stack-name",
        default=None,
        help="the stack whose AuthorizerCacheTtlSeconds output to read (AWS_PROFILE, "
        "AWS_REGION … as for the AWS CLI)",
    )
    parser.addoption(
        "--aws-endpoint-url",
        default=None,
        help="read the stack from this AWS endpoint (the local cloud: http://127.0.0.1:4566)",
    )


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(
        self,
        method: str,
        path: str,
        document: Any = None,
        token: str | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        headers = {"Content-Type": "application/json", "User-Agent": "stepauth-smoke/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = (
            raw
            if raw is not None
            else (None if document is None else json.dumps(document).encode())
        )
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Answer(
                    response.status,
                    response.read(),
                    {k.lower(): v for k, v in response.headers.items()},
                )
        except urllib.error.HTTPError as error:
            return Answer(
                error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}
            )


@pytest.fixture(scope="session")
def client(request: pytest.FixtureRequest) -> Client:
    return Client(request.config.getoption("--base-url"))


@pytest.fixture(scope="session")
def authorizer_cache_ttl(request: pytest.FixtureRequest) -> int:
    """How long API Gateway may answer a token from its cached authorizer policy (seconds):
    the deployment's bound on revocation delay, which the tests wait for instead of guessing."""
    explicit = request.config.getoption("--authorizer-cache-ttl")
    if explicit is not None:
        return int(explicit)
    stack_name = request.config.getoption("--stack-name")
    if not stack_name:
        raise pytest.UsageError(
            "pass --stack-name (the TTL is read from the stack) or --authorizer-cache-ttl"
        )
    import argparse

    from stepauth.target import Target

    endpoint = request.config.getoption("--aws-endpoint-url")
    target = Target.from_args(
        argparse.Namespace(endpoint_url=endpoint, stack_name=stack_name, local=False)
    )
    return int(target.output("AuthorizerCacheTtlSeconds"))


class Accounts:
    """Throw-away accounts, deleted at the end of the session."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.created: list[tuple[str, str]] = []

    def register(self) -> tuple[str, dict[str, Any]]:
        email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
        answer = self.client.call("POST", "/v1/register", {"email": email, "password": PASSWORD})
        assert answer.status == 201, answer.body
        self.created.append((email, PASSWORD))
        return email, answer.json()

    def delete_all(self) -> None:
        for email, password in self.created:
            login = self.client.call("POST", "/v1/login", {"email": email, "password": password})
            if login.status == 200:
                token = login.json()["access_token"]
                deleted = self.client.call("DELETE", "/v1/me", token=token)
                assert deleted.status == 204, deleted.body


@pytest.fixture(scope="session")
def accounts(client: Client) -> Iterator[Accounts]:
    made = Accounts(client)
    yield made
    made.delete_all()

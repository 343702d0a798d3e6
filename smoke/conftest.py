"""Smoke and integrity tests for any stepauth deployment: `make test-api BASE_URL=…`.

They speak HTTP only, create throw-away users (``smoke-…@example.com``) and delete them again
through ``DELETE /v1/me``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
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
    parser.addoption(
        "--mailbox-url",
        default=None,
        help="where the emailed verification codes can be read (LocalStack-style GET /_aws/ses);"
        " default: the local cloud's for a local base URL, none for a deployment",
    )


def mailbox_url_for(base_url: str, given: str | None) -> str | None:
    if given:
        return given
    host = urllib.parse.urlsplit(base_url).hostname
    return "http://127.0.0.1:4566/_aws/ses" if host in ("127.0.0.1", "localhost") else None


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(self, base_url: str, mailbox_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.mailbox_url = mailbox_url

    def emailed_code(self, email: str, seconds: float = 30.0) -> str:
        """The newest verification code sent to ``email`` (read from the mailbox)."""
        if not self.mailbox_url:
            pytest.fail(
                "this deployment requires email verification: give --mailbox-url (a "
                "LocalStack-style /_aws/ses) or deploy with -c email_verification=optional"
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.mailbox_url, timeout=10) as answer:  # noqa: S310
                messages = json.loads(answer.read())["messages"]
            mine = [m for m in messages if email in m["Destination"].get("ToAddresses", [])]
            if mine:
                text = mine[-1]["Body"].get("text_part") or ""
                match = re.search(r"code is (\d{6})", text)
                assert match, "the verification message carries no code"
                return match.group(1)
            time.sleep(0.2)
        pytest.fail(f"no verification message for {email} within {seconds} s")

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
    base_url = request.config.getoption("--base-url")
    return Client(base_url, mailbox_url_for(base_url, request.config.getoption("--mailbox-url")))


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
        if "access_token" in answer.json():
            return email, answer.json()
        # Email verification is required: the emailed code signs the new account in.
        assert answer.json()["user"]["email_verified"] is False
        code = self.client.emailed_code(email)
        verified = self.client.call("POST", "/v1/email/verify", {"email": email, "code": code})
        assert verified.status == 200, verified.body
        return email, verified.json()

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

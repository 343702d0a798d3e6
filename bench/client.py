"""A small HTTP client for the stepauth API: one kept-alive connection per thread."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.request
from typing import Any

USER_AGENT = "stepauth-bench/1"


class ApiClient:
    def __init__(
        self, host: str, port: int, timeout: float = 60.0, *, aws_endpoint: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        #: The local cloud's AWS endpoint, whose ``/_aws/ses`` mailbox holds verification codes.
        self.aws_endpoint = aws_endpoint
        self._local = threading.local()

    @classmethod
    def of(cls, info: dict[str, Any], timeout: float = 60.0) -> ApiClient:
        """A client of the stack a ``StackProcess`` started (its ``info``)."""
        return cls(
            info["host"], info["gateway_port"], timeout, aws_endpoint=info.get("aws_endpoint")
        )

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
        self._local.connection = None

    def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request; a connection the server closed in the meantime is reopened once."""
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body or None, headers=headers or {})
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post_json(
        self, path: str, document: dict[str, Any], *, token: str | None = None, method: str = "POST"
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        status, body = self.call(method, path, json.dumps(document).encode(), headers)
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, None

    def get_json(self, path: str) -> tuple[int, Any]:
        status, body = self.call("GET", path, headers={"User-Agent": USER_AGENT})
        return status, json.loads(body) if body else None


MAIL_WAIT_SECONDS = 60.0
_CODE = re.compile(r"code is (\d{6})")


def emailed_code(api: ApiClient, email: str) -> str:
    """The verification code the local cloud mailed to ``email`` (waits for the message)."""
    if api.aws_endpoint is None:
        raise RuntimeError("the bench user must verify its email, and no mailbox is known")
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while True:
        with urllib.request.urlopen(f"{api.aws_endpoint}/_aws/ses") as answer:  # noqa: S310
            messages = json.loads(answer.read())["messages"]
        for message in messages:
            if email in message["Destination"].get("ToAddresses", []):
                match = _CODE.search(message["Body"]["text_part"])
                if match:
                    return match.group(1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no verification code was mailed to {email}")
        time.sleep(0.1)


def signed_up(api: ApiClient, email: str, password: str) -> dict[str, Any]:
    """Registers ``email`` and returns a token pair.

    With email verification required (the default) the registration answers 201 without tokens:
    the emailed code is read from the local mailbox and verified, which signs the user in. With
    ``uniform_registration`` (202, no tokens) a login gets them.
    """
    status, body = api.post_json("/v1/register", {"email": email, "password": password})
    if status == 201 and "refresh_token" in body:
        return body
    if status == 201:
        code = emailed_code(api, email)
        status, body = api.post_json("/v1/email/verify", {"email": email, "code": code})
        if status != 200:
            raise RuntimeError(f"verifying a bench user's email failed: {status} {body}")
        return body
    if status != 202:
        raise RuntimeError(f"registering a bench user failed: {status} {body}")
    status, body = api.post_json("/v1/login", {"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"logging a new bench user in failed: {status} {body}")
    return body

"""A small HTTP client for the stepauth API: one kept-alive connection per thread."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

USER_AGENT = "stepauth-bench/1"


class ApiClient:
    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._local = threading.local()

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


def signed_up(api: ApiClient, email: str, password: str) -> dict[str, Any]:
    """Registers ``email`` and returns a token pair (``uniform_registration`` answers 202 with
    no tokens: then a login gets them)."""
    status, body = api.post_json("/v1/register", {"email": email, "password": password})
    if status == 201:
        return body
    if status != 202:
        raise RuntimeError(f"registering a bench user failed: {status} {body}")
    status, body = api.post_json("/v1/login", {"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"logging a new bench user in failed: {status} {body}")
    return body

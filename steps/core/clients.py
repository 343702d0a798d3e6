"""The optional client and scope of a token request (login, registration, refresh)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steps.core.config import Config
from steps.core.errors import InvalidRequest

CLIENT_FIELDS = ("client_id", "scope")
MAX_SCOPE_LENGTH = 2048


def client_request(body: Mapping[str, Any], config: Config) -> dict[str, str]:
    """The optional ``client_id`` and ``scope`` of a token request, checked against the config.

    Returns the fields given (they travel in the workflow's ``context`` to IssueTokens):
    ``client_id`` must name a configured client, ``scope`` is a space-separated subset of that
    client's scopes (RFC 6749 §3.3). InvalidRequest otherwise.
    """
    found: dict[str, str] = {}
    client_id = body.get("client_id")
    if client_id is not None:
        if not isinstance(client_id, str) or config.client(client_id) is None:
            raise InvalidRequest("client_id does not name a known client.")
        found["client_id"] = client_id
    scope = body.get("scope")
    if scope is not None:
        client = config.client(found.get("client_id"))
        assert client is not None  # the default client always exists
        if not isinstance(scope, str) or len(scope) > MAX_SCOPE_LENGTH:
            raise InvalidRequest("scope must be a space-separated string of scopes.")
        if any(s not in client.scopes for s in scope.split()):
            raise InvalidRequest("scope asks for a scope the client does not have.")
        found["scope"] = " ".join(dict.fromkeys(scope.split()))
    return found

"""The local mailbox: email sent through SES v2 is captured and served the way LocalStack does.

moto 5.2.5 keeps a sent message's subject and one body (the HTML part when there is one) with
no time. Here every accepted ``SendEmail`` with simple content is also kept whole, and the AWS
port answers ``GET /_aws/ses`` (optionally ``?id=<message id>`` or ``?email=<sender>``, as
LocalStack's endpoint) with ``{"messages": [{Id, Region, Source, Destination, Subject,
Body: {text_part, html_part}, Timestamp}]}``, oldest first; ``DELETE /_aws/ses`` empties it.

This is test and demo tooling for a local cloud: on AWS nobody reads a mailbox this way.
Test: ``tests/test_localcloud_events.py``.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any
from urllib.parse import parse_qs

MAILBOX_PATH = "/_aws/ses"

_messages: list[dict[str, Any]] = []
_messages_lock = threading.Lock()
_applied = False
_lock = threading.Lock()


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _patch_capture()
        _patch_mailbox_endpoint()
        _applied = True


def captured_message(
    message_id: str, region: str, request: dict[str, Any], now: datetime.datetime
) -> dict[str, Any] | None:
    """A SendEmail request body (SES v2 JSON) → the mailbox's record, None for raw content."""
    simple = (request.get("Content") or {}).get("Simple")
    if simple is None:
        return None
    body = simple.get("Body") or {}
    return {
        "Id": message_id,
        "Region": region,
        "Source": request.get("FromEmailAddress", ""),
        "Destination": {
            kind: list(request.get("Destination", {}).get(kind, []))
            for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
            if request.get("Destination", {}).get(kind)
        },
        "Subject": (simple.get("Subject") or {}).get("Data", ""),
        "Body": {
            "text_part": (body.get("Text") or {}).get("Data"),
            "html_part": (body.get("Html") or {}).get("Data"),
        },
        "Timestamp": now.astimezone(datetime.UTC).isoformat(timespec="milliseconds"),
    }


def messages() -> list[dict[str, Any]]:
    with _messages_lock:
        return [dict(message) for message in _messages]


def clear() -> None:
    with _messages_lock:
        _messages.clear()


def _patch_capture() -> None:
    from moto.sesv2.responses import SESV2Response

    original = SESV2Response.send_email

    def send_email(self: Any) -> str:
        answer = original(self)
        record = captured_message(
            json.loads(answer)["MessageId"],
            self.region,
            json.loads(self.body),
            datetime.datetime.now(datetime.UTC),
        )
        if record is not None:
            with _messages_lock:
                _messages.append(record)
        return answer

    SESV2Response.send_email = send_email


def mailbox_response(method: str, query: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The mailbox endpoint: (status line, headers, body)."""
    if method == "DELETE":
        clear()
        return "204 No Content", [], b""
    if method != "GET":
        return "405 Method Not Allowed", [("Allow", "GET, DELETE")], b""
    wanted = parse_qs(query)
    found = messages()
    if "id" in wanted:
        found = [m for m in found if m["Id"] in wanted["id"]]
    if "email" in wanted:
        found = [m for m in found if m["Source"] in wanted["email"]]
    body = json.dumps({"messages": found}).encode()
    return "200 OK", [("Content-Type", "application/json")], body


def _patch_mailbox_endpoint() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == MAILBOX_PATH:
            status, headers, body = mailbox_response(
                environ.get("REQUEST_METHOD", "GET"), environ.get("QUERY_STRING", "")
            )
            start_response(status, [*headers, ("Content-Length", str(len(body)))])
            return [body]
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = __call__

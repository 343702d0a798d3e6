"""DynamoDB calls made in-process skip moto's generic HTTP layers, not its DynamoDB code.

moto answers a request in three generic layers around the service's own handler: werkzeug builds
a request object from the raw one (``Request.from_values`` builds a whole WSGI environ), a parser
walks the operation's input shape member by member to turn the JSON body into parameters, and a
serializer walks the output shape to turn the handler's result back into JSON. For DynamoDB's
JSON protocol the parser's answer is the decoded body itself, binary values aside (it decodes
their base64), and the serializer's is the result as JSON, binary values aside. Profiles of the
local stack put these layers at about a fifth of a refresh's CPU, since every item map is walked
twice, and they are work DynamoDB does on its side, not the caller.

So an item operation (``GetItem``, ``Query``, ``TransactWriteItems``...) made in-process that
holds no binary value is decoded with ``json.loads`` and its result encoded with ``json.dumps``;
moto's ``DynamoHandler`` runs unchanged (its validation, its errors and every patch of the local
cloud on its backend), and so does botocore's client (it still serializes, signs and parses, and
validates where the client does: what a handler pays on AWS). Anything else takes moto's own
path: a body with a binary value (``"B"``/``"BS"``), a body that is not a JSON object, a result
``json.dumps`` cannot encode or that holds a binary value, and every error (moto's serializer
writes those). ``tests/test_localcloud_dynamodb_inprocess.py`` runs the same calls both ways and
compares what the client gets.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler

#: A binary attribute value, in a request or a result (moto decodes and encodes its base64).
_BINARY_VALUE = re.compile(rb'"BS?"\s*:')
_BINARY_TEXT = re.compile(r'"BS?"\s*:')
_JSON_CONTENT_TYPE = "application/x-amz-json-1.0"

#: The item operations (the data plane, every call the steps make); the control plane (tables,
#: streams, TTL: timestamps and rare calls) keeps moto's own path.
ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

#: Switched off by the parity test to get moto's own answer to the same call.
enabled = True


class _InProcessDynamoHandler(DynamoHandler):
    """moto's DynamoDB handler, set up from the decoded body instead of a werkzeug request."""

    def __init__(self, params: dict[str, Any], headers: dict[str, str], region: str) -> None:
        super().__init__()
        self.params = params
        self.body = params
        self.headers = headers
        self.querystring: dict[str, Any] = {}
        self.data = self.querystring
        self.uri_match = {}
        self.method = "POST"
        self.path = "/"
        self.uri = "/"
        self.region = region
        self.current_account = self.get_current_account()  # as setup_class finds it
        self.response_headers = {"server": "amazon.com"}

    def serialized(self, action_result: ActionResult) -> Any:
        result = action_result.result
        if not isinstance(result, Exception):
            try:
                body = json.dumps(result)
            except (TypeError, ValueError):
                body = None  # not plain JSON (bytes, a timestamp): moto's serializer knows
            if body is not None and not holds_binary(body):
                headers = {"Content-Type": _JSON_CONTENT_TYPE, **self.response_headers}
                return 200, headers, body
        return super().serialized(action_result)


def holds_binary(text: str) -> bool:
    """Whether a JSON text (a result moto wrote) holds a binary attribute value."""
    return _BINARY_TEXT.search(text) is not None


def takes(operation: str, body: bytes) -> bool:
    """Whether this module answers the operation with this body (else moto's own path)."""
    return enabled and operation in ITEM_OPERATIONS and not _BINARY_VALUE.search(body)


def answer(
    headers: dict[str, str], body: bytes, region: str
) -> tuple[int, dict[str, Any], Any] | None:
    """moto's ``(status, headers, body)`` for a signed DynamoDB request (its headers as text);
    None: moto's own path answers it."""
    if not takes(headers.get("X-Amz-Target", "").rpartition(".")[2], body):
        return None
    try:
        params = json.loads(body) if body else {}
    except ValueError:
        return None
    if not isinstance(params, dict):
        return None
    handler = _InProcessDynamoHandler(params, headers, region)
    return handler.call_action()  # type: ignore[no-any-return]

"""The deploy-time custom resource that writes the first signing keys (Custom::SigningKeys):
its answers to CloudFormation, over real HTTP to a local stand-in for the pre-signed URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from steps import init_signing_keys
from steps.core.signing_keys import parse_key_set
from steps.core.table import public_jwks_text_from_item, public_keys_key

from .conftest import SECRET_ID, TABLE


class ResponseUrl:
    """A local HTTP endpoint that records what is PUT to it (as CloudFormation's S3 URL)."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, str], dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.command, dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/presigned?sig=x"


@pytest.fixture
def response_url() -> Iterator[ResponseUrl]:
    endpoint = ResponseUrl()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def event(request_type: str, url: str, secret_id: str = SECRET_ID, **extra: Any) -> dict:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r-1",
        "LogicalResourceId": "SigningKeysReady",
        "ResourceType": "Custom::SigningKeys",
        "ResourceProperties": {"SecretArn": secret_id, "TableName": TABLE},
        **extra,
    }


def test_create_replaces_the_placeholder_and_publishes_the_public_keys(
    secrets: Any, table: Any, response_url: ResponseUrl
) -> None:
    secrets.create_secret(Name=SECRET_ID, SecretString='{"placeholder": true}')
    init_signing_keys.handler(event("Create", response_url.url), None)
    ((method, headers, answer),) = response_url.received
    assert method == "PUT" and headers.get("Content-Type") == ""
    assert answer["Status"] == "SUCCESS"
    assert answer["RequestId"] == "r-1" and answer["LogicalResourceId"] == "SigningKeysReady"
    key_set = parse_key_set(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    assert answer["Data"] == {"ActiveKid": key_set.active.kid}
    assert key_set.active.kid in public_jwks_text_from_item(table.get(public_keys_key()))
    assert '"d"' not in json.dumps(answer)  # no key material in the answer


def test_update_keeps_a_valid_key_set_and_delete_leaves_it(
    secrets: Any, table: Any, response_url: ResponseUrl
) -> None:
    secrets.create_secret(Name=SECRET_ID, SecretString="placeholder")
    init_signing_keys.handler(event("Create", response_url.url), None)
    first = secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"]
    physical_id = response_url.received[0][2]["PhysicalResourceId"]
    init_signing_keys.handler(
        event("Update", response_url.url, PhysicalResourceId=physical_id), None
    )
    init_signing_keys.handler(
        event("Delete", response_url.url, PhysicalResourceId=physical_id), None
    )
    assert [a["Status"] for _, _, a in response_url.received] == ["SUCCESS"] * 3
    assert {a["PhysicalResourceId"] for _, _, a in response_url.received} == {physical_id}
    assert secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"] == first


def test_a_failure_is_answered_without_details(
    secrets: Any, table: Any, response_url: ResponseUrl
) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"
    init_signing_keys.handler(event("Create", response_url.url, secret_id=missing), None)
    ((_, _, answer),) = response_url.received
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("Signing keys not initialised: ")
    assert "nope" not in answer["Reason"]

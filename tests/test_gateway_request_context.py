"""The local gateway's request context and gateway responses, as API Gateway builds them."""

from __future__ import annotations

import base64
import json
import re

from localcloud.cloud import LocalCloud
from localcloud.gateway import (
    DEFAULT_GATEWAY_RESPONSES,
    extended_request_id,
    is_binary,
    media_type,
)


def test_extended_request_ids_are_unique_and_shaped_like_api_gateways() -> None:
    ids = {extended_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{14}=", i) for i in ids)


def test_binary_media_types_match_like_api_gateway() -> None:
    assert media_type(None) == media_type("") == "application/json"
    assert media_type("Application/JSON; charset=latin-1") == "application/json"
    assert is_binary("application/json; charset=utf-8", ["*/*"])
    assert is_binary(None, ["*~1*"])  # CloudFormation's spelling of */*
    assert is_binary("image/png", ["image/*"])
    assert not is_binary("application/json", ["image/*"])
    assert not is_binary("application/json", [])


def test_every_gateway_response_type_answers_in_the_contract_shape(
    local_cloud: LocalCloud,
) -> None:
    gateway = local_cloud.gateway
    context = {"requestId": '"client"', "extendedRequestId": "Fx0mVHcBoAMFR7Q="}
    for response_type, default_status in DEFAULT_GATEWAY_RESPONSES.items():
        result = gateway.gateway_error(response_type, context)
        body = json.loads(result.body)
        assert set(body) == {"error", "error_description"}, response_type
        assert result.status == default_status or response_type in (
            "MISSING_AUTHENTICATION_TOKEN",  # 404 not_found, as the contract says
        ), (response_type, result.status)
        if result.status == 401:
            assert result.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_body_reaches_a_convert_to_text_integration_as_its_exact_bytes(
    local_cloud: LocalCloud,
) -> None:
    gateway = local_cloud.gateway
    (register,) = [r for r in gateway.routes if r.resource_path == "/v1/register"]
    (jwks,) = [r for r in gateway.routes if r.resource_path == "/.well-known/jwks.json"]
    raw = b'{"password": "\xff\xfe"}'
    headers = {"Content-Type": "application/json"}
    assert base64.b64decode(gateway._integration_payload(register, headers, raw)) == raw
    # A Lambda proxy gets it base64 too (its event says isBase64Encoded).
    assert base64.b64decode(gateway._integration_payload(jwks, headers, raw)) == raw

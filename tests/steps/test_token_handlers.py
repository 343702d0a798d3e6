import json
import time

import jwt
import pytest

from steps import issue_tokens, publish_jwks
from steps.core.clock import system_clock
from steps.core.config import get_config
from steps.core.errors import SigningKeysUnavailable
from steps.core.signing_keys import load_signing_keys
from steps.core.table import (
    family_key,
    public_keys_key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_key,
)
from steps.core.tokens import hash_refresh_token, verify_access_token

from .conftest import SECRET_ID, TABLE

USER_STATE = {
    "user": {
        "id": "u-42",
        "email": "alice@example.com",
        "name": "Alice",
        "roles": ["user", "admin"],
        "created_at": "2025-01-01T00:00:00Z",
    },
    "context": {"sourceIp": "203.0.113.7", "userAgent": "pytest", "requestId": "req-9"},
}


def test_issue_tokens_handler_end_to_end(initialised, dynamodb):
    before = int(time.time())
    body = issue_tokens.handler(USER_STATE, None)
    after = int(time.time())
    assert body["user"] == {
        "id": "u-42",
        "email": "alice@example.com",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert jwt.get_unverified_header(body["access_token"])["kid"] == initialised
    claims = verify_access_token(
        body["access_token"], key_set=load_signing_keys(), clock=system_clock, config=get_config()
    )
    assert claims["sub"] == "u-42" and claims["roles"] == ["user", "admin"]

    item = dynamodb.get_item(
        TableName=TABLE, Key=refresh_token_key(hash_refresh_token(body["refresh_token"]))
    )["Item"]
    record = refresh_token_from_item(item)
    assert record.user_id == "u-42"
    assert before <= record.issued_at <= after
    assert record.expires_at == record.issued_at + 2_592_000
    family = refresh_family_from_item(
        dynamodb.get_item(TableName=TABLE, Key=family_key(record.family_id))["Item"]
    )
    assert family.user_id == "u-42" and family.email == "alice@example.com"
    assert family.status == "active" and family.expires_at == record.expires_at
    assert (family.user_agent, family.source_ip) == ("pytest", "203.0.113.7")


def test_issue_tokens_handler_defaults_roles(initialised):
    state = {"user": {k: v for k, v in USER_STATE["user"].items() if k != "roles"}}
    body = issue_tokens.handler(state, None)
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["roles"] == [
        "user"
    ]


def test_issue_tokens_handler_without_keys_fails(dynamodb, secrets):
    with pytest.raises(SigningKeysUnavailable):
        issue_tokens.handler(USER_STATE, None)


def test_publish_jwks_serves_public_keys_only(initialised, secrets):
    response = publish_jwks.handler({"requestContext": {"requestId": "abc"}}, None)
    assert response["statusCode"] == 200
    assert response["headers"] == {
        "Content-Type": "application/json",
        "Cache-Control": "public, max-age=300",
    }
    jwks = json.loads(response["body"])
    assert [k["kid"] for k in jwks["keys"]] == [initialised]
    assert all("d" not in key for key in jwks["keys"])
    private = json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    assert private["keys"][0]["d"] not in response["body"]
    assert jwks["keys"][0]["x"] == private["keys"][0]["x"]


def test_publish_jwks_reads_the_table_not_the_secret(initialised, secrets, dynamodb):
    secrets.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    response = publish_jwks.handler({}, None)
    assert response["statusCode"] == 200
    assert [k["kid"] for k in json.loads(response["body"])["keys"]] == [initialised]


def test_publish_jwks_drops_private_parts_even_if_stored(initialised, secrets, dynamodb):
    private = json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    dynamodb.put_item(
        TableName=TABLE,
        Item={**public_keys_key(), "jwks": {"S": json.dumps({"keys": private["keys"]})}},
    )
    response = publish_jwks.handler({}, None)
    assert response["statusCode"] == 200
    assert private["keys"][0]["d"] not in response["body"]
    assert set(json.loads(response["body"])["keys"][0]) == {
        "kty",
        "crv",
        "x",
        "y",
        "kid",
        "alg",
        "use",
    }


def test_publish_jwks_without_keys_is_503(dynamodb, secrets):
    secrets.create_secret(Name=SECRET_ID, SecretString="placeholder")
    response = publish_jwks.handler({}, None)
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {
        "error": "temporarily_unavailable",
        "error_description": "Signing keys are not initialised.",
    }
    assert response["headers"]["Cache-Control"] == "no-store"


def test_publish_jwks_with_an_empty_key_list_is_503(dynamodb):
    dynamodb.put_item(TableName=TABLE, Item={**public_keys_key(), "jwks": {"S": '{"keys": []}'}})
    assert publish_jwks.handler({}, None)["statusCode"] == 503

import base64
import json

import pytest

from steps.core.clock import ManualClock
from steps.core.errors import SigningKeysUnavailable
from steps.core.keyset_admin import initialise_signing_keys
from steps.core.signing_keys import (
    clear_signing_keys_cache,
    generate_signing_key,
    load_signing_keys,
    new_key_set,
    parse_key_set,
    public_jwks,
)

from .conftest import SECRET_ID


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_generated_key_shape():
    jwk = generate_signing_key("k1")
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
    assert jwk["alg"] == "EdDSA" and jwk["use"] == "sig" and jwk["kid"] == "k1"
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 32
    assert len(base64.urlsafe_b64decode(jwk["d"] + "==")) == 32
    assert "=" not in jwk["x"] + jwk["d"]


def test_default_kids_are_unique_and_date_prefixed():
    kids = {generate_signing_key()["kid"] for _ in range(20)}
    assert len(kids) == 20
    assert all(kid[:8].isdigit() and kid[8] == "-" for kid in kids)


def test_parse_round_trip_and_active_key():
    first, second = generate_signing_key("old"), generate_signing_key("new")
    key_set = parse_key_set(json.dumps({"keys": [first, second], "active_kid": "new"}))
    assert key_set.active.kid == "new"
    assert [k.kid for k in key_set.keys] == ["old", "new"]
    assert key_set.get("old") is not None and key_set.get("nope") is None
    assert "d" not in repr(key_set.active).replace("kid", "")


def test_public_jwks_has_only_public_fields_active_first():
    document = {
        "keys": [generate_signing_key("old"), generate_signing_key("new")],
        "active_kid": "new",
    }
    jwks = public_jwks(parse_key_set(json.dumps(document)))
    assert [k["kid"] for k in jwks["keys"]] == ["new", "old"]
    for key in jwks["keys"]:
        assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
    private_parts = [k["d"] for k in document["keys"]]
    assert not any(d in json.dumps(jwks) for d in private_parts)
    assert jwks["keys"][1]["x"] == document["keys"][0]["x"]


def _with(**changes):
    key = generate_signing_key("k")
    key.update(changes)
    return key


@pytest.mark.parametrize(
    "secret_string",
    [
        None,
        "",
        "placeholder",
        "{}",
        '{"keys": []}',
        '{"keys": [], "active_kid": ""}',
        json.dumps({"keys": "x", "active_kid": "k"}),
        json.dumps({"keys": [generate_signing_key("k")], "active_kid": "other"}),
        json.dumps(
            {"keys": [generate_signing_key("k"), generate_signing_key("k")], "active_kid": "k"}
        ),
        json.dumps({"keys": ["x"], "active_kid": "k"}),
        json.dumps({"keys": [_with(kty="RSA")], "active_kid": "k"}),
        json.dumps({"keys": [_with(crv="X25519")], "active_kid": "k"}),
        json.dumps({"keys": [_with(alg="HS256")], "active_kid": "k"}),
        json.dumps({"keys": [_with(use="enc")], "active_kid": "k"}),
        json.dumps({"keys": [_with(kid="")], "active_kid": ""}),
        json.dumps({"keys": [_with(d="!!!")], "active_kid": "k"}),
        json.dumps({"keys": [_with(d=_b64(b"short"))], "active_kid": "k"}),
        json.dumps({"keys": [_with(x=generate_signing_key()["x"])], "active_kid": "k"}),
    ],
)
def test_invalid_key_sets_are_unavailable(secret_string):
    with pytest.raises(SigningKeysUnavailable):
        parse_key_set(secret_string)


def test_unavailable_messages_contain_no_key_material():
    bad = _with(x=generate_signing_key()["x"])
    with pytest.raises(SigningKeysUnavailable) as info:
        parse_key_set(json.dumps({"keys": [bad], "active_kid": "k"}))
    assert bad["d"] not in str(info.value) and bad["x"] not in str(info.value)
    assert "key 1" in str(info.value)


def _put(secrets, value):
    secrets.put_secret_value(SecretId=SECRET_ID, SecretString=value)


def test_initialise_creates_missing_secret_and_is_idempotent(secrets):
    kid = initialise_signing_keys(secrets, SECRET_ID)
    stored = json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    assert stored["active_kid"] == kid
    assert stored["keys"][0]["d"]
    assert initialise_signing_keys(secrets, SECRET_ID) == kid
    again = json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    assert again == stored


def test_initialise_replaces_placeholder(secrets):
    secrets.create_secret(Name=SECRET_ID, SecretString='{"keys": [], "active_kid": ""}')
    kid = initialise_signing_keys(secrets, SECRET_ID)
    assert (
        parse_key_set(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"]).active.kid
        == kid
    )


def test_initialise_fills_secret_without_value(secrets):
    secrets.create_secret(Name=SECRET_ID)
    kid = initialise_signing_keys(secrets, SECRET_ID)
    assert (
        json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])["active_kid"]
        == kid
    )


def test_initialise_does_not_create_a_secret_named_by_arn(secrets):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
    with pytest.raises(Exception, match="ResourceNotFound"):
        initialise_signing_keys(secrets, arn)


def test_load_missing_secret_is_unavailable(secrets):
    with pytest.raises(SigningKeysUnavailable, match="not initialised"):
        load_signing_keys(secrets)


def test_load_caches_for_a_while_then_refetches(secrets):
    clock = ManualClock()
    initialise_signing_keys(secrets, SECRET_ID)
    first = load_signing_keys(secrets, clock=clock)
    _put(secrets, json.dumps(new_key_set("rotated")))
    clock.advance(299)
    assert load_signing_keys(secrets, clock=clock) is first
    clock.advance(2)
    assert load_signing_keys(secrets, clock=clock).active.kid == "rotated"


def test_unavailable_is_not_cached(secrets):
    clock = ManualClock()
    with pytest.raises(SigningKeysUnavailable):
        load_signing_keys(secrets, clock=clock)
    kid = initialise_signing_keys(secrets, SECRET_ID)
    assert load_signing_keys(secrets, clock=clock).active.kid == kid


def test_default_client_is_created_lazily(secrets):
    kid = initialise_signing_keys(secrets, SECRET_ID)
    clear_signing_keys_cache()
    assert load_signing_keys().active.kid == kid


def test_other_aws_errors_propagate():
    class Boom(Exception):
        response = {"Error": {"Code": "AccessDeniedException"}}

    class Client:
        def get_secret_value(self, **kwargs):
            raise Boom("denied")

    with pytest.raises(Boom):
        load_signing_keys(Client())

import base64
import json

import jwt
import pytest

from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.errors import SigningKeysUnavailable
from steps.core.public_keys import parse_public_jwks, read_public_jwks
from steps.core.signing_keys import (
    clear_signing_keys_cache,
    generate_signing_key,
    initialise_signing_keys,
    load_signing_keys,
    new_key_set,
    parse_key_set,
    public_jwks,
    retention_seconds,
    rotate_signing_keys,
)
from steps.core.table import public_keys_key
from steps.core.tokens import issue_access_token, verify_access_token

from .conftest import SECRET_ID


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_generated_key_shape():
    jwk = generate_signing_key("k1")  # the default algorithm: ES256
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256" and jwk["use"] == "sig" and jwk["kid"] == "k1"
    for part in ("x", "y", "d"):
        assert len(base64.urlsafe_b64decode(jwk[part] + "==")) == 32
    assert "=" not in jwk["x"] + jwk["y"] + jwk["d"]


def test_generated_ed25519_key_uses_the_rfc_9864_name():
    jwk = generate_signing_key("k1", algorithm="Ed25519")
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and "y" not in jwk
    assert jwk["alg"] == "Ed25519" and jwk["use"] == "sig"
    assert len(base64.urlsafe_b64decode(jwk["x"] + "==")) == 32
    assert len(base64.urlsafe_b64decode(jwk["d"] + "==")) == 32


def test_no_new_key_with_an_unknown_or_deprecated_algorithm():
    for algorithm in ("EdDSA", "RS256", "none", "HS256"):
        with pytest.raises(ValueError):
            generate_signing_key("k1", algorithm=algorithm)


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
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
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


# --- created_at / retired_at, the public item, rotation -----------------------------------

NOW = 1_700_000_000
TTL = 900


def _secret(secrets):
    return json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])


def _public_item(table):
    return table.get(public_keys_key())


def _public_keys(table):
    return parse_public_jwks(read_public_jwks(table))


def _assert_no_private_part(table, secrets):
    text = json.dumps(_public_item(table))
    for jwk in _secret(secrets)["keys"]:
        assert jwk["d"] not in text
    assert '"d"' not in _public_item(table)["jwks"]["S"]


def test_generated_keys_are_stamped():
    assert generate_signing_key("k", created_at=NOW + 0.9)["created_at"] == NOW
    assert new_key_set("k", now=NOW)["keys"][0]["created_at"] == NOW
    key_set = parse_key_set(
        json.dumps({"keys": [_with(created_at=NOW, retired_at=NOW + 5)], "active_kid": "k"})
    )
    assert (key_set.active.created_at, key_set.active.retired_at) == (NOW, NOW + 5)
    for bad in ("yesterday", True, 1.5):
        with pytest.raises(SigningKeysUnavailable, match="created_at"):
            parse_key_set(json.dumps({"keys": [_with(created_at=bad)], "active_kid": "k"}))


def test_initialise_publishes_the_public_keys_idempotently(table, secrets):
    kid = initialise_signing_keys(secrets, SECRET_ID, table, now=NOW)
    item = _public_item(table)
    assert item["updated_at"] == {"N": str(NOW)}
    assert _public_keys(table).kids == (kid,)
    assert _secret(secrets)["keys"][0]["created_at"] == NOW
    _assert_no_private_part(table, secrets)
    assert initialise_signing_keys(secrets, SECRET_ID, table, now=NOW + 60) == kid
    assert _public_item(table) == item  # unchanged, not even its timestamp


def test_initialise_publishes_an_existing_key_set(table, secrets):
    kid = initialise_signing_keys(secrets, SECRET_ID)  # no table: the secret only
    assert _public_item(table) is None
    assert initialise_signing_keys(secrets, SECRET_ID, table, now=NOW) == kid
    assert _public_keys(table).kids == (kid,)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(table, secrets):
    clock = ManualClock(float(NOW))
    config = Config(table_name="stepauth-test", signing_keys_secret_id=SECRET_ID)
    old_kid = initialise_signing_keys(secrets, SECRET_ID, table, now=NOW)
    old_token, _ = issue_access_token(
        "u-1", ["user"], key_set=load_signing_keys(secrets, clock=clock), clock=clock, config=config
    )
    clock.advance(60)
    new_kid = rotate_signing_keys(
        secrets, SECRET_ID, table, now=clock.now(), access_token_ttl_seconds=TTL
    )
    assert new_kid != old_kid

    # The public item lists both, the new (active) key first, and no private part.
    public = _public_keys(table)
    assert public.kids == (new_kid, old_kid)
    _assert_no_private_part(table, secrets)
    # Tokens signed with the old key still verify against the published keys ...
    assert (
        verify_access_token(old_token, key_set=public, clock=clock, config=config)["sub"] == "u-1"
    )
    # ... and new tokens carry the new kid (the in-process cache was cleared by the rotation).
    new_token, _ = issue_access_token(
        "u-1", ["user"], key_set=load_signing_keys(secrets, clock=clock), clock=clock, config=config
    )
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert verify_access_token(new_token, key_set=public, clock=clock, config=config)

    stored = {jwk["kid"]: jwk for jwk in _secret(secrets)["keys"]}
    assert _secret(secrets)["active_kid"] == new_kid
    assert stored[old_kid]["retired_at"] == NOW + 60 and stored[old_kid]["created_at"] == NOW
    assert stored[new_kid]["created_at"] == NOW + 60 and "retired_at" not in stored[new_kid]


def test_rotation_prunes_keys_retired_too_long_ago(table, secrets):
    first = initialise_signing_keys(secrets, SECRET_ID, table, now=NOW)
    second = rotate_signing_keys(secrets, SECRET_ID, table, now=NOW, access_token_ttl_seconds=TTL)
    keep = retention_seconds(TTL)
    assert keep == TTL + 300 + 30
    # Exactly at the limit the first key may still verify a live token: it is kept.
    third = rotate_signing_keys(
        secrets, SECRET_ID, table, now=NOW + keep, access_token_ttl_seconds=TTL
    )
    assert _public_keys(table).kids == (third, second, first)
    fourth = rotate_signing_keys(
        secrets, SECRET_ID, table, now=NOW + keep + 1, access_token_ttl_seconds=TTL
    )
    assert _public_keys(table).kids == (fourth, third, second)
    assert [k["kid"] for k in _secret(secrets)["keys"]] == [fourth, third, second]
    _assert_no_private_part(table, secrets)


def test_rotation_needs_an_initialised_secret(table, secrets):
    with pytest.raises(SigningKeysUnavailable):
        rotate_signing_keys(secrets, SECRET_ID, table, now=NOW, access_token_ttl_seconds=TTL)
    secrets.create_secret(Name=SECRET_ID, SecretString="placeholder")
    with pytest.raises(SigningKeysUnavailable):
        rotate_signing_keys(secrets, SECRET_ID, table, now=NOW, access_token_ttl_seconds=TTL)
    assert _public_item(table) is None


def test_public_item_is_written_before_the_secret(table, secrets):
    """A failing secret write leaves an extra published key, never an unpublished signer."""
    initialise_signing_keys(secrets, SECRET_ID, table, now=NOW)

    class Failing:
        def __getattr__(self, name):
            return getattr(secrets, name)

        def put_secret_value(self, **kwargs):
            raise RuntimeError("secrets manager is down")

    with pytest.raises(RuntimeError):
        rotate_signing_keys(Failing(), SECRET_ID, table, now=NOW, access_token_ttl_seconds=TTL)
    active = _secret(secrets)["active_kid"]
    assert active in _public_keys(table).kids and len(_public_keys(table).kids) == 2


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        {"keys": "x"},
        {"keys": [{"kty": "RSA", "kid": "k", "x": "AA"}]},
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "short"}]},
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "", "x": "A" * 43}]},
    ],
)
def test_malformed_public_keys_are_refused(document):
    with pytest.raises(ValueError):
        parse_public_jwks(document)

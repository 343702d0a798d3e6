"""Signing algorithms as configuration, mixed key sets, and the client/scope claims."""

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from steps.core.clock import ManualClock
from steps.core.config import Config, parse_clients
from steps.core.errors import InvalidGrant, InvalidRequest, InvalidToken
from steps.core.signing_keys import (
    generate_signing_key,
    initialise_signing_keys,
    load_signing_keys,
    parse_key_set,
    parse_public_jwks,
    public_jwks,
    rotate_signing_keys,
)
from steps.core.tokens import (
    SessionContext,
    TokenUser,
    family_grant,
    issue_access_token,
    issue_tokens,
    verify_access_token,
)
from steps.core.validation import validate_login

from .conftest import SECRET_ID, api_event

NOW = 1_700_000_000
CLIENTS = json.dumps(
    [
        {"client_id": "web", "audience": "stepauth-api", "scopes": ["profile"]},
        {"client_id": "hello", "audience": "hello-api", "scopes": ["hello.read", "hello.write"]},
    ]
)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mixed_set():
    """A set as after two switches: a legacy EdDSA key, an Ed25519 key, an active ES256 key."""
    legacy = generate_signing_key("legacy", algorithm="Ed25519")
    legacy["alg"] = "EdDSA"  # written before RFC 9864
    keys = [
        generate_signing_key("es", algorithm="ES256"),
        generate_signing_key("ed", algorithm="Ed25519"),
        legacy,
    ]
    return {"keys": keys, "active_kid": "es"}


def _signed_by(document, kid, clock, config):
    key_set = parse_key_set(json.dumps({**document, "active_kid": kid}))
    return issue_access_token("u-1", ["user"], key_set=key_set, clock=clock, config=config)[0]


@pytest.mark.parametrize("kid", ["es", "ed", "legacy"])
def test_a_mixed_key_set_verifies_tokens_of_every_key(kid):
    clock, config = ManualClock(float(NOW)), Config()
    document = _mixed_set()
    token = _signed_by(document, kid, clock, config)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == {"es": "ES256", "ed": "Ed25519", "legacy": "EdDSA"}[kid]
    public = parse_public_jwks(public_jwks(parse_key_set(json.dumps(document))))
    assert verify_access_token(token, key_set=public, clock=clock, config=config)["sub"] == "u-1"


@pytest.mark.parametrize(
    ("kid", "claimed"), [("ed", "EdDSA"), ("legacy", "Ed25519"), ("es", "Ed25519"), ("ed", "ES256")]
)
def test_the_algorithm_is_the_keys_never_the_headers(kid, claimed):
    """A valid signature under a header naming another algorithm than the key's is refused."""
    clock, config = ManualClock(float(NOW)), Config()
    document = _mixed_set()
    token = _signed_by(document, kid, clock, config)
    _, payload, signature = token.split(".")
    header = _b64(json.dumps({"typ": "at+jwt", "alg": claimed, "kid": kid}).encode())
    key_set = parse_key_set(json.dumps(document))
    private = key_set.get(kid)
    resigned = f"{header}.{payload}.{_b64(private.sign(f'{header}.{payload}'.encode()))}"
    public = parse_public_jwks(public_jwks(key_set))
    with pytest.raises(InvalidToken):
        verify_access_token(resigned, key_set=public, clock=clock, config=config)
    assert signature  # the original token was signed


def test_ed25519_token_with_a_stranger_key_under_a_known_kid_is_refused():
    clock, config = ManualClock(float(NOW)), Config()
    document = _mixed_set()
    good = _signed_by(document, "ed", clock, config)
    header, payload, _ = good.split(".")
    forged = _b64(Ed25519PrivateKey.generate().sign(f"{header}.{payload}".encode()))
    public = parse_public_jwks(public_jwks(parse_key_set(json.dumps(document))))
    with pytest.raises(InvalidToken):
        verify_access_token(
            f"{header}.{payload}.{forged}", key_set=public, clock=clock, config=config
        )


def test_switching_the_algorithm_is_a_rotation_and_old_tokens_keep_verifying(table, secrets):
    clock = ManualClock(float(NOW))
    config = Config(table_name="stepauth-test", signing_keys_secret_id=SECRET_ID)
    old_kid = initialise_signing_keys(secrets, SECRET_ID, table, now=NOW, algorithm="Ed25519")
    old_token, _ = issue_access_token(
        "u-1",
        ["user"],
        key_set=load_signing_keys(secrets, clock=clock, config=config),
        clock=clock,
        config=config,
    )
    new_kid = rotate_signing_keys(
        secrets, SECRET_ID, table, now=NOW + 60, access_token_ttl_seconds=900, algorithm="ES256"
    )
    from steps.core.public_keys import read_public_jwks

    published = read_public_jwks(table)
    assert [(k["kid"], k["alg"]) for k in published["keys"]] == [
        (new_kid, "ES256"),
        (old_kid, "Ed25519"),
    ]
    public = parse_public_jwks(published)
    assert (
        verify_access_token(old_token, key_set=public, clock=clock, config=config)["sub"] == "u-1"
    )


def test_pyjwt_and_joserfc_verify_es256_tokens_from_the_public_jwks():
    clock, config = ManualClock(float(NOW)), Config(token_issuer="https://issuer.example")
    document = _mixed_set()
    token = _signed_by(document, "es", clock, config)
    jwks = public_jwks(parse_key_set(json.dumps(document)))
    es_jwk = next(k for k in jwks["keys"] if k["kid"] == "es")
    claims = jwt.decode(
        token,
        jwt.PyJWK(es_jwk).key,
        algorithms=["ES256"],
        audience="stepauth-api",
        issuer="https://issuer.example",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["sub"] == "u-1"
    decoded = jose_jwt.decode(
        token, KeySet.import_key_set({"keys": [es_jwk]}), algorithms=["ES256"]
    )
    assert decoded.claims["client_id"] == "stepauth"


def test_joserfc_verifies_ed25519_under_its_rfc_9864_name():
    clock, config = ManualClock(float(NOW)), Config()
    document = _mixed_set()
    token = _signed_by(document, "ed", clock, config)
    ed_jwk = next(
        k for k in public_jwks(parse_key_set(json.dumps(document)))["keys"] if k["kid"] == "ed"
    )
    decoded = jose_jwt.decode(
        token, KeySet.import_key_set({"keys": [ed_jwk]}), algorithms=["Ed25519"]
    )
    assert decoded.claims["sub"] == "u-1"


# -- clients and scopes ---------------------------------------------------------------------


def test_clients_configuration_is_checked():
    assert parse_clients("", default_audience="a")[0].client_id == "stepauth"
    clients = parse_clients(CLIENTS, default_audience="stepauth-api")
    assert [c.client_id for c in clients] == ["web", "hello"]
    for bad in (
        "{",
        "[]",
        '[{"client_id": "a b"}]',
        '[{"client_id": "a"}, {"client_id": "a"}]',
        '[{"client_id": "a", "scopes": ["x y"]}]',
        '[{"client_id": "a", "scopes": "x"}]',
    ):
        with pytest.raises(ValueError):
            parse_clients(bad, default_audience="a")
    with pytest.raises(ValueError):
        Config(token_signing_algorithm="EdDSA")


def _login_event(body):
    return api_event(body)


def test_login_takes_a_known_client_and_a_subset_of_its_scopes():
    config = Config(token_clients=CLIENTS)
    base = {"email": "a@example.com", "password": "correct horse battery staple"}
    context = validate_login(
        _login_event({**base, "client_id": "hello", "scope": "hello.read"}), config=config
    )["context"]
    assert context["client_id"] == "hello" and context["scope"] == "hello.read"
    assert "client_id" not in validate_login(_login_event(base), config=config)["context"]
    for bad in (
        {"client_id": "nope"},
        {"client_id": 5},
        {"client_id": "hello", "scope": "admin"},
        {"scope": "hello.read"},
        {"scope": ["profile"]},
    ):
        with pytest.raises(InvalidRequest):
            validate_login(_login_event({**base, **bad}), config=config)


def test_tokens_carry_client_id_audience_and_scope_and_refresh_never_widens(table):
    clock = ManualClock(float(NOW))
    config = Config(token_clients=CLIENTS)
    key_set = parse_key_set(json.dumps(_mixed_set()))
    user = TokenUser(id="u-1", email="a@example.com", created_at="2024-01-01T00:00:00Z")
    body = issue_tokens(
        user,
        key_set=key_set,
        table=table,
        clock=clock,
        config=config,
        context=SessionContext(client_id="hello", scope="hello.read"),
    )
    claims = verify_access_token(body["access_token"], key_set=key_set, clock=clock, config=config)
    assert (claims["client_id"], claims["aud"], claims["scope"]) == (
        "hello",
        "hello-api",
        "hello.read",
    )
    default = issue_tokens(user, key_set=key_set, table=table, clock=clock, config=config)
    claims = verify_access_token(
        default["access_token"], key_set=key_set, clock=clock, config=config
    )
    assert (claims["client_id"], claims["aud"], claims["scope"]) == (
        "web",
        "stepauth-api",
        "profile",
    )
    # A refresh of the hello family keeps its grant, may narrow it, never widens it.
    family = next(
        item
        for item in table.client.scan(TableName=table.name)["Items"]
        if item.get("client_id", {}).get("S") == "hello"
    )
    kept = family_grant(family, SessionContext(), config)
    assert (kept.client.client_id, kept.scopes) == ("hello", ("hello.read",))
    again, _ = issue_access_token(
        user.id,
        user.roles,
        key_set=key_set,
        clock=clock,
        config=config,
        client=kept.client,
        scopes=kept.scopes,
    )
    claims = verify_access_token(again, key_set=key_set, clock=clock, config=config)
    assert (claims["client_id"], claims["scope"]) == ("hello", "hello.read")
    for context in (SessionContext(scope="hello.write"), SessionContext(client_id="web")):
        with pytest.raises(InvalidGrant):
            family_grant(family, context, config)

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.errors import InvalidToken
from steps.core.signing_keys import (
    SigningKeySet,
    generate_signing_key,
    new_key_set,
    parse_key_set,
)
from steps.core.table import (
    RefreshFamilyRecord,
    Table,
    family_key,
    refresh_family_from_item,
    refresh_token_from_item,
    refresh_token_key,
)
from steps.core.tokens import (
    TokenUser,
    hash_refresh_token,
    issue_access_token,
    issue_tokens,
    new_refresh_token,
    verify_access_token,
)

CONFIG = Config()
NOW = 1_700_000_000


@pytest.fixture
def key_set():
    return parse_key_set(json.dumps(new_key_set("kid-1")))


@pytest.fixture
def clock():
    return ManualClock(float(NOW))


def _issue(key_set, clock, config=CONFIG, roles=("user",)):
    return issue_access_token("user-1", list(roles), key_set=key_set, clock=clock, config=config)


def _verify(token, key_set, clock, config=CONFIG):
    return verify_access_token(token, key_set=key_set, clock=clock, config=config)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header, claims, signature=b""):
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signature)}", signing_input


def test_header_and_claims(key_set, clock):
    token, claims = _issue(key_set, clock, roles=("user", "admin"))
    assert jwt.get_unverified_header(token) == {"typ": "at+jwt", "kid": "kid-1", "alg": "ES256"}
    assert claims["iss"] == "stepauth" and claims["aud"] == "stepauth-api"
    assert claims["sub"] == "user-1"
    assert claims["iat"] == NOW and claims["exp"] == NOW + 900
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert claims["roles"] == ["user", "admin"]
    assert claims["client_id"] == "stepauth"  # RFC 9068; no scope claim: the client has none
    assert set(claims) == {"iss", "aud", "sub", "client_id", "iat", "exp", "jti", "roles"}
    assert _verify(token, key_set, clock) == claims


def test_jti_is_unique(key_set, clock):
    assert _issue(key_set, clock)[1]["jti"] != _issue(key_set, clock)[1]["jti"]


def test_ttl_from_config(key_set, clock):
    config = Config(access_token_ttl_seconds=60)
    _, claims = _issue(key_set, clock, config)
    assert claims["exp"] - claims["iat"] == 60


def test_expiry_with_leeway(key_set, clock):
    token, _ = _issue(key_set, clock)
    clock.advance(900 + 29)
    assert _verify(token, key_set, clock)["sub"] == "user-1"
    clock.advance(1)
    with pytest.raises(InvalidToken, match="expired"):
        _verify(token, key_set, clock)


def test_issued_in_the_future_rejected(key_set, clock):
    token, _ = _issue(key_set, ManualClock(NOW + 120.0))
    with pytest.raises(InvalidToken):
        _verify(token, key_set, clock)
    token, _ = _issue(key_set, ManualClock(NOW + 20.0))
    assert _verify(token, key_set, clock)  # within leeway


def test_alg_none_rejected(key_set, clock):
    _, claims = _issue(key_set, clock)
    token, _ = _forge({"alg": "none", "typ": "at+jwt", "kid": "kid-1"}, claims)
    with pytest.raises(InvalidToken):
        _verify(token, key_set, clock)


def test_hs256_signed_with_the_public_key_rejected(key_set, clock):
    _, claims = _issue(key_set, clock)
    public = key_set.active.public_key
    for key_bytes in (
        public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
        public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    ):
        header = {"alg": "HS256", "typ": "at+jwt", "kid": "kid-1"}
        unsigned, signing_input = _forge(header, claims)
        mac = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{_b64(mac)}"
        with pytest.raises(InvalidToken):
            _verify(token, key_set, clock)


def test_unknown_kid_and_other_key_rejected(key_set, clock):
    other = parse_key_set(json.dumps(new_key_set("kid-1")))  # same kid, different key
    token, _ = _issue(other, clock)
    with pytest.raises(InvalidToken):
        _verify(token, key_set, clock)
    stranger = parse_key_set(json.dumps(new_key_set("kid-2")))
    token, _ = _issue(stranger, clock)
    with pytest.raises(InvalidToken):
        _verify(token, key_set, clock)


def test_tokens_of_a_retired_but_published_key_still_verify(key_set, clock):
    token, _ = _issue(key_set, clock)
    newer = parse_key_set(
        json.dumps({"keys": [generate_signing_key("kid-2")], "active_kid": "kid-2"})
    )
    rotated = SigningKeySet(active=newer.active, keys=(key_set.active, newer.active))
    assert _verify(token, rotated, clock)["sub"] == "user-1"
    new_token, _ = _issue(rotated, clock)
    assert jwt.get_unverified_header(new_token)["kid"] == "kid-2"
    with pytest.raises(InvalidToken):  # once the old key is dropped, its tokens fail
        _verify(token, newer, clock)


def test_tampered_payload_rejected(key_set, clock):
    token, claims = _issue(key_set, clock)
    header, _, signature = token.split(".")
    evil = _b64(json.dumps({**claims, "roles": ["admin"]}).encode())
    with pytest.raises(InvalidToken):
        _verify(f"{header}.{evil}.{signature}", key_set, clock)


@pytest.mark.parametrize(
    "config",
    [Config(token_issuer="someone-else"), Config(token_audience="other-api")],
)
def test_wrong_issuer_or_audience_rejected(key_set, clock, config):
    token, _ = _issue(key_set, clock, config)
    with pytest.raises(InvalidToken):
        _verify(token, key_set, clock)


def test_wrong_typ_rejected(key_set, clock):
    _, claims = _issue(key_set, clock)
    for typ in ("JWT", "at+JWT", None):
        headers = {"kid": "kid-1", "typ": typ}
        token = jwt.encode(claims, key_set.active.private_key, algorithm="ES256", headers=headers)
        with pytest.raises(InvalidToken):
            _verify(token, key_set, clock)


def test_missing_claims_rejected(key_set, clock):
    _, claims = _issue(key_set, clock)
    for name in ("sub", "jti", "exp", "iat", "roles"):
        partial = {k: v for k, v in claims.items() if k != name}
        token = jwt.encode(
            partial,
            key_set.active.private_key,
            algorithm="ES256",
            headers={"typ": "at+jwt", "kid": "kid-1"},
        )
        with pytest.raises(InvalidToken):
            _verify(token, key_set, clock)


@pytest.mark.parametrize("cut", [1, 10, 40])
def test_truncated_rejected(key_set, clock, cut):
    token, _ = _issue(key_set, clock)
    with pytest.raises(InvalidToken):
        _verify(token[:-cut], key_set, clock)


@pytest.mark.parametrize("token", [None, "", "abc", "a.b.c", "x" * 9000, 12])
def test_garbage_rejected(key_set, clock, token):
    with pytest.raises(InvalidToken) as info:
        _verify(token, key_set, clock)
    assert str(info.value) == "The access token is invalid."


def test_invalid_token_message_never_contains_the_token(key_set, clock):
    token, _ = _issue(key_set, clock)
    clock.advance(10_000)
    with pytest.raises(InvalidToken) as info:
        _verify(token, key_set, clock)
    assert token not in str(info.value) and token.split(".")[2] not in str(info.value)


def test_refresh_tokens_are_random_and_hashed():
    tokens = {new_refresh_token() for _ in range(50)}
    assert len(tokens) == 50
    token = next(iter(tokens))
    assert len(base64.urlsafe_b64decode(token + "=")) == 32  # 256 bits
    assert hash_refresh_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_refresh_token(token)) == 64


def test_token_user_from_state():
    user = TokenUser.from_state({"id": "u", "email": "a@b.de", "created_at": "t", "name": "x"})
    assert user.roles == ("user",)
    assert TokenUser.from_state(
        {"id": "u", "email": "a@b.de", "created_at": "t", "roles": ["admin"]}
    ).roles == ("admin",)
    for bad in (
        None,
        {},
        {"id": "", "email": "e", "created_at": "t"},
        {"id": "u", "email": "e", "created_at": "t", "roles": "admin"},
    ):
        with pytest.raises(ValueError):
            TokenUser.from_state(bad)


def test_issue_tokens_stores_only_the_refresh_token_hash(dynamodb, key_set, clock):
    table = Table(dynamodb, "stepauth-test")
    user = TokenUser(id="user-1", email="alice@example.com", created_at="2025-01-01T00:00:00Z")
    body = issue_tokens(user, key_set=key_set, table=table, clock=clock, config=CONFIG)
    assert set(body) == {"user", "access_token", "token_type", "expires_in", "refresh_token"}
    assert body["user"] == {
        "id": "user-1",
        "email": "alice@example.com",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert _verify(body["access_token"], key_set, clock)["sub"] == "user-1"

    refresh = body["refresh_token"]
    items = dynamodb.scan(TableName="stepauth-test")["Items"]
    assert sorted(i["entity"]["S"] for i in items) == ["refresh_family", "refresh_token"]
    assert refresh not in json.dumps(items)
    item = table.get(refresh_token_key(hash_refresh_token(refresh)))
    record = refresh_token_from_item(item)
    assert record.user_id == "user-1"
    assert record.issued_at == NOW
    assert record.expires_at == NOW + CONFIG.refresh_token_ttl_seconds
    assert item["gsi1pk"] == {"S": "USERID#user-1"}
    assert item["gsi1sk"] == {"S": f"REFRESH#{record.family_id}#{NOW}"}
    assert item["status"] == {"S": "active"}
    family = refresh_family_from_item(table.get(family_key(record.family_id)))
    assert family == RefreshFamilyRecord(
        family_id=record.family_id,
        user_id="user-1",
        email="alice@example.com",
        created_at=NOW,
        last_used_at=NOW,
        expires_at=record.expires_at,
        user_agent="",
        source_ip="",
    )

    second = issue_tokens(user, key_set=key_set, table=table, clock=clock, config=CONFIG)
    other = refresh_token_from_item(
        table.get(refresh_token_key(hash_refresh_token(second["refresh_token"])))
    )
    assert other.family_id != record.family_id  # a new family per login


def test_expiry_without_leeway_for_denylist_checkers(key_set, clock):
    token, _ = _issue(key_set, clock)
    clock.advance(899)
    assert verify_access_token(
        token, key_set=key_set, clock=clock, config=CONFIG, exp_leeway_seconds=0
    )
    clock.advance(1)
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(
            token, key_set=key_set, clock=clock, config=CONFIG, exp_leeway_seconds=0
        )
    assert _verify(token, key_set, clock)  # the default keeps the 30 s leeway


def test_verifies_with_public_keys_only(key_set, clock):
    from steps.core.public_keys import parse_public_jwks
    from steps.core.signing_keys import public_jwks

    token, _ = _issue(key_set, clock)
    public = parse_public_jwks(public_jwks(key_set))
    assert _verify(token, public, clock)["sub"] == "user-1"

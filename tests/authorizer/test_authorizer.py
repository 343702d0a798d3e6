import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from authorizer import handler
from authorizer.keys import PublicKeyCache
from steps.core.signing_keys import new_key_set, parse_key_set, rotate_signing_keys
from steps.core.table import denied_token_item

from .conftest import METHOD_ARN, SECRET_ID, STAGE


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Gate:
    """Runs the authorizer the way API Gateway does, with the minter's clock."""

    def __init__(self, minter):
        self.minter = minter
        self.loads = 0
        self.keys = PublicKeyCache(self._load, clock=minter.clock)

    def _load(self):
        self.loads += 1
        return handler.load_public_keys()

    def event(self, header, method_arn=METHOD_ARN):
        event = {"type": "TOKEN", "methodArn": method_arn}
        if header is not None:
            event["authorizationToken"] = header
        return event

    def __call__(self, header, method_arn=METHOD_ARN):
        return handler.handle(
            self.event(header, method_arn), None, keys=self.keys, clock=self.minter.clock
        )

    def refused(self, header):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the exact type is checked below
            self(header)
        assert type(info.value) is Exception, f"raised {type(info.value).__name__}"
        assert str(info.value) == "Unauthorized"
        return info.value


@pytest.fixture
def gate(minter):
    return Gate(minter)


def _claims(minter, **changes):
    now = int(minter.clock.now())
    claims = {
        "iss": "stepauth",
        "aud": "stepauth-api",
        "sub": "u-1",
        "iat": now,
        "exp": now + 900,
        "jti": "f" * 32,
        "roles": ["user"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(minter, claims, *, kid=None, typ="at+jwt", private_key=None):
    active = minter.key_set().active
    headers = {"kid": kid or active.kid}
    if typ is not None:
        headers["typ"] = typ
    return jwt.encode(
        claims, private_key or active.private_key, algorithm=active.alg, headers=headers
    )


def _forged(header, claims, signature=b"sig"):
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return signing_input, f"{signing_input}.{_b64(signature)}"


# --- allowed ---------------------------------------------------------------------------


def test_valid_user_token_gets_allow_and_deny_admin(gate, minter):
    token = minter.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    response = gate(f"Bearer {token}")
    assert response == {
        "principalId": "u-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [f"{STAGE}/*/*"]},
                {
                    "Effect": "Deny",
                    "Action": "execute-api:Invoke",
                    "Resource": [f"{STAGE}/*/v1/admin", f"{STAGE}/*/v1/admin/*"],
                },
            ],
        },
        "context": {
            "sub": "u-1",
            "roles": "user",
            "jti": claims["jti"],
            "exp": claims["exp"],
            "amr": "",
            "authTime": 0,
        },
    }
    assert all(isinstance(v, str | int) for v in response["context"].values())


def test_admin_token_has_no_deny(gate, minter):
    response = gate(f"Bearer {minter.token(roles=('user', 'admin'))}")
    statements = response["policyDocument"]["Statement"]
    assert [s["Effect"] for s in statements] == ["Allow"]
    assert response["context"]["roles"] == "user,admin"


def test_policy_is_valid_for_every_route_whichever_route_asked(gate, minter):
    token = minter.token()
    admin_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/v1/admin/users/u-9"
    assert gate(f"Bearer {token}", admin_arn) == gate(f"Bearer {token}")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(gate, minter, scheme):
    assert gate(f"{scheme} {minter.token()}")["principalId"] == "u-1"


def test_no_leeway_on_expiry(gate, minter):
    token = minter.token()
    minter.clock.advance(899)
    assert gate(f"Bearer {token}")
    minter.clock.advance(1)
    gate.refused(f"Bearer {token}")


# --- refused ---------------------------------------------------------------------------


def test_alg_none(gate, minter):
    header = {"alg": "none", "typ": "at+jwt", "kid": minter.key_set().active.kid}
    signing_input, with_signature = _forged(header, _claims(minter))
    gate.refused(f"Bearer {signing_input}.")
    gate.refused(f"Bearer {with_signature}")


def test_hs256_signed_with_the_public_key(gate, minter):
    public = minter.key_set().active.public_key
    for key_bytes in (
        public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
        public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        minter.private_jwk()["x"].encode(),
    ):
        header = {"alg": "HS256", "typ": "at+jwt", "kid": minter.key_set().active.kid}
        signing_input, _ = _forged(header, _claims(minter))
        mac = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
        gate.refused(f"Bearer {signing_input}.{_b64(mac)}")


def test_wrong_key_under_a_known_kid(gate, minter):
    stranger = parse_key_set(json.dumps(new_key_set("stranger"))).active.private_key
    gate.refused(f"Bearer {_sign(minter, _claims(minter), private_key=stranger)}")


def test_unknown_kid_refetches_at_most_every_30_seconds(gate, minter):
    stranger = parse_key_set(json.dumps(new_key_set("stranger"))).active.private_key
    forged = _sign(minter, _claims(minter), kid="stranger", private_key=stranger)
    gate.refused(f"Bearer {forged}")
    assert gate.loads == 1  # the first lookup fetched: nothing more to learn for 30 s
    for _ in range(5):
        gate.refused(f"Bearer {forged}")
    assert gate.loads == 1
    minter.clock.advance(30)
    gate.refused(f"Bearer {forged}")
    assert gate.loads == 2
    gate(f"Bearer {minter.token()}")
    assert gate.loads == 2  # known kids come from the cache


def test_missing_kid(gate, minter):
    token = jwt.encode(
        _claims(minter),
        minter.key_set().active.private_key,
        algorithm="ES256",
        headers={"typ": "at+jwt"},
    )
    gate.refused(f"Bearer {token}")


def test_tampered_payload(gate, minter):
    header, _, signature = minter.token().split(".")
    evil = _b64(json.dumps(_claims(minter, roles=["user", "admin"])).encode())
    gate.refused(f"Bearer {header}.{evil}.{signature}")


def test_expired(gate, minter):
    token = minter.token()
    minter.clock.advance(3600)
    gate.refused(f"Bearer {token}")


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_not_yet_valid(gate, minter, claim):
    now = int(minter.clock.now())
    changes = {"iat": now + 120, "exp": now + 1020} if claim == "iat" else {"nbf": now + 120}
    gate.refused(f"Bearer {_sign(minter, _claims(minter, **changes))}")
    # Within the 30 s leeway the same token is fine.
    minter.clock.advance(100)
    assert gate(f"Bearer {_sign(minter, _claims(minter, **changes))}")


@pytest.mark.parametrize(
    "change", [{"token_issuer": "https://evil.example"}, {"token_audience": "other-api"}]
)
def test_wrong_issuer_or_audience(gate, minter, change):
    gate.refused(f"Bearer {minter.token(**change)}")


@pytest.mark.parametrize("typ", ["JWT", "at+JWT", "", None])
def test_wrong_typ(gate, minter, typ):
    gate.refused(f"Bearer {_sign(minter, _claims(minter), typ=typ)}")


@pytest.mark.parametrize("claim", ["jti", "sub", "exp", "iss", "aud", "roles"])
def test_missing_claims(gate, minter, claim):
    gate.refused(f"Bearer {_sign(minter, _claims(minter, **{claim: None}))}")


@pytest.mark.parametrize("cut", [1, 5, 40, 100])
def test_truncated(gate, minter, cut):
    gate.refused(f"Bearer {minter.token()[:-cut]}")


@pytest.mark.parametrize(
    "token",
    [
        "abc$.def.ghi",
        "a+b.c/d.e==",
        "aaaa.bbbb.cccc",  # base64url characters, but the header is not JSON
        f"{_b64(b'[1, 2]')}.e30.c2ln",  # JSON, but not an object
        "only.two",
        "one.two.three.four",
        "...",
        "\u00e9\u00e9.\u00e9.\u00e9",
    ],
)
def test_non_base64_and_malformed(gate, token):
    gate.refused(f"Bearer {token}")


def test_huge_header_is_refused_before_any_parsing(gate, minter):
    valid = minter.token()
    gate.keys = PublicKeyCache(lambda: pytest.fail("keys fetched"), clock=minter.clock)
    gate.refused("Bearer " + "a" * 5000)
    gate.refused(f"Bearer {valid}.{'a' * 4096}")
    gate.refused("Bearer " + "é" * 4000)


@pytest.mark.parametrize("header", [None, "", "   ", "Bearer", "Bearer ", "Basic x", "Basic dTpw"])
def test_missing_or_not_bearer(gate, header):
    gate.keys = PublicKeyCache(lambda: pytest.fail("keys fetched"), clock=gate.minter.clock)
    gate.refused(header)


def test_not_an_event(gate):
    for event in (None, [], "Bearer x"):
        with pytest.raises(Exception) as info:  # noqa: PT011
            handler.handle(event, None, keys=gate.keys, clock=gate.minter.clock)
        assert type(info.value) is Exception and str(info.value) == "Unauthorized"


def test_bare_token_without_scheme(gate, minter):
    gate.refused(minter.token())


# --- the denylist ----------------------------------------------------------------------


def _jti_exp(token):
    claims = jwt.decode(token, options={"verify_signature": False})
    return claims["jti"], claims["exp"]


def test_denylisted_jti(gate, minter, table):
    token = minter.token()
    jti, exp = _jti_exp(token)
    assert gate(f"Bearer {token}")
    table.put(denied_token_item(jti, exp))
    gate.refused(f"Bearer {token}")
    assert gate(f"Bearer {minter.token()}")  # another token of the same user is fine


def test_a_denylisted_token_never_passes_again(gate, minter, table):
    token = minter.token()
    jti, exp = _jti_exp(token)
    table.put(denied_token_item(jti, exp))  # exactly what the logout workflow writes
    for seconds in (0, 898, 1, 1, 29, 31):  # up to exp, at exp and past any leeway
        minter.clock.advance(seconds)
        gate.refused(f"Bearer {token}")


def test_denylist_entry_expired_but_still_present_is_ignored(gate, minter, table):
    token = minter.token()
    jti, _ = _jti_exp(token)
    table.put(denied_token_item(jti, int(minter.clock.now()) - 1))
    assert gate(f"Bearer {token}")["principalId"] == "u-1"


def test_tokens_issued_before_the_users_marker_are_refused(gate, minter, table):
    from steps.core.sessions import end_access_tokens

    before = minter.token()
    assert gate(f"Bearer {before}")
    minter.clock.advance(5)
    end_access_tokens(table, "u-1", now=minter.clock.now())
    gate.refused(f"Bearer {before}")  # at the next authorizer call, not at expiry
    minter.clock.advance(1)
    assert gate(f"Bearer {minter.token()}")["principalId"] == "u-1"  # issued after: fine


# --- faults, keys, logs ----------------------------------------------------------------


def test_aws_faults_are_not_unauthorized(gate, minter):
    def broken():
        raise RuntimeError("DynamoDB is down")

    gate.keys = PublicKeyCache(broken, clock=minter.clock)
    with pytest.raises(RuntimeError):
        gate(f"Bearer {minter.token()}")


def test_no_published_keys_refuses(gate, minter, table):
    from steps.core.table import public_keys_key

    table.client.delete_item(TableName=table.name, Key=public_keys_key())
    gate.refused(f"Bearer {minter.token()}")


def test_signing_key_rotation(gate, minter, secrets, table):
    old_token = minter.token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert gate(f"Bearer {old_token}")
    minter.clock.advance(60)
    new_kid = rotate_signing_keys(
        secrets, SECRET_ID, table, now=minter.clock.now(), access_token_ttl_seconds=900
    )
    new_token = minter.token()
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    # The cached key set does not know the new kid yet: one refetch finds it.
    assert gate(f"Bearer {new_token}")["principalId"] == "u-1"
    assert gate(f"Bearer {old_token}")["principalId"] == "u-1"  # retired but kept
    assert gate.loads == 2


def test_the_token_is_never_logged(gate, minter, table, capsys, caplog):
    caplog.set_level("DEBUG")
    token = minter.token()
    gate(f"Bearer {token}")
    gate.refused(f"Bearer {token[:-3]}")
    gate.refused(f"Bearer {token}x")
    table.put(denied_token_item(_jti_exp(token)[0], _jti_exp(token)[1]))
    gate.refused(f"Bearer {token}")
    out = capsys.readouterr()
    everything = out.out + out.err + caplog.text
    for part in token.split("."):
        assert part not in everything
    lines = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    # Nothing on success (the hot path); one fact per rejection, with a reason word.
    assert [line["message"] for line in lines] == ["token rejected"] * 3
    assert [line.get("reason") for line in lines] == ["bad_signature", "bad_signature", "revoked"]

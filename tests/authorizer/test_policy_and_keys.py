import json
import subprocess
import sys
from pathlib import Path

import pytest

from authorizer.bearer import (
    MAX_TOKEN_BYTES,
    Rejected,
    bearer_token,
    has_three_segments,
    key_id,
)
from authorizer.keys import PublicKeyCache
from authorizer.policy import StageArn, allow_response, policy_document
from steps.core.clock import ManualClock
from steps.core.public_keys import PublicKeySet, parse_public_jwks
from steps.core.signing_keys import new_key_set, parse_key_set, public_jwks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/me",
            StageArn("aws", "eu-west-1", "123456789012", "abc123", "prod"),
        ),
        (
            "arn:aws-cn:execute-api:cn-north-1:1:api/v1-stage/POST/v1/admin/users/u-1/disable",
            StageArn("aws-cn", "cn-north-1", "1", "api", "v1-stage"),
        ),
        (
            "arn:aws:execute-api:us-east-1:1:api/$default/GET/",
            StageArn("aws", "us-east-1", "1", "api", "$default"),
        ),
    ],
)
def test_stage_arn(arn, expected):
    assert StageArn.from_method_arn(arn) == expected


@pytest.mark.parametrize(
    "arn",
    [
        None,
        "",
        "arn:aws:lambda:us-east-1:1:function:x",
        "arn:aws:execute-api:us-east-1:1:api",
        "arn:aws:execute-api:us-east-1::api/prod/GET/x",
        "execute-api:us-east-1:1:api/prod/GET/x",
    ],
)
def test_bad_method_arns_are_server_faults(arn):
    with pytest.raises(ValueError):
        StageArn.from_method_arn(arn)


def test_policy_documents():
    stage = StageArn("aws", "eu-west-1", "1", "api", "prod")
    user = policy_document(stage, ["user"])
    assert user["Statement"][0] == {
        "Effect": "Allow",
        "Action": "execute-api:Invoke",
        "Resource": ["arn:aws:execute-api:eu-west-1:1:api/prod/*/*"],
    }
    assert user["Statement"][1]["Effect"] == "Deny"
    assert user["Statement"][1]["Resource"] == [
        "arn:aws:execute-api:eu-west-1:1:api/prod/*/v1/admin",
        "arn:aws:execute-api:eu-west-1:1:api/prod/*/v1/admin/*",
    ]
    assert len(policy_document(stage, [])["Statement"]) == 2
    assert len(policy_document(stage, ["admin"])["Statement"]) == 1
    assert len(policy_document(stage, ["administrator"])["Statement"]) == 2  # exact role name


def test_allow_response_context_is_flat():
    claims = {"sub": "u", "roles": ["user", "admin"], "jti": "j", "exp": 5, "iat": 1}
    response = allow_response(claims, "arn:aws:execute-api:r:1:api/s/GET/x")
    assert response["context"] == {
        "sub": "u",
        "roles": "user,admin",
        "jti": "j",
        "exp": 5,
        "amr": "",
        "authTime": 0,
    }
    assert response["principalId"] == "u"
    # A token issued with a session names it: the session list marks it current.
    with_session = allow_response({**claims, "sid": "f-1"}, "arn:aws:execute-api:r:1:api/s/GET/x")
    assert with_session["context"]["sid"] == "f-1"
    mfa = {**claims, "amr": ["pwd", "otp", "x y", 3], "auth_time": 4}
    context = allow_response(mfa, "arn:aws:execute-api:r:1:api/s/GET/x")["context"]
    assert (context["amr"], context["authTime"]) == ("pwd otp", 4)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_token"),
        (42, "missing_token"),
        ("", "missing_token"),
        ("Bearer", "not_bearer"),
        ("Token a.b.c", "not_bearer"),
        ("Bearer a.b", "malformed"),
        ("Bearer a..c", "malformed"),
        ("Bearer .b.c", "malformed"),
        ("Bearer a.b.", "malformed"),
        ("Bearer a.b.c.d", "malformed"),
        ("Bearer a.b.c\u00e9", "malformed"),
        ("Bearer " + "a" * (MAX_TOKEN_BYTES + 1), "token_too_large"),
        ("B" * 100_000, "token_too_large"),
    ],
)
def test_bearer_token_rejections(header, reason):
    with pytest.raises(Rejected) as info:
        bearer_token(header)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "token",
    [
        *("a.b.c", "ab.cd.ef", "a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "...", "..", ".", ""),
        *("abc", "a.b.c.", ".a.b.c", "a.b..c", "a$.b c.=", "a\tb.c.d"),
    ],
)
def test_three_segments_is_exactly_three_non_empty_parts(token):
    # The characters of each part are the strict base64url decoding's to refuse (see
    # test_lean_verification.py): this check is the shape only.
    assert has_three_segments(token) == (len(token.split(".")) == 3 and all(token.split(".")))


def test_bearer_token_limits():
    token = "a" * (MAX_TOKEN_BYTES - 4) + ".b.c"
    assert bearer_token(f"Bearer {token}") == token
    assert bearer_token(f"  bearer   {token} ") == token


def test_key_id_pins_typ_and_kid():
    # The algorithm is the key's (checked with the signature), so only typ, crit and kid here.
    def header(**fields):
        return fields

    assert key_id(header(alg="ES256", typ="at+jwt", kid="k")) == "k"
    for bad in (
        header(alg="ES256", typ="at+jwt"),
        header(alg="ES256", typ="at+jwt", kid=""),
        header(alg="ES256", typ="at+jwt", kid=5),
        header(alg="ES256", typ="at+jwt", kid="k" * 200),
        header(alg="ES256", typ="at+jwt", kid="k", crit=["exp"]),
        header(alg="ES256", typ="JWT", kid="k"),
    ):
        with pytest.raises(Rejected, match="bad_header"):
            key_id(bad)


def _keys(*kids):
    document = {"keys": [], "active_kid": kids[0]}
    for kid in kids:
        document["keys"].append(new_key_set(kid)["keys"][0])
    return parse_public_jwks(public_jwks(parse_key_set(json.dumps(document))))


def test_key_cache_reuses_for_300_seconds_then_refetches():
    clock = ManualClock()
    published = [_keys("a")]
    calls = []

    def load():
        calls.append(clock.now())
        return published[-1]

    cache = PublicKeyCache(load, clock=clock)
    assert cache.lookup("a").kid == "a"
    clock.advance(299)
    assert cache.lookup("a") is not None and len(calls) == 1
    published.append(_keys("b"))
    clock.advance(1)
    assert cache.lookup("a") is None  # refetched: "a" was dropped, nothing more to try
    assert cache.lookup("b").kid == "b" and len(calls) == 2


def test_key_cache_unknown_kid_refetch_is_rate_limited():
    clock = ManualClock()
    published = [_keys("a")]
    calls = []

    def load():
        calls.append(clock.now())
        return published[-1]

    cache = PublicKeyCache(load, clock=clock)
    cache.lookup("a")
    clock.advance(29)
    published.append(_keys("b", "a"))
    assert cache.lookup("b") is None and len(calls) == 1  # fetched 29 s ago: no refetch
    clock.advance(1)
    assert cache.lookup("b").kid == "b" and len(calls) == 2
    assert cache.lookup("zzz") is None and len(calls) == 2
    clock.advance(-1000)  # a clock going backwards refetches rather than trusting the cache
    assert cache.lookup("a") is not None and len(calls) == 3


def test_empty_key_set():
    cache = PublicKeyCache(PublicKeySet, clock=ManualClock())
    assert cache.lookup("a") is None


def test_cold_import_stays_light():
    """boto3 and Powertools are not imported with the authorizer (boto3 comes on first use), nor
    PyJWT: tokens are verified with ``cryptography`` directly (issue 17 point 5); nor the MFA
    code (TOTP, recovery codes: 7 ms of its cold start, none of its work); nor what only writing
    keys and issuing tokens use: cryptography's serialization package (~10 ms) and ``secrets``
    (with ``hmac`` and ``random``, ~5 ms)."""
    heavy = (
        *("boto3", "botocore", "aws_lambda_powertools", "argon2", "jwt", "steps.core.mfa"),
        *("cryptography.hazmat.primitives.serialization", "secrets"),
    )
    code = f"import sys, authorizer.handler; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

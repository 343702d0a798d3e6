"""The enrolment token of ``mfa=required`` (steps/core/mfa_enrollment.py) at the authorizer:
its policy allows the two enrolment routes only, so that the answer API Gateway caches for the
token never opens another route; normal tokens are unaffected; other APIs refuse it."""

from __future__ import annotations

from dataclasses import replace

import jwt
import pytest

from authorizer import handler
from localcloud.gateway import policy_allows
from steps.core.config import Config
from steps.core.mfa_enrollment import (
    ENROLLMENT_SCOPE,
    ENROLLMENT_TTL_SECONDS,
    enrollment_body,
)
from steps.core.signing_keys import sign_compact

from .conftest import STAGE
from .test_authorizer import Gate


@pytest.fixture
def gate(minter):
    return Gate(minter)


def _enrollment_token(minter):
    body = enrollment_body(
        {"user": {"id": "u-1", "email": "a@example.com", "created_at": "2026-12-01T00:00:00Z"}},
        key_set=minter.key_set(),
        clock=minter.clock,
        config=minter.config,
    )
    assert set(body) == {"user", "mfa_enrollment_required", "enrollment_token", "expires_in"}
    assert (body["mfa_enrollment_required"], body["expires_in"]) == (True, 600)
    assert "access_token" not in body and "refresh_token" not in body
    return body["enrollment_token"]


def test_the_token_is_short_lived_scoped_and_has_no_roles(minter):
    claims = jwt.decode(_enrollment_token(minter), options={"verify_signature": False})
    assert claims["scope"] == ENROLLMENT_SCOPE
    assert claims["roles"] == []
    assert claims["exp"] - claims["iat"] == ENROLLMENT_TTL_SECONDS
    assert claims["sub"] == "u-1"


def test_the_token_has_an_audience_of_its_own(minter):
    """Not stepauth's audience: a JWT authorizer set up with stepauth's audience refuses it."""
    claims = jwt.decode(_enrollment_token(minter), options={"verify_signature": False})
    assert claims["aud"] == "stepauth-api:mfa-enroll"
    assert claims["aud"] not in minter.config.accepted_audiences
    minter.config = replace(minter.config, mfa_enrollment_audience="enrol.example")
    claims = jwt.decode(_enrollment_token(minter), options={"verify_signature": False})
    assert claims["aud"] == "enrol.example"


@pytest.mark.parametrize("audience", ["stepauth-api", "hello-api"])
def test_the_enrollment_audience_must_differ_from_every_other(audience):
    clients = '[{"client_id": "hello", "audience": "hello-api"}]'
    with pytest.raises(ValueError, match="MFA_ENROLLMENT_AUDIENCE"):
        Config(token_clients=clients, mfa_enrollment_audience=audience)


def _signed(minter, **claims) -> str:
    """A token with these claims changed, signed with stepauth's own key (what only a bug in
    stepauth could issue: the authorizer must still refuse it)."""
    base = {
        "iss": minter.config.token_issuer,
        "aud": "stepauth-api",
        "sub": "u-1",
        "client_id": "stepauth",
        "iat": int(minter.clock.now()),
        "exp": int(minter.clock.now()) + 600,
        "jti": "j-enrol",
        "roles": [],
    }
    return sign_compact({"typ": "at+jwt"}, {**base, **claims}, minter.key_set().active)


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": ENROLLMENT_SCOPE},  # the enrolment scope under stepauth's audience
        {"aud": "stepauth-api:mfa-enroll"},  # the enrolment audience without the scope
        {"aud": "stepauth-api:mfa-enroll", "scope": "openid"},
        {"aud": ["stepauth-api:mfa-enroll", "stepauth-api"], "scope": ENROLLMENT_SCOPE},
    ],
)
def test_the_authorizer_refuses_a_token_that_mixes_the_enrolment_audience_and_scope(
    gate, minter, claims
):
    with pytest.raises(Exception, match="^Unauthorized$"):
        gate(f"Bearer {_signed(minter, **claims)}")
    enrolment = _signed(minter, aud="stepauth-api:mfa-enroll", scope=ENROLLMENT_SCOPE)
    answer = gate(f"Bearer {enrolment}", f"{STAGE}/GET/v1/me")
    assert not policy_allows(answer["policyDocument"], f"{STAGE}/GET/v1/me")
    assert policy_allows(answer["policyDocument"], f"{STAGE}/POST/v1/mfa/totp")


ROUTES = {
    ("POST", "v1/mfa/totp"): True,
    ("POST", "v1/mfa/totp/confirm"): True,
    ("DELETE", "v1/mfa/totp"): False,
    ("POST", "v1/mfa/recovery-codes"): False,
    ("GET", "v1/me"): False,
    ("GET", "v1/sessions"): False,
    ("POST", "v1/logout"): False,
    ("POST", "v1/password/change"): False,
    ("DELETE", "v1/me"): False,
    ("GET", "v1/admin/users"): False,
}


@pytest.mark.parametrize("asked_first", [("POST", "v1/mfa/totp"), ("GET", "v1/me")])
def test_the_policy_allows_only_the_enrolment_routes_whichever_route_asked(
    gate, minter, asked_first
):
    token = _enrollment_token(minter)
    method, path = asked_first
    answer = gate(f"Bearer {token}", f"{STAGE}/{method}/{path}")
    # The cached answer is evaluated for every later route the token calls.
    for (method, path), allowed in ROUTES.items():
        assert policy_allows(answer["policyDocument"], f"{STAGE}/{method}/{path}") is allowed


def test_normal_tokens_keep_the_whole_stage(gate, minter):
    answer = gate(f"Bearer {minter.token()}")
    for (method, path), _ in ROUTES.items():
        expected = not path.startswith("v1/admin")
        assert policy_allows(answer["policyDocument"], f"{STAGE}/{method}/{path}") is expected


def test_other_apis_refuse_the_enrollment_token(gate, minter):
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:other/prod/GET/hello",
        "headers": {"Authorization": f"Bearer {_enrollment_token(minter)}"},
        "stageVariables": {"stepauthAudience": "stepauth-api"},
    }
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler.handle(event, None, keys=gate.keys, clock=minter.clock)
    normal = {**event, "headers": {"Authorization": f"Bearer {minter.token()}"}}
    assert handler.handle(normal, None, keys=gate.keys, clock=minter.clock)["principalId"] == "u-1"

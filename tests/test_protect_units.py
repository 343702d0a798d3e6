"""The pieces behind "protect your API", offline: the local JWT authorizer's checks, the Lambda
authorizer's scoped policy, and what the synthesized stepauth template says about the issuer."""

from __future__ import annotations

import json

import pytest

from authorizer.policy import parse_route_scopes, scoped_allow_response
from localcloud.gateway import policy_allows
from localcloud.jwt_authorizer import JwtAuthorizer, JwtAuthorizerConfig
from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.signing_keys import new_key_set, parse_key_set, public_jwks
from steps.core.tokens import issue_access_token

ISSUER = "https://issuer.example/live"
NOW = 1_700_000_000
CLIENTS = json.dumps([{"client_id": "hello", "audience": "hello-api", "scopes": ["r", "w"]}])
ARN = "arn:aws:execute-api:us-east-1:123456789012:api1/live/GET/jwt/hello"


def _authorizer(
    document: dict, clock: ManualClock, algorithms=("ES256",)
) -> tuple[JwtAuthorizer, list]:
    fetched: list[str] = []
    jwks = public_jwks(parse_key_set(json.dumps(document)))

    def fetch(url: str) -> dict:
        fetched.append(url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/.well-known/jwks.json"}
        assert url == f"{ISSUER}/.well-known/jwks.json"
        return jwks

    config = JwtAuthorizerConfig("A", "Authorization", tuple(algorithms), {ISSUER: ("hello-api",)})
    return JwtAuthorizer(config, clock=clock.now, fetch=fetch), fetched


def _token(
    document: dict, *, iat: float = NOW, scopes=("r",), issuer=ISSUER, client="hello"
) -> str:
    config = Config(token_issuer=issuer, token_clients=CLIENTS if client == "hello" else "")
    return issue_access_token(
        "u-1",
        ["user"],
        key_set=parse_key_set(json.dumps(document)),
        clock=ManualClock(iat),
        config=config,
        client=config.client(client if client == "hello" else None),
        scopes=scopes,
    )[0]


def test_the_jwt_authorizer_checks_as_aws_documents() -> None:
    clock = ManualClock(float(NOW + 10))
    document = new_key_set("k1")
    authorizer, fetched = _authorizer(document, clock)
    good = _token(document)
    assert authorizer.decide(f"Bearer {good}", ("r",)).status is None
    assert authorizer.decide(good, ("r",)).status is None  # the token alone is accepted too
    assert fetched == [
        f"{ISSUER}/.well-known/openid-configuration",
        f"{ISSUER}/.well-known/jwks.json",
    ]
    assert authorizer.decide(good, ("w",)).status == 403
    refused = {
        "expired": _token(document, iat=NOW - 3600),
        "issued in the future": _token(document, iat=NOW + 600),
        "another issuer": _token(document, issuer="https://other.example"),
        "another audience": _token(document, client="stepauth"),
        "unknown key": _token(new_key_set("k2")),
        "stranger key, known kid": _token(new_key_set("k1")),
        "broken": good[:-6] + "AAAAAA",
        "none": "",
    }
    for name, token in refused.items():
        assert authorizer.decide(f"Bearer {token}", ("r",)).status == 401, name


def test_a_jwt_authorizer_for_stepauths_audience_refuses_the_enrollment_token() -> None:
    """The mfa=required enrolment token has an audience of its own: an API that accepts
    stepauth's tokens through the native JWT authorizer (audience stepauth-api, no scopes on the
    method) refuses it, while it accepts a normal token of that audience."""
    from steps.core.mfa_enrollment import enrollment_body

    clock = ManualClock(float(NOW + 10))
    document = new_key_set("k1")
    authorizer, _ = _authorizer(document, clock)
    authorizer.config = JwtAuthorizerConfig(
        "A", "Authorization", ("ES256",), {ISSUER: ("stepauth-api",)}
    )
    user = {"id": "u-1", "email": "a@example.com", "created_at": "2026-12-01T00:00:00Z"}
    enrolment = enrollment_body(
        {"user": user},
        key_set=parse_key_set(json.dumps(document)),
        clock=ManualClock(float(NOW)),
        config=Config(token_issuer=ISSUER),
    )["enrollment_token"]
    decision = authorizer.decide(f"Bearer {enrolment}", ())
    assert (decision.status, decision.reason) == (401, "the token does not have a valid audience")
    assert authorizer.decide(f"Bearer {_token(document, client='stepauth')}", ()).status is None


def test_the_jwt_authorizer_allows_only_its_algorithms() -> None:
    clock = ManualClock(float(NOW + 10))
    document = new_key_set("k1", algorithm="Ed25519")
    authorizer, _ = _authorizer(document, clock)
    assert authorizer.decide(_token(document), ()).status == 401


def test_the_lambda_authorizer_denies_routes_whose_scope_the_token_lacks() -> None:
    routes = parse_route_scopes("GET/lambda/hello=r,POST/lambda/hello=w&admin")
    assert routes == {("GET", "lambda/hello"): ("r",), ("POST", "lambda/hello"): ("w", "admin")}
    claims = {"sub": "u-1", "jti": "j", "exp": NOW, "scope": "r", "client_id": "hello"}
    answer = scoped_allow_response(claims, ARN, routes)
    policy = answer["policyDocument"]
    assert policy_allows(policy, ARN.replace("jwt", "lambda"))
    assert not policy_allows(policy, ARN.replace("GET/jwt", "POST/lambda"))
    assert answer["context"]["scope"] == "r" and answer["context"]["client_id"] == "hello"
    with pytest.raises(ValueError):
        parse_route_scopes("nonsense")


def test_the_stack_derives_the_issuer_from_its_api_unless_given(template: dict) -> None:
    assert template["Parameters"]["IssuerUrl"]["Type"] == "String"
    assert "IssuerUrlGiven" in template["Conditions"]
    issuers = {
        json.dumps(r["Properties"]["Environment"]["Variables"]["TOKEN_ISSUER"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    (issuer,) = issuers  # every function agrees
    assert '"Fn::If"' in issuer and "execute-api" in issuer and "/live" in issuer
    outputs = template["Outputs"]
    assert outputs["Issuer"]["Export"]["Name"] == "stepauth-Issuer"
    assert outputs["AuthorizerFunctionArn"]["Export"]["Name"] == "stepauth-AuthorizerFunctionArn"
    assert outputs["TokenSigningAlgorithm"]["Value"] == "ES256"
    mocks = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Method"
        and r["Properties"].get("Integration", {}).get("Type") == "MOCK"
    ]
    assert len(mocks) == 2  # openid-configuration and oauth-authorization-server


def test_with_ed25519_the_example_keeps_only_the_lambda_authorizer(stack_variants) -> None:
    assembly = stack_variants["ed25519"].require()
    stepauth = assembly.template()
    assert stepauth["Outputs"]["TokenSigningAlgorithm"]["Value"] == "Ed25519"
    hello = json.loads((assembly.directory / "HelloApi.template.json").read_text())
    kinds = {
        r["Properties"]["Type"]
        for r in hello["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Authorizer"
    }
    assert kinds == {"REQUEST"}
    with pytest.raises(ValueError, match="ES256"):
        from aws_cdk import App, Stack
        from aws_cdk import aws_apigateway as apigw

        from cdk.protect import StepAuthJwtAuthorizer

        stack = Stack(App(), "S")
        api = apigw.RestApi(stack, "Api")
        StepAuthJwtAuthorizer(
            stack, "Jwt", rest_api=api, issuer="https://i", audiences=["a"], algorithms=["Ed25519"]
        )

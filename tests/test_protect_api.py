"""Issuer metadata, standard clients, and the example API behind both authorizer kinds, all
from the running local cloud (real HTTP, the synthesized templates of both stacks)."""

from __future__ import annotations

import json
import time
import uuid
import warnings

import boto3
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from localcloud.cloud import LOCAL_CONTEXT, LocalCloud
from steps.core.clock import ManualClock
from steps.core.config import Config
from steps.core.signing_keys import parse_key_set
from steps.core.tokens import issue_access_token

from .test_api import PASSWORD, Api

#: RFC 8414 §2: REQUIRED (authorization_endpoint and token_endpoint only for grant types that
#: use them: stepauth lists none).
RFC_8414_REQUIRED = ("issuer", "response_types_supported")


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def hello(local_cloud: LocalCloud) -> Api:
    hello_api = Api(local_cloud)
    hello_api.port = local_cloud.settings.example_port
    return hello_api


@pytest.fixture(scope="module")
def user(api: Api) -> str:
    email = f"hello-{uuid.uuid4().hex[:10]}@example.com"
    assert api.register(email).status == 201
    return email


def _login(api: Api, email: str, **client: str) -> str:
    answer = api.post_json("/v1/login", {"email": email, "password": PASSWORD, **client})
    assert answer.status == 200, answer.body
    return str(answer.json()["access_token"])


def test_discovery_documents_describe_the_issuer(api: Api, local_cloud: LocalCloud) -> None:
    issuer = local_cloud.settings.gateway_url
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        answer = api.call("GET", path)
        assert answer.status == 200, answer.body
        assert answer.headers["cache-control"] == "public, max-age=300"
        document = answer.json()
        for name in RFC_8414_REQUIRED:
            assert name in document
        assert document["issuer"] == issuer
        assert document["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
        assert document["id_token_signing_alg_values_supported"] == ["ES256"]
        assert set(document["scopes_supported"]) == {"hello.read", "hello.write"}
        # Every endpoint it names exists.
        for url in document["stepauth_endpoints"].values():
            assert url.startswith(issuer)
    jwks = api.call("GET", "/.well-known/jwks.json")
    assert jwks.headers["cache-control"] == "public, max-age=300"


def test_access_tokens_carry_the_issuer_url_and_standard_claims(
    api: Api, user: str, local_cloud: LocalCloud
) -> None:
    token = _login(api, user)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == local_cloud.settings.gateway_url
    assert (claims["client_id"], claims["aud"]) == ("stepauth", "stepauth-api")
    scoped = jwt.decode(
        _login(api, user, client_id="hello", scope="hello.read"),
        options={"verify_signature": False},
    )
    assert (scoped["client_id"], scoped["aud"], scoped["scope"]) == (
        "hello",
        "hello-api",
        "hello.read",
    )
    refused = api.post_json(
        "/v1/login", {"email": user, "password": PASSWORD, "client_id": "hello", "scope": "admin"}
    )
    assert refused.status == 400 and refused.json()["error"] == "invalid_request"


def test_pyjwkclient_and_joserfc_verify_from_the_discovery_jwks_uri(
    api: Api, user: str, local_cloud: LocalCloud
) -> None:
    issuer = local_cloud.settings.gateway_url
    token = _login(api, user)
    jwks_uri = api.call("GET", "/.well-known/openid-configuration").json()["jwks_uri"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signing_key = jwt.PyJWKClient(jwks_uri).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, signing_key, algorithms=["ES256"], audience="stepauth-api", issuer=issuer
        )
        assert claims["sub"]
        keys = KeySet.import_key_set(json.loads(api.call("GET", "/.well-known/jwks.json").body))
        decoded = jose_jwt.decode(token, keys, algorithms=["ES256"])
        assert decoded.claims["iss"] == issuer


def _expired_hello_token(local_cloud: LocalCloud) -> str:
    """A token of the stack's own active key, for the hello client, that expired an hour ago."""
    stack = local_cloud.stack
    assert stack is not None
    secret = boto3.client("secretsmanager", region_name=local_cloud.settings.region)
    key_set = parse_key_set(
        secret.get_secret_value(SecretId=stack.outputs["SigningKeysSecretArn"])["SecretString"]
    )
    config = Config(
        token_issuer=local_cloud.settings.gateway_url,
        token_clients=json.dumps(LOCAL_CONTEXT["clients"]),
    )
    token, _ = issue_access_token(
        "u-expired",
        ["user"],
        key_set=key_set,
        clock=ManualClock(time.time() - 3600),
        config=config,
        client=config.client("hello"),
    )
    return token


@pytest.mark.parametrize("kind", ["jwt", "lambda"])
def test_the_example_api_accepts_and_refuses_as_documented(
    api: Api, hello: Api, user: str, local_cloud: LocalCloud, kind: str
) -> None:
    path = f"/{kind}/hello"
    reader = _login(api, user, client_id="hello", scope="hello.read")
    answer = hello.call("GET", path, headers={"Authorization": f"Bearer {reader}"})
    assert answer.status == 200, answer.body
    assert answer.json()["message"] == "hello" and answer.json()["user"]
    # The route's scope is missing: 403.
    assert hello.call("POST", path, headers={"Authorization": f"Bearer {reader}"}).status == 403
    writer = _login(api, user, client_id="hello")
    assert hello.call("POST", path, headers={"Authorization": f"Bearer {writer}"}).status == 200
    # Another audience (stepauth's own), an expired token, a broken one, none: 401.
    for bad in (_login(api, user), _expired_hello_token(local_cloud), reader[:-4] + "AAAA"):
        assert hello.call("GET", path, headers={"Authorization": f"Bearer {bad}"}).status == 401
    assert hello.call("GET", path).status == 401


def test_revocation_reaches_the_lambda_authorizer_only(api: Api, hello: Api, user: str) -> None:
    token = _login(api, user, client_id="hello")
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.call("POST", "/v1/logout", b"{}", bearer).status == 204
    assert hello.call("GET", "/lambda/hello", headers=bearer).status == 401
    # The native JWT authorizer cannot see the denylist: the token works until it expires.
    assert hello.call("GET", "/jwt/hello", headers=bearer).status == 200


def test_the_example_template_carries_a_jwt_authorizer_with_the_algorithm(cloud_assembly) -> None:
    template = json.loads((cloud_assembly.directory / "HelloApi.template.json").read_text())
    authorizers = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Authorizer" and r["Properties"]["Type"] == "JWT"
    ]
    assert len(authorizers) == 1
    configuration = authorizers[0]["JwtConfiguration"]
    assert "ES256" in configuration["DefaultAlgorithms"]
    assert configuration["Issuers"][0]["Audiences"] == ["hello-api"]
    methods = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::Method"
        and r["Properties"].get("AuthorizationType") == "JWT"
    ]
    assert sorted(m["AuthorizationScopes"][0] for m in methods) == ["hello.read", "hello.write"]

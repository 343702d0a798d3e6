"""The API end to end: real HTTP → local gateway (real VTL) → real ASL interpreter → real handlers
→ the table, all deployed from the synthesized template."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
from boto3.dynamodb.types import TypeDeserializer

from localcloud.cloud import LocalCloud

PASSWORD = "correct horse battery staple"


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    def __init__(self, cloud: LocalCloud) -> None:
        self.host = cloud.settings.client_host
        self.port = cloud.settings.gateway_port

    def call(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            data = body.encode() if isinstance(body, str) else body
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            return Answer(
                response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
            )
        finally:
            connection.close()

    def post_json(self, path: str, document: Any) -> Answer:
        return self.call(
            "POST",
            path,
            json.dumps(document),
            {"Content-Type": "application/json", "User-Agent": "stepauth-tests/1"},
        )

    def register(self, email: str, password: str = PASSWORD, **extra: Any) -> Answer:
        return self.post_json("/v1/register", {"email": email, "password": password, **extra})

    def login(self, email: str, password: str = PASSWORD) -> Answer:
        return self.post_json("/v1/login", {"email": email, "password": password})


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def table_items(aws: boto3.Session, cloud: LocalCloud) -> list[dict[str, Any]]:
    pages = (
        aws.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=cloud.stack.outputs["TableName"])
    )
    deserialize = TypeDeserializer().deserialize
    return [{k: deserialize(v) for k, v in item.items()} for p in pages for item in p["Items"]]


def user_items(aws: boto3.Session, cloud: LocalCloud, email: str) -> list[dict[str, Any]]:
    return [i for i in table_items(aws, cloud) if i["pk"] == f"USER#{email}"]


def verify_with_jwks(api: Api, token: str) -> dict[str, Any]:
    keys = api.call("GET", "/.well-known/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(token)
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    key = jwt.PyJWK(jwk)
    issuer = f"http://{api.host}:{api.port}"  # the local gateway's URL is the issuer
    return jwt.decode(
        token, key=key.key, algorithms=["ES256"], audience="stepauth-api", issuer=issuer
    )


# -- register ---------------------------------------------------------------------------------


def test_register_returns_201_with_a_verifiable_token_pair(api: Api, aws, local_cloud) -> None:
    email = new_email()
    answer = api.register(f"  {email.upper()} ", name="Ada")
    assert answer.status == 201, answer.body
    body = answer.json()
    assert set(body) == {"user", "access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"]["email"] == email
    assert set(body["user"]) == {"id", "email", "created_at"}

    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt" and header["kid"]
    claims = verify_with_jwks(api, body["access_token"])
    assert claims["sub"] == body["user"]["id"]
    assert claims["roles"] == ["user"]
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]

    # The refresh token is stored only as its SHA-256, with an absolute expiry in the TTL attr.
    digest = hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    items = table_items(aws, local_cloud)
    (stored,) = [i for i in items if i["pk"] == f"REFRESH#{digest}"]
    assert stored["user_id"] == body["user"]["id"]
    assert int(stored["expires_at"]) - int(stored["issued_at"]) == 30 * 24 * 3600
    assert body["refresh_token"] not in json.dumps(items, default=str)

    (user,) = user_items(aws, local_cloud, email)
    assert user["name"] == "Ada" and user["status"] == "active"
    assert user["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_curl_default_content_type_is_accepted(api: Api) -> None:
    """`curl -d '{…}'` sends application/x-www-form-urlencoded."""
    body = json.dumps({"email": new_email(), "password": PASSWORD})
    answer = api.call(
        "POST", "/v1/register", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status == 201, answer.body


def test_duplicate_registration_is_409_and_keeps_the_first_account(api, aws, local_cloud) -> None:
    email = new_email()
    assert api.register(email).status == 201
    before = user_items(aws, local_cloud, email)
    for variant in (email, email.upper(), f" {email}\t"):
        answer = api.register(variant, password="another long passphrase here")
        assert answer.status == 409
        assert answer.json() == {
            "error": "email_taken",
            "error_description": "An account with this email already exists.",
        }
    assert user_items(aws, local_cloud, email) == before
    assert api.login(email).status == 200
    assert api.login(email, "another long passphrase here").status == 401


def test_concurrent_registrations_of_one_email_create_one_account(api, aws, local_cloud) -> None:
    email = new_email()
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(api.register(email).status))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409, 409]
    assert len(user_items(aws, local_cloud, email)) == 1


BAD_REGISTRATIONS = [
    ('{"email":', "invalid_request"),
    ("[]", "invalid_request"),
    ("", "invalid_request"),
    (json.dumps({"password": PASSWORD}), "invalid_request"),
    (json.dumps({"email": "not-an-email", "password": PASSWORD}), "invalid_request"),
    (json.dumps({"email": "{e}", "password": 12345678901234567}), "invalid_request"),
    (json.dumps({"email": "{e}", "password": PASSWORD, "admin": True}), "invalid_request"),
    (json.dumps({"email": "{e}", "password": "short"}), "weak_password"),
    (json.dumps({"email": "{e}", "password": "password12345678"}), "weak_password"),
    (json.dumps({"email": "{e}", "password": "x" * 129}), "weak_password"),
]


@pytest.mark.parametrize(("body", "code"), BAD_REGISTRATIONS)
def test_bad_registrations_are_400_and_write_nothing(api, aws, local_cloud, body, code) -> None:
    email = new_email()
    answer = api.call(
        "POST", "/v1/register", body.replace("{e}", email), {"Content-Type": "application/json"}
    )
    assert answer.status == 400, answer.body
    problem = answer.json()
    assert problem["error"] == code
    assert problem["error_description"] and "Traceback" not in problem["error_description"]
    assert user_items(aws, local_cloud, email) == []


def test_gateway_errors_use_the_error_shape(api: Api) -> None:
    unknown = api.call("GET", "/v1/nothing-here")
    assert unknown.status == 404 and unknown.json()["error"] == "not_found"
    wrong_type = api.call("POST", "/v1/register", "<a/>", {"Content-Type": "text/xml"})
    assert wrong_type.status == 415 and wrong_type.json()["error"] == "invalid_request"
    huge = api.call(
        "POST",
        "/v1/register",
        json.dumps({"email": "a@b.co", "p": "x" * 40000}),
        {"Content-Type": "application/json"},
    )
    assert huge.status == 413 and huge.json()["error"] == "invalid_request"


# -- login ------------------------------------------------------------------------------------


def test_login_returns_200_with_a_new_pair(api: Api) -> None:
    email = new_email()
    registered = api.register(email).json()
    answer = api.login(email.upper())
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["user"] == registered["user"]
    assert body["refresh_token"] != registered["refresh_token"]
    assert verify_with_jwks(api, body["access_token"])["sub"] == registered["user"]["id"]


def test_unknown_user_and_wrong_password_get_the_same_401(api: Api) -> None:
    email = new_email()
    api.register(email)
    wrong = api.login(email, "not the right passphrase")
    unknown = api.login(new_email(), "not the right passphrase")
    assert wrong.status == unknown.status == 401
    assert wrong.body == unknown.body
    assert wrong.json()["error"] == "invalid_credentials"
    ignore = {"date", "x-amzn-requestid", "x-amz-apigw-id"}
    assert {k: v for k, v in wrong.headers.items() if k not in ignore} == {
        k: v for k, v in unknown.headers.items() if k not in ignore
    }


def test_bad_login_requests_are_400(api: Api) -> None:
    for body in ('{"email": "a@example.com"}', "nope", json.dumps({"email": 1, "password": "x"})):
        answer = api.call("POST", "/v1/login", body, {"Content-Type": "application/json"})
        assert answer.status == 400 and answer.json()["error"] == "invalid_request"


# -- operators ----------------------------------------------------------------------------------


def test_executions_are_named_after_the_request_id(api, aws, local_cloud) -> None:
    answer = api.register(new_email())
    request_id = answer.headers["x-amzn-requestid"]
    # What `aws --endpoint-url http://127.0.0.1:4566 stepfunctions list-executions` does.
    client = aws.client("stepfunctions", endpoint_url=local_cloud.settings.aws_endpoint)
    arn = local_cloud.stack.outputs["RegisterStateMachineArn"]
    executions = client.list_executions(stateMachineArn=arn)["executions"]
    (execution,) = [e for e in executions if e["name"] == request_id]
    assert execution["status"] == "SUCCEEDED"
    history = client.get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered == [
        "BodyWithinLimit?",
        "ValidateRegistration",
        "HashPassword",
        "BuildAccount",
        "StoreUser",
        "AuditRegistered",
        "IssueTokens",
        "PublishUserRegistered",  # once the account is there for good
        "PublishUserRegisteredDone",
        "RespondCreated",
    ]


def test_failed_login_shows_the_failing_state_in_history(api, aws, local_cloud) -> None:
    answer = api.login(new_email(), "not the right passphrase")
    client = aws.client("stepfunctions")
    arn = local_cloud.stack.outputs["LoginStateMachineArn"]
    (execution,) = [
        e
        for e in client.list_executions(stateMachineArn=arn)["executions"]
        if e["name"] == answer.headers["x-amzn-requestid"]
    ]
    history = client.get_execution_history(executionArn=execution["executionArn"])["events"]
    failed = [
        e for e in history if e["type"] == "LambdaFunctionFailed" or e["type"] == "TaskFailed"
    ]
    assert failed and "InvalidCredentials" in json.dumps(failed, default=str)


# -- secrets ------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {json.dumps(record.__dict__, default=str)}")


def test_no_secret_reaches_a_history_a_log_or_an_error(api, aws, local_cloud, capfd) -> None:
    # Loggers configure themselves on import: watch them after that, or they drop our handler.
    import authorizer.handler  # noqa: F401
    import steps.core.observability  # noqa: F401

    records = _Records()
    watched = [logging.getLogger(), logging.getLogger("stepauth")]
    for logger in watched:
        logger.addHandler(records)
    password = f"unique passphrase {uuid.uuid4().hex}"
    email = new_email()
    try:
        registered = api.register(email, password)
        logged_in = api.login(email, password)
        failed = api.login(email, password + " but wrong")
        weak = api.register(new_email(), password[:10])
        refreshed = api.post_json(
            "/v1/token/refresh", {"refresh_token": logged_in.json()["refresh_token"]}
        )
        replayed = api.post_json(  # within the grace window: the same pair again
            "/v1/token/refresh", {"refresh_token": logged_in.json()["refresh_token"]}
        )
        rotated = api.post_json(
            "/v1/token/refresh", {"refresh_token": refreshed.json()["refresh_token"]}
        )
        reused = api.post_json(  # an ancestor now: reuse, the family is revoked
            "/v1/token/refresh", {"refresh_token": logged_in.json()["refresh_token"]}
        )
        logged_out = api.call(
            "POST",
            "/v1/logout",
            json.dumps({"refresh_token": registered.json()["refresh_token"]}),
            {
                "Authorization": f"Bearer {registered.json()['access_token']}",
                "Content-Type": "application/json",
            },
        )
    finally:
        for logger in watched:
            logger.removeHandler(records)
    statuses = (
        registered.status,
        logged_in.status,
        failed.status,
        weak.status,
        refreshed.status,
        replayed.status,
        rotated.status,
        reused.status,
        logged_out.status,
    )
    assert statuses == (201, 200, 401, 400, 200, 200, 200, 400, 204)

    (user,) = user_items(aws, local_cloud, email)
    secrets_manager = aws.client("secretsmanager")
    key_set = json.loads(
        secrets_manager.get_secret_value(
            SecretId=local_cloud.stack.outputs["SigningKeysSecretArn"]
        )["SecretString"]
    )
    secrets = {
        "password": password,
        "password (JSON-escaped body, base64)": base64.b64encode(
            json.dumps({"email": email, "password": password}).encode()
        ).decode(),
        "password hash": user["password_hash"],
        "refresh token (register)": registered.json()["refresh_token"],
        "refresh token (login)": logged_in.json()["refresh_token"],
        "refresh token (refresh)": refreshed.json()["refresh_token"],
        "refresh token (second refresh)": rotated.json()["refresh_token"],
        "refresh key": secrets_manager.get_secret_value(
            SecretId=f"{local_cloud.settings.stack_name}/refresh-token-key"
        )["SecretString"],
        **{f"private key {k['kid']}": k["d"] for k in key_set["keys"]},
    }

    client = aws.client("stepfunctions")
    recorded: list[str] = []
    machines = [v for k, v in local_cloud.stack.outputs.items() if k.endswith("StateMachineArn")]
    assert len(machines) >= 6
    for arn in machines:
        for execution in client.list_executions(stateMachineArn=arn)["executions"]:
            arn_ = execution["executionArn"]
            recorded.append(
                json.dumps(client.get_execution_history(executionArn=arn_), default=str)
            )
            recorded.append(json.dumps(client.describe_execution(executionArn=arn_), default=str))
    logs = aws.client("logs")
    for group in logs.describe_log_groups()["logGroups"]:
        for event in logs.filter_log_events(logGroupName=group["logGroupName"]).get("events", []):
            recorded.append(event["message"])
    # Every record the workflows write about people (audit, sessions, denylist) but the
    # user item, which holds the hash by design.
    recorded += [
        json.dumps(item, default=str)
        for item in table_items(aws, local_cloud)
        if not str(item["pk"]).startswith("USER#")
    ]
    out, err = capfd.readouterr()
    recorded += [out, err, *records.lines]
    recorded += [failed.body.decode(), weak.body.decode()]
    assert records.lines, "the log capture saw nothing: it would prove nothing"
    assert any("IssueTokens" in r for r in recorded)

    everything = "\n".join(recorded)
    leaked = [name for name, value in secrets.items() if value in everything]
    assert leaked == []


def test_jwks_serves_public_keys_only(api: Api) -> None:
    answer = api.call("GET", "/.well-known/jwks.json")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    keys = answer.json()["keys"]
    assert keys and all(set(k) == {"kty", "crv", "x", "y", "kid", "alg", "use"} for k in keys)
    assert all(k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256" for k in keys)
    assert answer.headers["cache-control"] == "public, max-age=300"


def test_every_response_carries_a_request_id(api: Api) -> None:
    answers = [
        api.register(new_email()),
        api.call("GET", "/nowhere"),
        api.call("GET", "/.well-known/jwks.json"),
        api.login(new_email()),
    ]
    ids = [a.headers.get("x-amzn-requestid") for a in answers]
    assert all(ids) and len(set(ids)) == len(ids)


def test_a_204_leaves_a_kept_alive_connection_usable(api: Api) -> None:
    """No stray byte after a bodiless answer: the next response on the connection parses."""
    session = api.register(new_email()).json()
    connection = http.client.HTTPConnection(api.host, api.port, timeout=60)
    try:
        headers = {
            "Authorization": f"Bearer {session['access_token']}",
            "Content-Type": "application/json",
        }
        connection.request("POST", "/v1/logout", body=b"{}", headers=headers)
        first = connection.getresponse()
        assert first.status == 204 and first.read() == b""
        assert first.getheader("Content-Length") is None
        connection.request("GET", "/.well-known/jwks.json")
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["keys"]
    finally:
        connection.close()


def test_every_item_the_flows_stored_fits_the_contract(api: Api, aws, local_cloud) -> None:
    """Runs last in this module: the items the workflows, steps and templates wrote."""
    from tests.test_contract import assert_items_fit_the_contract

    email = new_email()
    assert api.register(email).status == 201
    assert api.login(email, "wrong " + PASSWORD).status == 401  # a lockout count, an audit
    pages = (
        aws.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=local_cloud.stack.outputs["TableName"])
    )
    items = [item for page in pages for item in page["Items"]]
    assert_items_fit_the_contract(
        items,
        expected={"user", "refresh_token", "refresh_family", "audit", "lockout", "signing_keys"},
    )

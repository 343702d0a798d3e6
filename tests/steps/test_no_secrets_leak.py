"""No password, hash, refresh token or private key part in logs or error messages."""

import json

import pytest

from steps import (
    end_sessions,
    hash_password,
    issue_tokens,
    publish_jwks,
    rotate_refresh_token,
    validate_login,
    validate_logout,
    validate_refresh,
    validate_registration,
    verify_password,
)
from steps.core.errors import ClientError
from steps.core.passwords import default_hasher
from steps.core.signing_keys import initialise_signing_keys
from steps.core.table import Table, UserRecord, user_item
from steps.core.tokens import hash_refresh_token

from .conftest import REFRESH_KEY_SECRET_ID, SECRET_ID, TABLE, api_event

PASSWORD = "Marmalade Xylophone 77 Quokka"
EMAIL = "carol@example.com"
REFRESH_KEY_SECRET = "refresh-key-" + "q" * 52


def _fragments(*secrets):
    """The secrets and distinctive fragments of them (to catch partial echoes)."""
    found = set()
    for secret in secrets:
        found.add(secret)
        if len(secret) >= 24:
            found.update(secret[i : i + 12] for i in range(0, len(secret) - 12, 6))
    return found


def _assert_clean(text, secrets):
    for fragment in _fragments(*secrets):
        assert fragment not in text, "a secret leaked"


def _run(handler, event):
    try:
        return handler(event, None), None
    except Exception as exc:  # noqa: BLE001 - we inspect every error
        return None, exc


@pytest.fixture
def world(dynamodb, secrets):
    table = Table.from_client(dynamodb, TABLE)
    initialise_signing_keys(secrets, SECRET_ID, table)
    secrets.create_secret(Name=REFRESH_KEY_SECRET_ID, SecretString=REFRESH_KEY_SECRET)
    private = json.loads(secrets.get_secret_value(SecretId=SECRET_ID)["SecretString"])
    password_hash = default_hasher().hash(PASSWORD)
    record = UserRecord(
        user_id="u-7",
        email=EMAIL,
        password_hash=password_hash,
        created_at="2025-01-01T00:00:00Z",
    )
    table.put_new(user_item(record))
    user = {"id": "u-7", "email": EMAIL, "created_at": "t"}
    sessions = [issue_tokens.handler({"user": user}, None) for _ in range(2)]
    return {
        "d": private["keys"][0]["d"],
        "hash": password_hash,
        "item": user_item(record),
        "refresh": [s["refresh_token"] for s in sessions],
        "access": [s["access_token"] for s in sessions],
    }


def test_handlers_leak_nothing(world, log_output, caplog, capfd):
    # Our logger at DEBUG; third-party loggers at INFO, as on Lambda (botocore's DEBUG output
    # would include response bodies, e.g. the secret value, and must never be enabled).
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="stepauth")
    weak = "carolcarolcarol"
    long_password = PASSWORD * 6
    runs = [
        (
            validate_registration.handler,
            api_event({"email": EMAIL, "password": PASSWORD, "name": "Carol"}),
        ),
        (validate_registration.handler, api_event({"email": EMAIL, "password": weak})),
        (validate_registration.handler, api_event({"email": EMAIL, "password": long_password})),
        (
            validate_registration.handler,
            api_event({"email": EMAIL, "password": PASSWORD, PASSWORD: 1}),
        ),
        (
            validate_registration.handler,
            api_event(raw=b'{"password": "' + PASSWORD.encode() + b'", "x": }'),
        ),
        (validate_login.handler, api_event({"email": EMAIL, "password": PASSWORD})),
        (validate_login.handler, api_event({"email": EMAIL, "password": long_password})),
        (validate_login.handler, api_event({"email": PASSWORD, "password": PASSWORD})),
        (hash_password.handler, {"password": PASSWORD}),
        (
            verify_password.handler,
            {"email": EMAIL, "password": PASSWORD, "found": {"Item": world["item"]}},
        ),
        (
            verify_password.handler,
            {"email": EMAIL, "password": PASSWORD + "x", "found": {"Item": world["item"]}},
        ),
        (verify_password.handler, {"email": EMAIL, "password": PASSWORD, "found": {}}),
        (
            issue_tokens.handler,
            {
                "user": {"id": "u-7", "email": EMAIL, "created_at": "t"},
                "context": {"requestId": "req-tok"},
            },
        ),
        (issue_tokens.handler, {"user": {"id": "", "email": EMAIL, "created_at": "t"}}),
        (publish_jwks.handler, {"requestContext": {"requestId": "req-jwks"}}),
        (validate_refresh.handler, api_event({"refresh_token": world["refresh"][0]})),
        (validate_refresh.handler, api_event({"refresh_token": world["refresh"][0] + "!"})),
        (
            rotate_refresh_token.handler,
            {"refresh": {"token_hash": hash_refresh_token(world["refresh"][0])}},
        ),
        (
            validate_logout.handler,
            {
                **api_event({"refresh_token": world["refresh"][1]}),
                "caller": {"userId": "u-7", "jti": "j-1", "exp": "1900000000"},
            },
        ),
        (
            end_sessions.handler,
            {
                "logout": {"token_hash": hash_refresh_token(world["refresh"][1]), "all": False},
                "caller": {"userId": "u-7", "jti": "j-1", "exp": 1900000000},
            },
        ),
    ]
    secrets = [PASSWORD, weak, long_password, world["hash"], world["d"], *world["refresh"]]
    secrets.append(REFRESH_KEY_SECRET)
    secrets += world["access"] + [hash_refresh_token(t) for t in world["refresh"]]
    errors = []
    outputs = []
    for handler, event in runs:
        result, error = _run(handler, event)
        if error is not None:
            errors.append(error)
            _assert_clean(str(error), secrets)
            _assert_clean(repr(error), secrets)
        else:
            outputs.append(result)
    tokens = [o["refresh_token"] for o in outputs if "refresh_token" in o]
    tokens += [o["access_token"] for o in outputs if "access_token" in o]
    hashes = [o["password_hash"] for o in outputs if "password_hash" in o]
    assert tokens and hashes and errors
    assert any(isinstance(e, ClientError) for e in errors)
    assert any(not isinstance(e, ClientError) for e in errors)

    captured = capfd.readouterr()
    everything = "\n".join(
        [log_output.text, caplog.text, captured.out, captured.err]
        + [json.dumps(r.__dict__, default=str) for r in caplog.records]
    )
    _assert_clean(everything, secrets + tokens + hashes)
    assert EMAIL not in log_output.text  # personal data stays out of logs too

    # The capture really saw the handlers' logs, with their safe facts.
    records = log_output.records
    assert len(records) == len(runs)
    assert {r["step"] for r in records} == {
        "validate_registration",
        "validate_login",
        "hash_password",
        "verify_password",
        "issue_tokens",
        "publish_jwks",
        "validate_refresh",
        "rotate_refresh_token",
        "validate_logout",
        "end_sessions",
    }
    outcomes = {(r["step"], r["outcome"], r.get("error")) for r in records}
    assert ("validate_registration", "rejected", "WeakPassword") in outcomes
    assert ("verify_password", "rejected", "InvalidCredentials") in outcomes
    assert ("issue_tokens", "failed", "ValueError") in outcomes
    assert ("validate_refresh", "rejected", "InvalidRequest") in outcomes
    assert ("rotate_refresh_token", "succeeded", None) in outcomes
    assert ("end_sessions", "succeeded", None) in outcomes
    assert {"correlation_id": "req-123"}.items() <= records[0].items()
    assert any(r.get("correlation_id") == "req-tok" and r.get("user_id") == "u-7" for r in records)
    assert any(r.get("correlation_id") == "req-jwks" for r in records)
    assert all(r["service"] == "stepauth" for r in records)

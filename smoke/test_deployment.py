"""What every stepauth deployment must do, checked from the outside."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from smoke.conftest import PASSWORD, Accounts, Client

ERROR_KEYS = {"error", "error_description"}


def _problem(answer, status: int, code: str) -> None:
    assert answer.status == status, (answer.status, answer.body)
    body = answer.json()
    assert set(body) == ERROR_KEYS and body["error"] == code
    assert "Traceback" not in body["error_description"]
    if status == 401:  # RFC 6750 3: every 401 is a Bearer challenge
        assert answer.headers["www-authenticate"].startswith("Bearer"), answer.headers


def _token_response(answer) -> None:
    """RFC 6749 5.1: an answer carrying tokens must not be stored by any cache."""
    assert answer.headers["cache-control"] == "no-store", answer.headers
    assert answer.headers["pragma"] == "no-cache", answer.headers


def test_jwks_publishes_public_keys_only(client: Client) -> None:
    answer = client.call("GET", "/.well-known/jwks.json")
    assert answer.status == 200
    keys = answer.json()["keys"]
    assert keys and all("d" not in key and key["kty"] in ("EC", "OKP") for key in keys)
    assert all(key["alg"] in ("ES256", "Ed25519", "EdDSA") for key in keys)


def test_register_login_and_me(client: Client, accounts: Accounts) -> None:
    email, registered = accounts.register()
    assert registered["token_type"] == "Bearer" and registered["expires_in"] > 0
    keys = client.call("GET", "/.well-known/jwks.json").json()["keys"]
    kid = jwt.get_unverified_header(registered["access_token"])["kid"]
    (jwk,) = [key for key in keys if key["kid"] == kid]
    # joserfc knows both algorithms by their RFC 9864 names (PyJWT has no "Ed25519").
    claims = jose_jwt.decode(
        registered["access_token"], KeySet.import_key_set({"keys": [jwk]}), algorithms=[jwk["alg"]]
    ).claims
    assert claims["sub"] == registered["user"]["id"]

    login = client.call("POST", "/v1/login", {"email": email, "password": PASSWORD})
    assert login.status == 200
    _token_response(login)
    me = client.call("GET", "/v1/me", token=login.json()["access_token"])
    assert me.status == 200
    profile = me.json()
    assert profile["email"] == email and profile["id"] == registered["user"]["id"]
    assert "password_hash" not in me.body.decode()


def test_error_shapes(client: Client, accounts: Accounts) -> None:
    email, _ = accounts.register()
    _problem(
        client.call("POST", "/v1/login", {"email": email, "password": "wrong " * 4}),
        401,
        "invalid_credentials",
    )
    _problem(
        client.call("POST", "/v1/register", {"email": email, "password": PASSWORD}),
        409,
        "email_taken",
    )
    _problem(client.call("POST", "/v1/register", raw=b'{"email":'), 400, "invalid_request")
    _problem(
        client.call("POST", "/v1/register", {"email": "x@example.com", "password": "short"}),
        400,
        "weak_password",
    )
    _problem(client.call("GET", "/v1/me"), 401, "invalid_token")
    _problem(client.call("GET", "/v1/me", token="not-a-jwt"), 401, "invalid_token")
    _problem(client.call("GET", "/v1/no-such-route"), 404, "not_found")


def test_refresh_rotates_and_reuse_revokes_the_family(client: Client, accounts: Accounts) -> None:
    _, registered = accounts.register()
    first = registered["refresh_token"]
    rotated = client.call("POST", "/v1/token/refresh", {"refresh_token": first})
    assert rotated.status == 200, rotated.body
    _token_response(rotated)
    second = rotated.json()["refresh_token"]
    assert second != first
    # A replay at once (a lost response) gets the family's current token again...
    replayed = client.call("POST", "/v1/token/refresh", {"refresh_token": first})
    assert replayed.status == 200 and replayed.json()["refresh_token"] == second
    newest = client.call("POST", "/v1/token/refresh", {"refresh_token": second}).json()
    # ...but an ancestor whose successor is spent too is reuse.
    _problem(
        client.call("POST", "/v1/token/refresh", {"refresh_token": first}), 400, "invalid_grant"
    )
    # After the reuse, the whole family is revoked: the newest token is refused too.
    _problem(
        client.call("POST", "/v1/token/refresh", {"refresh_token": newest["refresh_token"]}),
        400,
        "invalid_grant",
    )


def refused_within(client: Client, token: str, seconds: int) -> float:
    """Calls /v1/me with ``token`` until it is refused; returns how long that took.

    API Gateway caches the authorizer's Allow per token for every route, so a revoked token
    may be answered from the cache until the TTL passes: that is the deployment's stated bound
    (README, "Revocation delay"). Fails when the token still works after it (plus 5 s).
    """
    started = time.monotonic()
    while True:
        answer = client.call("GET", "/v1/me", token=token)
        waited = time.monotonic() - started
        if answer.status == 401:
            _problem(answer, 401, "invalid_token")
            return waited
        assert answer.status == 200, answer.body
        assert seconds > 0, "refused at once without an authorizer cache"
        assert waited < seconds + 5, f"still accepted {waited:.0f} s after revocation"
        time.sleep(min(2.0, seconds / 10))


def test_logout_revokes_the_session_and_the_access_token(
    client: Client, accounts: Accounts, authorizer_cache_ttl: int
) -> None:
    email, _ = accounts.register()
    session = client.call("POST", "/v1/login", {"email": email, "password": PASSWORD}).json()
    # Logout presents the access token, so the authorizer's Allow for it may now be cached.
    answer = client.call(
        "POST",
        "/v1/logout",
        {"refresh_token": session["refresh_token"]},
        token=session["access_token"],
    )
    assert answer.status == 204, answer.body
    _problem(
        client.call("POST", "/v1/token/refresh", {"refresh_token": session["refresh_token"]}),
        400,
        "invalid_grant",
    )
    refused_within(client, session["access_token"], authorizer_cache_ttl)


def test_tampered_tokens_are_refused(client: Client, accounts: Accounts) -> None:
    _, registered = accounts.register()
    header, payload, signature = registered["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _problem(
        client.call("GET", "/v1/me", token=f"{header}.{forged}.{signature}"), 401, "invalid_token"
    )
    admin_route = client.call(
        "POST",
        f"/v1/admin/users/{registered['user']['id']}/disable",
        token=registered["access_token"],
    )
    _problem(admin_route, 403, "insufficient_scope")


def test_a_user_lists_and_ends_a_session(client: Client, accounts: Accounts) -> None:
    email, registered = accounts.register()
    login = client.call("POST", "/v1/login", {"email": email, "password": PASSWORD}).json()
    token = registered["access_token"]
    listed = client.call("GET", "/v1/sessions", token=token)
    assert listed.status == 200, listed.body
    sessions = listed.json()["sessions"]
    assert len(sessions) == 2
    fields = {"id", "created_at", "last_used_at", "expires_at", "user_agent", "current"}
    assert all(set(session) == fields for session in sessions)
    # The registration's token names its own session (sid): the list marks it current.
    assert [s["current"] for s in sessions].count(True) == 1
    ended = client.call("DELETE", f"/v1/sessions/{sessions[0]['id']}", token=token)
    assert ended.status == 204, ended.body
    remaining = client.call("GET", "/v1/sessions", token=token).json()["sessions"]
    assert [s["id"] for s in remaining] == [sessions[1]["id"]]
    again = client.call("DELETE", f"/v1/sessions/{sessions[0]['id']}", token=token)
    _problem(again, 404, "not_found")
    # Exactly one of the two refresh tokens belonged to the ended session.
    statuses = sorted(
        client.call("POST", "/v1/token/refresh", {"refresh_token": t["refresh_token"]}).status
        for t in (registered, login)
    )
    assert statuses == [200, 400]  # invalid_grant


def test_email_verification_routes_answer_in_the_contract_shape(client: Client) -> None:
    unknown = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    resend = client.call("POST", "/v1/email/verify/resend", {"email": unknown})
    assert resend.status == 202 and resend.json()["status"] == "accepted"
    _problem(client.call("POST", "/v1/email/verify", {"email": unknown}), 400, "invalid_request")
    _problem(
        client.call("POST", "/v1/email/verify", {"email": unknown, "code": "123456"}),
        400,
        "code_expired",
    )


def test_password_routes_answer_in_the_contract_shape(client: Client, accounts: Accounts) -> None:
    unknown = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    forgot = client.call("POST", "/v1/password/forgot", {"email": unknown})
    assert forgot.status == 202 and forgot.json()["status"] == "accepted"
    _problem(
        client.call(
            "POST",
            "/v1/password/reset",
            {"email": unknown, "code": "123456", "new_password": PASSWORD + " but new"},
        ),
        400,
        "code_expired",
    )
    _, registered = accounts.register()
    wrong = client.call(
        "POST",
        "/v1/password",
        {"current_password": "not the smoke passphrase", "new_password": PASSWORD + " but new"},
        token=registered["access_token"],
    )
    _problem(wrong, 401, "invalid_credentials")
    _problem(
        client.call("POST", "/v1/password", {"current_password": PASSWORD, "new_password": "x"}),
        401,
        "invalid_token",
    )

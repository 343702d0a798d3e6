"""Sessions end to end over HTTP: refresh rotation and reuse, logout and the denylist, the
authorizer (and its cache), roles and the admin route, account deletion, key rotation."""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from localcloud.cloud import LocalCloud
from stepauth.cli import main as stepauth
from tests.test_api import PASSWORD, Api, new_email


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def refresh(api: Api, token: str):
    return api.post_json("/v1/token/refresh", {"refresh_token": token})


def me(api: Api, access_token: str):
    return api.call("GET", "/v1/me", headers=bearer(access_token))


def logout(api: Api, access_token: str, body: dict | None = None):
    return api.call("POST", "/v1/logout", json.dumps(body or {}), bearer(access_token))


def signed_up(api: Api) -> tuple[str, dict]:
    email = new_email()
    answer = api.register(email, name="Grace")
    assert answer.status == 201, answer.body
    return email, answer.json()


def cli(local_cloud: LocalCloud, *args: str) -> int:
    return stepauth([*args[:2], "--endpoint-url", local_cloud.settings.aws_endpoint, *args[2:]])


# -- refresh ----------------------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_token_revokes_the_family(api: Api) -> None:
    _, session = signed_up(api)
    first = session["refresh_token"]
    rotated = refresh(api, first)
    assert rotated.status == 200, rotated.body
    second = rotated.json()
    assert second["refresh_token"] != first
    assert second["user"] == session["user"]
    assert me(api, second["access_token"]).status == 200

    # Presented again at once (a lost response): the family's current token again.
    replayed = refresh(api, first)
    assert replayed.status == 200, replayed.body
    assert replayed.json()["refresh_token"] == second["refresh_token"]
    third = refresh(api, second["refresh_token"]).json()

    reused = refresh(api, first)  # an ancestor: its successor is spent too
    assert reused.status == 400
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid, expired or revoked.",
    }
    # The reuse revoked the family: the newest token of the family is refused too.
    assert refresh(api, third["refresh_token"]).status == 400


def test_unknown_and_malformed_refresh_tokens(api: Api) -> None:
    assert refresh(api, "A" * 43).json()["error"] == "invalid_grant"
    bad = api.post_json("/v1/token/refresh", {"refresh_token": 12})
    assert bad.status == 400 and bad.json()["error"] == "invalid_request"
    assert api.post_json("/v1/token/refresh", {}).status == 400


def test_sessions_survive_an_email_change_and_follow_the_new_address(
    api: Api, local_cloud: LocalCloud
) -> None:
    """An email change ends no session (only a password change or reset does): every other
    session of the account keeps refreshing, and its new tokens describe the new address."""
    from tests.test_fault_matrix_lifecycle_api import Mailbox

    old, session = signed_up(api)
    other = api.login(old).json()  # a second tab or device
    new = new_email()
    asked = json.dumps({"new_email": new, "password": PASSWORD})
    assert api.call("POST", "/v1/me/email", asked, bearer(session["access_token"])).status == 202
    code = json.dumps({"code": Mailbox(local_cloud).code(new)})
    confirmed = api.call("POST", "/v1/me/email/verify", code, bearer(session["access_token"]))
    assert confirmed.status == 200, confirmed.body

    for tab in (other, session):
        refreshed = refresh(api, tab["refresh_token"])
        assert refreshed.status == 200, refreshed.body
        pair = refreshed.json()
        assert pair["user"] == {**session["user"], "email": new}
        claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
        old_claims = jwt.decode(tab["access_token"], options={"verify_signature": False})
        assert claims["sid"] == old_claims["sid"]  # the same session
        assert claims["email_verified"] is True  # the new address was proven by its code
        assert me(api, pair["access_token"]).json()["email"] == new
        again = refresh(api, pair["refresh_token"])  # and on: the family names the new email
        assert again.status == 200, again.body
        assert again.json()["user"]["email"] == new
    assert api.login(old).status == 401


# -- logout -----------------------------------------------------------------------------------


def test_logout_refuses_the_access_token_and_its_refresh_token(api: Api) -> None:
    _, session = signed_up(api)
    assert me(api, session["access_token"]).status == 200
    answer = logout(api, session["access_token"], {"refresh_token": session["refresh_token"]})
    assert answer.status == 204 and answer.body == b""
    refused = me(api, session["access_token"])
    assert refused.status == 401 and refused.json()["error"] == "invalid_token"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refresh(api, session["refresh_token"]).status == 400


def test_logout_all_ends_every_session_of_the_user(api: Api) -> None:
    email, first = signed_up(api)
    second = api.login(email).json()
    third = api.login(email).json()
    assert logout(api, second["access_token"], {"all": True}).status == 204
    for session in (first, second, third):
        assert refresh(api, session["refresh_token"]).status == 400
    # Other users are untouched.
    _, other = signed_up(api)
    assert refresh(api, other["refresh_token"]).status == 200


def test_logout_with_another_users_refresh_token_revokes_nothing(api: Api) -> None:
    _, mine = signed_up(api)
    _, theirs = signed_up(api)
    assert (
        logout(api, mine["access_token"], {"refresh_token": theirs["refresh_token"]}).status == 204
    )
    assert refresh(api, theirs["refresh_token"]).status == 200


def test_logout_needs_a_bearer_token_and_a_valid_body(api: Api) -> None:
    unauthenticated = api.post_json("/v1/logout", {})
    assert unauthenticated.status == 401 and unauthenticated.json()["error"] == "invalid_token"
    _, session = signed_up(api)
    bad = logout(api, session["access_token"], {"all": "yes"})
    assert bad.status == 400 and bad.json()["error"] == "invalid_request"


# -- /v1/me and the authorizer ----------------------------------------------------------------


def test_me_returns_the_profile(api: Api) -> None:
    email, session = signed_up(api)
    answer = me(api, session["access_token"])
    assert answer.status == 200, answer.body
    assert answer.json() == {
        "id": session["user"]["id"],
        "email": email,
        "name": "Grace",
        "roles": ["user"],
        "created_at": session["user"]["created_at"],
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged(header: dict, claims: dict, signature: bytes = b"x" * 64) -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


def test_bad_tokens_are_401_never_500(api: Api) -> None:
    _, session = signed_up(api)
    token = session["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    head, payload, signature = token.split(".")
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    candidates = {
        "alg none": _forged({**header, "alg": "none"}, claims, b""),
        "HS256": jwt.encode(
            claims,
            "a-shared-secret-of-some-length!!",
            algorithm="HS256",
            headers={"kid": header["kid"], "typ": "at+jwt"},
        ),
        "other key, known kid": jwt.encode(claims, stranger, algorithm="ES256", headers=header),
        "unknown kid": jwt.encode(
            claims, stranger, algorithm="ES256", headers={**header, "kid": "nope"}
        ),
        "tampered": f"{head}.{_b64(json.dumps({**claims, 'roles': ['admin']}).encode())}."
        f"{signature}",
        "expired (forged)": _forged(header, {**claims, "exp": now - 60}),
        "truncated": token[: len(token) // 2],
        "not base64": "%%%.$$$.***",
        "big header": _forged({**header, "pad": "x" * 4000}, claims),
        "empty": "",
    }
    for name, candidate in candidates.items():
        answer = me(api, candidate)
        assert answer.status == 401, (name, answer.status, answer.body)
        assert answer.json()["error"] == "invalid_token", name
    assert api.call("GET", "/v1/me").status == 401
    assert api.call("GET", "/v1/me", headers={"Authorization": f"Basic {token}"}).status == 401
    # Over API Gateway's 10 KB of headers, the front door answers before any authorizer.
    huge = me(api, _forged({**header, "pad": "x" * 20000}, claims))
    assert huge.status == 431 and huge.json()["error"] == "invalid_request"


def test_a_user_token_on_the_admin_route_is_403(api: Api) -> None:
    _, session = signed_up(api)
    answer = api.call(
        "POST",
        f"/v1/admin/users/{session['user']['id']}/disable",
        "{}",
        bearer(session["access_token"]),
    )
    assert answer.status == 403
    assert answer.json()["error"] == "insufficient_scope"


def test_the_authorizer_cache_bounds_revocation(api: Api, local_cloud: LocalCloud) -> None:
    """With a cache TTL, a revoked token passes until its cached answer expires (as on AWS)."""
    gateway = local_cloud.gateway
    routes, clock = gateway.routes, gateway._clock
    now = [time.time()]
    gateway._clock = lambda: now[0]
    gateway.routes = [
        dataclasses.replace(r, authorizer=dataclasses.replace(r.authorizer, ttl_seconds=300))
        if r.authorizer
        else r
        for r in routes
    ]
    try:
        _, session = signed_up(api)
        assert me(api, session["access_token"]).status == 200  # cached now
        assert logout(api, session["access_token"]).status == 204
        assert me(api, session["access_token"]).status == 200  # the cached Allow still holds
        now[0] += 301
        assert me(api, session["access_token"]).status == 401
    finally:
        gateway.routes, gateway._clock = routes, clock
        gateway.authorizer_cache.entries.clear()


# -- roles, admin, deletion -------------------------------------------------------------------


def test_an_admin_disables_a_user(api: Api, local_cloud: LocalCloud) -> None:
    admin_email, _ = signed_up(api)
    assert cli(local_cloud, "users", "grant-role", admin_email, "admin") == 0
    admin = api.login(admin_email).json()
    assert jwt.decode(admin["access_token"], options={"verify_signature": False})["roles"] == [
        "user",
        "admin",
    ]

    victim_email, victim = signed_up(api)
    answer = api.call(
        "POST",
        f"/v1/admin/users/{victim['user']['id']}/disable",
        "{}",
        bearer(admin["access_token"]),
    )
    assert answer.status == 200, answer.body
    assert answer.json()["user"] == {
        "id": victim["user"]["id"],
        "email": victim_email,
        "status": "disabled",
    }
    assert api.login(victim_email).status == 401
    assert refresh(api, victim["refresh_token"]).status == 400
    # The authorizer refuses the victim's access token at once (its "tokens valid after"
    # marker; the local authorizer cache TTL is 0), on every protected route.
    assert me(api, victim["access_token"]).status == 401
    assert logout(api, victim["access_token"]).status == 401
    assert api.call("GET", "/v1/sessions", headers=bearer(victim["access_token"])).status == 401

    unknown = api.call(
        "POST", "/v1/admin/users/no-such-user/disable", "{}", bearer(admin["access_token"])
    )
    assert unknown.status == 404 and unknown.json()["error"] == "not_found"


def test_grant_role_reports_unknown_users_in_one_line(local_cloud: LocalCloud, capsys) -> None:
    assert cli(local_cloud, "users", "grant-role", new_email(), "admin") == 3  # not found
    err = capsys.readouterr().err
    assert err.startswith("stepauth: ") and "Traceback" not in err


def test_a_user_deletes_their_account(api: Api) -> None:
    email, session = signed_up(api)
    other_device = api.login(email).json()["access_token"]
    answer = api.call("DELETE", "/v1/me", headers=bearer(session["access_token"]))
    assert answer.status == 204, answer.body
    assert me(api, session["access_token"]).status == 401
    # Every other access token of the account ends too, not only the one that deleted it.
    assert logout(api, other_device).status == 401
    assert refresh(api, session["refresh_token"]).status == 400
    assert api.login(email).status == 401
    assert api.register(email).status == 201  # the email is free again


# -- signing keys -----------------------------------------------------------------------------


def test_key_rotation_keeps_old_tokens_valid(api: Api, local_cloud: LocalCloud) -> None:
    from authorizer import handler as authorizer_handler
    from steps.core.signing_keys import clear_signing_keys_cache

    email, before = signed_up(api)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    assert cli(local_cloud, "keys", "rotate") == 0
    # The issuer and the authorizer cache keys for up to 300 s; end that wait here.
    clear_signing_keys_cache()
    authorizer_handler._keys.clear()

    after = api.login(email).json()
    new_kid = jwt.get_unverified_header(after["access_token"])["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in api.call("GET", "/.well-known/jwks.json").json()["keys"]]
    assert kids[0] == new_kid and old_kid in kids
    assert me(api, before["access_token"]).status == 200
    assert me(api, after["access_token"]).status == 200

    secret = (
        boto3.Session(region_name=local_cloud.settings.region)
        .client("secretsmanager")
        .get_secret_value(SecretId=local_cloud.stack.outputs["SigningKeysSecretArn"])[
            "SecretString"
        ]
    )
    assert {k["kid"] for k in json.loads(secret)["keys"]} == {old_kid, new_kid}


def test_smoke_suite_passes_against_the_local_server(local_cloud: LocalCloud) -> None:
    """`make test-api` against the running local server."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "smoke",
            "-q",
            "-p",
            "no:cacheprovider",
            "--base-url",
            local_cloud.settings.gateway_url,
            # The authorizer cache TTL is read from the stack's output, as on AWS.
            "--stack-name",
            local_cloud.settings.stack_name,
            "--aws-endpoint-url",
            local_cloud.settings.aws_endpoint,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    # Throw-away users only, and they are gone afterwards.
    items = (
        boto3.Session(region_name=local_cloud.settings.region)
        .client("dynamodb")
        .scan(TableName=local_cloud.stack.outputs["TableName"])["Items"]
    )
    assert not [i for i in items if i["pk"]["S"].startswith("USER#smoke-")]

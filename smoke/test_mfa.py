"""Multi-factor sign-in on a deployment, checked from the outside: enrol, confirm, sign in with
a recovery code (and a wrong code first), replay refused, turn it off again. Codes are computed
here (RFC 6238, SHA-1, 6 digits), not by a library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import jwt

from smoke.conftest import PASSWORD, Accounts, Client
from smoke.test_deployment import _problem, _token_response


def _totp(secret: str, step: int) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def test_mfa_enrol_sign_in_and_turn_off(client: Client, accounts: Accounts) -> None:
    email, session = accounts.register()
    token = session["access_token"]
    started = client.call("POST", "/v1/mfa/totp", {}, token=token)
    assert started.status == 200, started.body
    _token_response(started)
    enrolment = started.json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    assert enrolment["qr_svg"].lstrip().startswith("<svg")
    secret = enrolment["secret"]
    step = int(time.time()) // 30
    confirmed = client.call(
        "POST", "/v1/mfa/totp/confirm", {"code": _totp(secret, step)}, token=token
    )
    assert confirmed.status == 200, confirmed.body
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10

    login = client.call("POST", "/v1/login", {"email": email, "password": PASSWORD})
    assert login.status == 200 and login.json()["mfa_required"] is True
    assert "access_token" not in login.json()
    challenge = login.json()["mfa_token"]
    _problem(
        client.call("POST", "/v1/login/mfa", {"mfa_token": challenge, "code": _totp(secret, step)}),
        401,
        "invalid_code",  # the confirming code: never accepted twice
    )
    signed_in = client.call(
        "POST", "/v1/login/mfa", {"mfa_token": challenge, "recovery_code": codes[0]}
    )
    assert signed_in.status == 200, signed_in.body
    _token_response(signed_in)
    claims = jwt.decode(signed_in.json()["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "rcode"]
    _problem(
        client.call("POST", "/v1/login/mfa", {"mfa_token": challenge, "recovery_code": codes[0]}),
        401,
        "invalid_mfa_token",
    )
    _problem(
        client.call("DELETE", "/v1/mfa/totp", {"code": "000000"}, token=token), 401, "invalid_code"
    )
    off = client.call("DELETE", "/v1/mfa/totp", {"password": PASSWORD}, token=token)
    assert off.status == 204, off.body
    after = client.call("POST", "/v1/login", {"email": email, "password": PASSWORD})
    assert after.status == 200 and "access_token" in after.json()

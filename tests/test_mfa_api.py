"""Multi-factor sign-in end to end over HTTP (the shared local stack): enrol with TOTP, confirm,
sign in with a code or a recovery code, replay, the lockout, step-up to turn it off, new
recovery codes, the operator's reset; the secret at rest is KMS ciphertext; and no secret, code,
recovery code or mfa_token reaches a history, a log line, an event or an audit record.

Codes are computed here with an independent RFC 6238 implementation, not pyotp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from tests.test_api import PASSWORD, Answer, Api, new_email, table_items, verify_with_jwks

#: Every secret the flows of this module saw, for the scan at the end.
SEEN: dict[str, str] = {}


def rfc6238(secret: str, step: int) -> str:
    """RFC 6238 / RFC 4226 with SHA-1 and 6 digits: the code of one 30 s time step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


@dataclass
class Account:
    email: str
    user_id: str
    access_token: str
    secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)
    last_step: int = -1

    def next_code(self) -> str:
        """A code the server has not accepted yet: the current step's, or the next one's (±1
        step is accepted) when the current one was used; never an older step's."""
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        code = rfc6238(self.secret, step)
        SEEN[f"code {step} {self.email}"] = code
        return code


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


@pytest.fixture(scope="module")
def aws(local_cloud: LocalCloud) -> boto3.Session:
    return boto3.Session(region_name=local_cloud.settings.region)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def call(api: Api, method: str, path: str, token: str, body: Any = None) -> Answer:
    return api.call(method, path, None if body is None else json.dumps(body), bearer(token))


def registered(api: Api) -> Account:
    email = new_email()
    answer = api.register(email)
    assert answer.status == 201, answer.body
    body = answer.json()
    return Account(email, body["user"]["id"], body["access_token"])


def enrolled(api: Api) -> Account:
    account = registered(api)
    started = call(api, "POST", "/v1/mfa/totp", account.access_token)
    assert started.status == 200, started.body
    account.secret = started.json()["secret"]
    SEEN[f"secret {account.email}"] = account.secret
    confirmed = call(
        api, "POST", "/v1/mfa/totp/confirm", account.access_token, {"code": account.next_code()}
    )
    assert confirmed.status == 200, confirmed.body
    account.recovery_codes = confirmed.json()["recovery_codes"]
    for n, code in enumerate(account.recovery_codes):
        SEEN[f"recovery code {n} {account.email}"] = code
        SEEN[f"recovery code {n} {account.email} (typed)"] = code.replace("-", "")
    return account


def challenged(api: Api, account: Account, password: str = PASSWORD) -> str:
    answer = api.login(account.email, password)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["mfa_required"] is True
    SEEN[f"mfa_token {len(SEEN)}"] = body["mfa_token"]
    return str(body["mfa_token"])


def answer_challenge(api: Api, token: str, **answer: str) -> Answer:
    return api.post_json("/v1/login/mfa", {"mfa_token": token, **answer})


def lockout_failures(aws: boto3.Session, cloud: LocalCloud, email: str) -> int:
    item = aws.client("dynamodb").get_item(
        TableName=cloud.stack.outputs["TableName"],
        Key={"pk": {"S": f"LOCKOUT#{email}"}, "sk": {"S": "FAILURES"}},
        ConsistentRead=True,
    )
    return int(item.get("Item", {}).get("failures", {}).get("N", "0"))


def audit_outcomes(aws: boto3.Session, cloud: LocalCloud, user_id: str) -> list[tuple[str, str]]:
    items = aws.client("dynamodb").query(
        TableName=cloud.stack.outputs["TableName"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"AUDIT#USER#{user_id}"}},
    )["Items"]
    return [(i["action"]["S"], i["outcome"]["S"]) for i in items]


# -- enrolment --------------------------------------------------------------------------------


def test_enrol_confirm_then_sign_in_with_a_code_and_a_recovery_code(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    account = registered(api)
    started = call(api, "POST", "/v1/mfa/totp", account.access_token)
    assert started.status == 200, started.body
    enrolment = started.json()
    account.secret = enrolment["secret"]
    SEEN[f"secret {account.email}"] = account.secret
    assert enrolment["status"] == "pending"
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/stepauth:")
    assert f"secret={account.secret}" in enrolment["otpauth_uri"]
    assert "issuer=stepauth" in enrolment["otpauth_uri"]
    assert enrolment["qr_svg"].startswith("<svg")
    assert started.headers["cache-control"] == "no-store"
    # Pending: the sign-in stays password-only until the enrolment is confirmed.
    assert "access_token" in api.login(account.email).json()

    wrong = call(api, "POST", "/v1/mfa/totp/confirm", account.access_token, {"code": "000000"})
    assert (wrong.status, wrong.json()["error"]) == (400, "invalid_code")
    confirmed = call(
        api, "POST", "/v1/mfa/totp/confirm", account.access_token, {"code": account.next_code()}
    )
    assert confirmed.status == 200, confirmed.body
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    account.recovery_codes = codes
    for n, code in enumerate(codes):
        SEEN[f"recovery code {n} {account.email}"] = code
    again = call(api, "POST", "/v1/mfa/totp", account.access_token)
    assert (again.status, again.json()["error"]) == (409, "mfa_already_enabled")

    logged_out = call(api, "POST", "/v1/logout", account.access_token, {"all": True})
    assert logged_out.status == 204

    login = api.login(account.email)
    assert login.status == 200, login.body
    body = login.json()
    assert body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_code"]
    assert body["expires_in"] == 300
    assert "access_token" not in body and "refresh_token" not in body
    token = body["mfa_token"]
    SEEN["mfa_token 1"] = token

    wrong_code = answer_challenge(api, token, code=rfc6238(account.secret, 1))
    assert (wrong_code.status, wrong_code.json()["error"]) == (401, "invalid_code")
    assert "www-authenticate" in wrong_code.headers
    code = account.next_code()
    signed_in = answer_challenge(api, token, code=code)
    assert signed_in.status == 200, signed_in.body
    claims = verify_with_jwks(api, signed_in.json()["access_token"])
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == "aal2"
    assert claims["auth_time"] <= claims["iat"]
    assert signed_in.json()["refresh_token"]
    me = api.call("GET", "/v1/me", headers=bearer(signed_in.json()["access_token"]))
    assert me.status == 200

    # The challenge is spent; a new one does not take the same code again (replay).
    spent = answer_challenge(api, token, code=account.next_code())
    assert (spent.status, spent.json()["error"]) == (401, "invalid_mfa_token")
    replay = answer_challenge(api, challenged(api, account), code=code)
    assert (replay.status, replay.json()["error"]) == (401, "invalid_code")

    # A recovery code works once.
    recovery = codes[3]
    with_recovery = answer_challenge(api, challenged(api, account), recovery_code=recovery)
    assert with_recovery.status == 200, with_recovery.body
    assert verify_with_jwks(api, with_recovery.json()["access_token"])["amr"] == ["pwd", "rcode"]
    reused = answer_challenge(api, challenged(api, account), recovery_code=recovery)
    assert (reused.status, reused.json()["error"]) == (401, "invalid_code")

    outcomes = audit_outcomes(aws, local_cloud, account.user_id)
    for expected in (
        ("mfa_enrol", "started"),
        ("mfa_confirm", "failure"),
        ("mfa_confirm", "success"),
        ("login", "mfa_required"),
        ("login_mfa", "failure"),
        ("login_mfa", "success"),
    ):
        assert expected in outcomes


def test_a_challenge_is_spent_by_its_third_wrong_answer(api: Api) -> None:
    account = enrolled(api)
    token = challenged(api, account)
    for _ in range(3):
        assert answer_challenge(api, token, code="123456").status == 401
    spent = answer_challenge(api, token, code=account.next_code())
    assert (spent.status, spent.json()["error"]) == (401, "invalid_mfa_token")


def test_bad_mfa_requests_are_400(api: Api) -> None:
    account = registered(api)
    for body in (
        {"mfa_token": "x" * 43},
        {"mfa_token": "x" * 43, "code": "12345"},
        {"mfa_token": "x" * 43, "code": "123456", "recovery_code": "abcd-efgh-jkmn"},
        {"code": "123456"},
        {"mfa_token": "no spaces allowed here at all", "code": "123456"},
    ):
        answer = api.post_json("/v1/login/mfa", body)
        assert (answer.status, answer.json()["error"]) == (400, "invalid_request"), body
    unknown = api.post_json("/v1/login/mfa", {"mfa_token": "x" * 43, "code": "123456"})
    assert (unknown.status, unknown.json()["error"]) == (401, "invalid_mfa_token")
    no_enrolment = call(api, "POST", "/v1/mfa/totp/confirm", account.access_token, {"code": "1"})
    assert no_enrolment.status == 400
    nothing_to_confirm = call(
        api, "POST", "/v1/mfa/totp/confirm", account.access_token, {"code": "123456"}
    )
    assert (nothing_to_confirm.status, nothing_to_confirm.json()["error"]) == (
        409,
        "mfa_enrolment_not_started",
    )
    off = call(api, "DELETE", "/v1/mfa/totp", account.access_token, {"password": PASSWORD})
    assert (off.status, off.json()["error"]) == (409, "mfa_not_enabled")
    unauthenticated = api.post_json("/v1/mfa/totp", {})
    assert unauthenticated.status == 401


def test_mfa_failures_count_toward_the_login_lockout(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    account = enrolled(api)
    token = challenged(api, account)
    assert answer_challenge(api, token, code="123456").status == 401
    assert lockout_failures(aws, local_cloud, account.email) == 1
    # A right password does not clear the count of an account with MFA.
    token = challenged(api, account)
    assert lockout_failures(aws, local_cloud, account.email) == 1
    # Thirteen earlier failures whose lock has run out (256 s ago): the next wrong code locks
    # the account for 512 s, and the right code and the password are refused with it.
    now = int(time.time())
    aws.client("dynamodb").put_item(
        TableName=local_cloud.stack.outputs["TableName"],
        Item={
            "pk": {"S": f"LOCKOUT#{account.email}"},
            "sk": {"S": "FAILURES"},
            "failures": {"N": "13"},
            "last_failure_at": {"N": str(now - 300)},
            "expires_at": {"N": str(now + 3600)},
        },
    )
    assert answer_challenge(api, token, code="123456").status == 401
    locked = answer_challenge(api, token, code=account.next_code())
    assert (locked.status, locked.json()["error"]) == (429, "account_locked")
    assert 500 <= int(locked.headers["retry-after"]) <= 512
    assert api.login(account.email).status == 429
    assert ("login_mfa", "locked") in audit_outcomes(aws, local_cloud, account.user_id)


def test_turning_mfa_off_needs_a_code_and_a_code_clears_the_count(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    account = enrolled(api)
    missing = call(api, "DELETE", "/v1/mfa/totp", account.access_token, {})
    assert (missing.status, missing.json()["error"]) == (400, "invalid_request")
    wrong = call(api, "DELETE", "/v1/mfa/totp", account.access_token, {"code": "123456"})
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_code")
    assert lockout_failures(aws, local_cloud, account.email) == 1
    off = call(api, "DELETE", "/v1/mfa/totp", account.access_token, {"code": account.next_code()})
    assert off.status == 204, off.body
    assert lockout_failures(aws, local_cloud, account.email) == 0
    assert "access_token" in api.login(account.email).json()
    assert ("mfa_disable", "success") in audit_outcomes(aws, local_cloud, account.user_id)


def test_turning_mfa_off_with_the_password(api: Api, aws: boto3.Session, local_cloud) -> None:
    account = enrolled(api)
    wrong = call(
        api, "DELETE", "/v1/mfa/totp", account.access_token, {"password": "not the password!"}
    )
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_credentials")
    off = call(api, "DELETE", "/v1/mfa/totp", account.access_token, {"password": PASSWORD})
    assert off.status == 204, off.body
    assert "access_token" in api.login(account.email).json()


def test_new_recovery_codes_need_a_code_and_replace_the_old(api: Api) -> None:
    account = enrolled(api)
    refused = call(
        api, "POST", "/v1/mfa/recovery-codes", account.access_token, {"recovery_code": "x"}
    )
    assert refused.status == 400
    wrong = call(api, "POST", "/v1/mfa/recovery-codes", account.access_token, {"code": "123456"})
    assert wrong.status == 401
    replaced = call(
        api, "POST", "/v1/mfa/recovery-codes", account.access_token, {"code": account.next_code()}
    )
    assert replaced.status == 200, replaced.body
    fresh = replaced.json()["recovery_codes"]
    for n, code in enumerate(fresh):
        SEEN[f"new recovery code {n} {account.email}"] = code
    old = answer_challenge(api, challenged(api, account), recovery_code=account.recovery_codes[0])
    assert old.status == 401
    new = answer_challenge(api, challenged(api, account), recovery_code=fresh[0])
    assert new.status == 200, new.body


# -- step-up -----------------------------------------------------------------------------------


def test_credential_changes_need_a_recent_second_factor(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    account = enrolled(api)  # its token came from a password sign-in (registration)
    change = {"current_password": PASSWORD, "new_password": PASSWORD + " and more"}
    needed = call(api, "POST", "/v1/password", account.access_token, change)
    assert (needed.status, needed.json()["error"]) == (403, "mfa_required")
    email_change = {"new_email": new_email(), "password": PASSWORD}
    needed = call(api, "POST", "/v1/me/email", account.access_token, email_change)
    assert (needed.status, needed.json()["error"]) == (403, "mfa_required")
    needed = call(api, "DELETE", "/v1/me", account.access_token)
    assert (needed.status, needed.json()["error"]) == (403, "mfa_required")
    wrong = call(api, "POST", "/v1/password", account.access_token, {**change, "code": "123456"})
    assert (wrong.status, wrong.json()["error"]) == (401, "invalid_code")
    assert ("change_password", "second_factor_failure") in audit_outcomes(
        aws, local_cloud, account.user_id
    )
    before = int(time.time())
    changed = call(
        api, "POST", "/v1/password", account.access_token, {**change, "code": account.next_code()}
    )
    assert changed.status == 200, changed.body
    assert lockout_failures(aws, local_cloud, account.email) == 0  # the right code cleared it
    # The new session records this request's password and code: the next change needs none.
    claims = verify_with_jwks(api, changed.json()["access_token"])
    assert (claims["amr"], claims["acr"]) == (["pwd", "otp"], "aal2")
    assert before <= claims["auth_time"] <= int(time.time())
    # A token from a sign-in with a second factor a moment ago needs no code.
    signed_in = answer_challenge(
        api,
        challenged(api, account, PASSWORD + " and more"),
        recovery_code=account.recovery_codes[0],
    )
    assert signed_in.status == 200, signed_in.body
    deleted = call(api, "DELETE", "/v1/me", signed_in.json()["access_token"])
    assert deleted.status == 204, deleted.body


def test_a_password_change_keeps_the_sign_ins_second_factor_in_the_new_session(
    api: Api,
) -> None:
    """Every session is revoked by a password change and the caller continues in a new one: it
    keeps the MFA sign-in's amr, acr and auth_time, so the next credential change within the
    step-up's five minutes needs no code either."""
    account = enrolled(api)
    signed_in = answer_challenge(api, challenged(api, account), code=account.next_code())
    assert signed_in.status == 200, signed_in.body
    first = verify_with_jwks(api, signed_in.json()["access_token"])
    change = {"current_password": PASSWORD, "new_password": PASSWORD + " and more"}
    changed = call(api, "POST", "/v1/password", signed_in.json()["access_token"], change)
    assert changed.status == 200, changed.body  # a recent sign-in with a code: no code asked
    SEEN[f"changed refresh token {account.email}"] = changed.json()["refresh_token"]
    then = verify_with_jwks(api, changed.json()["access_token"])
    assert {k: then[k] for k in ("amr", "acr", "auth_time")} == {
        k: first[k] for k in ("amr", "acr", "auth_time")
    }
    assert then["sid"] != first["sid"]  # a new session: the old one was revoked
    refreshed = api.post_json(
        "/v1/token/refresh", {"refresh_token": changed.json()["refresh_token"]}
    )
    assert refreshed.status == 200, refreshed.body
    SEEN[f"changed refreshed token {account.email}"] = refreshed.json()["refresh_token"]
    assert verify_with_jwks(api, refreshed.json()["access_token"])["amr"] == ["pwd", "otp"]
    deleted = call(api, "DELETE", "/v1/me", refreshed.json()["access_token"])
    assert deleted.status == 204, deleted.body


def test_a_refreshed_token_keeps_the_sign_ins_second_factor_for_the_step_up(api: Api) -> None:
    """The session records the MFA sign-in: a refresh issues an access token with the same amr,
    acr and auth_time (the sign-in's time), so a credential change right after a refresh needs
    no code (the 5-minute limit itself is tested with an injected clock in tests/steps)."""
    account = enrolled(api)
    signed_in = answer_challenge(api, challenged(api, account), code=account.next_code())
    assert signed_in.status == 200, signed_in.body
    SEEN[f"refresh token {account.email}"] = signed_in.json()["refresh_token"]
    refreshed = api.post_json(
        "/v1/token/refresh", {"refresh_token": signed_in.json()["refresh_token"]}
    )
    assert refreshed.status == 200, refreshed.body
    SEEN[f"refreshed token {account.email}"] = refreshed.json()["refresh_token"]
    first = verify_with_jwks(api, signed_in.json()["access_token"])
    then = verify_with_jwks(api, refreshed.json()["access_token"])
    assert first["amr"] == ["pwd", "otp"] and first["acr"] == "aal2"
    assert {k: then[k] for k in ("amr", "acr", "auth_time", "sid")} == {
        k: first[k] for k in ("amr", "acr", "auth_time", "sid")
    }
    assert then["jti"] != first["jti"]
    deleted = call(api, "DELETE", "/v1/me", refreshed.json()["access_token"])
    assert deleted.status == 204, deleted.body


def test_accounts_without_mfa_change_credentials_as_before(api: Api) -> None:
    account = registered(api)
    deleted = call(api, "DELETE", "/v1/me", account.access_token)
    assert deleted.status == 204, deleted.body


# -- at rest and in the records ---------------------------------------------------------------


def test_the_stored_secret_is_kms_ciphertext_bound_to_the_account(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    account = enrolled(api)
    (item,) = [i for i in table_items(aws, local_cloud) if i["pk"] == f"MFA#{account.user_id}"]
    assert item["status"] == "active"
    blob = base64.b64decode(item["secret"])
    assert account.secret not in item["secret"]
    assert account.secret.encode() not in blob
    assert not any(code in json.dumps(item, default=str) for code in account.recovery_codes)
    kms = aws.client("kms")
    plain = kms.decrypt(
        CiphertextBlob=blob,
        EncryptionContext={
            "stepauth:purpose": "totp-secret",
            "stepauth:user_id": account.user_id,
        },
    )["Plaintext"]
    assert plain.decode() == account.secret
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(
            CiphertextBlob=blob,
            EncryptionContext={"stepauth:purpose": "totp-secret", "stepauth:user_id": "other"},
        )


def test_operators_see_and_reset_mfa(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    from stepauth.cli import main as stepauth

    def cli(*args: str) -> int:
        return stepauth([*args[:2], "--endpoint-url", local_cloud.settings.aws_endpoint, *args[2:]])

    account = enrolled(api)
    capsys.readouterr()
    assert cli("users", "show", account.email, "--output", "json") == 0
    assert json.loads(capsys.readouterr().out)["mfa"] == "on"
    assert cli("users", "reset-mfa", account.email) == 0
    assert "multi-factor sign-in removed" in capsys.readouterr().out
    assert cli("users", "show", account.email) == 0
    assert "multi-factor" in (shown := capsys.readouterr().out) and "off" in shown
    assert "access_token" in api.login(account.email).json()
    assert ("mfa_reset", "success") in audit_outcomes(aws, local_cloud, account.user_id)
    logs = aws.client("logs")
    group = local_cloud.stack.outputs["EventLogGroup"]
    deadline = time.monotonic() + 20
    published: list[dict[str, Any]] = []
    while not published and time.monotonic() < deadline:  # delivery to the log is asynchronous
        time.sleep(0.2)
        published = [
            json.loads(e["message"])
            for e in logs.filter_log_events(logGroupName=group).get("events", [])
            if "MfaReset" in e["message"] and account.user_id in e["message"]
        ]
    (event,) = published
    assert event["detail"]["by"] == "operator"
    assert cli("users", "reset-mfa", account.email) == 0
    assert "was not on" in capsys.readouterr().out


def _role(prefix: str) -> str:
    from localcloud import iam

    policy = iam.evaluator()
    assert policy is not None, "the local cloud enforces IAM"
    (arn,) = [arn for arn, (logical_id, _) in policy.roles.items() if logical_id.startswith(prefix)]
    return arn


def test_only_the_steps_that_check_codes_may_decrypt(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    from botocore.exceptions import ClientError

    from localcloud import iam

    account = enrolled(api)
    (item,) = [i for i in table_items(aws, local_cloud) if i["pk"] == f"MFA#{account.user_id}"]
    kms = aws.client("kms")
    request = {
        # No KeyId: IAM checks the key the ciphertext names (localcloud/iam.py).
        "CiphertextBlob": base64.b64decode(item["secret"]),
        "EncryptionContext": {
            "stepauth:purpose": "totp-secret",
            "stepauth:user_id": account.user_id,
        },
    }
    for prefix in (
        "ConfirmTotpServiceRole",
        "VerifySecondFactorServiceRole",
        "VerifyMfaLoginServiceRole",
        "CheckStepUpServiceRole",
    ):
        with iam.acting_as(_role(prefix)):
            assert kms.decrypt(**request)["Plaintext"].decode() == account.secret
    for prefix in (
        "StartTotpEnrolmentServiceRole",
        "StartMfaChallengeServiceRole",
        "ValidateMfaLoginServiceRole",
        "IssueTokensServiceRole",
        "VerifyPasswordServiceRole",
    ):
        with iam.acting_as(_role(prefix)), pytest.raises(ClientError) as denied:
            kms.decrypt(**request)
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException", prefix


def test_no_mfa_secret_reaches_a_history_a_log_an_event_or_a_record(
    api: Api, aws: boto3.Session, local_cloud: LocalCloud
) -> None:
    """Runs last in this module: every secret the flows above saw is looked for everywhere."""
    if len(SEEN) < 20:  # run alone: make some traffic first
        account = enrolled(api)
        answer_challenge(api, challenged(api, account), code=account.next_code())
    assert any(k.startswith("secret") for k in SEEN) and any(
        k.startswith("mfa_token") for k in SEEN
    )
    client = aws.client("stepfunctions")
    recorded: list[str] = []
    for name, arn in local_cloud.stack.outputs.items():
        if not name.endswith("StateMachineArn"):
            continue
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
    recorded += [json.dumps(item, default=str) for item in table_items(aws, local_cloud)]
    everything = "\n".join(recorded)
    assert "MfaEnabled" in everything and "login_mfa" in everything
    leaked = [name for name, value in SEEN.items() if _found(value, everything)]
    assert leaked == []


def _found(value: str, text: str) -> bool:
    """Whether a secret is in the text; a 6-digit code only as a number of its own (inside a
    longer digit run, such as an epoch time or an id, it is a coincidence, not a leak)."""
    if value.isdigit():
        return re.search(rf"(?<!\d){value}(?!\d)", text) is not None
    return value in text


def test_every_mfa_item_the_flows_stored_fits_the_contract(aws, local_cloud) -> None:
    """Runs last in this module: the enrolments and challenges the MFA flows wrote."""
    from tests.test_contract import assert_items_fit_the_contract

    pages = (
        aws.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=local_cloud.stack.outputs["TableName"])
    )
    assert_items_fit_the_contract(
        [item for page in pages for item in page["Items"]], expected={"mfa_totp", "user"}
    )

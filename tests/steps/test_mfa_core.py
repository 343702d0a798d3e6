"""The MFA core: TOTP (RFC 6238 vectors, window, replay), recovery codes, the enrolment, the
sign-in challenge, and the KMS cipher (moto's KMS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest

from steps.core import mfa, recovery_codes, totp
from steps.core.mfa_cipher import KmsSecretCipher

NOW = 1_800_000_000.0
USER = {
    "id": "u-1",
    "email": "ada@example.com",
    "created_at": "2026-01-01T00:00:00Z",
    "email_verified": True,  # kept through the challenge: the MFA sign-in's token claims it
}


def rfc6238(secret_b32: str, at: float, digits: int = 6) -> str:
    """An independent RFC 6238 (SHA-1) implementation, not pyotp."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


class PlainCipher:
    """A reversible stand-in for KMS that still binds the ciphertext to the user."""

    def encrypt(self, plaintext: str, *, user_id: str) -> str:
        return base64.b64encode(f"{user_id}|{plaintext}".encode()[::-1]).decode()

    def decrypt(self, ciphertext: str, *, user_id: str) -> str:
        owner, _, plain = base64.b64decode(ciphertext)[::-1].decode().partition("|")
        assert owner == user_id
        return plain


# -- TOTP -------------------------------------------------------------------------------------


def test_codes_match_the_rfc_6238_test_vectors():
    # RFC 6238 Appendix B, SHA-1, 8 digits, secret "12345678901234567890"; pyotp gives 6 of them.
    secret = base64.b32encode(b"12345678901234567890").decode()
    for at, eight in ((59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")):
        assert totp.code_at_step(secret, totp.step_at(at)) == eight[-6:]
        assert rfc6238(secret, at, 8) == eight


def test_a_code_is_accepted_within_one_step_either_side():
    secret = totp.new_secret()
    for offset in (-30, 0, 30):
        code = rfc6238(secret, NOW + offset)
        assert totp.accepted_step(secret, code, now=NOW, last_step=None) == totp.step_at(
            NOW + offset
        )
    for offset in (-60, 60):
        assert (
            totp.accepted_step(secret, rfc6238(secret, NOW + offset), now=NOW, last_step=None)
            is None
        )


def test_a_code_at_or_before_the_last_accepted_step_is_refused():
    secret = totp.new_secret()
    code = rfc6238(secret, NOW)
    step = totp.accepted_step(secret, code, now=NOW, last_step=None)
    assert step is not None
    assert totp.accepted_step(secret, code, now=NOW, last_step=step) is None
    earlier = rfc6238(secret, NOW - 30)
    assert totp.accepted_step(secret, earlier, now=NOW, last_step=step) is None
    later = rfc6238(secret, NOW + 30)
    assert totp.accepted_step(secret, later, now=NOW + 30, last_step=step) == step + 1


def test_secrets_are_160_random_bits_in_base32():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert secret != totp.new_secret()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        ("123-456", "123456"),
        ("12345", None),
        ("abcdef", None),
        (123456, None),
        ("1" * 20, None),
    ],
)
def test_codes_are_normalised_as_typed(typed, expected):
    assert totp.normalise_code(typed) == expected


def test_the_otpauth_uri_names_the_issuer_and_the_account_and_the_qr_is_svg():
    secret = totp.new_secret()
    enrolment = totp.Enrolment.create(issuer="Acme Auth", account="ada@example.com", secret=secret)
    uri = urlsplit(enrolment.otpauth_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/Acme%20Auth:ada%40example.com"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret] and query["issuer"] == ["Acme Auth"]
    root = ET.fromstring(enrolment.qr_svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert secret not in repr(enrolment)


# -- recovery codes ---------------------------------------------------------------------------


def test_ten_distinct_recovery_codes_that_normalise_and_hash():
    codes = recovery_codes.new_codes()
    assert len(codes) == 10 == len(set(codes))
    for code in codes:
        assert len(code) == 14 and code.count("-") == 2
        assert recovery_codes.code_hash(code.upper().replace("-", " ")) == recovery_codes.code_hash(
            code
        )
        assert code not in recovery_codes.code_hash(code)
    assert recovery_codes.normalise("not a code") is None
    assert recovery_codes.normalise("0000-0000-0000") is None  # 0 is not in the alphabet


# -- enrolment and the second factor (moto DynamoDB) -------------------------------------------


def enrol(table, *, now=NOW) -> tuple[str, list[str]]:
    cipher = PlainCipher()
    enrolment = mfa.start_enrolment(
        table, cipher, user_id="u-1", email=USER["email"], now=now, settings=mfa.MfaSettings()
    )
    codes = mfa.confirm_enrolment(
        table, cipher, user_id="u-1", code=rfc6238(enrolment.secret, now), now=now
    )
    return enrolment.secret, codes


def test_an_enrolment_is_pending_until_confirmed_and_stores_only_ciphertext(table):
    cipher = PlainCipher()
    enrolment = mfa.start_enrolment(
        table, cipher, user_id="u-1", email=USER["email"], now=NOW, settings=mfa.MfaSettings()
    )
    assert not mfa.mfa_enabled(table, "u-1")
    item = table.get(mfa.totp_key("u-1"))
    assert enrolment.secret not in str(item)
    with pytest.raises(mfa.MfaCodeRejected):
        mfa.confirm_enrolment(table, cipher, user_id="u-1", code="000000", now=NOW)
    codes = mfa.confirm_enrolment(
        table, cipher, user_id="u-1", code=rfc6238(enrolment.secret, NOW), now=NOW
    )
    assert mfa.mfa_enabled(table, "u-1")
    stored = table.get(mfa.totp_key("u-1"))
    assert "expires_at" not in stored
    assert set(stored["recovery_codes"]["SS"]) == set(recovery_codes.hashes(codes))
    assert not any(code in str(stored) for code in codes)
    with pytest.raises(mfa.MfaAlreadyEnabled):
        mfa.start_enrolment(
            table, cipher, user_id="u-1", email=USER["email"], now=NOW, settings=mfa.MfaSettings()
        )


def test_an_expired_enrolment_cannot_be_confirmed(table):
    cipher = PlainCipher()
    enrolment = mfa.start_enrolment(
        table, cipher, user_id="u-1", email=USER["email"], now=NOW, settings=mfa.MfaSettings()
    )
    later = NOW + mfa.ENROLMENT_TTL_SECONDS
    with pytest.raises(mfa.EnrolmentNotStarted):
        mfa.confirm_enrolment(
            table, cipher, user_id="u-1", code=rfc6238(enrolment.secret, later), now=later
        )


def test_a_totp_code_is_accepted_once(table):
    secret, _ = enrol(table)
    later = NOW + 60
    answer = mfa.SecondFactorAnswer("totp", rfc6238(secret, later))
    mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=answer, now=later)
    with pytest.raises(mfa.MfaCodeRejected):
        mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=answer, now=later)


def test_the_confirming_code_cannot_be_replayed(table):
    secret, _ = enrol(table)
    answer = mfa.SecondFactorAnswer("totp", rfc6238(secret, NOW))
    with pytest.raises(mfa.MfaCodeRejected):
        mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=answer, now=NOW)


def test_a_recovery_code_works_once_and_a_new_set_replaces_the_old(table):
    _, codes = enrol(table)
    first = mfa.SecondFactorAnswer("recovery_code", recovery_codes.normalise(codes[0]))
    mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=first, now=NOW)
    with pytest.raises(mfa.MfaCodeRejected):
        mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=first, now=NOW)
    fresh = mfa.replace_recovery_codes(table, user_id="u-1")
    old = mfa.SecondFactorAnswer("recovery_code", recovery_codes.normalise(codes[1]))
    with pytest.raises(mfa.MfaCodeRejected):
        mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=old, now=NOW)
    new = mfa.SecondFactorAnswer("recovery_code", recovery_codes.normalise(fresh[0]))
    mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=new, now=NOW)


def test_without_mfa_there_is_nothing_to_verify_or_replace(table):
    answer = mfa.SecondFactorAnswer("totp", "123456")
    with pytest.raises(mfa.MfaNotEnabled):
        mfa.verify_second_factor(table, PlainCipher(), user_id="u-1", answer=answer, now=NOW)
    with pytest.raises(mfa.MfaNotEnabled):
        mfa.replace_recovery_codes(table, user_id="u-1")
    assert mfa.remove_mfa(table, user_id="u-1") is False
    enrol(table)
    assert mfa.remove_mfa(table, user_id="u-1") is True
    assert not mfa.mfa_enabled(table, "u-1")


def test_read_answer_takes_one_well_formed_factor():
    assert mfa.read_answer({"code": "123 456"}) == mfa.SecondFactorAnswer("totp", "123456")
    rcode = recovery_codes.new_codes(1)[0]
    assert mfa.read_answer({"recovery_code": rcode}).method == "recovery_code"
    assert mfa.read_answer({}) is None
    assert mfa.read_answer({"code": "123456", "recovery_code": rcode}) is None
    assert mfa.read_answer({"code": 123456}) is None
    assert "123456" not in repr(mfa.read_answer({"code": "123456"}))


# -- the challenge ----------------------------------------------------------------------------


def test_a_challenge_is_stored_as_a_hash_and_lasts_five_minutes(table):
    token, ttl = mfa.new_challenge(
        table, user=USER, context={"client_id": "stepauth"}, now=NOW, settings=mfa.MfaSettings()
    )
    assert ttl == 300 and len(token) >= 43
    hashed = mfa.challenge_token_hash(token)
    assert table.get(mfa.challenge_key(token)) is None
    challenge = mfa.load_challenge(table, hashed, now=NOW + 299)
    assert challenge.user == USER and challenge.client_id == "stepauth"
    assert challenge.auth_time == int(NOW)
    with pytest.raises(mfa.MfaChallengeInvalid):
        mfa.load_challenge(table, hashed, now=NOW + 300)
    with pytest.raises(mfa.MfaChallengeInvalid):
        mfa.load_challenge(table, mfa.challenge_token_hash("unknown"), now=NOW)


def test_a_challenge_is_spent_once_and_by_its_third_wrong_answer(table):
    token, _ = mfa.new_challenge(table, user=USER, context={}, now=NOW, settings=mfa.MfaSettings())
    hashed = mfa.challenge_token_hash(token)
    assert mfa.spend_challenge(table, hashed, now=NOW) is True
    assert mfa.spend_challenge(table, hashed, now=NOW) is False
    token, _ = mfa.new_challenge(table, user=USER, context={}, now=NOW, settings=mfa.MfaSettings())
    hashed = mfa.challenge_token_hash(token)
    mfa.count_wrong_answer(table, hashed)
    mfa.count_wrong_answer(table, hashed)
    assert mfa.load_challenge(table, hashed, now=NOW).answers == 2
    mfa.count_wrong_answer(table, hashed)
    with pytest.raises(mfa.MfaChallengeInvalid):
        mfa.load_challenge(table, hashed, now=NOW)
    assert table.get(mfa.challenge_key(hashed)) is None


# -- KMS (moto) --------------------------------------------------------------------------------


def test_the_kms_cipher_round_trips_and_binds_the_ciphertext_to_the_user(aws_mock):
    from steps.core import aws

    kms = aws.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    cipher = KmsSecretCipher(kms, key)
    secret = totp.new_secret()
    sealed = cipher.encrypt(secret, user_id="u-1")
    assert secret not in sealed and secret not in base64.b64decode(sealed).decode("latin-1")
    assert cipher.decrypt(sealed, user_id="u-1") == secret
    with pytest.raises(Exception, match="InvalidCiphertext"):
        cipher.decrypt(sealed, user_id="u-2")
    with pytest.raises(ValueError, match="MFA_KEY_ARN"):
        KmsSecretCipher(kms, "")


def test_deleting_the_account_deletes_its_enrolment(table):
    from steps.core.sessions import delete_account
    from steps.core.table import UserRecord, user_item

    table.put(user_item(UserRecord(user_id="u-1", email=USER["email"], password_hash="-")))
    enrol(table)
    delete_account(table, "u-1", now=NOW)
    assert table.get(mfa.totp_key("u-1")) is None


def test_a_recent_sign_in_with_a_second_factor_is_a_step_up():
    from steps.core.mfa_step_up import STEP_UP_MAX_AGE_SECONDS, recent_second_factor

    fresh = {"userId": "u-1", "amr": "pwd otp", "authTime": str(int(NOW) - 10)}
    assert recent_second_factor(fresh, now=NOW)
    assert recent_second_factor({**fresh, "amr": "pwd rcode"}, now=NOW)
    assert not recent_second_factor({**fresh, "amr": "pwd"}, now=NOW)
    assert not recent_second_factor({**fresh, "authTime": "0"}, now=NOW)
    assert not recent_second_factor({**fresh, "authTime": "soon"}, now=NOW)
    old = {**fresh, "authTime": str(int(NOW) - STEP_UP_MAX_AGE_SECONDS - 1)}
    assert not recent_second_factor(old, now=NOW)


def test_a_recent_sign_in_step_up_keeps_the_sign_ins_factor_and_time(table):
    from steps.core.config import Config
    from steps.core.mfa_step_up import check_step_up
    from steps.core.table import UserRecord, user_item

    table.put(user_item(UserRecord(user_id="u-1", email=USER["email"], password_hash="-")))
    enrol(table)
    signed_in = str(int(NOW) - 60)
    caller = {"userId": "u-1", "amr": "pwd rcode", "authTime": signed_in}
    event = {"request": {"body": ""}, "caller": caller}
    assert check_step_up(table, PlainCipher(), event, now=NOW, config=Config()) == {
        "locked": False,
        "step_up": "recent_sign_in",
        "authentication": {"amr": ["pwd", "rcode"], "acr": "aal2", "auth_time": int(signed_in)},
    }


def test_the_step_up_asks_only_accounts_with_mfa(table):
    from steps.core.config import Config
    from steps.core.mfa_step_up import SecondFactorRequired, check_step_up
    from steps.core.table import UserRecord, user_item

    table.put(user_item(UserRecord(user_id="u-1", email=USER["email"], password_hash="-")))
    event = {"request": {"body": ""}, "caller": {"userId": "u-1", "amr": "", "authTime": "0"}}
    cipher = PlainCipher()
    assert check_step_up(table, cipher, event, now=NOW, config=Config())["step_up"] == "not_needed"
    secret, _ = enrol(table)
    with pytest.raises(SecondFactorRequired):
        check_step_up(table, cipher, event, now=NOW, config=Config())
    body = base64.b64encode(b'{"code": "%s"}' % rfc6238(secret, NOW + 30).encode()).decode()
    with_code = {**event, "request": {"body": body}}
    assert check_step_up(table, cipher, with_code, now=NOW, config=Config()) == {
        "locked": False,
        "amr": "otp",
        "step_up": "code",
        # The new session of a password change: this request's password and code, now.
        "authentication": {"amr": ["pwd", "otp"], "acr": "aal2", "auth_time": int(NOW)},
    }
    with pytest.raises(mfa.MfaCodeRejected):  # the same code again
        check_step_up(table, cipher, with_code, now=NOW, config=Config())

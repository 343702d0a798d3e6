"""Multi-factor sign-in: the TOTP enrolment of an account, its recovery codes and the short-lived
sign-in challenge (``mfa_token``).

Items (the contract's ``mfa_totp`` and ``mfa_challenge`` entities)::

    pk MFA#<user_id>            sk TOTP       entity mfa_totp
        status "pending" | "active", secret (S: base64 of the KMS ciphertext of the base32
        secret, encryption context the user id), created_at N, enabled_at N (once active),
        last_step N (the last accepted TOTP time step: replay), recovery_codes SS (SHA-256 of
        each unused code), expires_at N (TTL, a pending enrolment only)
    pk MFACHALLENGE#<sha256>    sk CHALLENGE  entity mfa_challenge
        user_id, email, user (S: the JSON of the user the tokens will be issued to), client_id,
        scope (S, when the login named them), auth_time N (the password step), answers N
        (wrong answers so far), expires_at N (TTL, 5 minutes after the password step)

The challenge token is 256 random bits, given to the client once and stored only as its
SHA-256. It is spent (deleted, conditionally, so two racing answers spend it once) by a correct
answer and by its third wrong one. A TOTP code is accepted only for a time step later than the
account's ``last_step`` (one conditional update), a recovery code only while it is in the set
(one conditional ``DELETE`` from the set): neither is ever accepted twice.

Nothing here logs or returns a secret, a code or a token except to the caller that asked for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from steps.core import recovery_codes, totp
from steps.core.contract.entities import MFA_CHALLENGE, MFA_TOTP
from steps.core.errors import ClientError
from steps.core.table import Item, Table, key

ENTITY_TOTP = MFA_TOTP.name
ENTITY_CHALLENGE = MFA_CHALLENGE.name
STATUS_PENDING = "pending"
STATUS_ACTIVE = "active"

#: How long an mfa_token lasts, and how many wrong answers spend it.
CHALLENGE_TTL_SECONDS = 300
CHALLENGE_MAX_ANSWERS = 3
#: How long a started enrolment waits for its confirmation.
ENROLMENT_TTL_SECONDS = 900
#: The methods a challenge accepts, as the login answer names them.
METHODS = ("totp", "recovery_code")
#: RFC 8176 ``amr`` values of each second factor.
AMR = {"totp": "otp", "recovery_code": "rcode"}
#: The ``acr`` of a sign-in with a second factor (NIST SP 800-63B AAL2).
ACR_MFA = "aal2"


class MfaCodeRejected(ClientError):
    """A wrong, expired or already used TOTP code or recovery code."""


class MfaChallengeInvalid(ClientError):
    """The mfa_token is unknown, expired or spent: the client logs in again."""


class MfaAlreadyEnabled(ClientError):
    """Status, code and the fixed description: steps/core/contract/errors.py."""


class MfaNotEnabled(ClientError):
    """Status, code and the fixed description: steps/core/contract/errors.py."""


class EnrolmentNotStarted(ClientError):
    """Status, code and the fixed description: steps/core/contract/errors.py."""


class SecretCipher(Protocol):
    """Encrypts TOTP secrets at rest (KMS in the stack, see :mod:`steps.core.mfa_cipher`)."""

    def encrypt(self, plaintext: str, *, user_id: str) -> str: ...

    def decrypt(self, ciphertext: str, *, user_id: str) -> str: ...


@dataclass(frozen=True)
class MfaSettings:
    #: The ``otpauth://`` issuer: the service name authenticator apps show.
    issuer: str = "stepauth"
    challenge_ttl_seconds: int = CHALLENGE_TTL_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MfaSettings:
        env = os.environ if env is None else env
        return cls(issuer=env.get("MAIL_SERVICE_NAME", cls.issuer) or cls.issuer)


def totp_key(user_id: str) -> Item:
    return key(MFA_TOTP, user_id=user_id)


def challenge_key(token_hash: str) -> Item:
    return key(MFA_CHALLENGE, token_hash=token_hash)


def challenge_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TotpRecord:
    user_id: str
    status: str
    secret_ciphertext: str
    created_at: int
    enabled_at: int | None
    last_step: int | None
    recovery_code_hashes: frozenset[str]
    expires_at: int | None

    def __repr__(self) -> str:
        return f"TotpRecord(user_id={self.user_id!r}, status={self.status!r})"

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def is_pending(self, now: float) -> bool:
        return self.status == STATUS_PENDING and (self.expires_at is None or now < self.expires_at)


def _n(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, Mapping) and "N" in value else None


def totp_from_item(item: Mapping[str, Any] | None) -> TotpRecord | None:
    if not item:
        return None
    return TotpRecord(
        user_id=item["user_id"]["S"],
        status=item["status"]["S"],
        secret_ciphertext=item["secret"]["S"],
        created_at=_n(item, "created_at") or 0,
        enabled_at=_n(item, "enabled_at"),
        last_step=_n(item, "last_step"),
        recovery_code_hashes=frozenset(item.get("recovery_codes", {}).get("SS", [])),
        expires_at=_n(item, "expires_at"),
    )


def totp_record(table: Table, user_id: str) -> TotpRecord | None:
    return totp_from_item(table.get(totp_key(user_id), consistent=True))


def mfa_enabled(table: Table, user_id: str) -> bool:
    """Whether the account signs in with a second factor."""
    return TOTP_SECOND_FACTOR.is_on(table.get(totp_key(user_id), consistent=True))


class TotpSecondFactor:
    """The login's view of an account's TOTP record: the password step reads it with the
    lockout record, in one call (:func:`steps.core.credentials.guarded_login`)."""

    def key(self, user_id: str) -> Item:
        return totp_key(user_id)

    def is_on(self, item: Item | None) -> bool:
        """Whether this TOTP item (None: none stored) makes the account sign in with it."""
        record = totp_from_item(item)
        return record is not None and record.is_active


TOTP_SECOND_FACTOR = TotpSecondFactor()


# -- enrolment -------------------------------------------------------------------------------


def start_enrolment(
    table: Table,
    cipher: SecretCipher,
    *,
    user_id: str,
    email: str,
    now: float,
    settings: MfaSettings,
) -> totp.Enrolment:
    """A new pending enrolment (replacing an unconfirmed one); the secret is stored encrypted
    and returned once. MfaAlreadyEnabled when the account has MFA on."""
    enrolment = totp.Enrolment.create(issuer=settings.issuer, account=email)
    stamp = int(now)
    written = table.update_if(
        totp_key(user_id),
        update=(
            "SET #entity = :entity, #user_id = :user_id, #status = :pending, #secret = :secret, "
            "#created_at = :now, #ttl = :ttl REMOVE #last_step, #codes"
        ),
        condition="attribute_not_exists(pk) OR #status = :pending",
        names={
            "#entity": "entity",
            "#user_id": "user_id",
            "#status": "status",
            "#secret": "secret",
            "#created_at": "created_at",
            "#ttl": "expires_at",
            "#last_step": "last_step",
            "#codes": "recovery_codes",
        },
        values={
            ":entity": {"S": ENTITY_TOTP},
            ":user_id": {"S": user_id},
            ":pending": {"S": STATUS_PENDING},
            ":secret": {"S": cipher.encrypt(enrolment.secret, user_id=user_id)},
            ":now": {"N": str(stamp)},
            ":ttl": {"N": str(stamp + ENROLMENT_TTL_SECONDS)},
        },
    )
    if not written:
        raise MfaAlreadyEnabled
    return enrolment


def confirm_enrolment(
    table: Table, cipher: SecretCipher, *, user_id: str, code: str, now: float
) -> list[str]:
    """Turns a pending enrolment on with its first code; returns the ten recovery codes (the
    only time they exist in clear). MfaCodeRejected for a wrong code, EnrolmentNotStarted when
    there is no pending enrolment, MfaAlreadyEnabled when it is on already."""
    record = totp_record(table, user_id)
    if record is not None and record.is_active:
        raise MfaAlreadyEnabled
    if record is None or not record.is_pending(now):
        raise EnrolmentNotStarted
    secret = cipher.decrypt(record.secret_ciphertext, user_id=user_id)
    step = totp.accepted_step(secret, code, now=now, last_step=None)
    if step is None:
        raise MfaCodeRejected
    codes = recovery_codes.new_codes()
    turned_on = table.update_if(
        totp_key(user_id),
        update=(
            "SET #status = :active, #enabled_at = :now, #last_step = :step, #codes = :codes "
            "REMOVE #ttl"
        ),
        condition="#status = :pending AND #secret = :secret",
        names={
            "#status": "status",
            "#enabled_at": "enabled_at",
            "#last_step": "last_step",
            "#codes": "recovery_codes",
            "#ttl": "expires_at",
            "#secret": "secret",
        },
        values={
            ":active": {"S": STATUS_ACTIVE},
            ":pending": {"S": STATUS_PENDING},
            ":now": {"N": str(int(now))},
            ":step": {"N": str(step)},
            ":codes": {"SS": recovery_codes.hashes(codes)},
            ":secret": {"S": record.secret_ciphertext},
        },
    )
    if not turned_on:  # a concurrent confirmation or a new enrolment won
        raise EnrolmentNotStarted
    return codes


def replace_recovery_codes(table: Table, *, user_id: str) -> list[str]:
    """A new set of ten codes replaces the old set (the old codes stop working)."""
    codes = recovery_codes.new_codes()
    replaced = table.update_if(
        totp_key(user_id),
        update="SET #codes = :codes",
        condition="#status = :active",
        names={"#codes": "recovery_codes", "#status": "status"},
        values={":codes": {"SS": recovery_codes.hashes(codes)}, ":active": {"S": STATUS_ACTIVE}},
    )
    if not replaced:
        raise MfaNotEnabled
    return codes


def remove_mfa(table: Table, *, user_id: str) -> bool:
    """Turns MFA off (the enrolment and its codes are deleted); False when there was none."""
    return table.delete_if(
        totp_key(user_id),
        condition="#entity = :entity",
        names={"#entity": "entity"},
        values={":entity": {"S": ENTITY_TOTP}},
    )


# -- second factor ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondFactorAnswer:
    """A code or a recovery code as the client sent it (already shape-checked)."""

    method: str  # "totp" | "recovery_code"
    value: str

    def __repr__(self) -> str:
        return f"SecondFactorAnswer(method={self.method!r})"

    @property
    def amr(self) -> str:
        return AMR[self.method]


def verify_second_factor(
    table: Table,
    cipher: SecretCipher,
    *,
    user_id: str,
    answer: SecondFactorAnswer,
    now: float,
) -> None:
    """Accepts a current TOTP code (once: its step is recorded) or spends a recovery code.

    MfaNotEnabled when the account has no active MFA, MfaCodeRejected for a wrong, old or used
    code."""
    record = totp_record(table, user_id)
    if record is None or not record.is_active:
        raise MfaNotEnabled
    if answer.method == "recovery_code":
        _spend_recovery_code(table, user_id, answer.value)
        return
    secret = cipher.decrypt(record.secret_ciphertext, user_id=user_id)
    step = totp.accepted_step(secret, answer.value, now=now, last_step=record.last_step)
    if step is None:
        raise MfaCodeRejected
    recorded = table.update_if(
        totp_key(user_id),
        update="SET #last_step = :step",
        condition="#status = :active AND (attribute_not_exists(#last_step) OR #last_step < :step)",
        names={"#last_step": "last_step", "#status": "status"},
        values={":step": {"N": str(step)}, ":active": {"S": STATUS_ACTIVE}},
    )
    if not recorded:  # the same code was accepted a moment ago by a concurrent request
        raise MfaCodeRejected


def _spend_recovery_code(table: Table, user_id: str, value: str) -> None:
    hashed = recovery_codes.code_hash(value)
    spent = table.update_if(
        totp_key(user_id),
        update="DELETE #codes :code",
        condition="#status = :active AND contains(#codes, :hash)",
        names={"#codes": "recovery_codes", "#status": "status"},
        values={
            ":code": {"SS": [hashed]},
            ":hash": {"S": hashed},
            ":active": {"S": STATUS_ACTIVE},
        },
    )
    if not spent:
        raise MfaCodeRejected


# -- the sign-in challenge ------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    token_hash: str
    user_id: str
    email: str
    user: dict[str, Any]
    client_id: str | None
    scope: str | None
    auth_time: int
    answers: int
    expires_at: int


def new_challenge(
    table: Table,
    *,
    user: Mapping[str, Any],
    context: Mapping[str, Any],
    now: float,
    settings: MfaSettings,
) -> tuple[str, int]:
    """Stores a challenge for a user who passed the password step; returns the mfa_token (the
    only time it exists in clear) and its lifetime in seconds."""
    token = secrets.token_urlsafe(32)
    stamp = int(now)
    item: Item = {
        **challenge_key(challenge_token_hash(token)),
        "entity": {"S": ENTITY_CHALLENGE},
        "user_id": {"S": str(user["id"])},
        "email": {"S": str(user["email"])},
        "user": {
            "S": json.dumps(
                {
                    k: user[k]
                    for k in ("id", "email", "created_at", "roles", "email_verified")
                    if k in user
                },
                separators=(",", ":"),
            )
        },
        "auth_time": {"N": str(stamp)},
        "answers": {"N": "0"},
        "expires_at": {"N": str(stamp + settings.challenge_ttl_seconds)},
    }
    for name in ("client_id", "scope"):
        value = context.get(name)
        if isinstance(value, str):
            item[name] = {"S": value}
    table.put_new(item)
    return token, settings.challenge_ttl_seconds


def load_challenge(table: Table, token_hash: str, *, now: float) -> Challenge:
    """The live challenge of an mfa_token (by hash), or MfaChallengeInvalid."""
    item = table.get(challenge_key(token_hash), consistent=True)
    if not item:
        raise MfaChallengeInvalid
    challenge = Challenge(
        token_hash=token_hash,
        user_id=item["user_id"]["S"],
        email=item["email"]["S"],
        user=json.loads(item["user"]["S"]),
        client_id=item.get("client_id", {}).get("S"),
        scope=item.get("scope", {}).get("S"),
        auth_time=int(item["auth_time"]["N"]),
        answers=int(item["answers"]["N"]),
        expires_at=int(item["expires_at"]["N"]),
    )
    # TTL deletes late: expiry is checked here.
    if now >= challenge.expires_at or challenge.answers >= CHALLENGE_MAX_ANSWERS:
        raise MfaChallengeInvalid
    return challenge


def spend_challenge(table: Table, token_hash: str, *, now: float) -> bool:
    """Deletes the challenge if it is still live; False when another request spent it."""
    return table.delete_if(
        challenge_key(token_hash),
        condition="attribute_exists(pk) AND #ttl > :now AND #answers < :max",
        names={"#ttl": "expires_at", "#answers": "answers"},
        values={":now": {"N": str(int(now))}, ":max": {"N": str(CHALLENGE_MAX_ANSWERS)}},
    )


def count_wrong_answer(table: Table, token_hash: str) -> None:
    """One more wrong answer; the third spends the challenge."""
    item = table.update_returning(
        challenge_key(token_hash),
        update="ADD #answers :one",
        condition="attribute_exists(pk)",
        names={"#answers": "answers"},
        values={":one": {"N": "1"}},
    )
    if item is not None and int(item["answers"]["N"]) >= CHALLENGE_MAX_ANSWERS:
        table.delete(challenge_key(token_hash))


def read_answer(body: Mapping[str, Any]) -> SecondFactorAnswer | None:
    """The second factor a request body carries (``code`` or ``recovery_code``), None when it
    has neither; InvalidRequest-worthy shapes give None too (the caller words the error)."""
    code, recovery = body.get("code"), body.get("recovery_code")
    if code is not None and recovery is not None:
        return None
    if code is not None:
        digits = totp.normalise_code(code)
        return SecondFactorAnswer("totp", digits) if digits else None
    if recovery is not None:
        raw = recovery_codes.normalise(recovery)
        return SecondFactorAnswer("recovery_code", raw) if raw else None
    return None


def encode_ciphertext(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def decode_ciphertext(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))

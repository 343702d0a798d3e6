"""TOTP (RFC 6238) for multi-factor sign-in: secrets, the ``otpauth://`` URI, its QR code, and
the check of a code with a ±1 step window and replay protection.

Codes are computed by pyotp (SHA-1, 6 digits, 30 s: what every authenticator app reads from a
plain ``otpauth://totp`` URI). A code is accepted for the time step before, at or after now, and
only for a step *later* than the last one the account accepted: the same code, or an older one,
is never accepted twice (RFC 6238 §5.2). The caller stores the accepted step atomically (see
:mod:`steps.core.mfa`).

Nothing here logs or returns a secret beyond what its caller asked for.
"""

from __future__ import annotations

import hmac
import io
import re
import secrets
from dataclasses import dataclass

#: RFC 6238 defaults, the ones authenticator apps assume.
DIGITS = 6
INTERVAL_SECONDS = 30
#: Steps accepted either side of now (clock drift, a code typed as it changed).
WINDOW_STEPS = 1
#: 160 bits (RFC 4226 §4 recommends 160), base32 without padding: 32 characters.
SECRET_BYTES = 20

_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh random TOTP secret, base32 (the form authenticator apps take)."""
    import base64

    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def normalise_code(value: object) -> str | None:
    """The six digits of a code as typed (spaces and a middle dash allowed); None when it is
    not a code at all."""
    if not isinstance(value, str) or len(value) > 16:
        return None
    digits = value.replace(" ", "").replace("-", "")
    return digits if _CODE.fullmatch(digits) else None


def step_at(now: float) -> int:
    """The RFC 6238 time step (counter) of a moment."""
    return int(now) // INTERVAL_SECONDS


def code_at_step(secret: str, step: int) -> str:
    """The code of one time step."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).at(step * INTERVAL_SECONDS)


def accepted_step(secret: str, code: str, *, now: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, within ±1 step of ``now`` and after ``last_step``;
    None when the code is wrong, too old or already used (replay).

    Every candidate step is compared in constant time, whether or not an earlier one matched.
    """
    current = step_at(now)
    found: int | None = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        matches = hmac.compare_digest(code_at_step(secret, step), code)
        if matches and found is None and (last_step is None or step > last_step):
            found = step
    return found


def otpauth_uri(secret: str, *, issuer: str, account: str) -> str:
    """The ``otpauth://totp/<issuer>:<account>?secret=…&issuer=…`` URI (Key Uri Format)."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an SVG document (segno, pure Python)."""
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, scale=4, border=4, title="TOTP enrolment"
    )
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Enrolment:
    """What the client gets once, when it starts an enrolment."""

    secret: str
    otpauth_uri: str
    qr_svg: str

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return "Enrolment(<secret>)"

    @classmethod
    def create(cls, *, issuer: str, account: str, secret: str | None = None) -> Enrolment:
        secret = secret or new_secret()
        uri = otpauth_uri(secret, issuer=issuer, account=account)
        return cls(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

"""Recovery codes: ten random single-use codes, shown once and stored only as hashes.

A code is 12 characters of an unambiguous 31-letter alphabet (59 bits), shown as
``xxxx-xxxx-xxxx``. Each is stored as the SHA-256 of its normalised form: with 59 random bits
an unkeyed hash cannot be reversed by guessing (unlike a 6-digit code). Input is normalised
(case, spaces and dashes ignored) so a code read aloud or retyped still matches.
"""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
LENGTH = 12
GROUP = 4
#: No 0/O, 1/I/L: a code is read from paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_ALPHABET_SET = frozenset(ALPHABET)


def _format(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def new_codes(count: int = COUNT) -> list[str]:
    """``count`` fresh codes, all different, formatted for display."""
    codes: list[str] = []
    while len(codes) < count:
        code = _format("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
        if code not in codes:
            codes.append(code)
    return codes


def normalise(value: object) -> str | None:
    """The 12 characters of a code as typed; None when it cannot be a recovery code."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    raw = value.strip().lower().replace("-", "").replace(" ", "")
    if len(raw) != LENGTH or not set(raw) <= _ALPHABET_SET:
        return None
    return raw


def code_hash(value: str) -> str:
    """The stored form of a code (SHA-256 hex of its normalised characters)."""
    raw = normalise(value)
    if raw is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(f"recovery:{raw}".encode()).hexdigest()


def hashes(codes: list[str]) -> list[str]:
    return [code_hash(code) for code in codes]

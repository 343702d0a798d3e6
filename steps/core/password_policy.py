"""Password policy after NIST SP 800-63B-4.

Length limits counted in Unicode code points after NFKC normalisation, a blocklist of common
passwords and context words, no composition rules, no truncation. The normalised password is
what gets hashed and verified. Messages never echo the password.

Kept apart from the hasher so the validation steps do not import argon2.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from typing import Any

from steps.core.config import Config, get_config
from steps.core.errors import InvalidRequest, WeakPassword

MISSING_PASSWORD_MESSAGE = "password is required."  # noqa: S105 - a message
INVALID_CHARACTERS = "password contains characters that cannot be encoded as UTF-8."
TOO_COMMON = "Password is too common; choose a longer passphrase."
CONTAINS_CONTEXT = "Password must not contain your email address or the service name."
TRIVIAL = (
    "Password must not be a repeated character, a short repeated pattern or a simple "
    "sequence such as 'abcdef'; choose a longer passphrase."
)

#: Context words shorter than this are not checked (too many false positives).
MIN_CONTEXT_WORD = 4
#: A repeated unit of at most this many characters makes a password trivial.
MAX_REPEATED_UNIT = 4
#: The context word every deployment checks, whatever SERVICE_NAME says.
PRODUCT_NAME = "stepauth"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The built-in blocklist, lower-cased (``steps/data/common_passwords.txt``)."""
    from importlib import resources  # imported on first use: keeps the cold start short

    text = resources.files("steps").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


@functools.cache
def _blocklist_lengths() -> tuple[int, int]:
    lengths = [len(word) for word in common_passwords()] or [1]
    return min(lengths), max(lengths)


def _normalise(password: Any) -> str:
    if not isinstance(password, str) or password == "":
        raise InvalidRequest(MISSING_PASSWORD_MESSAGE)
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(INVALID_CHARACTERS) from None
    return unicodedata.normalize("NFKC", password)


def is_trivial(text: str) -> bool:
    """A single repeated character, a short repeated unit, or an ascending/descending run."""
    n = len(text)
    if n < 2:
        return True
    for unit in range(1, min(MAX_REPEATED_UNIT, n - 1) + 1):
        if text == (text[:unit] * (n // unit + 1))[:n]:
            return True
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def _blocklisted_parts(folded: str) -> set[str]:
    shortest, longest = _blocklist_lengths()
    n = len(folded)
    candidates = {
        folded[i:j] for i in range(n) for j in range(i + shortest, min(n, i + longest) + 1)
    }
    return candidates & common_passwords()


def is_common(folded: str, *, min_length: int) -> bool:
    """Whether a (case-folded) password is, or is mostly, a common password.

    It is if it equals a blocklisted password, or if what is left after removing every
    blocklisted password it contains is shorter than the minimum length or trivial (so
    "password1234567" and "dragondragon..." are common, but a long passphrase that happens to
    contain one such word is not).
    """
    if folded in common_passwords():
        return True
    parts = _blocklisted_parts(folded)
    if not parts:
        return False
    remainder = folded
    for part in sorted(parts, key=len, reverse=True):
        remainder = remainder.replace(part, "")
    return len(remainder) < min_length or is_trivial(remainder)


def context_words_for(email: str) -> list[str]:
    """Context words derived from an email address: the address and its local part."""
    local = email.partition("@")[0]
    return [email, local]


def check_password_policy(
    password: Any, *, context_words: Iterable[str] = (), config: Config | None = None
) -> str:
    """Check a new password; return its NFKC-normalised form (what gets hashed).

    Raises InvalidRequest when it is missing or not a string, WeakPassword with an actionable
    reason otherwise. The service name and "stepauth" are always context words.
    """
    cfg = config or get_config()
    normalised = _normalise(password)
    length = len(normalised)
    if length < cfg.password_min_length:
        raise WeakPassword(f"Password must be at least {cfg.password_min_length} characters long.")
    if length > cfg.password_max_length:
        raise WeakPassword(f"Password must be at most {cfg.password_max_length} characters long.")
    folded = normalised.casefold()
    if is_trivial(folded):
        raise WeakPassword(TRIVIAL)
    words = {w.casefold() for w in (*context_words, cfg.service_name, PRODUCT_NAME) if w}
    if any(len(w) >= MIN_CONTEXT_WORD and w in folded for w in words):
        raise WeakPassword(CONTAINS_CONTEXT)
    if is_common(folded, min_length=cfg.password_min_length):
        raise WeakPassword(TOO_COMMON)
    return normalised


def normalise_login_password(password: Any, *, config: Config | None = None) -> str:
    """Check a login password (type, non-empty, maximum length) and NFKC-normalise it.

    No strength policy: an existing password is checked against its hash, not the policy.
    """
    cfg = config or get_config()
    normalised = _normalise(password)
    if len(normalised) > cfg.password_max_length:
        raise InvalidRequest(f"password must be at most {cfg.password_max_length} characters long.")
    return normalised

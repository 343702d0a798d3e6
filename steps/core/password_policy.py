"""Password policy after NIST SP 800-63B-4.

Length limits counted in Unicode code points after NFKC normalisation, a blocklist of common
passwords and context words, no composition rules, no truncation. The normalised password is
what gets hashed and verified. Messages never echo the password.

Kept apart from the hasher so the validation steps do not import argon2.
"""

from __future__ import annotations

import functools
import re
import string
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


_WORD = re.compile(r"[^\W\d_]+")
_LONGEST_ENTRY = 32  # entries longer than this cannot be parts of a 128-character password
#: A password made of this many blocklisted words or fewer (and nothing else but digits and
#: separators) is common: "dragon sunshine princess". Four or more make a passphrase.
MAX_COMMON_WORDS = 3


def is_common(folded: str, *, min_length: int) -> bool:
    """Whether a (case-folded) password is, or is built from, a common password.

    With a large blocklist, "contains a listed password" would refuse most passphrases (the
    list holds words such as "horse"), which NIST SP 800-63B-4 encourages. So a password is
    common when it is listed; when it is a listed one with digits or symbols around it
    ("password1234567"); when it repeats a listed one ("iloveyouiloveyou"); or when it consists
    only of at most three listed entries plus digits and separators ("dragon sunshine princess",
    "qwertyuiopasdfghjkl").
    """
    blocklist = common_passwords()
    if folded in blocklist:
        return True
    core = folded.strip(string.digits + string.punctuation + string.whitespace)
    if core in blocklist or is_trivial(core):
        return True
    n = len(core)
    for unit in range(4, n // 2 + 1):
        if n % unit == 0 and core[:unit] in blocklist and core == core[:unit] * (n // unit):
            return True
    letters = "".join(_WORD.findall(folded))
    return bool(letters) and _fewest_listed_parts(letters, blocklist) <= MAX_COMMON_WORDS


def _fewest_listed_parts(text: str, blocklist: frozenset[str]) -> int:
    """How few blocklisted entries ``text`` can be cut into (a large number when it cannot)."""
    impossible = len(text) + 1
    fewest = [0] + [impossible] * len(text)  # fewest[i]: parts covering text[:i]
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - _LONGEST_ENTRY), end):
            if fewest[start] < impossible and text[start:end] in blocklist:
                fewest[end] = min(fewest[end], fewest[start] + 1)
    return fewest[-1]


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

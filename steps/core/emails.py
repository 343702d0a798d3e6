"""Email address normalisation: the normalised address identifies the account."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from steps.core.errors import InvalidRequest

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_LENGTH = 253

# Characters that are only legal inside a quoted local part; quoted local parts are not accepted.
_LOCAL_FORBIDDEN = frozenset('"(),:;<>@[\\]')
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SPACE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def _invalid(field: str) -> InvalidRequest:
    return InvalidRequest(f"{field} must be a valid email address.")


def _has_space_or_control(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) in _SPACE_CATEGORIES for ch in text)


def _ascii_domain(domain: str) -> str | None:
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    domain = domain.lower()
    if len(domain) > MAX_DOMAIN_LENGTH:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    if labels[-1].isdigit():  # a bare IP address or a numeric TLD is not a mail domain
        return None
    return domain


def normalise_email(raw: Any, *, field: str = "email") -> str:
    """Trim, lower-case and validate an email address; IDNA-encode a non-ASCII domain.

    Raises InvalidRequest("<field> must be a valid email address.") for anything else.
    """
    if not isinstance(raw, str) or len(raw) > 4 * MAX_EMAIL_LENGTH:
        raise _invalid(field)
    text = unicodedata.normalize("NFC", raw.strip()).lower()
    if not text or _has_space_or_control(text) or text.count("@") != 1:
        raise _invalid(field)
    local, _, domain = text.partition("@")
    if not local or len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        raise _invalid(field)
    if any(ch in _LOCAL_FORBIDDEN for ch in local):
        raise _invalid(field)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _invalid(field)
    ascii_domain = _ascii_domain(domain)
    if ascii_domain is None:
        raise _invalid(field)
    email = f"{local}@{ascii_domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise _invalid(field)
    return email

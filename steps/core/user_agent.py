"""The one rule that makes a client's user agent safe to keep in an audit record.

The user agent is chosen by the client: it may carry terminal escapes, invisible characters, a
pasted token, or megabytes. The API's request template applies this same rule (written in Java
regex form from the constants below, see ``cdk/api.py``) before the workflow starts, so the
records the workflows write themselves and those written by :mod:`steps.core.audit` hold the
same value; applying the rule twice changes nothing.

1. control, format and line-separator characters are dropped (:data:`DROPPED`);
2. a value containing anything shaped like a credential (:data:`SECRET_SHAPES`) becomes
   :data:`REDACTED`, judged on the whole value before it is cut, so a token cannot hide across
   the cut;
3. the rest is cut to :data:`USER_AGENT_MAX` UTF-16 code units (Java's ``length``), one less
   when the cut would split a surrogate pair.
"""

from __future__ import annotations

import re
from typing import Any

USER_AGENT_MAX = 512
REDACTED = "[redacted]"

# The same text is a valid regex for Python's re and for java.util.regex.
DROPPED = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    r"\ufff9-\ufffb]"
)
SECRET_SHAPES = (
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # a JWT
    r"\$argon2(?:id|i|d)\$",  # a password hash
    r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])",  # a SHA-256 hex digest
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43,}(?![A-Za-z0-9_-])",  # 256+ random bits
)
_SECRET = re.compile("|".join(f"(?:{shape})" for shape in SECRET_SHAPES))
#: One regex that matches a whole value containing a secret shape (String.matches form).
SECRET_VALUE = "(?s).*(?:" + "|".join(f"(?:{shape})" for shape in SECRET_SHAPES) + ").*"


def looks_secret(value: str) -> bool:
    """Whether ``value`` contains something shaped like a token, a digest or a password hash."""
    return _SECRET.search(value) is not None


def _cut(value: str, limit: int) -> str:
    units = value.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * limit:
        return value
    kept = units[: 2 * limit]
    if 0xD800 <= int.from_bytes(kept[-2:], "little") <= 0xDBFF:
        kept = kept[:-2]
    return kept.decode("utf-16-le", "surrogatepass")


def sanitize_user_agent(value: Any) -> str:
    """The user agent as it may be stored; "" when there is none."""
    if not isinstance(value, str) or not value:
        return ""
    cleaned = DROPPED.sub("", value)
    if looks_secret(cleaned):
        return REDACTED
    return _cut(cleaned, USER_AGENT_MAX)

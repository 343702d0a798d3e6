"""Audit records: who did what, when, from where. Never a password, a hash or a token.

One item per record (see :mod:`steps.core.table`): partition ``AUDIT#USER#<user id>`` so a
user's history is one query (``AUDIT#EMAIL#<email>`` for attempts naming an email that has no
account; the workflows write those, see ``cdk/audit.py``), sort key ``<ISO-8601 UTC with
ms>#<uuid4 hex>`` so it reads in time order and two records of one millisecond never collide.
``gsi1`` groups the records of a day (``AUDIT#<yyyy-mm-dd>``, sorted by
``<iso>#<action>#<outcome>``) so recent records can be listed without a scan. Records expire
(TTL) after AUDIT_RETENTION_DAYS.

Every field is checked before anything is written: actions and outcomes are short snake_case
words, free text is bounded, and a value that looks like a credential (a JWT, a long random
token, a hex digest, an argon2 hash) is refused, so a caller's mistake fails loudly instead of
putting a secret into the audit trail. The user agent, which the client chooses, is cleaned,
redacted and cut instead, by the rule of :mod:`steps.core.user_agent` that the API's request
template applies too, so the records the workflows write hold the same value.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from steps.core.config import get_config
from steps.core.user_agent import REDACTED, looks_secret, sanitize_user_agent

__all__ = ["REDACTED", "audit_item", "iso_millis", "looks_secret", "write_audit"]
from steps.core.table import (
    AUDIT_PREFIX,
    ENTITY_AUDIT,
    GSI1PK,
    GSI1SK,
    PK,
    SK,
    TTL_ATTRIBUTE,
    Item,
    Table,
)

ANONYMOUS = "anonymous"
SECONDS_PER_DAY = 86_400

_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Longest free-text field kept (user agents are cut, not refused).
TEXT_MAX = 512
ID_MAX = 256


def iso_millis(at: float) -> str:
    """``2026-01-02T03:04:05.678Z``: UTC, milliseconds, sortable as text."""
    moment = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _word(name: str, value: Any) -> str:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValueError(f"The audit {name} must be a snake_case word.")
    return value


def _text(name: str, value: Any, limit: int) -> str | None:
    """A checked text field written by stepauth itself: refused when too long or secret."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"The audit field {name} must be a string.")
    if len(value) > limit:
        raise ValueError(f"The audit field {name} is longer than {limit} characters.")
    if looks_secret(value):
        raise ValueError(f"The audit field {name} looks like a credential; it is not recorded.")
    return value


def audit_item(
    *,
    action: str,
    outcome: str,
    user_id: str | None,
    source_ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    execution_id: str | None = None,
    at: float,
    detail: str | None = None,
    retention_days: int | None = None,
) -> Item:
    """The audit item for one record (ValueError for a bad or secret-looking field).

    ``retention_days`` defaults to the configured AUDIT_RETENTION_DAYS.
    """
    action = _word("action", action)
    outcome = _word("outcome", outcome)
    owner = _text("user_id", user_id, ID_MAX)
    days = get_config().audit_retention_days if retention_days is None else retention_days
    if days < 1:
        raise ValueError("Audit records must be kept at least one day.")
    iso = iso_millis(at)
    item: Item = {
        PK: {"S": f"{AUDIT_PREFIX}USER#{owner or ANONYMOUS}"},
        SK: {"S": f"{iso}#{uuid.uuid4().hex}"},
        "entity": {"S": ENTITY_AUDIT},
        "action": {"S": action},
        "outcome": {"S": outcome},
        "at": {"N": str(int(at))},
        TTL_ATTRIBUTE: {"N": str(int(at) + days * SECONDS_PER_DAY)},
        GSI1PK: {"S": f"{AUDIT_PREFIX}{iso[:10]}"},
        GSI1SK: {"S": f"{iso}#{action}#{outcome}"},
    }
    optional = {
        "user_id": owner,
        "source_ip": _text("source_ip", source_ip, 64),
        # The one user-agent rule, shared with the API's request template.
        "user_agent": sanitize_user_agent(user_agent) or None,
        "request_id": _text("request_id", request_id, ID_MAX),
        "execution_id": _text("execution_id", execution_id, 2048),
        "detail": _text("detail", detail, TEXT_MAX),
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    return item


def write_audit(
    table: Table,
    *,
    action: str,
    outcome: str,
    user_id: str | None,
    source_ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
    execution_id: str | None = None,
    at: float,
    detail: str | None = None,
) -> None:
    """Write one audit record (see :func:`audit_item` for the checks)."""
    table.put(
        audit_item(
            action=action,
            outcome=outcome,
            user_id=user_id,
            source_ip=source_ip,
            user_agent=user_agent,
            request_id=request_id,
            execution_id=execution_id,
            at=at,
            detail=detail,
        )
    )

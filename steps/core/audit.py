"""Audit records: who did what, when, from where. Never a password, a hash or a token.

One item per record (the contract's ``audit`` entity): partition ``AUDIT#USER#<user id>`` so a
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

__all__ = [
    "OWNER_EMAIL",
    "OWNER_USER",
    "REDACTED",
    "audit_item",
    "audit_partition",
    "day_partition",
    "iso_millis",
    "looks_secret",
    "write_audit",
]
from steps.core.contract.entities import AUDIT, KeyTemplate
from steps.core.table import TTL_ATTRIBUTE, Item, Table, entity_item

ANONYMOUS = "anonymous"
#: The audit partitions' owner kinds: a user id, or an email without an account.
OWNER_USER = "USER"
OWNER_EMAIL = "EMAIL"
SECONDS_PER_DAY = 86_400

_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Longest free-text field kept (user agents are cut, not refused).
TEXT_MAX = 512
ID_MAX = 256


def audit_partition(owner_kind: str, owner: str) -> str:
    """The partition of one owner's records (``OWNER_USER`` id or ``OWNER_EMAIL`` email)."""
    return KeyTemplate(AUDIT.pk).format({"owner_kind": owner_kind, "owner": owner})


def day_partition(day: datetime.date) -> str:
    """The gsi1 partition of one UTC day's records."""
    return KeyTemplate(AUDIT.gsi1pk or "").format({"day": day.isoformat()})


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
    attributes: dict[str, Any] = {
        "action": action,
        "outcome": outcome,
        "at": int(at),
        TTL_ATTRIBUTE: int(at) + days * SECONDS_PER_DAY,
        "user_id": owner,
        "source_ip": _text("source_ip", source_ip, 64),
        # The one user-agent rule, shared with the API's request template.
        "user_agent": sanitize_user_agent(user_agent) or None,
        "request_id": _text("request_id", request_id, ID_MAX),
        "execution_id": _text("execution_id", execution_id, 2048),
        "detail": _text("detail", detail, TEXT_MAX),
    }
    item = entity_item(
        AUDIT,
        attributes,
        owner_kind=OWNER_USER,
        owner=owner or ANONYMOUS,
        at_iso=iso,
        unique=uuid.uuid4().hex,
        day=iso[:10],
    )
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

"""One-time email codes and link tokens: created, sent and checked without ever leaving a Lambda.

A verification (``kind`` ``verify_email``) is one pending item per user (the contract's
``verification``, ``verification_link`` and ``send_limit`` entities)::

    pk VERIFY#<kind>#<user_id>   sk PENDING
    code_hash   HMAC-SHA256(key, "<kind>:<user_id>:<code>") hex: a 6-digit code is guessable
                offline from a plain hash, so the hash is keyed (the key is a stack secret)
    token_hash  SHA-256 hex of the 256-bit link token
    task_token  the waiting STANDARD execution's task token (resumes it; not a user secret)
    execution_id  that execution (its time-out deletes the item only if it is still its own)
    email, attempts N (wrong codes so far), resends N, code_expires_at N, expires_at N (TTL)

and one link item per issued link, ``pk VERIFYLINK#<token_hash> sk LINK`` → kind, user id.
A code is spent by deleting the pending item under a condition on its hash, so it is single use
even when two requests race. After ``max_attempts`` wrong codes the code is dead: a new one must
be requested (resend).

Per-recipient send limit: ``pk MAILLIMIT#<email> sk <epoch hour>`` counts sends in the hour with
one conditional ``ADD`` (atomic), so stepauth cannot be used to flood a mailbox.

Nothing here logs or returns a code, a link token or a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from steps.core.contract.entities import VERIFICATION, VERIFICATION_LINK
from steps.core.contract.errors import CODE_SPENT, LINK_SPENT
from steps.core.errors import CodeExpired, InvalidCode
from steps.core.table import (
    Table,
    entity_item,
    link_key,
    pending_key,
    send_limit_key,
    user_key,
)

KINDS = ("verify_email", "reset_password", "change_email")
CODE_DIGITS = 6


@dataclass(frozen=True)
class MailSettings:
    sender: str = "no-reply@stepauth.local"
    service_name: str = "stepauth"
    link_base_url: str = "http://127.0.0.1:8080"
    code_ttl_seconds: int = 86_400
    reset_code_ttl_seconds: int = 3600
    max_attempts: int = 5
    max_resends: int = 3
    sends_per_hour: int = 5

    def ttl_for(self, kind: str) -> int:
        return self.reset_code_ttl_seconds if kind == "reset_password" else self.code_ttl_seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MailSettings:
        env = os.environ if env is None else env
        return cls(
            sender=env.get("EMAIL_SENDER", cls.sender),
            service_name=env.get("MAIL_SERVICE_NAME", cls.service_name),
            link_base_url=env.get("LINK_BASE_URL", cls.link_base_url).rstrip("/"),
            code_ttl_seconds=int(env.get("VERIFICATION_CODE_TTL_SECONDS", cls.code_ttl_seconds)),
            reset_code_ttl_seconds=int(
                env.get("RESET_CODE_TTL_SECONDS", cls.reset_code_ttl_seconds)
            ),
            max_attempts=int(env.get("VERIFICATION_MAX_ATTEMPTS", cls.max_attempts)),
            max_resends=int(env.get("VERIFICATION_MAX_RESENDS", cls.max_resends)),
            sends_per_hour=int(env.get("EMAIL_SENDS_PER_HOUR", cls.sends_per_hour)),
        )


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_link_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def code_hash(key: bytes, kind: str, user_id: str, code: str) -> str:
    return hmac.new(key, f"{kind}:{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def take_send_slot(table: Table, email: str, *, now: float, per_hour: int) -> bool:
    """Counts one send to ``email`` in the current hour; False when the hour's limit is spent."""
    hour = int(now) // 3600
    return table.update_if(
        send_limit_key(email, hour),
        update="ADD #sends :one SET #ttl = :ttl",
        condition="attribute_not_exists(#sends) OR #sends < :limit",
        names={"#sends": "sends", "#ttl": "expires_at"},
        values={
            ":one": {"N": "1"},
            ":limit": {"N": str(per_hour)},
            ":ttl": {"N": str((hour + 2) * 3600)},
        },
    )


@dataclass(frozen=True)
class Secrets:
    """What is sent to the user; never returned from a step or logged."""

    code: str
    link_token: str

    def __repr__(self) -> str:
        return "Secrets(<redacted>)"


def issue(
    table: Table,
    key: bytes,
    *,
    kind: str,
    user_id: str,
    email: str,
    now: float,
    settings: MailSettings,
    task_token: str | None = None,
    execution_id: str = "",
    generate: Callable[[], Secrets] | None = None,
) -> Secrets:
    """Stores a fresh code and link for the user's pending verification (replacing the old
    ones); ``task_token`` is kept from the existing item when not given (a resend)."""
    fresh = generate() if generate else Secrets(new_code(), new_link_token())
    resends = 0
    if task_token is None:  # a resend: the same waiting execution, a fresh code
        current = table.get(pending_key(kind, user_id))
        if current is None:
            raise CodeExpired("There is no pending verification for this account.")
        task_token = current["task_token"]["S"]
        execution_id = current.get("execution_id", {}).get("S", "")
        resends = int(current.get("resends", {}).get("N", "0")) + 1
    expires = int(now) + settings.ttl_for(kind)
    hashed_token = token_hash(fresh.link_token)
    table.put(
        entity_item(
            VERIFICATION,
            {
                "kind": kind,
                "user_id": user_id,
                "email": email,
                "code_hash": code_hash(key, kind, user_id, fresh.code),
                "token_hash": hashed_token,
                "task_token": task_token,
                # The waiting execution: only its own time-out forgets this item.
                "execution_id": execution_id,
                "attempts": 0,
                "resends": resends,
                "code_expires_at": expires,
                "expires_at": expires + 86_400,
            },
        )
    )
    table.put(
        entity_item(
            VERIFICATION_LINK,
            {"kind": kind, "user_id": user_id, "expires_at": expires},
            token_hash=hashed_token,
        )
    )
    return fresh


def resends_used(table: Table, kind: str, user_id: str) -> int | None:
    """Resends so far of the user's pending verification; None when nothing is pending."""
    current = table.get(pending_key(kind, user_id))
    if current is None:
        return None
    return int(current.get("resends", {}).get("N", "0"))


@dataclass(frozen=True)
class Checked:
    user_id: str
    email: str
    task_token: str


def _spend(table: Table, item: Mapping[str, Any], kind: str, user_id: str) -> Checked:
    spent = table.delete_if(
        pending_key(kind, user_id),
        condition="#hash = :hash",
        names={"#hash": "code_hash"},
        values={":hash": item["code_hash"]},
    )
    if not spent:  # another request spent it (or a resend replaced it) first
        raise CodeExpired(CODE_SPENT.description)
    return Checked(user_id, item["email"]["S"], item["task_token"]["S"])


def check_code(
    table: Table,
    key: bytes,
    *,
    kind: str,
    user_id: str,
    code: str,
    now: float,
    settings: MailSettings,
    spend: bool = True,
) -> Checked:
    """Spends the pending code when ``code`` is right (with ``spend=False`` only checks it: the
    caller spends it with its own write, :func:`spend_condition`); counts a wrong one."""
    item = table.get(pending_key(kind, user_id))
    dead = CodeExpired(CODE_SPENT.description)
    if item is None or int(item["code_expires_at"]["N"]) <= now:
        raise dead
    attempts = int(item.get("attempts", {}).get("N", "0"))
    if attempts >= settings.max_attempts:
        raise CodeExpired("Too many wrong codes; request a new code.")
    expected = item["code_hash"]["S"]
    if not hmac.compare_digest(expected, code_hash(key, kind, user_id, code)):
        table.update_if(
            pending_key(kind, user_id),
            update="ADD #attempts :one",
            condition="#hash = :hash",
            names={"#attempts": "attempts", "#hash": "code_hash"},
            values={":one": {"N": "1"}, ":hash": {"S": expected}},
        )
        raise InvalidCode("The code is not correct.")
    if not spend:
        return Checked(user_id, item["email"]["S"], item["task_token"]["S"])
    return _spend(table, item, kind, user_id)


def spend_operation(kind: str, user_id: str, task_token: str, now: float) -> dict[str, Any]:
    """A transaction's Delete of the pending verification that was checked (the one still
    waiting with ``task_token``, unexpired): the spend of its code or link, in the same
    transaction as the write it allows, so a failure before that write leaves it usable."""
    return {
        "Delete": {
            "Key": pending_key(kind, user_id),
            "ConditionExpression": "#token = :token AND #expires > :now",
            "ExpressionAttributeNames": {"#token": "task_token", "#expires": "code_expires_at"},
            "ExpressionAttributeValues": {
                ":token": {"S": task_token},
                ":now": {"N": str(int(now))},
            },
        }
    }


def verified_account_operations(
    verification: Any, *, user_id: str, email: str, now: float
) -> list[dict[str, Any]]:
    """The writes that finish an email verification, for the transaction that also starts the
    account's session (IssueTokens): the account marked verified and the checked code spent.

    ``verification`` is the step input's ``{"kind": "verify_email", "task_token"}`` (the waiting
    execution CheckCode found); a garbled one is a server fault (ValueError).
    """
    if not isinstance(verification, Mapping) or verification.get("kind") != "verify_email":
        raise ValueError("The step input's verification needs its kind.")
    task_token = verification.get("task_token")
    if not isinstance(task_token, str) or not task_token:
        raise ValueError("The step input's verification needs the task token.")
    mark = {
        "Key": user_key(email),
        "UpdateExpression": "SET #verified = :yes, #at = :now",
        "ConditionExpression": "#uid = :uid",
        "ExpressionAttributeNames": {
            "#verified": "email_verified",
            "#at": "email_verified_at",
            "#uid": "user_id",
        },
        "ExpressionAttributeValues": {
            ":yes": {"BOOL": True},
            ":now": {"N": str(int(now))},
            ":uid": {"S": user_id},
        },
    }
    return [{"Update": mark}, spend_operation("verify_email", user_id, task_token, now)]


def check_link(table: Table, *, token: str, now: float, spend: bool = True) -> tuple[str, Checked]:
    """Spends (or with ``spend=False`` only finds) the pending verification a link token
    belongs to; returns (kind, checked)."""
    dead = CodeExpired(LINK_SPENT.description)
    hashed = token_hash(token)
    link = table.get(link_key(hashed))
    if link is None or int(link["expires_at"]["N"]) <= now:
        raise dead
    kind, user_id = link["kind"]["S"], link["user_id"]["S"]
    item = table.get(pending_key(kind, user_id))
    if (
        item is None
        or item["token_hash"]["S"] != hashed
        or int(item["code_expires_at"]["N"]) <= now
    ):
        raise dead
    if not spend:
        return kind, Checked(user_id, item["email"]["S"], item["task_token"]["S"])
    return kind, _spend(table, item, kind, user_id)

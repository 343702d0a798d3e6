"""``stepauth audit user|recent|export``: who did what, when, from where.

Records are read with Query only, never a Scan (the contract's ``audit`` entity):

* one person's history: partition ``AUDIT#USER#<user id>`` and, for attempts that named an
  email without an account (or a taken email), ``AUDIT#EMAIL#<normalised email>``; the sort key
  starts with the ISO time, so ``--since`` is a key condition;
* recent records of everyone: index ``gsi1``, one partition per day ``AUDIT#<yyyy-mm-dd>``
  sorted by ``<iso>#<action>#<outcome>``; ``--action`` and ``--outcome`` filter on the server.

``--output json`` prints one document (``{"records": [...]}``); ``export`` prints one record
per line (JSON lines), for a SIEM. No record holds a password, a hash or a token.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from steps.core.audit import (
    OWNER_EMAIL,
    OWNER_USER,
    audit_partition,
    day_partition,
    iso_millis,
)
from steps.core.table import GSI1_NAME, GSI1PK, GSI1SK, PK, SK, Table

from . import output
from .accounts import resolve_account
from .executions import since_option
from .target import Target

Command = Callable[[argparse.Namespace, Target], int]

ANONYMOUS = "anonymous"


def user_partition(user_id: str) -> str:
    return audit_partition(OWNER_USER, user_id)


def email_partition(email: str) -> str:
    return audit_partition(OWNER_EMAIL, email)


@dataclass(frozen=True)
class AuditRecord:
    time: str  # ISO 8601 UTC with milliseconds
    key: str  # the sort key: time order, then uniqueness
    action: str
    outcome: str
    at: int | None = None
    user_id: str | None = None
    email: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    execution_id: str | None = None
    detail: str | None = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AuditRecord:
        def text(name: str) -> str | None:
            value = item.get(name)
            return value.get("S") if isinstance(value, Mapping) else None

        key = text("sk") or ""
        at = item.get("at")
        return cls(
            time=key.split("#", 1)[0],
            key=key,
            action=text("action") or "?",
            outcome=text("outcome") or "?",
            at=int(at["N"]) if isinstance(at, Mapping) and "N" in at else None,
            user_id=text("user_id"),
            email=text("email"),
            source_ip=text("source_ip"),
            user_agent=text("user_agent"),
            request_id=text("request_id"),
            execution_id=text("execution_id"),
            detail=text("detail"),
        )

    @property
    def who(self) -> str:
        if self.user_id and self.user_id != ANONYMOUS:
            return self.user_id
        return self.email or ANONYMOUS

    def to_json(self) -> dict[str, Any]:
        document = {
            "time": self.time,
            "action": self.action,
            "outcome": self.outcome,
            "at": self.at,
            "user_id": self.user_id,
            "email": self.email,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "execution_id": self.execution_id,
            "detail": self.detail,
        }
        return {k: v for k, v in document.items() if v is not None}


def partition_records(table: Table, partition: str, since: datetime.datetime) -> list[AuditRecord]:
    """One partition's records from ``since`` on, oldest first (a Query on the table)."""
    items = table.query(
        "#pk = :pk AND #sk >= :since",
        names={"#pk": PK, "#sk": SK},
        values={":pk": {"S": partition}, ":since": {"S": iso_millis(since.timestamp())}},
        consistent=True,
    )
    return [AuditRecord.from_item(item) for item in items]


def user_records(
    table: Table, *, user_id: str | None, email: str | None, since: datetime.datetime
) -> list[AuditRecord]:
    """A person's records, by user id and by email, merged in time order."""
    partitions = [user_partition(user_id)] if user_id else []
    if email:
        partitions.append(email_partition(email))
    records = [r for p in partitions for r in partition_records(table, p, since)]
    return sorted(records, key=lambda r: r.key)


def recent_records(
    table: Table,
    *,
    since: datetime.datetime,
    until: datetime.datetime,
    action: str | None = None,
    outcome: str | None = None,
) -> Iterator[AuditRecord]:
    """Everyone's records from ``since`` to ``until``, oldest first: one gsi1 Query per day."""
    day = since.astimezone(datetime.UTC).date()
    last = until.astimezone(datetime.UTC).date()
    names = {"#pk": GSI1PK, "#sk": GSI1SK}
    values: dict[str, Any] = {":since": {"S": iso_millis(since.timestamp())}}
    filters = []
    for name, value in (("action", action), ("outcome", outcome)):
        if value:
            names[f"#{name}"] = name
            values[f":{name}"] = {"S": value}
            filters.append(f"#{name} = :{name}")
    while day <= last:
        items = table.query(
            "#pk = :pk AND #sk >= :since",
            names=names,
            values={**values, ":pk": {"S": day_partition(day)}},
            index=GSI1_NAME,
            where=" AND ".join(filters) or None,
        )
        yield from (AuditRecord.from_item(item) for item in items)
        day += datetime.timedelta(days=1)


def _print(records: list[AuditRecord], *, form: str, empty: str) -> None:
    """``form``: "table", "json" (one document) or "json-lines" (``audit export``)."""
    if form == "json-lines":
        output.json_lines(r.to_json() for r in records)
        return
    if form == "json":
        output.json_document({"records": [r.to_json() for r in records]})
        return
    if not records:
        print(empty)
        return
    output.table(
        (
            "TIME (UTC)",
            "ACTION",
            "OUTCOME",
            "USER",
            "SOURCE IP",
            "USER AGENT",
            "REQUEST ID",
            "DETAIL",
        ),
        [
            (
                output.clean(r.time),
                output.clean(r.action),
                output.clean(r.outcome),
                output.clean(r.who, 40),
                output.clean(r.source_ip),
                output.clean(r.user_agent, 30),
                output.clean(r.request_id),
                output.clean(r.detail, 50),
            )
            for r in records
        ],
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def audit_user(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    account = resolve_account(table, args.user)
    since = _now() - args.since
    records = user_records(table, user_id=account.user_id, email=account.email, since=since)
    _print(
        records,
        form=output.output_format(args),
        empty=f"no audit records for {output.clean(args.user, 80)} since {output.utc(since)}",
    )
    return 0


def audit_recent(args: argparse.Namespace, target: Target) -> int:
    now = _now()
    since = now - args.since
    records = list(
        recent_records(
            target.table(), since=since, until=now, action=args.action, outcome=args.outcome
        )
    )
    _print(
        records,
        form="json-lines" if args.audit_command == "export" else output.output_format(args),
        empty=f"no audit records since {output.utc(since)}",
    )
    return 0


def add_audit_commands(
    commands: Any,
    aws_options: Callable[[argparse.ArgumentParser], None],
    with_target: Callable[[Command], Callable[..., int]],
) -> None:
    """Registers ``stepauth audit user|recent|export``."""
    audit = commands.add_parser(
        "audit",
        help="the audit trail: one user's attempts, recent records, export for a SIEM",
        description="Read the audit trail: one record per register, login (success, failure, "
        "lockout), refresh, reuse detection, logout, disable, account deletion and session "
        "expiry, with the source IP, user agent, request id and execution. Never a password, "
        "hash or token. Records expire after the stack's audit retention (400 days by default).",
    ).add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser, default_since: str) -> None:
        aws_options(parser)
        parser.add_argument(
            "--since",
            type=since_option,
            default=output.parse_since(default_since),
            help=f"how far back: 30m, 1h, 7d … (default {default_since})",
        )

    user = audit.add_parser(
        "user",
        help="one person's records in time order (by email or user id)",
        description="One person's records, oldest first, with source IP and user agent. An "
        "email finds the account's records and the attempts that named the email without an "
        "account (failed logins for an unknown email, registrations for a taken one). "
        "Example: stepauth audit user ada@example.com --since 24h",
    )
    common(user, "24h")
    user.add_argument("user", metavar="EMAIL_OR_ID", help="an email or a user id")
    output.add_output_option(user)
    user.set_defaults(run=with_target(audit_user))

    for name, text, default in (
        ("recent", "everyone's recent records, oldest first", "1h"),
        ("export", "records as JSON lines for a SIEM (one record per line)", "24h"),
    ):
        recent = audit.add_parser(
            name,
            help=text,
            description=f"{text.capitalize()}; read day by day from the audit index, no table "
            f"scan. Example: stepauth audit {name} --action login --outcome failure --since 7d",
        )
        common(recent, default)
        recent.add_argument("--action", help="only this action: register, login, refresh …")
        recent.add_argument("--outcome", help="only this outcome: success, failure, locked …")
        if name == "recent":
            output.add_output_option(recent)
        recent.set_defaults(run=with_target(audit_recent))

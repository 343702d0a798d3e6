"""``stepauth users list|show|disable|enable|delete|reset-mfa``: account administration for
operators.

The same rules as the admin API (``steps/core/sessions.py``): disabling a user or deleting an
account revokes every session at once (refresh is refused from then on; access tokens already
issued live out their 15 minutes). Enabling makes the account active again; revoked sessions
stay revoked. Each change is written to the audit trail as done by an operator.

``users list`` is a Scan of the whole table (paginated, users only, never the password hash):
an operator's tool, not something to run in a loop.

``users reset-mfa`` removes an account's multi-factor sign-in (a user who lost both the app and
the recovery codes): the enrolment is deleted, the removal audited as done by an operator, and
``MfaReset`` published on the stack's bus.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from steps.core.audit import write_audit
from steps.core.contract.entities import ENTITY_ATTRIBUTE, USER
from steps.core.mfa import mfa_enabled, remove_mfa
from steps.core.sessions import active_sessions, delete_account, disable_user
from steps.core.table import Table, UserRecord, user_from_item
from steps.core.user_admin import enable_user

from . import output
from .accounts import require_user
from .exits import UsageError
from .target import Target

Command = Callable[[argparse.Namespace, Target], int]

#: The user agent of audit records written by the command line.
OPERATOR = "stepauth-cli"
#: Everything a user item holds but the password hash (read by placeholder: some are reserved).
_USER_ATTRIBUTES = ("user_id", "email", "name", "roles", "status", "created_at")


def record_operator_action(table: Table, action: str, user_id: str, detail: str) -> None:
    write_audit(
        table,
        action=action,
        outcome="success",
        user_id=user_id,
        user_agent=OPERATOR,
        at=time.time(),
        detail=detail,
    )


def scan_users(table: Table, *, page_size: int = 200) -> Iterator[UserRecord]:
    """Every user item, page by page (a Scan filtered on the entity; no hash is read)."""
    items = table.scan(
        where="#entity = :user",
        names={"#entity": ENTITY_ATTRIBUTE},
        values={":user": {"S": USER.name}},
        attributes=_USER_ATTRIBUTES,
        page_size=page_size,
    )
    for item in items:
        # The hash is never read; the record type wants one, so it gets a stand-in.
        user = user_from_item({**item, "password_hash": {"S": "-"}})
        if user is not None:
            yield user


def _user_json(
    user: UserRecord, sessions: int | None = None, mfa: bool | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": user.user_id,
        "email": user.email,
        "name": user.name,
        "roles": list(user.roles),
        "status": user.status,
        "created_at": user.created_at,
    }
    if sessions is not None:
        document["active_sessions"] = sessions
    if mfa is not None:
        document["mfa"] = "on" if mfa else "off"
    return document


def list_users(args: argparse.Namespace, target: Target) -> int:
    users = [
        u for u in scan_users(target.table()) if args.status is None or u.status == args.status
    ]
    users.sort(key=lambda u: (u.created_at, u.email))
    if output.wants_json(args):
        output.json_document({"users": [_user_json(u) for u in users]})
        return 0
    if not users:
        print("no users")
        return 0
    output.table(
        ("ID", "EMAIL", "NAME", "ROLES", "STATUS", "CREATED (UTC)"),
        [
            (
                output.clean(u.user_id),
                output.clean(u.email),
                output.clean(u.name, 30),
                output.clean(",".join(u.roles)),
                u.status,
                output.clean(u.created_at),
            )
            for u in users
        ],
    )
    return 0


def show_user(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    sessions = len(active_sessions(table, user.user_id, now=time.time()))
    mfa = mfa_enabled(table, user.user_id)
    if output.wants_json(args):
        output.json_document(_user_json(user, sessions, mfa))
        return 0
    output.fields(
        [
            ("id", user.user_id),
            ("email", user.email),
            ("name", user.name),
            ("roles", ", ".join(user.roles)),
            ("status", user.status),
            ("created", user.created_at),
            ("active sessions", sessions),
            ("multi-factor", "on (TOTP)" if mfa else "off"),
        ]
    )
    return 0


def disable(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    disable_user(table, user.user_id, now=time.time())
    record_operator_action(table, "disable", user.user_id, "by an operator (stepauth CLI)")
    print(f"{user.email} ({user.user_id}): disabled; every session revoked")
    return 0


def enable(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = enable_user(table, require_user(table, args.user).user_id)
    record_operator_action(table, "enable", user.user_id, "by an operator (stepauth CLI)")
    print(f"{user.email} ({user.user_id}): active (revoked sessions stay revoked)")
    return 0


def delete(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    if not args.yes:
        raise UsageError(f"deleting {user.email} cannot be undone; add --yes to confirm")
    delete_account(table, user.user_id, now=time.time())
    record_operator_action(table, "delete_account", user.user_id, "by an operator (stepauth CLI)")
    print(f"{user.email} ({user.user_id}): deleted; every session revoked")
    return 0


def reset_mfa(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    if not remove_mfa(table, user_id=user.user_id):
        print(f"{user.email} ({user.user_id}): multi-factor sign-in was not on; nothing changed")
        return 0
    record_operator_action(table, "mfa_reset", user.user_id, "by an operator (stepauth CLI)")
    _publish_mfa_reset(target, user.user_id)
    print(f"{user.email} ({user.user_id}): multi-factor sign-in removed; password only now")
    return 0


def _publish_mfa_reset(target: Target, user_id: str) -> None:
    """``MfaReset`` on the stack's bus (events/schemas/MfaReset.json); the request id is the
    CLI's own, an operator's action has no API request."""
    from datetime import UTC, datetime

    detail = {
        "version": "1",
        "user_id": user_id,
        "request_id": f"stepauth-cli-{int(time.time() * 1000)}",
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "by": "operator",
    }
    target.client("events").put_events(
        Entries=[
            {
                "EventBusName": target.output("EventBusName"),
                "Source": "stepauth",
                "DetailType": "MfaReset",
                "Detail": json.dumps(detail),
            }
        ]
    )


def add_user_commands(
    users: Any,
    aws_options: Callable[[argparse.ArgumentParser], None],
    with_target: Callable[[Command], Callable[..., int]],
) -> None:
    """Adds list, show, disable, enable, delete and reset-mfa to ``stepauth users``."""
    listing = users.add_parser(
        "list",
        help="every user (a paginated table Scan)",
        description="Every user: id, email, name, roles, status, creation time; never the "
        "password hash. This scans the whole table (page by page): fine for an operator, "
        "not for a loop. Example: stepauth users list --status disabled",
    )
    aws_options(listing)
    listing.add_argument("--status", choices=("active", "disabled"), help="only these users")
    output.add_output_option(listing)
    listing.set_defaults(run=with_target(list_users))

    for name, command, text in (
        ("show", show_user, "one user's profile and active session count"),
        ("disable", disable, "disable a user and revoke every session (as the admin API does)"),
        ("enable", enable, "make a disabled user active again"),
        ("delete", delete, "delete an account and revoke every session (needs --yes)"),
        ("reset-mfa", reset_mfa, "remove a user's multi-factor sign-in (audited, MfaReset)"),
    ):
        parser = users.add_parser(
            name,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. USER is an email or a user id. "
            f"Example: stepauth users {name} ada@example.com",
        )
        aws_options(parser)
        parser.add_argument("user", metavar="USER", help="an email or a user id")
        if name == "show":
            output.add_output_option(parser)
        if name == "delete":
            parser.add_argument("--yes", action="store_true", help="confirm the deletion")
        parser.set_defaults(run=with_target(command))

"""``stepauth sessions list|revoke``: a user's sessions (refresh families), for operators.

A session starts at login or registration and ends when it is revoked (logout, reuse, disable,
an operator) or expires. Expiry is checked here, not left to TTL. Revoking uses the same
conditional write as the API (``steps/core/sessions.py``); the stream clean-up then removes the
session's refresh tokens. Refresh is refused at once; access tokens already issued live out
their lifetime (15 minutes by default).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from steps.core.sessions import revoke_all_families, revoke_family
from steps.core.table import (
    FAMILY_PREFIX,
    RefreshFamilyRecord,
    Table,
    refresh_family_from_item,
    user_id_partition,
)

from . import output
from .accounts import require_user
from .exits import NotFound
from .target import Target
from .users import record_operator_action

Command = Callable[[argparse.Namespace, Target], int]


def user_sessions(table: Table, user_id: str) -> list[RefreshFamilyRecord]:
    """Every refresh family of the user still in the table, newest first (gsi1 Query)."""
    families = [
        family
        for item in table.query_gsi1(user_id_partition(user_id), sk_prefix=FAMILY_PREFIX)
        if (family := refresh_family_from_item(item)) is not None and family.user_id == user_id
    ]
    return sorted(families, key=lambda f: (-f.created_at, f.family_id))


def session_state(family: RefreshFamilyRecord, now: float) -> str:
    if family.status != "active":
        return f"{family.status} ({family.revoked_reason or '-'})"
    return "expired" if family.is_expired(now) else "active"


def _session_json(family: RefreshFamilyRecord, now: float) -> dict[str, Any]:
    return {
        "id": family.family_id,
        "user_id": family.user_id,
        "state": session_state(family, now),
        "created_at": output.iso(output.from_epoch(family.created_at)),
        "last_used_at": output.iso(output.from_epoch(family.last_used_at)),
        "expires_at": output.iso(output.from_epoch(family.expires_at)),
        "revoked_at": output.iso(output.from_epoch(family.revoked_at)),
        "source_ip": family.source_ip,
        "user_agent": family.user_agent,
    }


def list_sessions(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    now = time.time()
    sessions = [s for s in user_sessions(table, user.user_id) if args.all or s.is_usable(now)]
    if output.wants_json(args):
        output.json_document({"sessions": [_session_json(s, now) for s in sessions]})
        return 0
    if not sessions:
        print(f"{user.email}: no {'' if args.all else 'active '}sessions")
        return 0
    output.table(
        ("SESSION", "STATE", "STARTED (UTC)", "LAST USED", "EXPIRES", "SOURCE IP", "USER AGENT"),
        [
            (
                s.family_id,
                session_state(s, now),
                output.utc(output.from_epoch(s.created_at)),
                output.utc(output.from_epoch(s.last_used_at)),
                output.utc(output.from_epoch(s.expires_at)),
                output.clean(s.source_ip),
                output.clean(s.user_agent, 40),
            )
            for s in sessions
        ],
    )
    return 0


def revoke(args: argparse.Namespace, target: Target) -> int:
    table = target.table()
    user = require_user(table, args.user)
    now = time.time()
    if args.all:
        count = revoke_all_families(table, user.user_id, reason="admin", now=now)
        detail = f"{count} sessions revoked by an operator (stepauth CLI)"
    else:
        if not revoke_family(
            table, args.family, reason="admin", now=now, owner_user_id=user.user_id
        ):
            raise NotFound(f"{user.email} has no active session {output.clean(args.family, 80)}")
        count, detail = 1, f"session {args.family} revoked by an operator (stepauth CLI)"
    record_operator_action(table, "revoke_sessions", user.user_id, detail)
    print(f"{user.email}: {count} session{'s' if count != 1 else ''} revoked")
    return 0


def add_session_commands(
    commands: Any,
    aws_options: Callable[[argparse.ArgumentParser], None],
    with_target: Callable[[Command], Callable[..., int]],
) -> None:
    """Registers ``stepauth sessions list|revoke``."""
    sessions = commands.add_parser(
        "sessions",
        help="a user's sessions: list, revoke",
        description="A user's sessions (refresh token families): where they started, when "
        "they were last used, when they expire; revoke one or all of them.",
    ).add_subparsers(dest="sessions_command", required=True, metavar="ACTION")
    listing = sessions.add_parser(
        "list",
        help="a user's active sessions (--all: revoked and expired ones too)",
        description="A user's sessions, newest first. USER is an email or a user id. "
        "Example: stepauth sessions list ada@example.com --all",
    )
    aws_options(listing)
    listing.add_argument("user", metavar="USER", help="an email or a user id")
    listing.add_argument("--all", action="store_true", help="include revoked and expired ones")
    output.add_output_option(listing)
    listing.set_defaults(run=with_target(list_sessions))
    revoking = sessions.add_parser(
        "revoke",
        help="revoke all of a user's sessions, or one",
        description="Revoke sessions: refresh is refused at once, access tokens already "
        "issued expire on their own. Example: stepauth sessions revoke ada@example.com --all",
    )
    aws_options(revoking)
    revoking.add_argument("user", metavar="USER", help="an email or a user id")
    which = revoking.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every active session")
    which.add_argument("--family", metavar="ID", help="one session (see sessions list)")
    revoking.set_defaults(run=with_target(revoke))

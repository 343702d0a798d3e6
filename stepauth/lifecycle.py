"""``stepauth mail list|show`` (the local mailbox) and ``stepauth events tail`` (the bus).

The mailbox is the local cloud's capture of SES (``GET /_aws/ses``); on AWS mail goes to real
inboxes and there is nothing to list (exit 3). The events are read from the stack's event log
group (the ``KeepEvents`` rule writes every lifecycle event there), on AWS and locally alike.
All three only read, and follow the command line's conventions (``--output table|json``, exit
codes of :mod:`stepauth.exits`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from . import output
from .exits import NotFound, Unreachable
from .target import Target

Command = Callable[[argparse.Namespace, Target], int]


def mailbox(target: Target) -> list[dict[str, Any]]:
    if not target.is_local:
        raise NotFound("the mailbox exists only in the local cloud (mail on AWS goes to inboxes)")
    try:
        with urllib.request.urlopen(f"{target.endpoint_url}/_aws/ses", timeout=5) as answer:  # noqa: S310
            return list(json.loads(answer.read())["messages"])
    except urllib.error.URLError as error:
        raise Unreachable(f"cannot reach the local mailbox at {target.endpoint_url}") from error


def newest_first(messages: list[dict[str, Any]], to: str | None) -> list[dict[str, Any]]:
    chosen = [
        m
        for m in messages
        if to is None
        or to.strip().lower()
        in (address.lower() for kind in m["Destination"].values() for address in kind)
    ]
    return sorted(chosen, key=lambda m: m["Timestamp"], reverse=True)


def _mail_list(args: argparse.Namespace, target: Target) -> int:
    messages = newest_first(mailbox(target), args.to)
    if output.wants_json(args):
        output.json_document({"messages": messages})
        return 0
    if not messages:
        print("no messages")
        return 0
    output.table(
        ("SENT", "ID", "TO", "SUBJECT"),
        (
            (
                output.clean(m["Timestamp"]),
                output.clean(m["Id"]),
                output.clean(", ".join(m["Destination"].get("ToAddresses", [])), 60),
                output.clean(m["Subject"], 60),
            )
            for m in messages
        ),
    )
    return 0


def _mail_show(args: argparse.Namespace, target: Target) -> int:
    found = [m for m in mailbox(target) if m["Id"] == args.id]
    if not found:
        raise NotFound(f"no message {output.clean(args.id, 80)}")
    message = found[0]
    if output.wants_json(args):
        output.json_document({"message": message})
        return 0
    print(f"From:    {output.clean(message['Source'])}")
    print(f"To:      {output.clean(', '.join(message['Destination'].get('ToAddresses', [])))}")
    print(f"Date:    {output.clean(message['Timestamp'])}")
    print(f"Subject: {output.clean(message['Subject'])}")
    print()
    print(message["Body"].get("text_part") or message["Body"].get("html_part") or "")
    return 0


def event_lines(logs: Any, group: str, start_ms: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(timestamp, event) of every logged event since ``start_ms``, oldest first."""
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start_ms)
    for page in pages:
        for entry in page.get("events", []):
            yield entry["timestamp"], json.loads(entry["message"])


def format_event(event: dict[str, Any]) -> str:
    detail = event.get("detail", {})
    facts = " ".join(
        f"{key}={value}"
        for key, value in detail.items()
        if key not in ("version", "time", "user_id", "request_id")
    )
    return (
        f"{detail.get('time', event.get('time', ''))}  {event.get('detail-type', ''):<26} "
        f"user {detail.get('user_id', '-')}  request {detail.get('request_id', '-')}  {facts}"
    ).rstrip()


def _events_tail(args: argparse.Namespace, target: Target) -> int:
    logs = target.client("logs")
    group = target.output("EventLogGroup")
    since = int((time.time() - args.since_minutes * 60) * 1000)
    seen: set[str] = set()
    as_json = output.wants_json(args)
    while True:
        batch = sorted(event_lines(logs, group, since), key=lambda pair: pair[0])
        fresh = []
        for stamp, event in batch:
            if str(event.get("id")) in seen:
                continue
            seen.add(str(event.get("id")))
            since = max(since, stamp)
            fresh.append(event)
        if not args.follow:
            # One document, as every command's JSON output.
            if as_json:
                output.json_document({"events": fresh})
            for event in [] if as_json else fresh:
                print(output.clean(format_event(event)))
            return 0
        # Following: one compact JSON document per line (a stream, as `audit export`).
        if as_json:
            output.json_lines(fresh)
        for event in [] if as_json else fresh:
            print(output.clean(format_event(event)), flush=True)
        sys.stdout.flush()
        time.sleep(1)


def add_lifecycle_commands(
    commands: Any,
    aws_options: Callable[[argparse.ArgumentParser], None],
    with_target: Callable[[Command], Callable[..., int]],
) -> None:
    mail = commands.add_parser(
        "mail",
        help="the local cloud's captured email: list, show",
        description="Email sent through SES in the local cloud (GET /_aws/ses), newest first.",
    ).add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    listing = mail.add_parser("list", help="captured messages, newest first")
    aws_options(listing)
    listing.add_argument("--to", help="only messages to this address")
    output.add_output_option(listing)
    listing.set_defaults(run=with_target(_mail_list))
    show = mail.add_parser("show", help="one message, with its text body")
    aws_options(show)
    show.add_argument("id", help="the message id (from mail list)")
    output.add_output_option(show)
    show.set_defaults(run=with_target(_mail_show))

    events = commands.add_parser(
        "events",
        help="lifecycle events on the stack's bus: tail",
        description="Lifecycle events (UserRegistered, EmailVerified …) as the bus saw them, "
        "read from the stack's event log group.",
    ).add_subparsers(dest="events_command", required=True, metavar="ACTION")
    tail = events.add_parser("tail", help="recent events, oldest first; --follow keeps watching")
    aws_options(tail)
    tail.add_argument("--since-minutes", type=int, default=60, help="how far back (default 60)")
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    output.add_output_option(tail)  # with --follow, json is one document per line
    tail.set_defaults(run=with_target(_events_tail))

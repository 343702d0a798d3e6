"""Step: create a one-time code and link, store their hashes, and email them (SES v2).

Input ``{"kind", "user_id", "email", "task_token"?}``: with ``task_token`` (the waiting
STANDARD execution's) a verification starts; without, the pending one gets a fresh code (a
resend). Output ``{"sent": bool, "reason"?}``: never the code, the link token or a hash: they
are created, stored (as hashes) and sent here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from steps.core import aws
from steps.core.clock import system_clock
from steps.core.emails import normalise_email
from steps.core.mail_templates import NOTICES, Message, render, render_notice
from steps.core.observability import step_log
from steps.core.table import Table, committing_table
from steps.core.verification import KINDS, MailSettings, issue, take_send_slot


def code_key() -> bytes:
    """The HMAC key of the codes, from the stack's secret, read on each use: four functions
    read it, each under its own grant, and a shared in-process cache would let the local cloud
    hide a missing one (one Secrets Manager call per code operation is cheap)."""
    secret = aws.client("secretsmanager").get_secret_value(
        SecretId=os.environ["CODE_KEY_SECRET_ID"]
    )
    return str(secret["SecretString"]).encode()


def send_for_state(
    event: Any,
    *,
    table: Table,
    key: bytes,
    ses: Any,
    now: float,
    settings: MailSettings,
) -> dict[str, Any]:
    if not isinstance(event, Mapping) or event.get("kind") not in (*KINDS, *NOTICES):
        raise ValueError("The step input needs a known kind.")
    user_id, email = str(event["user_id"]), normalise_email(event["email"])
    task_token = event.get("task_token")
    if not take_send_slot(table, email, now=now, per_hour=settings.sends_per_hour):
        return {"sent": False, "reason": "limited"}
    if event["kind"] in NOTICES:
        _send(ses, settings, email, render_notice(event["kind"], service=settings.service_name))
        return {"sent": True}
    secrets_ = issue(
        table,
        key,
        kind=event["kind"],
        user_id=user_id,
        email=email,
        now=now,
        settings=settings,
        task_token=str(task_token) if task_token else None,
        execution_id=str(event.get("execution_id", "")),
    )
    message = render(
        event["kind"],
        service=settings.service_name,
        code=secrets_.code,
        link_token=secrets_.link_token,
        link_base_url=settings.link_base_url,
        ttl_seconds=settings.ttl_for(event["kind"]),
    )
    _send(ses, settings, email, message)
    return {"sent": True}


def _send(ses: Any, settings: MailSettings, email: str, message: Message) -> None:
    ses.send_email(
        FromEmailAddress=settings.sender,
        Destination={"ToAddresses": [email]},
        Content={
            "Simple": {
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": message.text, "Charset": "UTF-8"},
                    "Html": {"Data": message.html, "Charset": "UTF-8"},
                },
            }
        },
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with step_log("send_email", {}) as log:
        result = send_for_state(
            event,
            table=committing_table(event),
            key=code_key(),
            ses=aws.client("sesv2"),
            now=system_clock.now(),
            settings=MailSettings.from_env(),
        )
        log.succeeded(
            kind=event.get("kind"), user_id=event.get("user_id"), sent=str(result["sent"]).lower()
        )
        return result

"""Subject, plain-text and HTML body per message kind.

The code and link are filled in inside the sending Lambda only; the service name, the sender
and the link base URL come from configuration (``MailSettings``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str

    def __repr__(self) -> str:  # the bodies hold a code and a link
        return f"Message(subject={self.subject!r})"


_TEMPLATES = {
    "verify_email": (
        "Verify your email for {service}",
        "Your {service} verification code is {code}.\n\n"
        "Or open this link: {link}\n\n"
        "The code and the link work once and expire in {hours} hours. "
        "If you did not create an account, ignore this message.\n",
        "/v1/email/verify?token=",
    ),
    "reset_password": (
        "Reset your {service} password",
        "Your {service} password reset code is {code}.\n\n"
        "Or open this link: {link}\n\n"
        "The code and the link work once and expire in {hours} hours. "
        "If you did not ask for this, ignore this message: your password stays as it is.\n",
        "/v1/password/reset?token=",
    ),
    "change_email": (
        "Confirm your new email for {service}",
        "Your {service} email change code is {code}.\n\n"
        "Or open this link while signed in: {link}\n\n"
        "The code and the link work once and expire in {hours} hours. "
        "If you did not ask for this, ignore this message.\n",
        "/v1/me/email/verify?token=",
    ),
}
#: Notices: no code, no link (a change the user should know about).
NOTICES = {
    "email_change_requested": (
        "A new email address was requested for your {service} account",
        "Someone signed in to your {service} account asked to move it to another email "
        "address. This address keeps working until the new one is confirmed.\n\n"
        "If this was not you, change your password now.\n",
    ),
    "password_changed": (
        "Your {service} password was changed",
        "The password of your {service} account was changed and your other sessions were "
        "signed out.\n\nIf this was not you, reset your password now and review your account.\n",
    ),
}


def render_notice(kind: str, *, service: str) -> Message:
    subject, text = NOTICES[kind]
    body = text.format(service=service)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.strip().split("\n\n"))
    return Message(subject.format(service=service), body, paragraphs)


_ACTIONS = {
    "verify_email": "Verify your email",
    "reset_password": "Choose a new password",
    "change_email": "Confirm the new email",
}
_NOUNS = {
    "verify_email": "verification",
    "reset_password": "password reset",
    "change_email": "email change",
}


def render(
    kind: str, *, service: str, code: str, link_token: str, link_base_url: str, ttl_seconds: int
) -> Message:
    subject, text, link_path = _TEMPLATES[kind]
    link = f"{link_base_url}{link_path}{quote(link_token)}"
    values = {"service": service, "code": code, "link": link, "hours": max(1, ttl_seconds // 3600)}
    body = text.format(**values)
    escaped = {key: html.escape(str(value), quote=True) for key, value in values.items()}
    html_body = (
        f"<p>Your {escaped['service']} {_NOUNS[kind]} code is "
        f"<strong>{escaped['code']}</strong>.</p>"
        f'<p><a href="{escaped["link"]}">{_ACTIONS[kind]}</a></p>'
        f"<p>The code and the link work once and expire in {escaped['hours']} hours. "
        "If you did not ask for this, ignore this message.</p>"
    )
    return Message(subject.format(**values), body, html_body)

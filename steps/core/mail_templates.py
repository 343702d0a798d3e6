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
        f"<p>Your {escaped['service']} verification code is <strong>{escaped['code']}</strong>."
        f'</p><p><a href="{escaped["link"]}">Verify your email</a></p>'
        f"<p>The code and the link work once and expire in {escaped['hours']} hours. "
        "If you did not create an account, ignore this message.</p>"
    )
    return Message(subject.format(**values), body, html_body)

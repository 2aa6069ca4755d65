"""What a notification says, from templates, and the email that carries it.

Templates live in ``templates/`` as ``<kind>.<language>.<part>.j2``: ``subject``, ``txt``, ``html``
(autoescaped: a complaint's title or a customer's name is shown, never interpreted) and ``sms``.
Jinja2 is imported on first use, not at cold start.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")
LANGUAGES = ("zh", "en")
BEIJING = timezone(timedelta(hours=8), "CST")  # China has no daylight saving time


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    sms: str


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def render(kind: str, language: str, **context: Any) -> Rendered:
    """The four parts of notification ``kind`` (``ack``, ``reply_ack``) in ``language``."""
    if language not in LANGUAGES:
        raise ValueError(f"no templates for language {language!r}")
    env = _environment()
    part = lambda name: env.get_template(f"{kind}.{language}.{name}.j2").render(**context)  # noqa: E731
    return Rendered(subject=" ".join(part("subject").split()), text=part("txt"), html=part("html"),
                    sms=" ".join(part("sms").split()))


def format_deadline(at: datetime, language: str) -> str:
    """A point in time as the customer reads it: Beijing time in Chinese, UTC in English."""
    if language == "zh":
        local = at.astimezone(BEIJING)
        return f"北京时间 {local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    utc = at.astimezone(timezone.utc)
    return f"{utc.day} {utc:%B %Y, %H:%M} UTC"


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def compose_email(rendered: Rendered, *, sender_name: str, sender_address: str, to_name: str | None,
                  to_address: str, message_id: str, language: str, sent_at: datetime,
                  in_reply_to: str | None = None) -> EmailMessage:
    """multipart/alternative (text, then HTML), with our Message-ID and headers that keep
    auto-responders (out-of-office replies) from answering an automatic message."""
    from email.headerregistry import Address
    from email.utils import format_datetime

    msg = EmailMessage()
    msg["From"] = Address(display_name=one_line(sender_name), addr_spec=sender_address)
    msg["To"] = Address(display_name=one_line(to_name), addr_spec=to_address) if to_name else to_address
    msg["Reply-To"] = sender_address
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(sent_at.astimezone(timezone.utc))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: automatic answers must not be answered
    msg["X-Auto-Response-Suppress"] = "All"  # the same for Exchange/Outlook
    cte = "base64" if language == "zh" else "quoted-printable"  # the shorter for each script
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte=cte)
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte=cte)
    msg["Content-Language"] = "zh-CN" if language == "zh" else "en"  # after set_content, which drops Content-*
    return msg


def email_bytes(message: EmailMessage) -> bytes:
    """The message as SES takes it (CRLF line ends, 7-bit: quoted-printable bodies, encoded headers)."""
    from email import policy

    return message.as_bytes(policy=policy.SMTP)

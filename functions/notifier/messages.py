"""What a notification says, from templates, and the email that carries it.

Templates live in ``templates/`` as ``<kind>.<language>.<part>.j2``: ``subject``, ``txt``, ``html``
(autoescaped: a complaint's title, a customer's name or a handler's reply is shown, never
interpreted) and ``sms``. Files starting with ``_`` are layouts the others extend. Kinds: ``ack``
and ``reply_ack`` (acknowledgements), the customer-facing case events (``staff_replied``,
``information_requested``, ``resolution_proposed``, ``resolved``, ``closed``), the staff-facing ones
(``staff_<kind>``: ``staff_assigned`` ...), ``staff_alert`` (SLA alerts) and ``webhook`` (the short
text of a webhook post). Jinja2 is imported on first use, not at cold start.
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


PARTS = ("subject", "txt", "html", "sms")


def render(kind: str, language: str, /, **context: Any) -> Rendered:
    """The parts of notification ``kind`` (``ack``, ``staff_replied``, ``staff_assigned`` ...) in
    ``language``; a kind without an SMS template gets an empty ``sms``."""
    if language not in LANGUAGES:
        raise ValueError(f"no templates for language {language!r}")
    env = _environment()
    available = set(env.list_templates())

    def part(name: str) -> str:
        path = f"{kind}.{language}.{name}.j2"
        if name == "sms" and path not in available:
            return ""
        return env.get_template(path).render(**context)

    return Rendered(subject=" ".join(part("subject").split()), text=part("txt"), html=part("html"),
                    sms=" ".join(part("sms").split()))


def render_part(kind: str, language: str, part: str, /, **context: Any) -> str:
    """One part of a template (e.g. the webhook's ``txt``), as written."""
    if language not in LANGUAGES:
        raise ValueError(f"no templates for language {language!r}")
    return _environment().get_template(f"{kind}.{language}.{part}.j2").render(**context)


def template_names() -> dict[str, list[str]]:
    """Every template kind and the parts it has (``{"ack": ["html", "sms", "subject", "txt"], ...}``)."""
    found: dict[str, set[str]] = {}
    for path in TEMPLATES.glob("*.j2"):
        pieces = path.name.split(".")
        if path.name.startswith("_") or len(pieces) != 4 or pieces[1] not in LANGUAGES:
            continue
        found.setdefault(pieces[0], set()).add(pieces[2])
    return {kind: sorted(parts) for kind, parts in sorted(found.items())}


def format_money(amount: Any, currency: str | None) -> str:
    """``1,280.00 CNY`` (two decimals, the ISO 4217 code after the amount, in both languages)."""
    from decimal import Decimal

    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    return f"{value:,.2f} {currency}" if currency else f"{value:,.2f}"


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters added before its ``#fragment`` (the tracking link keeps its token
    in the fragment, which browsers never send to the server)."""
    from urllib.parse import quote

    base, hash_, fragment = url.partition("#")
    extra = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in params.items())
    joined = f"{base}{'&' if '?' in base else '?'}{extra}" if extra else base
    return f"{joined}{hash_}{fragment}"


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
                  in_reply_to: str | None = None, references: list[str] | None = None) -> EmailMessage:
    """multipart/alternative (text, then HTML), with our Message-ID and headers that keep
    auto-responders (out-of-office replies) from answering an automatic message. ``in_reply_to`` and
    ``references`` (the thread, oldest first; default: just ``in_reply_to``) keep it in the thread."""
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
        msg["References"] = " ".join([*dict.fromkeys(r for r in references or [] if r != in_reply_to), in_reply_to])
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

"""Message-IDs of the emails we send, so that a customer's reply finds its complaint.

Every email the system sends gets a Message-ID of our own making::

    <CK7M4QX9TR.ack.5f0c2a9e81d4b3c7@example.com>
     |          |   |                `- our mail domain (settings().mail_domain)
     |          |   `------------------ 64 random bits: ids of one case never collide
     |          `---------------------- purpose (ack, reply-ack ...)
     `--------------------------------- complaint number

SES replaces a Message-ID given in a raw message with its own, ``<MessageId@email.amazonses.com>``
(``<MessageId@<region>.amazonses.com>`` outside us-east-1), so the notifier records both (ours and
SES's) as items ``PK=MSGID#<message-id>``, ``SK=MSGID`` -> ``complaint_id``. The email intake looks
replies up by their In-Reply-To and References headers (``shared.mailbox.Mailbox``).

Keys hold the id exactly as it appears in a header, angle brackets included; both sides pass ids
through :func:`normalize_message_id`.
"""
from __future__ import annotations

import re
import secrets

from shared.identifiers import InvalidComplaintNumber, normalize_complaint_number

MSGID = "MSGID"
_OURS = re.compile(r"^<(?P<number>[0-9A-Za-z]{10})\.(?P<purpose>[a-z][a-z0-9-]{0,30})\.[0-9a-f]{16}@(?P<domain>[^<>@\s]+)>$")
_ANY = re.compile(r"^<[^<>\s]{1,994}>$")


def our_message_id(complaint_id: str, purpose: str, domain: str) -> str:
    """A new Message-ID for an email about ``complaint_id``; ``purpose`` like ``ack`` or ``reply-ack``."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", purpose):
        raise ValueError("purpose must be lower-case letters, digits and dashes")
    return f"<{complaint_id}.{purpose}.{secrets.token_hex(8)}@{domain}>"


def normalize_message_id(value: str | None) -> str | None:
    """``<id@host>`` from a header value (surrounding whitespace dropped, brackets added when missing);
    None for anything that cannot be a Message-ID (empty, spaces or brackets inside, too long)."""
    if not value:
        return None
    text = value.strip()
    if not text.startswith("<"):
        text = f"<{text}>"
    return text if _ANY.match(text) and "@" in text else None


def parse_our_message_id(message_id: str | None, domain: str | None = None) -> tuple[str, str] | None:
    """(complaint number, purpose) of a Message-ID in our format (from ``domain``, when given), else None.

    The number's check character is verified. This only reads the id: knowing a complaint number is
    enough to forge one, so threading a reply must rely on the recorded ids, not on this parse."""
    normalized = normalize_message_id(message_id)
    match = _OURS.match(normalized) if normalized else None
    if not match or (domain and match["domain"].lower() != domain.lower()):
        return None
    try:
        return normalize_complaint_number(match["number"]), match["purpose"]
    except InvalidComplaintNumber:
        return None


def complaint_of_message_id(message_id: str | None, domain: str | None = None) -> str | None:
    """The complaint number in one of our Message-IDs (see :func:`parse_our_message_id`), else None."""
    parsed = parse_our_message_id(message_id, domain)
    return parsed[0] if parsed else None


def ses_message_ids(ses_message_id: str, region: str) -> list[str]:
    """The Message-ID header SES gives a message it accepted with this MessageId: ``email.amazonses.com``
    in us-east-1, ``<region>.amazonses.com`` elsewhere (both returned outside us-east-1, to be safe)."""
    if not ses_message_id:  # sent unconfirmed (SES's answer lost): only our own Message-ID is known
        return []
    hosts = ["email.amazonses.com"] if region == "us-east-1" else [f"{region}.amazonses.com", "email.amazonses.com"]
    return [f"<{ses_message_id}@{host}>" for host in hosts]


def message_id_key(message_id: str) -> dict[str, str]:
    """The table key of a recorded Message-ID (plain strings; serialize for the low-level client)."""
    return {"PK": f"{MSGID}#{message_id}", "SK": MSGID}

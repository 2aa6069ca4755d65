"""Raw emails shaped like the ones mail clients really send, built byte by byte.

Built by hand (not with ``EmailMessage``) where the exact bytes matter: raw GBK in headers, a
declared charset that lies, broken base64, a multipart without a boundary... ``EmailMessage`` is used
where a well-formed message is the point (attachments, related parts, rfc822 forwards).
"""
from __future__ import annotations

import base64
import quopri
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from datetime import datetime, timezone

from shared.identifiers import check_character

CUSTOMER = "zhang.san@example.cn"
OUR_ADDRESS = "complaints@example.com"
DATE = format_datetime(datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc))
# a well-formed complaint number (check character valid) and one mistyped in its last character
NUMBER = "CK7M4QX9T" + check_character("K7M4QX9T")
MISTYPED = NUMBER[:-1] + ("A" if NUMBER[-1] != "A" else "B")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 20
DOCX = b"PK\x03\x04" + b"\x00" * 60


def encoded_word(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    data = text.encode(charset)
    if encoding == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    q = "".join(chr(b) if 33 <= b < 127 and chr(b) not in "=?_ " else ("_" if b == 32 else f"={b:02X}")
                for b in data)
    return f"=?{charset}?Q?{q}?="


def body_bytes(text: str, charset: str, cte: str) -> bytes:
    data = text.encode(charset)
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    return data


def raw(headers: list[tuple[str, str]] | list[str], body: bytes = b"", *, newline: bytes = b"\r\n") -> bytes:
    """Headers (pairs, or ready lines) and a body as wire bytes."""
    lines = [h if isinstance(h, str) else f"{h[0]}: {h[1]}" for h in headers]
    head = newline.join(line.encode("utf-8", "surrogateescape") for line in lines)
    return head + newline + newline + body.replace(b"\r\n", b"\n").replace(b"\n", newline)


def base_headers(subject: str = "Broken kettle", sender: str = f"Zhang San <{CUSTOMER}>", *,
                 to: str = OUR_ADDRESS, message_id: str = "<m1@mail.example.cn>",
                 extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    headers = [("From", sender), ("To", to), ("Subject", subject), ("Date", DATE),
               ("Message-ID", message_id), ("MIME-Version", "1.0")]
    return headers + list(extra or [])


def text_mail(text: str, *, subject: str = "Broken kettle", charset: str = "utf-8", cte: str = "8bit",
              sender: str = f"Zhang San <{CUSTOMER}>", extra: list[tuple[str, str]] | None = None,
              subtype: str = "plain", message_id: str = "<m1@mail.example.cn>", encode_as: str | None = None) -> bytes:
    """A single-part message; ``encode_as`` encodes the text in another charset than the declared one."""
    headers = base_headers(subject, sender, extra=extra, message_id=message_id) + [
        ("Content-Type", f'text/{subtype}; charset="{charset}"'), ("Content-Transfer-Encoding", cte)]
    return raw(headers, body_bytes(text, encode_as or charset, cte))


def part(ctype: str, payload: bytes, *, headers: list[tuple[str, str]] | None = None, cte: str | None = None) -> bytes:
    lines = [f"Content-Type: {ctype}"] + [f"{k}: {v}" for k, v in headers or []]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
        if cte == "base64":
            payload = base64.encodebytes(payload)
        elif cte == "quoted-printable":
            payload = quopri.encodestring(payload)
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + payload


def multipart(subtype: str, parts: list[bytes], boundary: str = "b0undary") -> tuple[str, bytes]:
    """(Content-Type value, body) of a multipart."""
    body = b"This is a multi-part message in MIME format.\r\n"
    for p in parts:
        body += f"\r\n--{boundary}\r\n".encode() + p
    body += f"\r\n--{boundary}--\r\n".encode()
    return f'multipart/{subtype}; boundary="{boundary}"', body


def multipart_mail(subtype: str, parts: list[bytes], *, subject: str = "Broken kettle",
                   sender: str = f"Zhang San <{CUSTOMER}>", extra: list[tuple[str, str]] | None = None,
                   boundary: str = "b0undary") -> bytes:
    ctype, body = multipart(subtype, parts, boundary)
    return raw(base_headers(subject, sender, extra=extra) + [("Content-Type", ctype)], body)


def with_attachments(text: str, attachments: list[tuple[str, str, bytes]], *, subject: str = "Broken kettle") -> bytes:
    """A well-formed message made with EmailMessage: text body plus (filename, type, data) files."""
    msg = EmailMessage()
    msg["From"] = f"Zhang San <{CUSTOMER}>"
    msg["To"] = OUR_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = DATE
    msg["Message-ID"] = "<att@mail.example.cn>"
    msg.set_content(text)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


def related_with_inline_image(html: str, plain: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Li Si <li.si@example.cn>"
    msg["To"] = OUR_ADDRESS
    msg["Subject"] = "Photo of the damage"
    msg["Date"] = DATE
    msg.set_content(plain or "See the photo.")
    msg.add_alternative(html, subtype="html")
    msg.get_payload()[1].add_related(PNG, maintype="image", subtype="png", cid="<photo1@example.cn>",
                                      filename="damage.png")
    return msg.as_bytes(policy=SMTP)


def forwarded_rfc822(note: str, inner: bytes, *, subject: str = "Fwd: Broken kettle") -> bytes:
    from email import message_from_bytes, policy

    msg = EmailMessage()
    msg["From"] = "Wang Wu <wang.wu@example.cn>"
    msg["To"] = OUR_ADDRESS
    msg["Subject"] = subject
    msg["Date"] = DATE
    msg.set_content(note)
    msg.add_attachment(message_from_bytes(inner, policy=policy.default))
    return msg.as_bytes(policy=SMTP)


def dsn_bounce(original: bytes) -> bytes:
    report = ("Reporting-MTA: dns; mx.example.cn\r\nArrival-Date: " + DATE + "\r\n\r\n"
              "Final-Recipient: rfc822; nobody@example.cn\r\nAction: failed\r\nStatus: 5.1.1\r\n").encode()
    ctype, body = multipart("report", [
        part("text/plain; charset=us-ascii", b"Your message could not be delivered.\r\n"),
        part("message/delivery-status", report),
        part("message/rfc822", original),
    ], "dsnb0undary")
    headers = [("From", "Mail Delivery System <MAILER-DAEMON@mx.example.cn>"),
               "To: unlisted-recipients:; (no To-header on input)",
               ("Subject", "Undelivered Mail Returned to Sender"), ("Date", DATE),
               ("Auto-Submitted", "auto-replied"), ("MIME-Version", "1.0"),
               ("Content-Type", ctype.replace("multipart/report;", "multipart/report; report-type=delivery-status;"))]
    return raw(headers, body)

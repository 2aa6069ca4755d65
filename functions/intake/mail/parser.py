"""A raw email (bytes, as SES stores it in S3) to a :class:`ParsedMail`: who wrote, about what,
what they wrote, what they attached, and whether a machine wrote it. Pure: no AWS calls.

The standard library's modern API parses the MIME structure (``BytesParser(policy=default)``).
Headers are read defensively: the modern header parser is used when it copes, and a header it
cannot parse (group addresses in bounces raise ``AttributeError``; unknown charsets in encoded
words come back as replacement characters; raw GBK bytes as mojibake) is decoded from its raw
source instead (:mod:`.decoding`). :func:`parse_mail` never raises: anything unexpected becomes
a quarantine with reason ``parse_error: <ExceptionType>`` (no message content in the reason).

Sender: the customer is the ``From`` address. ``Reply-To`` is not used: it names where answers
should go (often a no-reply or list address), not who complains, and it is trivially forged
to point a case at someone else. ``Sender`` is not used either.
"""
from __future__ import annotations

import binascii
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.errors import CharsetError, InvalidBase64LengthDefect, UndecodableBytesDefect
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, Callable, Iterable, Literal

from shared.attachments import ALLOWED_TYPES, safe_filename
from shared.mail_ids import complaint_of_message_id
from shared.models import detect_language

from . import signals
from .cleaning import FULL_TEXT_MAX, clean_body, finish, is_forward_subject, normalise_text
from .decoding import (clean_line, decode_bytes, decode_encoded_words, decode_header_value, decode_raw_header,
                       has_mojibake)


@dataclass(frozen=True)
class MailAttachment:
    filename: str  # safe name (shared.attachments.safe_filename); "attachment-N.ext" when the mail names none
    content_type: str  # lower-case, no parameters; application/octet-stream refined from the file name
    data: bytes
    inline: bool = False  # Content-Disposition inline, part of multipart/related, or cid-referenced by the HTML
    content_id: str | None = None  # without angle brackets, as "cid:" URLs spell it


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None  # "<id@host>"
    in_reply_to: list[str]  # "<id@host>" each
    references: list[str]
    sender_address: str | None  # lower-cased addr-spec of From (never Reply-To: see module docstring)
    sender_name: str | None  # decoded display name
    to: list[str]  # lower-cased addr-specs, at most MAX_TO
    subject: str  # decoded, one line, may be ""
    date: datetime | None  # aware, UTC
    text: str  # cleaned body: the description of a case (quoted history and signatures trimmed)
    full_text: str  # body before trimming (capped at cleaning.FULL_TEXT_MAX)
    language: Literal["zh", "en"]
    attachments: list[MailAttachment]
    auto_reason: str | None  # machine-made: loop, bounce, auto_submitted, auto_reply, bulk, mailing_list...
    quarantine_reason: str | None  # virus/spam verdict, unusable message, parse_error: <Type>
    defects: list[str]  # short names of MIME defects and fallbacks met, never content
    size: int  # raw bytes


MAX_DEPTH = 25
MAX_PARTS = 2000
MAX_DEFECTS = 40
MAX_TO = 100
SUBJECT_MAX = 998
COMPAT_PARSE_PARTS = 1000
MODERN_HEADER_MAX = 8192  # longer values skip the modern header parser (it is slow on huge ones)
_HEADER_NAME = re.compile(rb"^[!-9;-~]+[ \t]*:")
_KNOWN_HEADER = re.compile(rb"^(from|to|cc|subject|date|message-id|mime-version|content-[a-z-]+|received|"
                           rb"return-path|reply-to|in-reply-to|references|sender|x-[!-9;-~]*)[ \t]*:", re.I)
_CONTENT_TYPE_LINE = re.compile(rb"^content-type[ \t]*:", re.I | re.M)
_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?((?!us-ascii|utf-?8)[A-Za-z0-9_.:-]{2,40})""", re.I)
_UNQUOTED_NAME = re.compile(r"(?:^|;)\s*(?:file)?name\s*=\s*([^\s\"';][^;]*)", re.I)
_MESSAGE_ID = re.compile(r"<([^<>]{1,500})>")
_ID_JUNK = re.compile(r"\s+|\([^()]*\)")
_ADDRESS = re.compile(r'^("[^"\r\n]{1,64}"|[^@\s<>()\[\],;:"]{1,64})@[^@\s<>()\[\],;:"]+\.[^@\s<>()\[\],;:".]+$')
_BOUNDARY_LINE = re.compile(rb"^--([^\s\"]{1,200}?)(?:--)?[ \t]*\r?$", re.M)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_SIGNATURE_TYPES = {"application/pgp-signature", "application/pkcs7-signature",
                    "application/x-pkcs7-signature", "application/pgp-keys"}
_SKIPPED_MESSAGE_TYPES = {"message/delivery-status", "message/global-delivery-status",
                          "message/disposition-notification", "message/feedback-report",
                          "message/external-body", "message/partial", "text/rfc822-headers",
                          "message/rfc822-headers", "message/global-headers"}
_GENERIC_TYPES = {"application/octet-stream", "application/x-unknown", "application/unknown",
                  "application/octetstream", "application/binary", "binary/octet-stream"}
_FORWARDABLE = {"message/rfc822", "message/global", "message/news"}
_STANDARD_CTE = {"7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode",
                 "x-uue", "uue", ""}


def _mime_types() -> mimetypes.MimeTypes:
    """Python's built-in table (not the host's /etc/mime.types: the same answers everywhere) plus the
    office and audio types complaints carry."""
    table = mimetypes.MimeTypes()
    for ctype, extensions in ALLOWED_TYPES.items():
        for ext in extensions:
            if table.guess_type("x." + ext, strict=False)[0] is None:
                table.add_type(ctype, "." + ext, strict=False)
    return table


_MIME_TYPES = _mime_types()


def parse_mail(raw: bytes, *, own_addresses: Iterable[str] = ()) -> ParsedMail:
    """Parse one raw message. Never raises: see the module docstring."""
    try:
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    except Exception as exc:  # not bytes-like at all
        return _unusable(0, f"parse_error: {type(exc).__name__}")
    try:
        own = {str(a).strip().lower() for a in own_addresses if a}
        return _Reader(data, own).read()
    except Exception as exc:  # noqa: BLE001 - the contract: any failure becomes a quarantine
        return _unusable(len(data), f"parse_error: {type(exc).__name__}")


def _unusable(size: int, reason: str, **known: Any) -> ParsedMail:
    values: dict[str, Any] = dict(
        message_id=None, in_reply_to=[], references=[], sender_address=None, sender_name=None, to=[],
        subject="", date=None, text="", full_text="", language="en", attachments=[], auto_reason=None,
        quarantine_reason=reason, defects=[], size=size)
    values.update(known)
    return ParsedMail(**values)


def _defect_name(defect: object) -> str:
    name = type(defect).__name__.removesuffix("Defect")
    return _CAMEL.sub("_", name).lower() or "defect"


def _safe(call: Callable[[], Any], default: Any = None) -> Any:
    try:
        return call()
    except Exception:  # noqa: BLE001 - a header or parameter the stdlib cannot read
        return default


_NOT_BASE64 = bytes(b for b in range(256)
                    if b not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _lenient_base64(data: bytes) -> bytes:
    """Base64 that the stdlib gave up on (stray characters, a line of the wrong length): decoded
    line by line, so the damage stays within the broken line."""
    out = bytearray()
    for line in data.splitlines():
        kept = line.translate(None, _NOT_BASE64)
        if len(kept) % 4 == 1:
            kept = kept[:-1]
        if kept:
            out += _safe(lambda k=kept: binascii.a2b_base64(k + b"=" * (-len(k) % 4)), b"") or b""
    return bytes(out)


def _binary_share(data: bytes) -> float:
    """Share of control bytes (other than tab and line ends) in the first 4 KB."""
    sample = data[:4096]
    if not sample:
        return 0.0
    return len(sample.translate(None, _TEXT_CONTROLS_KEPT)) / len(sample)


_TEXT_CONTROLS_KEPT = bytes(b for b in range(256) if b >= 32 or b in (9, 10, 13))


def _looks_like_html(text: str) -> bool:
    """A text/plain part that is really an HTML document (some mailers label it so)."""
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body", "<div", "<p>", "<p ", "<table", "<meta"))


def message_ids(value: str | None) -> list[str]:
    """Message-IDs in a Message-ID/In-Reply-To/References value, as "<id>", in order, unique."""
    if not value:
        return []
    text = clean_line(_valid_unicode(value))
    found = [f"<{m}>" for m in (_ID_JUNK.sub("", m) for m in _MESSAGE_ID.findall(text)) if m]
    if not found:
        bare = text.strip("<> ")
        if bare and " " not in bare and len(bare) <= 500:
            found = [f"<{bare}>"]
    return list(dict.fromkeys(found))[:100]


def _valid_unicode(text: str) -> str:
    """8-bit header bytes (kept by the stdlib as lone surrogates, which cannot be encoded as UTF-8 for
    the store, the events or a reply's headers) read as UTF-8 (RFC 6532), anything invalid replaced."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _address(value: str | None) -> str | None:
    if not value:
        return None
    addr = value.strip().strip("<>").strip().lower()
    return addr if len(addr) <= 254 and _ADDRESS.match(addr) else None


class _Headers:
    """Top-level headers of one message, read without trusting the modern header parser."""

    def __init__(self, msg: Message, notes: list[str], hint: str | None = None):
        self.msg = msg
        self.notes = notes
        self.hint = hint  # the body's charset: raw 8-bit headers are most likely in it
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(str(name).strip().lower(), []).append(str(value))

    def first(self, name: str) -> str | None:
        values = self.raw.get(name.lower())
        return values[0] if values else None

    def count(self, name: str) -> int:
        return len(self.raw.get(name.lower(), ()))

    def _modern(self, name: str) -> Any:
        raw = self.first(name)
        if raw is None or len(raw) > MODERN_HEADER_MAX:
            return None
        try:
            header = self.msg.get(name)
        except Exception:  # noqa: BLE001
            self.notes.append(f"unparsable_header:{name.lower()}")
            return None
        return header if hasattr(header, "defects") else None  # a plain str under compat32

    def text(self, name: str, limit: int = SUBJECT_MAX) -> str:
        raw = self.first(name)
        if raw is None:
            return ""
        header = self._modern(name)
        if header is not None:
            value = _safe(lambda: str(header), "")
            defects = getattr(header, "defects", ())
            if not has_mojibake(value) and "=?" not in value and not any(
                    isinstance(d, (CharsetError, UndecodableBytesDefect)) for d in defects):
                return clean_line(value)[:limit]
        return decode_header_value(raw[: limit * 20], self.notes, self.hint)[:limit]

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, addr-spec) pairs; the addr-spec not yet validated."""
        raw = self.first(name)
        if raw is None:
            return []
        header = self._modern(name)
        if header is not None:
            try:
                pairs = [(a.display_name or "", a.addr_spec or "") for a in header.addresses]
                if not any(has_mojibake(n) or has_mojibake(a) for n, a in pairs):
                    return pairs
            except Exception:  # noqa: BLE001 - e.g. AttributeError on "unlisted-recipients:;"
                self.notes.append(f"unparsable_header:{name.lower()}")
        text = raw[:65536]
        if any(ord(ch) > 0x7F for ch in text):
            text, _ = decode_raw_header(text.encode("utf-8", "surrogateescape"), self.hint)
        text = re.sub(r"\r?\n(?=[ \t])", "", text)
        pairs = _safe(lambda: getaddresses([text]), []) or []
        return [(clean_line(decode_encoded_words(n)), a) for n, a in pairs]

    def date(self) -> datetime | None:
        raw = self.first("date")
        if not raw:
            return None
        header = self._modern("date")
        value = _safe(lambda: header.datetime) if header is not None else None
        if value is None:
            value = _safe(lambda: parsedate_to_datetime(clean_line(raw)[:200]))
            if value is None:
                self.notes.append("bad_date")
                return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return _safe(lambda: value.astimezone(timezone.utc))


@dataclass
class _Body:
    segments: list[tuple[str, str]] = field(default_factory=list)  # ("text" | "html", content)
    attachments: list[MailAttachment] = field(default_factory=list)
    undecodable: bool = False

    def has(self, kind: str) -> bool:
        return any(k == kind and v.strip() for k, v in self.segments)

    def extend(self, other: "_Body", text: bool = True) -> None:
        if text:
            self.segments.extend(other.segments)
        self.attachments.extend(other.attachments)
        self.undecodable = self.undecodable or other.undecodable


class _Reader:
    def __init__(self, raw: bytes, own: set[str]):
        self.raw = raw
        self.own = own
        self.notes: list[str] = []
        self.defects: list[str] = []
        self.parts_seen = 0
        self.content_types: list[str] = []
        self.htmls: list[str] = []
        self.attachment_count = 0
        self.hint: str | None = None

    # -- the message as a whole ------------------------------------------------------------------
    def read(self) -> ParsedMail:
        size = len(self.raw)
        # a byte-order mark some mail clients and exporters put first is not part of the first header
        data = self._repair_header_section(self.raw.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n"))
        if not data.strip():
            return _unusable(size, "not_an_email", defects=["empty_input"])
        msg = BytesParser(policy=self._policy(data)).parsebytes(data)
        hint = _CHARSET_PARAM.search(data[:200_000])
        self.hint = hint.group(1).decode("ascii") if hint else None
        headers = _Headers(msg, self.notes, self.hint)
        if not any(headers.first(n) is not None for n in ("from", "to", "subject", "date", "message-id",
                                                         "received", "mime-version", "return-path", "sender",
                                                         "content-type")):
            return _unusable(size, "not_an_email", defects=self._defect_list(msg))

        subject = headers.text("subject")
        from_pairs = headers.addresses("from")
        if headers.count("from") > 1 or len(from_pairs) > 1:
            self.notes.append("multiple_from")
        sender_address = sender_name = None
        for name, addr in from_pairs:
            sender_address = _address(addr)
            if sender_address:
                sender_name = name or None
                break
        to = list(dict.fromkeys(a for a in (_address(addr) for _, addr in headers.addresses("to")) if a))[:MAX_TO]
        message_id = (message_ids(headers.first("message-id")) or [None])[0]
        raw_from = (headers.first("from") or "").strip()
        null_sender = (headers.first("from") is not None and raw_from in ("<>", "")) \
            or (headers.first("return-path") or "").strip() in ("<>", "< >")

        body = _Body()
        self._walk(msg, 0, body, forwarded=False)
        full_text = finish(normalise_text(self._render(body)), FULL_TEXT_MAX)
        text = clean_body(full_text, forwarded=is_forward_subject(subject))
        attachments = self._finish_attachments(body.attachments)

        report_type = _safe(lambda: msg.get_param("report-type"))
        own_domains = {a.rpartition("@")[2] for a in self.own if "@" in a}
        quarantine = signals.quarantine_reason(headers.first)
        auto = signals.auto_reason(
            headers.first, sender=sender_address, null_sender=null_sender, subject=subject,
            content_types=self.content_types, report_type=str(report_type) if report_type else None,
            own_addresses=self.own,
            own_message=any(complaint_of_message_id(message_id, domain) for domain in own_domains))
        if quarantine is None and auto is None:
            if sender_address is None:
                quarantine = "no_sender"
            elif not text and not attachments and body.undecodable:
                quarantine = "undecodable_body"
        return ParsedMail(
            message_id=message_id,
            in_reply_to=message_ids(headers.first("in-reply-to")),
            references=message_ids(headers.first("references")),
            sender_address=sender_address, sender_name=sender_name, to=to, subject=subject,
            date=headers.date(), text=text, full_text=full_text,
            language=detect_language(subject, text), attachments=attachments,
            auto_reason=auto, quarantine_reason=quarantine, defects=self._defect_list(msg), size=size)

    def _repair_header_section(self, data: bytes) -> bytes:
        """Make the header section readable for the stdlib parser: NUL bytes out; obsolete
        whitespace before a colon ("Subject  : x") removed; a stray line among the headers (no
        colon, not indented: a broken fold) dropped; a body that starts right after the headers,
        without the blank line, separated from them."""
        notes = len(self.notes)
        match = re.search(rb"\r?\n\r?\n", data)
        head, rest = (data[:match.start()], data[match.start():]) if match else (data, b"")
        if b"\x00" in head:
            head = head.replace(b"\x00", b"")
            self.notes.append("nul_bytes_in_headers")
        lines = head.split(b"\n")
        first = lines[0].rstrip(b"\r")
        if not (_HEADER_NAME.match(first) or first.startswith(b"From ")):
            return data  # no header section at all: the parser will say so
        last_known = max((i for i, line in enumerate(lines) if _KNOWN_HEADER.match(line)), default=0)
        out: list[bytes] = []
        for index, line in enumerate(lines):
            plain = line.rstrip(b"\r")
            name = _HEADER_NAME.match(plain)
            if name:
                if plain[name.end() - 2:name.end() - 1] in (b" ", b"\t"):
                    line = re.sub(rb"^([!-9;-~]+)[ \t]+:", rb"\1:", line)
                    self.notes.append("space_before_colon")
                out.append(line)
            elif (out and plain[:1] in (b" ", b"\t")) or (index == 0 and plain.startswith(b"From ")):
                out.append(line)
            elif index < last_known:
                self.notes.append("malformed_header_line")
            else:
                self.notes.append("missing_header_separator")
                out.append(b"")
                out.extend(lines[index:])
                break
        if len(self.notes) == notes:
            return data  # nothing repaired
        return b"\n".join(out) + rest

    def _policy(self, data: bytes) -> Any:
        """The modern policy, except for a message of thousands of parts (nested without end, a
        known attack on mail parsers): its header objects would cost seconds, so compat32 reads
        the structure and the walk stops at MAX_PARTS anyway."""
        if len(_CONTENT_TYPE_LINE.findall(data)) > COMPAT_PARSE_PARTS:
            self.notes.append("many_parts_compat_parse")
            return policy.compat32
        return policy.default

    def _defect_list(self, msg: Message) -> list[str]:
        names = [_defect_name(d) for d in getattr(msg, "defects", ())] + self.defects + self.notes
        return list(dict.fromkeys(names))[:MAX_DEFECTS]

    # -- the MIME tree ---------------------------------------------------------------------------
    def _walk(self, part: Message, depth: int, body: _Body, forwarded: bool, related_root: bool = True) -> None:
        self.parts_seen += 1
        if depth > MAX_DEPTH or self.parts_seen > MAX_PARTS:
            self.defects.append("mime_too_deep" if depth > MAX_DEPTH else "too_many_parts")
            return
        if depth:
            self.defects.extend(_defect_name(d) for d in getattr(part, "defects", ()))
        ctype = _safe(part.get_content_type, "text/plain") or "text/plain"
        if not forwarded:
            self.content_types.append(ctype)
        maintype, _, subtype = ctype.partition("/")
        if ctype in _FORWARDABLE:
            self._forwarded(part, depth, body)
        elif maintype == "message" and part.is_multipart():
            return  # delivery reports and other machine parts: nothing of the customer's
        elif part.is_multipart():
            children = _safe(part.get_payload, []) or []
            if not isinstance(children, list):
                children = []
            self._multipart(part, subtype, children, depth, body, forwarded)
        elif maintype == "multipart":
            self._salvage_multipart(part, ctype, depth, body, forwarded)
        elif ctype in _SKIPPED_MESSAGE_TYPES or ctype in _SIGNATURE_TYPES:
            return
        else:
            self._leaf(part, ctype, body, related_root, top_level=depth == 0)

    def _multipart(self, part: Message, subtype: str, children: list, depth: int, body: _Body,
                   forwarded: bool) -> None:
        if not children:
            preamble = getattr(part, "preamble", None)
            if preamble and preamble.strip():
                self.defects.append("multipart_without_parts")
                body.segments.append(("text", preamble))
            return
        if subtype == "alternative":
            options = []
            for child in children:
                option = _Body()
                self._walk(child, depth + 1, option, forwarded)
                options.append(option)
            chosen = next((o for o in reversed(options) if o.has("text") and not o.has("html")), None) \
                or next((o for o in reversed(options) if o.has("html")), None) \
                or next((o for o in reversed(options) if o.segments), None)
            for option in options:
                body.extend(option, text=option is chosen)
        elif subtype == "related":
            start = _safe(lambda: part.get_param("start"))
            root = 0
            if start:
                for index, child in enumerate(children):
                    if _safe(lambda c=child: (c.get("content-id") or "").strip()) == str(start).strip():
                        root = index
            for index, child in enumerate(children):
                self._walk(child, depth + 1, body, forwarded, related_root=index == root)
        elif subtype == "report":
            self._walk(children[0], depth + 1, body, forwarded)
            for child in children[1:]:
                ctype = _safe(child.get_content_type, "")
                if not forwarded:
                    self.content_types.append(ctype)
        else:  # mixed, signed, digest, parallel, encrypted and unknown subtypes: every part in order
            for child in children:
                self._walk(child, depth + 1, body, forwarded)

    def _salvage_multipart(self, part: Message, ctype: str, depth: int, body: _Body, forwarded: bool) -> None:
        """A multipart part without a usable boundary: find the boundary in the body, else read it as text."""
        payload = _safe(lambda: part.get_payload(decode=True), b"") or b""
        match = _BOUNDARY_LINE.search(payload[:65536])
        if match:
            head = b'Content-Type: ' + ctype.encode() + b'; boundary="' + match.group(1) + b'"\r\n\r\n'
            rebuilt = BytesParser(policy=policy.default).parsebytes(head + payload)
            if rebuilt.is_multipart():
                self.defects.append("boundary_recovered")
                self._walk(rebuilt, depth + 1, body, forwarded)
                return
        self.defects.append("multipart_without_boundary")
        text, undecodable = self._decode_text(part, payload, "text/plain")
        if text is not None:
            body.segments.append(("text", text))
        body.undecodable = body.undecodable or undecodable

    def _forwarded(self, part: Message, depth: int, body: _Body) -> None:
        payload = _safe(part.get_payload, None)
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            return
        cte = (_safe(lambda: str(part.get("content-transfer-encoding", "") or ""), "") or "").strip().lower()
        if cte in ("base64", "quoted-printable"):  # not allowed for message/rfc822, but sent
            self.defects.append("encoded_message_part")
            text = _safe(lambda: inner.get_payload(decode=False), "") if not inner.keys() else None
            body_bytes = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else \
                (_safe(lambda: inner.as_bytes(policy=policy.compat32), b"") or b"")
            decoded = _lenient_base64(body_bytes) if cte == "base64" else quopri.decodestring(body_bytes)
            inner = BytesParser(policy=policy.default).parsebytes(decoded)
        headers = _Headers(inner, self.notes, self.hint)
        lines = ["---------- Forwarded message ---------"]
        for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"), ("To", "to")):
            value = headers.text(name)
            if value:
                lines.append(f"{label}: {value}")
        inner_body = _Body()
        self._walk(inner, depth + 1, inner_body, forwarded=True)
        content = self._render(inner_body)
        body.segments.append(("text", "\n".join(lines) + "\n\n" + content))
        body.attachments.extend(inner_body.attachments)

    def _leaf(self, part: Message, ctype: str, body: _Body, related_root: bool, top_level: bool) -> None:
        disposition = (_safe(part.get_content_disposition) or "").lower()
        filename = self._filename(part)
        maintype, _, subtype = ctype.partition("/")
        data = self._payload(part, text=maintype == "text")
        inline_text_file = subtype == "plain" and disposition == "inline" and not body.has("text")
        if maintype == "text" and subtype in ("plain", "html") and disposition != "attachment" \
                and (not filename or top_level or inline_text_file) and related_root:
            text, undecodable = self._decode_text(part, data, ctype)
            body.undecodable = body.undecodable or undecodable
            if text is not None:
                is_html = subtype == "html" or _looks_like_html(text)
                body.segments.append(("html" if is_html else "text", text))
                if is_html:
                    self.htmls.append(text)
            return
        if maintype == "text" and not filename and (not related_root or disposition != "attachment"):
            return  # a stylesheet of an HTML body, an Apple Watch or enriched-text alternative...
        if not data and not filename:
            return
        content_id = _safe(lambda: (part.get("content-id") or "").strip().strip("<>").strip()) or None
        body.attachments.append(self._attachment(ctype, filename, data, disposition == "inline" or not related_root,
                                                 content_id))

    # -- pieces of a part ------------------------------------------------------------------------
    def _payload(self, part: Message, text: bool = False) -> bytes:
        """The part's body bytes, transfer encoding undone (leniently when the header is odd)."""
        cte_raw = _safe(lambda: str(part.get("content-transfer-encoding", "") or ""), "") or ""
        cte = cte_raw.strip().strip("\"'").split(";")[0].strip().lower()
        if cte in _STANDARD_CTE and cte_raw.strip().lower() == cte:
            data = _safe(lambda: part.get_payload(decode=True), None)
            if isinstance(data, bytes):
                if cte == "base64" and any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
                    self.defects.append("broken_base64")
                    source = _safe(lambda: part.get_payload(decode=False), "")
                    if isinstance(source, str):  # the stdlib returned the base64 text undecoded
                        decoded = _lenient_base64(source.encode("ascii", "ignore"))
                        if text and _binary_share(decoded) > 0.1 and _binary_share(data) < 0.01:
                            self.defects.append("base64_label_ignored")  # plain text labelled base64
                            return data
                        return decoded
                return data
        # the stdlib does not know this transfer encoding, so it hands back the raw bytes
        raw = _safe(lambda: part.get_payload(decode=True), b"")
        raw = raw if isinstance(raw, bytes) else b""
        if "base64" in cte:
            self.defects.append("odd_transfer_encoding")
            return _lenient_base64(raw)
        if "quoted" in cte or cte == "qp":
            self.defects.append("odd_transfer_encoding")
            return _safe(lambda: quopri.decodestring(raw), raw) or b""
        if cte not in _STANDARD_CTE:
            self.defects.append("unknown_transfer_encoding")
        return raw

    def _decode_text(self, part: Message, data: bytes, ctype: str) -> tuple[str | None, bool]:
        """(text, undecodable): text None when the part holds no usable text."""
        if not data:
            return None, False
        charset = _safe(lambda: part.get_param("charset"))
        if isinstance(charset, tuple):  # RFC 2231 form
            charset = charset[2] if len(charset) == 3 else None
        charset = str(charset) if charset else None
        if charset is None and ctype == "text/html":
            meta = _META_CHARSET.search(data[:4096])
            charset = meta.group(1).decode("ascii") if meta else None
        text, defect = decode_bytes(data, charset)
        if defect:
            self.defects.append(defect)
        sample = text[:20000]
        junk = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\r\n\t")
                   or 0x7F <= ord(ch) < 0xA0)
        if sample and junk > len(sample) * 0.1:
            self.defects.append("undecodable_body")
            return None, True
        return text.replace("\x00", ""), False

    def _filename(self, part: Message) -> str | None:
        name = _safe(part.get_filename)
        if name is None or has_mojibake(str(name)) or "=?" in str(name) or "." not in str(name):
            raw = self._raw_filename(part)
            if raw:
                name = decode_header_value(raw, self.notes)
        name = clean_line(str(name)) if name else ""
        return name or None

    def _raw_filename(self, part: Message) -> str | None:
        """The file name parameter read the compat32 way, from the raw header (8-bit bytes kept)."""
        for header, param in (("content-disposition", "filename"), ("content-type", "name")):
            raw = _safe(lambda h=header: next((str(v) for k, v in part.raw_items() if k.lower() == h), None))
            if not raw:
                continue
            compat = Message()
            compat[header] = raw
            value = _safe(lambda c=compat, h=header, p=param: c.get_param(p, header=h))
            if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
                charset, _, text = (list(value) + [None, None, ""])[:3]
                data = _safe(lambda t=text: str(t).encode("raw-unicode-escape"), b"") or b""
                value = decode_bytes(data, charset or None)[0]
            if value:
                value = str(value)
                unquoted = _UNQUOTED_NAME.search(re.sub(r"\r?\n[ \t]+", " ", raw))
                if unquoted and unquoted.group(1).strip().startswith(value) and '"' not in unquoted.group(1):
                    value = unquoted.group(1).strip()  # name=This is a test.txt (spaces, no quotes)
                return value
        return None

    def _attachment(self, ctype: str, filename: str | None, data: bytes, inline: bool,
                    content_id: str | None) -> MailAttachment:
        self.attachment_count += 1
        if filename and (ctype in _GENERIC_TYPES or ctype == "text/plain"):
            guessed, _ = _MIME_TYPES.guess_type(filename, strict=False)
            if guessed and (ctype in _GENERIC_TYPES or not guessed.startswith("text/")):
                ctype = guessed  # "application/octet-stream" or "text/plain" for photo.jpg: image/jpeg
        if filename:
            name = safe_filename(filename)
        else:
            ext = _MIME_TYPES.guess_extension(ctype, strict=False) or ".bin"
            name = f"attachment-{self.attachment_count}{ext}"
        return MailAttachment(filename=name, content_type=ctype.lower(), data=data, inline=inline,
                              content_id=content_id)

    def _finish_attachments(self, attachments: list[MailAttachment]) -> list[MailAttachment]:
        """Inline when the HTML refers to the part by Content-ID."""
        html = "\n".join(self.htmls).lower()
        out = []
        for att in attachments:
            if att.content_id and not att.inline and f"cid:{att.content_id.lower()}" in html:
                att = MailAttachment(att.filename, att.content_type, att.data, True, att.content_id)
            out.append(att)
        return out

    def _render(self, body: _Body) -> str:
        pieces = []
        for kind, content in body.segments:
            if kind == "html":
                from .html_text import html_to_text, too_deep

                if too_deep(content):
                    self.defects.append("html_too_deep")
                content = html_to_text(content)
            if content.strip():
                pieces.append(content.strip("\r\n"))
        return "\n\n".join(pieces)

"""Fuzzing the MIME parser and the email intake with hostile mail (issue 10, "Hostile input").

Inputs come from hypothesis strategies of two kinds:

- structured: messages built from pieces that break parsers: headers with encoded words in random
  charsets (GB2312, GBK, Big5, UTF-8, ISO-2022-JP, unknown ones) or raw 8-bit bytes, broken base64 and
  quoted-printable, nested multiparts, missing or lying boundaries, huge headers, NUL bytes, bad dates,
  Message-ID / In-Reply-To / References naming existing or unknown cases, auto-replies and bounces,
  attachments whose content type lies, odd line endings;
- mutated seeds: the real mails of ``../shared/email-corpus`` (read at run time, never copied into
  the repository; files over ``SEED_MAX_BYTES`` skipped) and ``tests/unit/mail/corpus``, with byte
  flips, insertions, deletions, truncations and splices of two seeds.

The oracle (:class:`ParseOracle`, pure): ``parse_mail`` returns a ``ParsedMail`` and does not fall
back to its ``parse_error: <Type>`` quarantine (that fallback hides an exception: a bug), and
``decide`` ends it as exactly one of new (case), reply (thread), ignore or quarantine, with a reason.
:class:`IntakeOracle` (moto) goes further, through ``EmailIntake.process`` (what the queue consumer
calls for each stored message): no exception, the outcome is one of the four and recorded once for
the message, a case or thread names a complaint that exists, and a quarantined message keeps its raw
mail in the bucket and is listed for staff.

``python -m infra.fuzz_bench --inputs 100000`` runs the pure oracle over that many inputs and the
moto oracle over ``--intake-inputs`` (default 500: the in-process moto stack costs a few hundred
milliseconds per message, each checked and delivered twice), then writes ``var/bench/fuzz.json``: inputs, outcomes by kind, exceptions
(must be 0, with the first few failing inputs saved under ``var/bench/fuzz-failures/``), inputs/s.
The pytest budget (a few thousand examples, derandomized, no example database) lives in
``tests/unit/mail/test_fuzz.py`` and ``tests/integration/test_email_fuzz.py``.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import quopri
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "fuzz.json"
FAILURES = ROOT / "var" / "bench" / "fuzz-failures"
DEFAULT_CORPUS = ROOT.parent / "shared" / "email-corpus"
REPO_SEEDS = ROOT / "tests" / "unit" / "mail" / "corpus"
SEED_MAX_BYTES = 64 * 1024
OUR_ADDRESS = "complaints@example.com"
OUR_DOMAIN = "example.com"
OUTCOMES = ("new", "reply", "ignore", "quarantine")
KIND = {"new": "case", "reply": "thread", "ignore": "ignore", "quarantine": "quarantine"}

# -- complaint numbers and Message-IDs ---------------------------------------------------------------


def complaint_number(i: int) -> str:
    """A well-formed complaint number (valid check character), distinct for each ``i``."""
    from shared.identifiers import ALPHABET, check_character

    body = "K7M"
    n = i
    for _ in range(5):
        body += ALPHABET[n % len(ALPHABET)]
        n //= len(ALPHABET)
    return "C" + body + check_character(body)


def our_message_id(number: str, i: int = 0) -> str:
    return f"<{number}.ack.{hashlib.sha256(f'{number}{i}'.encode()).hexdigest()[:16]}@{OUR_DOMAIN}>"


@dataclass
class Known:
    """Cases that exist in the store the inputs are judged against, and our Message-IDs of them."""
    numbers: list[str] = field(default_factory=lambda: [complaint_number(i) for i in range(3)])

    @property
    def message_ids(self) -> list[str]:
        return [our_message_id(n) for n in self.numbers]


# -- strategies: pieces ------------------------------------------------------------------------------

CHARSETS = ["utf-8", "gb2312", "gbk", "gb18030", "big5", "iso-2022-jp", "shift_jis", "euc-jp", "euc-kr",
            "iso-8859-1", "windows-1252", "koi8-r", "utf-16", "utf-7", "us-ascii"]
BOGUS_CHARSETS = ["x-unknown", "iso-gb2312", "unknown-8bit", "utf8", "UTF-8*en", "cp936", "gb_2312-80",
                  "big5-hkscs", "x-mac-chinesesimp", "", "\"utf-8\"", "ks_c_5601-1987", "a" * 60, "utf-8'en'"]
WORDS = ["投诉", "水饺有异味", "退款", "快递没到", "請盡快處理", "返金してください", "refund", "broken kettle",
         "order SO-1001", "환불", "Ärger über Lieferung", "😡", "\u202etxt.exe", "\x00", "\t", "=?", "?=", "\\",
         "\"", "<", ">", "@", ",", ";", ":", "(comment)", "\r", "\n", " ", "\ufeff", "\ud7ff", "ｆｕｌｌ"]
uniform = st.randoms(use_true_random=True)  # seeded by hypothesis: reproducible, but uniform (hypothesis
#   leans towards 0 and small integers, which would make every "rare" branch and position-0 mutation common)
text_pieces = st.lists(st.sampled_from(WORDS) | st.text(max_size=12), min_size=0, max_size=8).map("".join)


def _encode_safe(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset)
    except (LookupError, UnicodeError):
        return text.encode("utf-8", "surrogatepass")


@st.composite
def encoded_word(draw: Any) -> str:
    text = draw(text_pieces)
    charset = draw(st.sampled_from(CHARSETS) | st.sampled_from(BOGUS_CHARSETS))
    data = _encode_safe(text, charset if charset in CHARSETS else "utf-8")
    mode = draw(st.sampled_from(["B", "Q", "b", "q", "X"]))
    if mode.upper() == "B":
        payload = base64.b64encode(data).decode()
        damage = draw(st.sampled_from(["", "", "cut", "pad", "junk"]))
        if damage == "cut":
            payload = payload[: max(0, len(payload) - draw(st.integers(1, 3)))]
        elif damage == "pad":
            payload += "==="
        elif damage == "junk":
            payload = payload[:3] + "!*" + payload[3:]
    else:
        payload = "".join(chr(b) if 33 <= b < 127 and chr(b) not in "=?_ " else
                          ("_" if b == 32 else f"={b:02X}") for b in data)
        if draw(st.booleans()):
            payload += draw(st.sampled_from(["=", "=Z", "=4", "?", " "]))
    lang = draw(st.sampled_from(["", "", "*zh-cn", "*"]))
    return f"=?{charset}{lang}?{mode}?{payload}?="


@st.composite
def header_text(draw: Any, charset: str | None = None) -> bytes:
    """A header value: plain, encoded words (adjacent, broken), raw 8-bit bytes, folded, huge."""
    pieces: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["plain", "ew", "ew", "raw8", "nul", "fold"]))
        if kind == "plain":
            pieces.append(draw(text_pieces).encode("utf-8", "surrogatepass"))
        elif kind == "ew":
            pieces.append(draw(encoded_word()).encode("utf-8", "surrogatepass"))
        elif kind == "raw8":
            cs = charset or draw(st.sampled_from(CHARSETS))
            pieces.append(_encode_safe(draw(text_pieces), cs))
        elif kind == "nul":
            pieces.append(b"\x00" * draw(st.integers(1, 3)))
        else:
            pieces.append(draw(st.sampled_from([b"\r\n ", b"\n\t", b"\r\n", b"\r\n\r\n "])))
    value = draw(st.sampled_from([b" ", b"", b"\t"])).join(pieces)
    if draw(uniform).random() < 0.01:  # a huge header: up to a few hundred KB
        value = (value * (60_000 // len(value) + 1))[:draw(uniform).randint(1000, 60_000)] if value else b"x" * 60_000
    return value


ADDRESSES = ["wang.fang@example.cn", "amy@example.com", "ZHANG.San@Example.CN", OUR_ADDRESS, "MAILER-DAEMON@mx.example.net",
             "postmaster@example.org", "noreply@shop.example.com", "a@b", "@example.com", "user@", "<>", "",
             "\"quoted local\"@example.com", "user@[127.0.0.1]", "user@例子.中国", "用户@example.cn",
             "x" * 300 + "@example.com", "a@b.c\x00d", "user@example.com (comment)", "undisclosed-recipients:;"]


@st.composite
def address_header(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["plain", "named", "named_ew", "group", "many", "garbage", "raw8"]))
    addr = draw(st.sampled_from(ADDRESSES))
    if kind == "plain":
        return addr.encode("utf-8", "surrogatepass")
    if kind == "named":
        return f"\"{draw(text_pieces)}\" <{addr}>".encode("utf-8", "surrogatepass")
    if kind == "named_ew":
        return f"{draw(encoded_word())} <{addr}>".encode("utf-8", "surrogatepass")
    if kind == "group":
        return draw(st.sampled_from([b"unlisted-recipients:; (no To-header on input)", b"undisclosed-recipients:;",
                                     b"team: a@example.com, b@example.com;", b"group:;, c@example.com", b":;"]))
    if kind == "many":
        n = draw(st.integers(2, 300))
        return b", ".join(f"u{i}@example{i % 7}.com".encode() for i in range(n))
    if kind == "raw8":
        return _encode_safe(f"{draw(text_pieces)} <{addr}>", draw(st.sampled_from(CHARSETS)))
    return draw(st.binary(max_size=80))


DATES = ["Fri, 01 Mar 2024 09:30:00 +0000", "1 Mar 2024 09:30 +0800", "Fri, 31 Dec 99999 23:59:59 +0000",
         "Mon, 32 Foo 2024 25:61:61 +9999", "Tue, 1 Jan 0000 00:00:00 -0000", "2024-03-01T09:30:00Z", "yesterday",
         "Thu, 01 Jan 1970 00:00:00 GMT", "Wed, 18 Nov 2026 10:00:00 +2400", "", "\x00", "Fri, 01 Mar 2024 09:30:00 CST",
         "Sat, 29 Feb 2023 12:00:00 +0000", "Fri, 01 Mar 2024 09:30:00 -1300 (PDT)", "9" * 400]


@st.composite
def message_id_value(draw: Any, known: Known) -> bytes:
    kind = draw(st.sampled_from(["ours", "ours", "unknown_ours", "foreign", "garbage", "many", "empty"]))
    if kind == "ours":
        return draw(st.sampled_from(known.message_ids)).encode()
    if kind == "unknown_ours":
        return our_message_id(complaint_number(draw(st.integers(1000, 10**6)))).encode()
    if kind == "foreign":
        return f"<{draw(st.integers(0, 10**9))}.abc@mail.example.cn>".encode()
    if kind == "many":
        ids = [our_message_id(complaint_number(i)) for i in range(draw(st.integers(2, 200)))]
        if draw(st.booleans()):
            ids.append(draw(st.sampled_from(known.message_ids)))
        return draw(st.sampled_from([b" ", b"\r\n ", b",", b""])).join(i.encode() for i in ids)
    if kind == "empty":
        return b""
    return draw(st.binary(max_size=60) | st.sampled_from([b"<>", b"<<a@b>>", b"<a b@c>", b"(x) <a@b (y)>", b"<" * 50]))


@st.composite
def subject_value(draw: Any, known: Known) -> bytes:
    number = draw(st.sampled_from(known.numbers) | st.builds(complaint_number, st.integers(1000, 10**6))
                  | st.sampled_from(["CK7M4QX9TA", "C0000000000", "C-K7M-4QX9", "c" * 12]))
    kind = draw(st.sampled_from(["plain", "numbered", "reply", "auto", "ew"]))
    if kind == "numbered":
        bracket = draw(st.sampled_from(["[{}]", "【{}】", "(#{})", "[编号：{}]", "{}", "［{}］"]))
        return f"Re: {bracket.format(number)} {draw(text_pieces)}".encode("utf-8", "surrogatepass")
    if kind == "reply":
        return f"{draw(st.sampled_from(['Re: ', '回复：', 'AW: ', 'Fwd: ', '转发: ', 'RE:RE: ', 'Re[2]: ']))}" \
               f"{draw(text_pieces)}".encode("utf-8", "surrogatepass")
    if kind == "auto":
        return draw(st.sampled_from([b"Out of office", b"Automatic reply: your complaint", b"\xe8\x87\xaa\xe5\x8a\xa8\xe5\x9b\x9e\xe5\xa4\x8d",
                                     b"Undelivered Mail Returned to Sender", b"Delivery Status Notification (Failure)",
                                     b"Read: your complaint"]))
    return draw(header_text())


AUTO_HEADERS = [b"Auto-Submitted: auto-replied", b"Auto-Submitted: no", b"Auto-Submitted: auto-generated",
                b"Precedence: bulk", b"Precedence: junk", b"X-Autoreply: yes", b"X-Autorespond: 1",
                b"List-Id: <news.example.com>", b"List-Unsubscribe: <mailto:u@example.com>", b"Return-Path: <>",
                b"X-Failed-Recipients: a@example.com", b"X-SES-Spam-Verdict: FAIL", b"X-SES-Virus-Verdict: FAIL",
                b"X-Spam-Flag: YES", b"X-Loop: complaints@example.com", b"X-MS-Exchange-Generated-Message-Source: x",
                b"Feedback-ID: 1:2:3", b"X-Auto-Response-Suppress: All"]

# -- strategies: bodies --------------------------------------------------------------------------------

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 20
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FILES = {"png": PNG, "pdf": PDF, "zip": b"PK\x03\x04" + b"\x00" * 60, "exe": b"MZ\x90\x00" + b"\x00" * 60,
         "html": b"<html><script>alert(1)</script></html>", "jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 40,
         "txt": "发票".encode("gbk"), "empty": b""}
CONTENT_TYPES = ["text/plain", "text/html", "image/png", "image/jpeg", "application/pdf", "application/octet-stream",
                 "application/zip", "application/msword", "application/x-msdownload", "audio/mpeg", "video/mp4",
                 "text/calendar", "message/delivery-status", "message/disposition-notification", "text/rfc822-headers",
                 "application/pgp-signature", "image/svg+xml", "text/x-unknown", "x/y/z", "", "text", "/", "multipart/mixed",
                 "message/rfc822", "message/partial", "application/ms-tnef"]
FILENAMES = ["photo.jpg", "发票.pdf", "../../etc/passwd", "a" * 300 + ".png", "report.pdf.exe", "CON.txt", "无扩展名",
             "x.PNG", ".hidden", "name with spaces.docx", "\x00.png", "=?utf-8?B?5Y+R56Wo?=.pdf", "=?gbk?Q?=B7=A2?=.jpg"]
CTES = ["7bit", "8bit", "binary", "base64", "quoted-printable", "BASE64", " base64 ", "x-uuencode", "x-gzip", "bogus",
        "base64; x", "\"quoted-printable\"", "qp", ""]


def _transfer_encode(data: bytes, cte: str, damage: str) -> bytes:
    name = cte.strip().strip("\"").split(";")[0].strip().lower()
    if name == "base64" or name == "x-gzip":
        out = base64.encodebytes(data)
    elif name in ("quoted-printable", "qp"):
        out = quopri.encodestring(data)
    else:
        out = data
    if damage == "cut" and out:
        out = out[: len(out) * 2 // 3]
    elif damage == "junk":
        out = out[:7] + b"!!\xff\x00=\r\n=ZZ" + out[7:]
    elif damage == "lines":
        out = out.replace(b"\n", b"") + b"\n===\n"
    return out


@st.composite
def leaf_part(draw: Any) -> bytes:
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    charset = draw(st.sampled_from(CHARSETS + BOGUS_CHARSETS + [None]))
    cte = draw(st.sampled_from(CTES))
    if ctype.startswith("text/") or draw(st.integers(0, 3)) == 0:
        text = draw(text_pieces) * draw(st.sampled_from([1, 1, 1, 2, 5, 20]))
        data = _encode_safe(text, charset if charset in CHARSETS else draw(st.sampled_from(CHARSETS)))
        if ctype == "text/html" and draw(st.booleans()):
            data = b"<html><head><meta charset=\"gbk\"></head><body>" + b"<div>" * draw(st.sampled_from([0, 1, 10, 2000])) + data
    else:
        data = FILES[draw(st.sampled_from(sorted(FILES)))]  # the content often lies about its type
    damage = draw(st.sampled_from(["", "", "", "cut", "junk", "lines"]))
    headers = [b"Content-Type: " + ctype.encode() + (b"; charset=" + charset.encode("utf-8", "surrogatepass")
                                                    if charset is not None else b"")]
    filename = draw(st.none() | st.sampled_from(FILENAMES))
    if filename is not None:
        style = draw(st.sampled_from(["quoted", "bare", "rfc2231", "raw8", "name"]))
        if style == "quoted":
            disp = f"attachment; filename=\"{filename}\"".encode("utf-8", "surrogatepass")
        elif style == "bare":
            disp = f"attachment; filename={filename}".encode("utf-8", "surrogatepass")
        elif style == "rfc2231":
            disp = b"attachment; filename*=" + draw(st.sampled_from([b"UTF-8''", b"gbk''", b"x-bad'zh'", b""])) \
                + "".join(f"%{b:02X}" for b in filename.encode("utf-8", "surrogatepass")).encode()
        elif style == "raw8":
            disp = b"attachment; filename=\"" + _encode_safe(filename, draw(st.sampled_from(CHARSETS))) + b"\""
        else:
            headers[0] += b"; name=\"" + filename.encode("utf-8", "surrogatepass") + b"\""
            disp = draw(st.sampled_from([b"inline", b"attachment", b""]))
        if disp:
            headers.append(b"Content-Disposition: " + disp)
    elif draw(st.integers(0, 4)) == 0:
        headers.append(b"Content-Disposition: " + draw(st.sampled_from([b"inline", b"attachment", b"bogus;;=", b"\x00"])))
    if cte:
        headers.append(b"Content-Transfer-Encoding: " + cte.encode())
    if draw(st.integers(0, 5)) == 0:
        headers.append(b"Content-ID: <" + draw(st.sampled_from([b"img1@x", b"", b"<<", b"a b"])) + b">")
    return b"\r\n".join(headers) + b"\r\n\r\n" + _transfer_encode(data, cte, damage)


def _multipart(children: list[bytes], draw: Any) -> bytes:
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "signed", "digest", "x-bogus", "MIXED"]))
    boundary = draw(st.sampled_from(["b1", "=_Part_0_123.456", "----=_NextPart_000", "a" * 75, "with space", "--", "é",
                                     "b" * 300]))
    declared = draw(st.sampled_from(["same", "same", "same", "missing", "other", "empty", "unquoted"]))
    params = {"same": f"; boundary=\"{boundary}\"", "missing": "", "other": "; boundary=\"nope\"",
              "empty": "; boundary=\"\"", "unquoted": f"; boundary={boundary}"}[declared]
    if subtype == "report":
        params += draw(st.sampled_from(["; report-type=delivery-status", "; report-type=disposition-notification", ""]))
    if subtype == "related" and draw(st.booleans()):
        params += "; start=\"<img1@x>\""
    sep = b"\r\n" if draw(st.booleans()) else b"\n"
    out = [f"Content-Type: multipart/{subtype}{params}".encode("utf-8", "surrogatepass"), b""]
    if draw(st.booleans()):
        out.append(b"This is a multi-part message in MIME format.")
    for child in children:
        out.append(b"--" + boundary.encode("utf-8", "surrogatepass"))
        out.append(child)
    ending = draw(st.sampled_from(["close", "close", "none", "cut", "epilogue"]))
    if ending in ("close", "epilogue"):
        out.append(b"--" + boundary.encode("utf-8", "surrogatepass") + b"--")
    if ending == "epilogue":
        out.append(b"trailing epilogue text")
    body = sep.join(out)
    if ending == "cut":
        body = body[: len(body) * 3 // 4]
    return body


@st.composite
def _multipart_of(draw: Any, children: Any) -> bytes:
    return _multipart(draw(st.lists(children, min_size=0, max_size=4)), draw)


@st.composite
def _rfc822_of(draw: Any, children: Any) -> bytes:
    inner_headers = b"From: " + draw(address_header()) + b"\r\nSubject: " + draw(header_text()) + b"\r\n"
    inner = inner_headers + draw(children)
    cte = draw(st.sampled_from([b"", b"", b"base64", b"quoted-printable", b"7bit"]))
    ctype = draw(st.sampled_from([b"message/rfc822", b"message/global", b"message/news"]))
    head = b"Content-Type: " + ctype + b"\r\n"
    if cte:
        head += b"Content-Transfer-Encoding: " + cte + b"\r\n"
        inner = _transfer_encode(inner, cte.decode(), "")
    return head + b"\r\n" + inner


mime_part = st.recursive(leaf_part(), lambda children: _multipart_of(children) | _rfc822_of(children), max_leaves=10)


@st.composite
def nested_bomb(draw: Any) -> bytes:
    """Deep nesting (a known attack on parsers): multiparts or forwards within each other."""
    depth = draw(st.sampled_from([20, 26, 60, 200]))
    body = b"Content-Type: text/plain\r\n\r\nhello"
    forward = draw(st.booleans())
    for i in range(depth):
        if forward:
            body = b"Content-Type: message/rfc822\r\n\r\nSubject: " + str(i).encode() + b"\r\n" + body
        else:
            b_ = f"b{i}".encode()
            body = (b"Content-Type: multipart/mixed; boundary=\"" + b_ + b"\"\r\n\r\n--" + b_ + b"\r\n" + body
                    + b"\r\n--" + b_ + b"--")
    return body


# -- strategies: whole messages -----------------------------------------------------------------------------


@st.composite
def structured_mail(draw: Any, known: Known) -> bytes:
    rnd = draw(uniform)
    headers: list[bytes] = []
    if rnd.random() < 0.1:
        headers.append(b"From MAILER-DAEMON Fri Mar  1 09:30:00 2024")
    if rnd.random() < 0.9:
        headers.append(b"From: " + draw(address_header()))
    if rnd.random() < 0.05:
        headers.append(b"From: " + draw(address_header()))  # a second From
    if rnd.random() < 0.85:
        headers.append(b"To: " + draw(address_header()))
    if rnd.random() < 0.9:
        headers.append(b"Subject: " + draw(subject_value(known)))
    if rnd.random() < 0.8:
        headers.append(b"Date: " + draw(st.sampled_from(DATES)).encode())
    if rnd.random() < 0.7:  # now and then one of ours: our own mail come back (a loop)
        headers.append(b"Message-ID: " + (draw(message_id_value(known)) if rnd.random() < 0.1 else
                                          f"<{rnd.getrandbits(40)}.fuzz@mail.example.cn>".encode()))
    for name in (b"In-Reply-To", b"References"):
        if rnd.random() < 0.4:
            headers.append(name + b": " + draw(message_id_value(known)))
    if draw(st.booleans()):
        headers.append(b"MIME-Version: " + draw(st.sampled_from([b"1.0", b"1.0 (Mime-Lite)", b"2.0", b""])))
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        if rnd.random() < 0.5:
            headers.append(draw(st.sampled_from(AUTO_HEADERS)))
        else:
            name = draw(st.sampled_from([b"X-Mailer", b"Received", b"Reply-To", b"Sender", b"Cc", b"Subject",
                                         b"Content-Type", b"X-Foo", b"Bad Header", b"Subject  ", b"\x00X", b""]))
            headers.append(name + b": " + draw(header_text()))
    if rnd.random() < 0.05:
        headers.insert(rnd.randrange(len(headers) + 1), draw(st.sampled_from([b"stray line without colon", b":", b" "])))
    body = draw(nested_bomb() if rnd.random() < 0.02 else mime_part)
    body_head, _, body_rest = body.partition(b"\r\n\r\n")
    if rnd.random() < 0.1:  # no MIME headers at all: a bare body
        message = b"\r\n".join(headers) + b"\r\n\r\n" + body_rest
    else:
        message = b"\r\n".join(headers + [body_head]) + b"\r\n\r\n" + body_rest
    newline = rnd.choice(["crlf", "crlf", "crlf", "lf", "lf", "cr", "mixed"])
    if newline == "lf":
        message = message.replace(b"\r\n", b"\n")
    elif newline == "cr":
        message = message.replace(b"\r\n", b"\r")
    elif newline == "mixed":
        message = message.replace(b"\r\n\r\n", b"\n\r\n", 1)
    if rnd.random() < 0.05:
        message = draw(st.sampled_from([b"\xef\xbb\xbf", b"\r\n\r\n", b"   ", b"\x00"])) + message
    return message


def load_seeds(corpus: Path | None = None) -> list[bytes]:
    """Real mails to mutate: the shared corpus (when present) and the repository's own few."""
    root = Path(corpus or os.environ.get("MAIL_CORPUS_DIR") or DEFAULT_CORPUS)
    paths = sorted(p for p in root.glob("*/messages/**/*") if p.is_file() and not p.name.startswith("."))
    paths += sorted(REPO_SEEDS.glob("*.eml"))
    seeds = [p.read_bytes() for p in paths if p.stat().st_size <= SEED_MAX_BYTES]
    return seeds or [b"From: a@example.com\r\nSubject: seed\r\n\r\nhello"]


@st.composite
def mutated_seed(draw: Any, seeds: list[bytes]) -> bytes:
    rnd = draw(uniform)
    data = bytearray(rnd.choice(seeds))
    for _ in range(rnd.choice([1, 1, 1, 2, 2, 3, 4, 6])):
        op = rnd.choice(["flip", "flip", "flip", "insert", "insert", "delete", "truncate", "splice", "dup", "header_cut"])
        size = len(data)
        pos = rnd.randrange(size) if size else 0
        if op == "flip" and size:
            data[pos] ^= 1 << rnd.randrange(8)
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\x00", b"\r\n", b"\r\n\r\n", b"--", b"=?gbk?B?", b"?=", b"\xff\xfe",
                                                  b"Content-Type: multipart/mixed\r\n", b"boundary=", b"=\r\n", b":"])
                                 | st.binary(max_size=16))
        elif op == "delete":
            del data[pos:pos + rnd.randint(1, 64)]
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = rnd.choice(seeds)
            at = rnd.randrange(len(other)) if other else 0
            data = data[:pos] + other[at:]
        elif op == "dup":
            data[pos:pos] = data[pos:pos + rnd.randint(1, 1024)]
        elif op == "header_cut":  # lose the blank line between headers and body
            data = bytearray(bytes(data).replace(b"\r\n\r\n", b"\r\n", 1).replace(b"\n\n", b"\n", 1))
    return bytes(data)


def hostile_mail(known: Known, seeds: list[bytes]) -> Any:
    """Every hostile input: structured, a mutated real mail, or raw bytes."""
    structured, mutated = structured_mail(known), mutated_seed(seeds)
    return st.one_of(structured, structured, structured, mutated, mutated, st.binary(max_size=200))


# -- oracles ----------------------------------------------------------------------------------------------


class FuzzFailure(AssertionError):
    pass


class MemoryThreadLookup:
    """The store's answers to the thread look-ups, for the known cases (pure, for the fast oracle)."""

    def __init__(self, known: Known):
        self._numbers = set(known.numbers)
        self._ids = {mid: n for n in known.numbers for mid in [our_message_id(n)]}

    def complaint_for_message_ids(self, message_ids: list[str]) -> str | None:
        from shared.mail_ids import normalize_message_id

        for mid in reversed([normalize_message_id(m) for m in message_ids]):
            if mid in self._ids:
                return self._ids[mid]
        return None

    def complaint_exists(self, complaint_id: str) -> bool:
        return complaint_id in self._numbers

    def open_complaint_of_sender(self, sender_address: str, subject: str) -> str | None:
        return None


class ParseOracle:
    """parse_mail + decide: one of the four outcomes with a reason, never the parse_error fallback."""

    def __init__(self, known: Known):
        self.lookup = MemoryThreadLookup(known)

    def check(self, raw: bytes) -> str:
        from functions.intake.mail import decide, parse_mail
        from functions.intake.mail.parser import ParsedMail

        mail = parse_mail(raw, own_addresses=[OUR_ADDRESS])
        if not isinstance(mail, ParsedMail):
            raise FuzzFailure(f"parse_mail returned {type(mail).__name__}")
        if (mail.quarantine_reason or "").startswith("parse_error"):
            raise FuzzFailure(f"{mail.quarantine_reason}\n{reader_traceback(raw)}")
        if mail.size != len(raw):
            raise FuzzFailure(f"size {mail.size} != {len(raw)}")
        for name, value in stored_strings(mail):  # what the intake stores, publishes or mails back
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise FuzzFailure(f"{name} is not valid Unicode (lone surrogates: no UTF-8 for the store)") from None
        decision = decide(mail, self.lookup)
        if decision.outcome not in OUTCOMES or not decision.reason:
            raise FuzzFailure(f"no outcome: {decision}")
        if decision.outcome == "reply" and not self.lookup.complaint_exists(decision.complaint_id or ""):
            raise FuzzFailure(f"thread to an unknown case: {decision}")
        return f"{decision.outcome}:{decision.reason}"


def stored_strings(mail: Any) -> Iterable[tuple[str, str]]:
    for name in ("message_id", "sender_address", "sender_name", "subject", "text", "full_text", "language",
                 "auto_reason", "quarantine_reason"):
        yield name, getattr(mail, name) or ""
    for name in ("in_reply_to", "references", "to", "defects"):
        for value in getattr(mail, name):
            yield name, value
    for att in mail.attachments:
        yield "attachment", att.filename + att.content_type + (att.content_id or "")


def reader_traceback(raw: bytes) -> str:
    """The exception that parse_mail turned into its parse_error quarantine, re-raised to show where."""
    from functions.intake.mail.parser import _Reader

    try:
        _Reader(bytes(raw), {OUR_ADDRESS}).read()
    except Exception:  # noqa: BLE001 - shown, not handled
        return traceback.format_exc(limit=-6)
    return "(not reproduced)"


class IntakeOracle:
    """EmailIntake.process in moto (inside an active ``mock_aws`` with the app's resources and env):
    one recorded outcome per message, cases/threads exist, a quarantined message keeps its raw mail."""

    def __init__(self, known: Known | None = None):
        from functions.intake.mail_handler import email_intake
        from shared.aws import client
        from shared.config import settings
        from shared.store import complaint_repository, mailbox

        self.intake, self.s3, self.repo, self.mailbox = email_intake(), client("s3"), complaint_repository(), mailbox()
        self.bucket = settings().required("inbound_mail_bucket")
        self.count = 0
        self.known = known or Known(numbers=[])
        if not self.known.numbers:
            self._open_cases(3)

    def _open_cases(self, n: int) -> None:
        """Cases that replies can find, each with one of our Message-IDs recorded as the notifier does."""
        from shared.aws import client
        from shared.config import settings

        for i in range(n):
            raw = (f"From: Seed {i} <seed{i}@example.cn>\r\nTo: {OUR_ADDRESS}\r\nSubject: seed case {i}\r\n"
                   f"Message-ID: <seed{i}@example.cn>\r\n\r\nThe kettle leaks, order SO-{i}.\r\n").encode()
            outcome = self._deliver(raw)
            assert outcome.outcome == "new", outcome
            number = outcome.complaint_id
            self.known.numbers.append(number)
            client("dynamodb").put_item(TableName=settings().table_name, Item={
                "PK": {"S": "MSGID#" + our_message_id(number)}, "SK": {"S": "MSGID"}, "complaint_id": {"S": number}})

    def _deliver(self, raw: bytes) -> Any:
        self.count += 1
        key = f"inbound/fuzz-{self.count:07d}-{hashlib.sha256(raw).hexdigest()[:12]}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=raw)
        self.last_key = key
        return self.intake.process(self.bucket, key, datetime.now(timezone.utc))

    def check(self, raw: bytes) -> str:
        from shared.mailbox import quarantine_id

        outcome = self._deliver(raw)
        key = self.last_key
        if outcome.outcome not in OUTCOMES or not outcome.reason:
            raise FuzzFailure(f"no outcome: {outcome}")
        if outcome.reason.startswith("parse_error"):
            raise FuzzFailure(f"{outcome.reason}\n{reader_traceback(raw)}")
        record = self.mailbox.message_record(key)
        if not record or record.get("outcome") != outcome.outcome:
            raise FuzzFailure(f"outcome {outcome.outcome} not recorded for the message: {record}")
        if outcome.outcome in ("new", "reply"):
            if not outcome.complaint_id or self.repo.get(outcome.complaint_id) is None:
                raise FuzzFailure(f"{outcome.outcome} names no stored case: {outcome}")
        if outcome.outcome == "quarantine":
            held = self.mailbox.quarantined_message(quarantine_id(key))
            if not held or held.get("key") != key or held.get("reason") != outcome.reason:
                raise FuzzFailure(f"quarantined but not listed for staff: {held}")
            if self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read() != raw:
                raise FuzzFailure("quarantined without its raw mail")
        again = self.intake.process(self.bucket, key, datetime.now(timezone.utc))  # a redelivery changes nothing
        if (again.outcome, again.complaint_id) != (outcome.outcome, outcome.complaint_id) or not again.repeated:
            raise FuzzFailure(f"redelivery changed the outcome: {outcome} then {again}")
        return f"{outcome.outcome}:{outcome.reason}"


# -- the runner (bench and CLI) -----------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[tuple[bytes, str]] = field(default_factory=list)
    exceptions: int = 0
    bytes_total: int = 0
    slowest_ms: float = 0.0
    slowest: bytes = b""
    reasons: Counter = field(default_factory=Counter)

    def run_one(self, check: Callable[[bytes], str], raw: bytes) -> None:
        self.inputs += 1
        self.bytes_total += len(raw)
        start = time.perf_counter()
        try:
            outcome, _, reason = check(raw).partition(":")
            self.outcomes[outcome] += 1
            self.reasons[f"{outcome}:{reason.split(':')[0]}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted and saved: the fuzzer's finding
            self.exceptions += 1
            if len(self.failures) < 20:
                detail = str(exc) if isinstance(exc, FuzzFailure) else traceback.format_exc(limit=-6)
                self.failures.append((raw, detail))
        elapsed = (time.perf_counter() - start) * 1000
        if elapsed > self.slowest_ms:
            self.slowest_ms, self.slowest = elapsed, raw


def run_strategy(strategy: Any, count: int, check: Callable[[bytes], str], *, seed: int, chunk: int = 5000,
                 progress: Callable[[int], None] | None = None, tally: Tally | None = None) -> Tally:
    """Draw ``count`` examples of ``strategy`` (hypothesis, generate phase only, seeded chunks) into ``check``."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    tally = tally if tally is not None else Tally()
    done = 0
    while done < count:
        n = min(chunk, count - done)

        @hseed(seed + done)
        @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate], derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(raw: bytes) -> None:
            tally.run_one(check, raw)

        before = tally.inputs
        one()
        if tally.inputs == before:  # hypothesis found nothing more to try
            break
        done += tally.inputs - before
        if progress:
            progress(done)
    return tally


def _without_stream_history(table: str) -> None:
    """As the tests' fixture: moto would keep (and deep-copy at each transaction) every stream record."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[table].stream_shard = None


def _moto_stack() -> Any:
    """moto in-process with the app's resources and environment, as the tests' ``aws`` fixture."""
    import contextlib

    @contextlib.contextmanager
    def stack() -> Iterable[None]:
        from moto import mock_aws

        from infra.moto_stack import boto3_clients, create_resources, environment, forget_cached_services

        saved = dict(os.environ)
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(key, None)
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "STAGE": "dev",
                           "POWERTOOLS_LOG_LEVEL": "ERROR", "MAX_CASES_PER_SENDER_PER_HOUR": "25"})
        try:
            with mock_aws():
                forget_cached_services()
                env = environment(create_resources(boto3_clients(), "dev", "us-east-1"))
                os.environ.update(env)
                _without_stream_history(env["TABLE_NAME"])
                forget_cached_services()
                yield
        finally:
            forget_cached_services()
            os.environ.clear()
            os.environ.update(saved)

    return stack()


def figures(t: Tally, seconds: float) -> dict[str, Any]:
    return {"inputs": t.inputs, "outcomes": {KIND[o]: t.outcomes.get(o, 0) for o in OUTCOMES},
            "exceptions": t.exceptions, "seconds": round(seconds, 1),
            "inputs_per_s": round(t.inputs / seconds, 1) if seconds else None,
            "mean_input_bytes": round(t.bytes_total / t.inputs) if t.inputs else 0,
            "slowest_input_ms": round(t.slowest_ms, 1),
            "reasons": dict(t.reasons.most_common())}


def run(inputs: int, intake_inputs: int, seed: int, corpus: Path | None = None, batch: int = 500,
        quiet: bool = False, out: Path | None = None) -> dict[str, Any]:
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    seeds = load_seeds(corpus)
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    known = Known()
    start = time.perf_counter()
    pure = Tally()

    def progress(n: int) -> None:  # partial figures on disk: a long run shows where it is
        say(f"parse+decide: {n}/{inputs}, exceptions {pure.exceptions}")
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"complete": False, "parse_and_decide": figures(pure, time.perf_counter() - start)},
                                      indent=2) + "\n", encoding="utf-8")

    run_strategy(hostile_mail(known, seeds), inputs, ParseOracle(known).check, seed=seed, progress=progress, tally=pure)
    pure_s = time.perf_counter() - start

    intake = Tally()
    start = time.perf_counter()
    done = 0
    while done < intake_inputs:  # a fresh moto stack per batch: moto's tables slow down as they grow
        n = min(batch, intake_inputs - done)
        with _moto_stack(), contextlib.redirect_stdout(io.StringIO()):  # the functions' metric lines
            oracle = IntakeOracle()
            part = run_strategy(hostile_mail(oracle.known, seeds), n, oracle.check, seed=seed + 10**6 + done)
        intake.inputs += part.inputs
        intake.outcomes.update(part.outcomes)
        intake.exceptions += part.exceptions
        intake.failures += part.failures
        intake.bytes_total += part.bytes_total
        intake.reasons.update(part.reasons)
        if part.slowest_ms > intake.slowest_ms:
            intake.slowest_ms, intake.slowest = part.slowest_ms, part.slowest
        done += n
        say(f"email intake (moto): {done}/{intake_inputs}")
    intake_s = time.perf_counter() - start

    saved = _save_failures([*pure.failures, *intake.failures])
    for name, t in (("parse", pure), ("intake", intake)):  # to look into what costs the most
        if t.slowest:
            FAILURES.parent.mkdir(parents=True, exist_ok=True)
            (FAILURES.parent / f"fuzz-slowest-{name}.eml").write_bytes(t.slowest)

    total = Counter(pure.outcomes) + Counter(intake.outcomes)
    return {
        "complete": True,
        "command": f"python -m infra.fuzz_bench --inputs {inputs} --intake-inputs {intake_inputs} --seed {seed}",
        "inputs": pure.inputs + intake.inputs,
        "outcomes": {KIND[o]: total.get(o, 0) for o in OUTCOMES},
        "exceptions": pure.exceptions + intake.exceptions,
        "parse_and_decide": figures(pure, pure_s),
        "email_intake_moto": figures(intake, intake_s),
        "seeds": len(seeds),
        "failures_saved": saved,
    }


def _save_failures(failures: list[tuple[bytes, str]]) -> list[str]:
    if not failures:
        return []
    FAILURES.mkdir(parents=True, exist_ok=True)
    out = []
    for raw, detail in failures:
        name = hashlib.sha256(raw).hexdigest()[:16]
        (FAILURES / f"{name}.eml").write_bytes(raw)
        (FAILURES / f"{name}.txt").write_text(detail, encoding="utf-8")
        path = FAILURES / f"{name}.eml"
        out.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.fuzz_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs through parse_mail + decide")
    parser.add_argument("--intake-inputs", type=int, default=500, help="inputs through EmailIntake.process in moto")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--corpus", type=Path, default=None, help="email corpus root (default ../shared/email-corpus)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    results = run(args.inputs, args.intake_inputs, args.seed, args.corpus, out=args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 1 if results["exceptions"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

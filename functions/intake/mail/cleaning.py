"""What the customer wrote: a mail body without quoted history and signatures (Chinese and English).

Trimmed:
- quoted lines (``> ...``) and the attribution above them ("On Mon, 1 Jan 2024, X wrote:",
  "在 2024年1月1日 ... 写道：", "X <x@y> 于2024年1月1日 写道："), keeping inline answers between quotes;
- an Outlook history block and everything after it: "-----Original Message-----", QQ/Foxmail
  "------------------ 原始邮件 ------------------", a "From: ... / Sent: ..." or "发件人: ... / 发送时间: ..."
  header block, an underscore rule followed by such a block;
- the signature after the ``-- `` delimiter and mobile signatures ("Sent from my iPhone",
  "发自我的iPhone", "Get Outlook for Android", ...).

Kept: forwarded content. "---------- Forwarded message ---------", "Begin forwarded message:",
"-------- 转发的邮件 --------" always start a forwarded block; in a message whose subject says it is a
forward (Fwd:/FW:/转发:), Outlook's history markers do too. The block keeps its header lines (From,
Date, Subject...) and its body is cleaned like a message of its own (Apple Mail's ``>``-quoted
forwards are unquoted first). A signature above a forwarded block ends at the block.
"""
from __future__ import annotations

import re

from shared.models import DESCRIPTION_MAX

FULL_TEXT_MAX = 10 * DESCRIPTION_MAX

FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|tr|wg|i|rv|doorst|转发|轉寄|转寄|轉發)\s*[:：]", re.I)
REPLY_SUBJECT = re.compile(r"^\s*(re|aw|antw|sv|vs|rif|r|回复|回覆|答复|答覆)\s*(\[\d+\])?\s*[:：]", re.I)

_FORWARD_MARKER = re.compile(
    r"^(-{2,}\s*(forwarded message|forwarded e-?mail|转发的邮件|转发邮件信息|轉寄的郵件|轉寄郵件|"
    r"weitergeleitete nachricht|message transféré|mensaje reenviado|messaggio inoltrato)\s*-{2,}"
    r"|begin forwarded message\s*:?|开始转发的邮件\s*[:：]?|以下为转发的邮件\s*[:：]?)$", re.I)
_ORIGINAL_MARKER = re.compile(
    r"^-{2,}\s*(original message|original|原始邮件|原始郵件|原邮件|ursprüngliche nachricht|"
    r"message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}$", re.I)
_RULE = re.compile(r"^_{10,}$")
_HEADER_FROM = re.compile(r"^\*?(from|发件人|發件人|寄件者|寄件人|von|de|da|van)\s*\*?\s*[:：]", re.I)
_HEADER_SENT = re.compile(r"^\*?(sent|date|发送时间|發送時間|时间|日期|寄件日期|傳送時間|gesendet|datum|envoyé|"
                          r"enviado|inviato|verzonden)\s*\*?\s*[:：]", re.I)
_HEADER_LINE = re.compile(r"^\*?[^\s:：>][^:：]{0,30}?\*?\s*[:：]")
_HEADER_SUBJECT = re.compile(r"^\*?(subject|主题|主旨|betreff|objet|asunto|oggetto|onderwerp)\s*\*?\s*[:：]\s*", re.I)
_ATTRIBUTION = re.compile(
    r"^(on\b.{0,400}\bwrote|.{0,300}@.{0,300}\bwrote|le\b.{0,400}\ba écrit|el\b.{0,400}\bescribió"
    r"|il\b.{0,400}\bha scritto|(am|op)\b.{0,400}\b(schrieb|schreef)\b.{0,300})\s*:$"
    r"|^.{0,400}(写道|寫道)\s*[:：]$", re.I)
_ATTRIBUTION_START = re.compile(r"^(on|am|le|el|op|il)\b|^在|@", re.I)
_MOBILE_SIGNATURE = re.compile(
    r"^(sent from my \S.{0,40}|sent from (mail|outlook|yahoo mail|samsung|huawei|xiaomi|my mobile)\b.{0,40}"
    r"|get outlook for \S.{0,20}|sent via \S.{0,30}|von meinem \S.{0,30} gesendet|envoyé de mon \S.{0,30}"
    r"|发自我的.{1,24}|來自我的.{1,24}|来自我的.{1,24}|从我的.{1,16}发送|從我的.{1,16}傳送"
    r"|发自\s?(网易邮箱大师|.{0,10}邮箱.{0,8}|.{0,10}mail.{0,8}))$", re.I)
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
MAX_FORWARD_DEPTH = 10


def is_forward_subject(subject: str | None) -> bool:
    return bool(subject and FORWARD_SUBJECT.match(subject))


def has_reply_prefix(subject: str | None) -> bool:
    return bool(subject and REPLY_SUBJECT.match(subject))


def strip_subject_prefixes(subject: str) -> str:
    """'Re: FW: 回复：Broken kettle' -> 'Broken kettle' (for matching a reply to a case's title)."""
    previous = None
    while previous != subject:
        previous = subject
        subject = REPLY_SUBJECT.sub("", subject, count=1)
        subject = FORWARD_SUBJECT.sub("", subject, count=1).strip()
    return subject


def normalise_text(text: str) -> str:
    """One newline convention, no control or invisible characters, no trailing spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u3000", " ")
    text = _CONTROL.sub("", _INVISIBLE.sub("", text.replace("\t", "    ")))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def finish(text: str, limit: int = DESCRIPTION_MAX) -> str:
    """Blank-line runs collapsed to one blank line, ends stripped, capped at ``limit``."""
    text = _BLANK_RUNS.sub("\n\n", text).strip("\n").strip()
    if len(text) > limit:
        text = text[:limit].rstrip()
    return text


def clean_body(text: str, *, forwarded: bool = False) -> str:
    """The description of a case from a mail body (see the module docstring)."""
    lines = normalise_text(text[:FULL_TEXT_MAX]).split("\n")
    return finish("\n".join(_clean(lines, forwarded, 0)))


def _next_content(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _outlook_block_at(lines: list[str], i: int) -> bool:
    if i >= len(lines) or not _HEADER_FROM.match(lines[i].strip()):
        return False
    return any(_HEADER_SENT.match(lines[j].strip()) for j in range(i + 1, min(i + 4, len(lines))))


def _forward_start(lines: list[str], i: int, forwarded: bool) -> int | None:
    """Index of the forwarded block's first header line when a forwarded block starts at line i."""
    line = lines[i].strip()
    if _FORWARD_MARKER.match(line):
        return i + 1
    if forwarded:
        if _ORIGINAL_MARKER.match(line):
            return i + 1
        if _RULE.match(line) and _outlook_block_at(lines, _next_content(lines, i + 1)):
            return i + 1
        if _outlook_block_at(lines, i):
            return i
    return None


def _reply_start(lines: list[str], i: int) -> tuple[str, int] | None:
    """('cut', i) when quoted history that is not quoted with '>' starts at line i;
    ('attribution', end) when an "On ... wrote:" line (possibly wrapped) spans lines i..end-1."""
    line = lines[i].strip()
    if _ORIGINAL_MARKER.match(line) or _outlook_block_at(lines, i):
        return ("cut", i)
    if _RULE.match(line) and _outlook_block_at(lines, _next_content(lines, i + 1)):
        return ("cut", i)
    if len(line) > 600:
        return None
    if _ATTRIBUTION.match(line):
        return ("attribution", i + 1)
    if _ATTRIBUTION_START.search(line):
        joined = line
        for j in range(i + 1, min(i + 3, len(lines))):
            nxt = lines[j].strip()
            if not nxt or nxt.startswith(">"):
                break
            joined += " " + nxt
            if _ATTRIBUTION.match(joined):
                return ("attribution", j + 1)
    return None


def _is_signature(line: str) -> bool:
    return line in ("--", "-- ") or bool(_MOBILE_SIGNATURE.match(line.strip()))


def _unquote(lines: list[str]) -> list[str]:
    content = [line for line in lines if line.strip()]
    if not content or not all(line.lstrip().startswith(">") for line in content):
        return lines
    out = []
    for line in lines:
        line = line.lstrip()
        line = line[1:] if line.startswith(">") else line
        out.append(line[1:] if line.startswith(" ") else line)
    return out


def _clean(lines: list[str], forwarded: bool, depth: int) -> list[str]:
    out: list[str] = []
    in_signature = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            if not in_signature:
                out.append("")
            i += 1
            continue
        if stripped.startswith(">"):
            i += 1
            continue
        start = _forward_start(lines, i, forwarded) if depth < MAX_FORWARD_DEPTH else None
        if start is not None:
            if out and out[-1]:
                out.append("")
            out.extend(_forward_block(lines, i, start, depth))
            return out
        if in_signature:
            i += 1
            continue
        reply = _reply_start(lines, i)
        if reply is not None:
            kind, end = reply
            nxt = _next_content(lines, end)
            if kind == "cut" or (nxt < len(lines) and not lines[nxt].lstrip().startswith(">")):
                return out  # history that is not '>'-quoted: nothing of the customer's follows
            i = end
            continue
        if _is_signature(line):
            in_signature = True
            i += 1
            continue
        out.append(line)
        i += 1
    return out


def _forward_block(lines: list[str], marker: int, start: int, depth: int) -> list[str]:
    out = [line.strip() for line in lines[marker:start] if line.strip()]
    rest = _unquote(lines[start:])
    j = _next_content(rest, 0)
    headers: list[str] = []
    inner_forward = False
    while j < len(rest) and rest[j].strip():
        text = rest[j].strip()
        if _HEADER_LINE.match(text) or (headers and rest[j][:1] in (" ", "\t")):
            headers.append(text)
            subject = _HEADER_SUBJECT.match(text)
            if subject:
                inner_forward = is_forward_subject(text[subject.end():])
            j += 1
        else:
            break
    out.extend(headers)
    out.append("")
    out.extend(_clean(rest[j:], inner_forward, depth + 1))
    return out

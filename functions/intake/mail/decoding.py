"""Bytes to text for mail: declared charsets with sensible fallbacks, and header values.

Mail in the wild declares charsets that Python does not know (``iso-gb2312``, ``X-UNKNOWN``),
declares one charset and uses another (GBK labelled ``utf-8``, UTF-8 labelled ``iso-8859-1``),
and puts raw 8-bit bytes into headers. :func:`decode_bytes` never raises: it tries the declared
charset (widened to its usual superset: GB2312 -> GB18030, Big5 -> CP950, ISO-8859-1 -> CP1252),
then UTF-8, GB18030 (only when the bytes look like GB), CP1252 and finally Latin-1, and tells the
caller which fallback it took so the message can carry a defect note.
"""
from __future__ import annotations

import binascii
import codecs
import re

# canonical codec name (as codecs.lookup spells it) -> what to try instead, in order
_WIDER: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("cp950", "big5hkscs"),
    "cp950": ("cp950", "big5hkscs"),
    "big5hkscs": ("big5hkscs", "cp950"),
    "euc_kr": ("cp949",),
    "shift_jis": ("cp932",),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "iso8859-1": ("cp1252", "latin-1"),
    "ascii": ("ascii",),
}
# labels Python does not know, or knows under another name
_LABELS: dict[str, str] = {
    "x-gbk": "gb18030", "gb_2312-80": "gb18030", "x-gb2312": "gb18030",
    "gb2312-80": "gb18030", "csgb2312": "gb18030", "cp936": "gb18030", "ms936": "gb18030",
    "windows-936": "gb18030", "x-euc-cn": "gb18030", "chinese": "gb18030",  # iso-gb2312: unknown, hinted
    "x-big5": "cp950", "big5-hkscs": "big5hkscs", "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949",
    "x-sjis": "cp932", "x-mac-roman": "mac-roman", "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6", "utf8mb4": "utf-8", "unicode-1-1-utf-7": "utf-7",
}
# codecs that are "text encodings" to Python but never a mail charset
_NOT_CHARSETS = {"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined", "raw_unicode_escape",
                 "unicode_escape", "mbcs", "oem"}
_SINGLE_BYTE = re.compile(r"^(ascii|latin|iso8859|cp125|cp874|koi8|mac|cp437|cp85|tis)")
_GB_HIGH = re.compile(rb"[\x81-\xfe][\xa1-\xfe]")
_GB_LOW = re.compile(rb"[\x81-\xfe][\x40-\x7e\x80]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([bBqQ])\?([^\r\n]*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WS = re.compile(r"\s+")


def codec_for(label: str | None) -> str | None:
    """The Python codec for a declared charset label, or None when unknown or not a text charset."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _LABELS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def _hinted(label: str) -> str | None:
    """A guess from an unknown label's spelling: 'iso-gb2312' is GB, 'x-big5-xyz' is Big5..."""
    name = label.lower()
    for hint, codec in (("gb", "gb18030"), ("big5", "cp950"), ("jis", "cp932"), ("jp", "cp932"),
                        ("kr", "cp949"), ("ksc", "cp949"), ("1252", "cp1252"), ("latin", "cp1252"),
                        ("8859", "cp1252"), ("utf", "utf-8")):
        if hint in name:
            return codec
    return None


def looks_like_gb(data: bytes) -> bool:
    """GB2312/GBK text pairs a lead byte with a high trail byte; Latin text with an ASCII letter."""
    high = len(_GB_HIGH.findall(data))
    return high > 0 and high >= 4 * len(_GB_LOW.findall(data))


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` declared as ``charset``; returns ``(text, defect)``, defect None when all went
    as declared, else a short note such as ``unknown_charset`` or ``charset_fallback:gb18030``."""
    if not data:
        return "", None
    declared = codec_for(charset) if charset else None
    defect: str | None = None
    if charset and declared is None:
        defect = "unknown_charset"
        declared = _hinted(charset)
    candidates = _WIDER.get(declared, (declared,)) if declared else ()
    if declared and _SINGLE_BYTE.match(declared) and max(data) > 0x7F:
        # bytes that are valid UTF-8 with non-ASCII characters are UTF-8, whatever the label says
        text = _strict(data, "utf-8")
        if text is not None:
            return text, "charset_mislabelled:utf-8"
    for codec in candidates:
        text = _strict(data, codec)
        if text is not None:
            return text, defect
    if declared and declared != "ascii":
        # the declared charset with a handful of bad bytes (a truncated character) beats a guess
        text = data.decode(candidates[0], errors="replace")
        if text.count("\ufffd") <= max(2, len(text) // 500):
            return text, defect or "charset_errors"
    for codec in ("utf-8", "gb18030", "cp1252"):
        if codec == "gb18030" and not looks_like_gb(data):
            continue
        text = _strict(data, codec)
        if text is not None:
            if charset and declared != "ascii":
                defect = defect or f"charset_fallback:{codec}"
            elif codec != "utf-8":
                defect = defect or f"charset_guess:{codec}"
            return text, defect
    return data.decode("latin-1"), defect or "charset_fallback:latin-1"


def raw_header_bytes(value: str) -> bytes:
    """A header value as BytesParser keeps it (8-bit bytes as surrogate escapes) back to bytes."""
    return value.encode("utf-8", "surrogateescape")


def _decode_word(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        payload = "".join(payload.split())
        if len(payload) % 4 == 1:
            payload = payload[:-1]
        payload += "=" * (-len(payload) % 4)
        try:
            return binascii.a2b_base64(payload.encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            return b""
    return binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)


def decode_encoded_words(text: str, notes: list[str] | None = None) -> str:
    """RFC 2047 encoded words (``=?gb2312?B?...?=``) to text. Whitespace between adjacent encoded
    words is dropped, and adjacent words in one charset are joined before decoding, so a character
    split across two words survives. Unknown charsets fall back like bodies do."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pos = 0
    pending_charset: str | None = None
    pending = bytearray()

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            decoded, defect = decode_bytes(bytes(pending), pending_charset)
            if defect and notes is not None:
                notes.append("header_" + defect.split(":")[0])
            out.append(decoded)
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos:match.start()]
        if between and not (pending_charset is not None and not between.strip()):
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0]
        if pending_charset is not None and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending.extend(_decode_word(match.group(2), match.group(3)))
        pos = match.end()
    flush()
    out.append(text[pos:])
    return "".join(out)


def decode_raw_header(data: bytes, hint: str | None = None) -> tuple[str, str | None]:
    """Raw 8-bit header bytes: UTF-8 (RFC 6532), else the charset the message body declares
    (a mail client that puts raw GBK or Big5 into headers uses the body's charset), else a guess."""
    if hint and codec_for(hint) not in (None, "utf-8", "ascii"):
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            pass
        return decode_bytes(data, hint)
    return decode_bytes(data, "utf-8")


def decode_header_value(value: str, notes: list[str] | None = None, hint: str | None = None) -> str:
    """A raw header value (as ``Message.raw_items`` gives it) to one clean line of text."""
    if any(ord(ch) > 0x7F for ch in value):
        text, defect = decode_raw_header(raw_header_bytes(value), hint)
        if defect and notes is not None:  # raw UTF-8 is allowed (RFC 6532); anything else is a guess
            notes.append("raw_8bit_header:" + defect.split(":")[-1])
    else:
        text = value
    text = _FOLD.sub("", text)
    text = decode_encoded_words(text, notes)
    return clean_line(text)


def clean_line(text: str) -> str:
    """Control characters out, whitespace runs to one space, ends stripped."""
    return _WS.sub(" ", _CONTROL.sub(" ", text.replace("\x00", ""))).strip()


def has_mojibake(text: str) -> bool:
    """Replacement characters or surrogate escapes: the modern header parser guessed badly."""
    return "\ufffd" in text or any("\udc80" <= ch <= "\udcff" for ch in text)

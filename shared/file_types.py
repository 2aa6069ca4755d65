"""What a file is, by its first bytes ("magic numbers"), not by its name or its declared type.

An attachment declares a content type when its upload is requested (``POST /complaints/attachments``)
or in its MIME part (email). Before it joins a case, :func:`content_matches` checks the file's first
:data:`HEAD_BYTES` bytes against that type: a Windows program renamed ``invoice.pdf`` and uploaded as
``application/pdf`` is refused, whatever its name says. Pure functions, no I/O: the caller reads the
head (an S3 ranged GET, or the bytes of a MIME part).

Each type of :data:`shared.attachments.ALLOWED_TYPES` has a check here (a unit test makes sure):

* images: JPEG ``FF D8 FF``, PNG's 8-byte signature, GIF ``GIF87a``/``GIF89a``, WEBP (``RIFF`` ....
  ``WEBP``), HEIC (an ISO-BMFF ``ftyp`` box with a HEIF brand);
* PDF: ``%PDF-`` within the first 1024 bytes (readers accept a little junk before it);
* plain text: UTF-8 (an optional BOM; a character cut by the end of the head is fine) or UTF-16 with
  its BOM, and no NUL byte in UTF-8 (programs and binary files always have some);
* legacy Office (``doc``, ``xls``, ``ppt``): an OLE2 compound file ``D0 CF 11 E0 A1 B1 1A E1``;
* Office Open XML (``docx``, ``xlsx``, ``pptx``): a ZIP local file header ``PK 03 04``;
  OpenDocument (``odt``, ``ods``): a ZIP whose first entry is ``mimetype`` holding that very type
  (the format requires it);
* audio: MP3 (an ``ID3`` tag or an MPEG audio frame sync), MP4/M4A (``ftyp`` box), AAC (ADTS sync,
  ``ADIF`` or an ``ID3`` tag), WAV (``RIFF`` .... ``WAVE``, or ``RF64``), Ogg ``OggS``, WebM (EBML
  ``1A 45 DF A3``), AMR ``#!AMR``.
"""
from __future__ import annotations

import codecs
from typing import Callable

HEAD_BYTES = 4096  # enough for every check below (PDF's header may come after 1 KB of junk; text)

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_ODF = {
    "application/vnd.oasis.opendocument.text": b"application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet": b"application/vnd.oasis.opendocument.spreadsheet",
}


def _jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _gif(head: bytes) -> bool:
    return head[:6] in (b"GIF87a", b"GIF89a")


def _riff(head: bytes, form: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == form


def _webp(head: bytes) -> bool:
    return _riff(head, b"WEBP")


def _ftyp(head: bytes) -> bytes | None:
    """The major brand of an ISO base media file (MP4, M4A, HEIC), else None."""
    return head[8:12] if len(head) >= 12 and head[4:8] == b"ftyp" else None


def _heic(head: bytes) -> bool:
    brand = _ftyp(head)
    if brand is None:
        return False
    size = int.from_bytes(head[:4], "big")
    compatible = {head[i:i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    return brand in _HEIF_BRANDS or bool(compatible & _HEIF_BRANDS)


def _pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def _text(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return len(head) % 2 == 0  # UTF-16: whole code units (HEAD_BYTES is even)
    if b"\x00" in head:
        return False
    try:  # incremental: a multi-byte character cut by the end of the head is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < HEAD_BYTES)
    except UnicodeDecodeError:
        return False
    return True


def _ole2(head: bytes) -> bool:
    return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def _zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04")


def _odf(mimetype: bytes) -> Callable[[bytes], bool]:
    def check(head: bytes) -> bool:
        # local file header: 30 bytes, then the name ("mimetype"), then the stored (uncompressed) type
        return _zip(head) and head[30:38] == b"mimetype" and head[38:38 + len(mimetype)] == mimetype

    return check


def _id3(head: bytes) -> bool:
    return head.startswith(b"ID3")


def _mp3(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits, then a version, and a layer that is not "reserved" (00 is AAC's ADTS)
    return _id3(head) or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0)


def _aac(head: bytes) -> bool:
    adts = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0
    return adts or head.startswith(b"ADIF") or _id3(head)


def _mp4(head: bytes) -> bool:
    return _ftyp(head) is not None


def _wav(head: bytes) -> bool:
    return _riff(head, b"WAVE") or (head[:4] == b"RF64" and head[8:12] == b"WAVE")


def _ogg(head: bytes) -> bool:
    return head.startswith(b"OggS")


def _webm(head: bytes) -> bool:
    return head.startswith(b"\x1a\x45\xdf\xa3")


def _amr(head: bytes) -> bool:
    return head.startswith((b"#!AMR\n", b"#!AMR-WB\n"))


# content type -> check of the file's first bytes
CHECKS: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": _jpeg,
    "image/png": _png,
    "image/gif": _gif,
    "image/webp": _webp,
    "image/heic": _heic,
    "application/pdf": _pdf,
    "text/plain": _text,
    "application/msword": _ole2,
    "application/vnd.ms-excel": _ole2,
    "application/vnd.ms-powerpoint": _ole2,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _zip,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _zip,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _zip,
    **{ctype: _odf(mimetype) for ctype, mimetype in _ODF.items()},
    "audio/mpeg": _mp3,
    "audio/mp4": _mp4,
    "audio/aac": _aac,
    "audio/wav": _wav,
    "audio/x-wav": _wav,
    "audio/ogg": _ogg,
    "audio/webm": _webm,
    "audio/amr": _amr,
}

# what a file that matched nothing declared looks like, for the message and the log (never its bytes)
_KNOWN: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("a Windows program", lambda h: h.startswith(b"MZ")),
    ("a Linux program", lambda h: h.startswith(b"\x7fELF")),
    ("a macOS program", lambda h: h[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")),
    ("a shell script", lambda h: h.startswith(b"#!") and not _amr(h)),
    ("an HTML page", lambda h: h.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html", b"<script"))),
    ("an SVG image", lambda h: b"<svg" in h[:1024].lower()),
    ("a JPEG image", _jpeg), ("a PNG image", _png), ("a GIF image", _gif), ("a WEBP image", _webp),
    ("a PDF document", _pdf), ("an Office document (OLE2)", _ole2), ("a ZIP archive", _zip),
    ("an MP4/HEIC file", _mp4), ("a RAR archive", lambda h: h.startswith(b"Rar!")),
    ("a 7-Zip archive", lambda h: h.startswith(b"7z\xbc\xaf\x27\x1c")),
    ("a gzip archive", lambda h: h.startswith(b"\x1f\x8b")),
)


def content_matches(content_type: str, head: bytes) -> bool:
    """Whether ``head`` (the file's first bytes; the whole file if shorter than :data:`HEAD_BYTES`)
    is a file of ``content_type`` (normalised: ``image/png``, no parameters). An empty file or a
    type without a check never matches."""
    check = CHECKS.get(content_type)
    return bool(head) and check is not None and check(head[:HEAD_BYTES])


def looks_like(head: bytes) -> str | None:
    """A short description of what the bytes seem to be ("a Windows program", "a PNG image"), if known."""
    if not head:
        return "an empty file"
    return next((name for name, check in _KNOWN if check(head[:HEAD_BYTES])), None)


def mismatch_problem(content_type: str, head: bytes) -> str:
    """The customer-facing reason a file does not match its declared type."""
    seen = looks_like(head)
    return f"its content is not {content_type}" + (f" (it looks like {seen})" if seen else "")

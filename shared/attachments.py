"""Attachment uploads: an allow-list of types, a size cap enforced by the S3 upload policy, and a
check of the stored object before a complaint may reference it: its size, its declared type, and its
first bytes against that type (:mod:`shared.file_types`), so a file is what it says it is."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# content type -> file extensions we accept for it
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "image/heic": ("heic",),
    "application/pdf": ("pdf",),
    "text/plain": ("txt", "log"),
    "application/msword": ("doc",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.ms-excel": ("xls",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.ms-powerpoint": ("ppt",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "audio/mpeg": ("mp3",),
    "audio/mp4": ("m4a", "mp4"),
    "audio/aac": ("aac",),
    "audio/wav": ("wav",),
    "audio/x-wav": ("wav",),
    "audio/ogg": ("ogg", "oga"),
    "audio/webm": ("weba", "webm"),
    "audio/amr": ("amr",),
}


class AttachmentRejected(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def normalize_content_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def safe_filename(filename: str) -> str:
    """The last path segment, without control characters, at most 150 characters."""
    name = re.split(r"[\\/]", filename)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or "attachment"
    stem, dot, ext = name.rpartition(".")
    return (stem[: 150 - len(ext) - 1] + dot + ext) if dot else name[:150]


def check_upload(filename: str, content_type: str, size: int | None, max_bytes: int) -> tuple[str, str]:
    """Validate a requested upload; returns the safe file name and the normalised content type."""
    ctype = normalize_content_type(content_type)
    if ctype not in ALLOWED_TYPES:
        raise AttachmentRejected("content_type", f"files of type {ctype!r} are not accepted; "
                                 "send images, PDF, plain text, office documents or audio")
    name = safe_filename(filename)
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext not in ALLOWED_TYPES[ctype]:
        raise AttachmentRejected("filename", f"the file name should end in .{ALLOWED_TYPES[ctype][0]} for {ctype}")
    if size is not None and size > max_bytes:
        raise AttachmentRejected("size", f"files may be at most {max_bytes} bytes")
    return name, ctype


@dataclass(frozen=True)
class StoredObject:
    size: int
    content_type: str


class AttachmentStore:
    """The attachments bucket. Presigning is local signing: no AWS call."""

    def __init__(self, s3: Any, bucket: str):
        self._s3, self._bucket = s3, bucket

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        return self._s3.generate_presigned_post(
            Bucket=self._bucket, Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )

    def presign_download(self, key: str, filename: str, expires_in: int = 900) -> str:
        return self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": f"attachment; filename*=UTF-8''{_quote(filename)}"},
            ExpiresIn=expires_in,
        )

    def inspect(self, key: str) -> StoredObject | None:
        from shared.aws import error_code

        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(size=int(head["ContentLength"]), content_type=normalize_content_type(head.get("ContentType", "")))

    def head_bytes(self, key: str, length: int) -> bytes:
        """The object's first ``length`` bytes (a ranged GET: a 10 MB upload is not read whole), for
        :func:`shared.file_types.content_matches`; empty if the object is gone."""
        from shared.aws import error_code

        try:
            out = self._s3.get_object(Bucket=self._bucket, Key=key, Range=f"bytes=0-{length - 1}")
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound", "InvalidRange"):
                return b""
            raise
        return out["Body"].read(length)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store a file the system received itself (e.g. an email attachment)."""
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def attachment_store() -> AttachmentStore:
    from shared.aws import client
    from shared.config import settings

    return AttachmentStore(client("s3"), settings().attachments_bucket)

"""The reports bucket: exports and email attachments too large to send inline, behind presigned links.

    s3://<REPORTS_BUCKET>/exports/<period label>/<scope>/<random>/<file name>

The bucket blocks public access, encrypts at rest and expires ``exports/`` after 30 days
(``infra/resources.yaml``). A link is a presigned GET (``REPORT_LINK_EXPIRY_SECONDS``, at most 7 days,
SigV4's limit) that makes the browser save the file under its name. Note: a URL signed with a Lambda
role's temporary credentials stops working when those credentials expire (hours), whatever its own
expiry says; the API's export route signs a fresh one on each call.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


@dataclass(frozen=True)
class StoredExport:
    key: str
    url: str
    expires_at: datetime
    filename: str
    size: int
    content_type: str

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "expires_at": self.expires_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "filename": self.filename, "bytes": self.size, "content_type": self.content_type, "key": self.key}


class ExportStore:
    def __init__(self, s3: Any, bucket: str, *, expiry_seconds: int):
        self._s3, self._bucket, self._expiry = s3, bucket, expiry_seconds

    def put(self, data: bytes, *, filename: str, content_type: str, period_label: str, scope: str,
            now: datetime | None = None) -> StoredExport:
        """Store ``data`` and answer a presigned link to it."""
        safe_period = period_label.replace("..", "_")
        key = f"exports/{safe_period}/{scope}/{secrets.token_hex(8)}/{filename}"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                            ContentDisposition=f'attachment; filename="{filename}"')
        url = self._s3.generate_presigned_url(
            "get_object", ExpiresIn=self._expiry,
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'})
        expires = (now or datetime.now(timezone.utc)) + timedelta(seconds=self._expiry)
        return StoredExport(key=key, url=url, expires_at=expires, filename=filename, size=len(data),
                            content_type=content_type)


def export_store() -> ExportStore:
    from shared.aws import client
    from shared.config import settings

    s = settings()
    return ExportStore(client("s3"), s.required("reports_bucket"), expiry_seconds=s.report_link_expiry_seconds)

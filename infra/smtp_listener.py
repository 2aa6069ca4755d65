"""The local stand-in for SES's receipt rule: an SMTP server (aiosmtpd) on 127.0.0.1:2525 that
stores each message, raw, in the inbound-mail bucket under ``inbound/``. The bucket's notification
then puts the S3 event on the email intake queue, exactly as in AWS, and the event pump delivers it.

Like SES, it adds a ``Return-Path`` with the envelope sender (an empty one marks a bounce) and a
``Received`` line; it accepts mail for any recipient (SES's rule decides that in AWS).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

log = logging.getLogger("infra.smtp")
MAX_MESSAGE_BYTES = 40 * 1024 * 1024


class InboundMailHandler:
    def __init__(self, s3: Any, bucket: str, host_name: str = "localhost"):
        self._s3, self._bucket, self._host = s3, bucket, host_name

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        sender = envelope.mail_from or ""
        stamp = format_datetime(datetime.now(timezone.utc))
        trace = (f"Return-Path: <{sender}>\r\n"
                 f"Received: from {session.host_name or 'unknown'} ({session.peer[0]}) by {self._host} "
                 f"(complaints local SMTP); {stamp}\r\n").encode()
        raw = trace + (envelope.original_content or envelope.content)
        key = f"inbound/{datetime.now(timezone.utc):%Y/%m/%d}/{uuid.uuid4().hex}"
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=raw, ContentType="message/rfc822")
        except Exception:  # noqa: BLE001 - tell the client to retry rather than lose the message
            log.exception("could not store an inbound message")
            return "451 Requested action aborted: could not store the message, try again later"
        log.info("stored inbound message (%d bytes) as %s", len(raw), key)
        return "250 Message accepted for delivery"


class SmtpListener:
    def __init__(self, s3: Any, bucket: str, host: str = "127.0.0.1", port: int = 2525):
        from aiosmtpd.controller import Controller

        self.host, self.port = host, port
        self._controller = Controller(InboundMailHandler(s3, bucket), hostname=host, port=port,
                                      data_size_limit=MAX_MESSAGE_BYTES, decode_data=False,
                                      server_hostname="complaints.local", ready_timeout=10)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

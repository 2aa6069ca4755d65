"""The local stack's outbox: every email and SMS the app sends is also written under ``var/outbox/``.

moto accepts ``sesv2.SendEmail`` and ``sns.Publish`` and keeps the messages in memory, where nobody
can read them. So the local stack hooks botocore's events on boto3's default session, which
``shared.aws`` creates the app's clients from (a client copies its session's event hooks when it
is made: :func:`install` runs before the API and the event pump create any):

* ``before-parameter-build.<service>.<operation>`` keeps the call's parameters in the request
  context, and ``after-call`` writes them out once the endpoint has accepted the call (a refused
  send leaves no file);
* an email becomes ``outbox/<UTC time>-<complaint>-<purpose>.eml`` (the raw MIME message as sent,
  openable in any mail client), named from our Message-ID (``shared.mail_ids``);
* an SMS becomes a line of ``outbox/sms.log``: ``<UTC time>\\t<phone>\\t<text>``.

Nothing here runs in AWS: the functions never import ``infra``. :func:`install` also verifies the
sender identity in moto (SES refuses to send from an unverified address, as in AWS).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("infra.outbox")
CONTEXT_KEY = "local_outbox_params"
SMS_LOG = "sms.log"


class Outbox:
    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()

    # botocore event handlers
    def remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[CONTEXT_KEY] = dict(params)

    def email_accepted(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(CONTEXT_KEY)
        raw = ((params or {}).get("Content") or {}).get("Raw", {}).get("Data")
        if raw is None or not _accepted(http_response):
            return
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        path = self.write_email(raw)
        log.info("email %s written to %s", parsed.get("MessageId"), path)

    def sms_accepted(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(CONTEXT_KEY) or {}
        if params.get("PhoneNumber") and _accepted(http_response):
            self.write_sms(params["PhoneNumber"], params.get("Message", ""))
            log.info("SMS %s written to %s", parsed.get("MessageId"), self.directory / SMS_LOG)

    # files
    def write_email(self, raw: bytes) -> Path:
        from shared.mail_ids import parse_our_message_id

        headers = BytesHeaderParser().parsebytes(raw)
        complaint, purpose = parse_our_message_id(headers.get("Message-ID")) or ("unknown", "email")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{complaint}-{purpose}.eml"
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")  # renamed into place: a reader never sees half a message
        partial.write_bytes(raw)
        partial.replace(path)
        return path

    def write_sms(self, phone: str, text: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = f"{stamp}\t{phone}\t{' '.join(text.split())}\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / SMS_LOG, "a", encoding="utf-8") as out:
                out.write(line)


def _accepted(http_response: Any) -> bool:
    return http_response is not None and getattr(http_response, "status_code", 500) < 300


HOOKS = (
    ("before-parameter-build.sesv2.SendEmail", "remember"),
    ("after-call.sesv2.SendEmail", "email_accepted"),
    ("before-parameter-build.sns.Publish", "remember"),
    ("after-call.sns.Publish", "sms_accepted"),
)


def install(directory: Path, client: Callable[[str], Any], sender_address: str | None = None) -> Callable[[], None]:
    """Verify the sender in moto and copy every accepted email/SMS to ``directory``; returns the undo."""
    import boto3

    from shared.config import settings

    verify_sender(client, sender_address or settings().sender_address)
    directory.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(directory)
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events
    for event, method in HOOKS:
        events.register(event, getattr(outbox, method), unique_id=f"local-outbox:{event}")
    log.info("outgoing email and SMS are copied to %s", directory)

    def uninstall() -> None:
        for event, _ in HOOKS:
            events.unregister(event, unique_id=f"local-outbox:{event}")

    return uninstall


def verify_sender(client: Callable[[str], Any], address: str) -> None:
    """Create (and so, in moto, verify) the SES identity our emails come from."""
    from shared.aws import error_code

    try:
        client("sesv2").create_email_identity(EmailIdentity=address)
    except Exception as exc:
        if error_code(exc) != "AlreadyExistsException":
            raise

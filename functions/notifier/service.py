"""Acknowledging to the customer: what to send, to whom, in which language, through which channel.

One call of :meth:`Notifier.notify` per event:

1. read the case with its contact data (decrypted);
2. choose the channel: email if the customer gave an address, else SMS to a phone number that can be
   written in E.164, else nothing (recorded as ``skipped``);
3. claim the notification in the delivery log (a repeat finds it ``sent`` and stops here);
4. mint a tracking token for the link and add its hash to the case, so the link works the moment
   the message arrives;
5. render the templates in the customer's language, send, record the Message-IDs (ours before the
   send, SES's after) and the outcome; for an acknowledgement, add ``acknowledged`` to the timeline.

A failed send is recorded as ``failed`` and raised, so SQS redelivers the event (and dead-letters it
after the queue's maxReceiveCount); the next delivery claims the failed notification again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import quote

from functions.notifier.channels import EmailChannel, SendFailed, SmsChannel
from shared.clock import now as domain_now
from shared.contact import e164
from functions.notifier.delivery_log import DeliveryLog, Record
from functions.notifier.messages import Rendered, compose_email, email_bytes, format_deadline, render
from shared.aws import error_code
from shared.config import Settings
from shared.identifiers import hash_tracking_token, new_tracking_token
from shared.mail_ids import our_message_id, ses_message_ids
from shared.models import Complaint, TimelineEntry, TimelineKind
from shared.observability import logger
from shared.repository import ComplaintRepository

ACK, REPLY_ACK = "ack", "reply-ack"
TEMPLATE_OF = {ACK: "ack", REPLY_ACK: "reply_ack"}


class CaseNotFound(Exception):
    pass


@dataclass(frozen=True)
class Notice:
    """What an event asks of the notifier (from ``handlers.notice_of``)."""

    event_id: str
    complaint_id: str
    purpose: str  # ack | reply-ack
    in_reply_to: str | None = None  # the customer's Message-ID, for reply-acks


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | duplicate | skipped
    channel: str


def language_of(complaint: Complaint, default: str) -> str:
    preferred = complaint.customer.preferred_language if complaint.customer else None
    return preferred or complaint.language or default


def tracking_url(base: str, complaint_id: str, token: str) -> str:
    return f"{base.rstrip('/')}/track?id={quote(complaint_id)}#token={quote(token)}"


class Notifier:
    def __init__(self, repository: ComplaintRepository, log: DeliveryLog, email: EmailChannel, sms: SmsChannel,
                 settings: Settings, clock: Callable[[], datetime] | None = None):
        self._repo, self._log, self._email, self._sms = repository, log, email, sms
        self._settings = settings
        self._now = clock or domain_now

    def notify(self, notice: Notice) -> Outcome:
        found = self._repo.get(notice.complaint_id, with_contact=True)
        if found is None:
            raise CaseNotFound(notice.complaint_id)
        complaint = found[0]
        customer = complaint.customer
        phone = e164(customer.phone, self._settings.sms_default_country_code) if customer else None
        channel = "email" if customer and customer.email else "sms" if phone else "none"
        extra = {"complaint_id": notice.complaint_id, "event_id": notice.event_id, "purpose": notice.purpose,
                 "channel": channel}

        if channel == "none":
            reason = "no contact" if not (customer and customer.phone) else "phone number not in international format"
            if self._log.skip(notice.complaint_id, notice.event_id, purpose=notice.purpose, reason=reason):
                logger().warning("notification skipped: no way to reach the customer", extra={**extra, "reason": reason})
            return Outcome("skipped", channel)

        claim = self._log.claim(notice.complaint_id, notice.event_id, channel, purpose=notice.purpose)
        if isinstance(claim, Record):
            if claim.state == "sent" and notice.purpose == ACK and claim.sent_at:
                self._timeline(complaint.complaint_id, datetime.fromisoformat(claim.sent_at.replace("Z", "+00:00")),
                               channel)  # in case the first delivery stopped before writing it
            logger().info("notification already sent; nothing to do", extra=extra)
            return Outcome("duplicate", channel)

        language = language_of(complaint, self._settings.default_language)
        now = self._now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the log stores it (ms)
        try:
            rendered = self._render(complaint, notice, language)
            if channel == "email":
                message_ids = self._send_email(complaint, rendered, language, notice, now)
            else:
                message_ids = [self._sms.send(phone, rendered.sms)]
        except Exception as exc:
            code = exc.code if isinstance(exc, SendFailed) else (error_code(exc) or type(exc).__name__)
            self._log.failed(claim, error=code)
            logger().warning("notification failed; the event will be retried",
                             extra={**extra, "error": code, "attempt": claim.attempt})
            raise
        if not self._log.sent(claim, sent_at=now, message_ids=message_ids):
            logger().warning("notification sent, but its claim had been taken over", extra=extra)
        if notice.purpose == ACK:
            self._timeline(complaint.complaint_id, now, channel)
        logger().info("notification sent", extra={**extra, "language": language, "attempt": claim.attempt})
        return Outcome("sent", channel)

    def _render(self, complaint: Complaint, notice: Notice, language: str) -> Rendered:
        """The notification's texts, with a tracking link holding a token minted for it (its hash is
        added to the case first, so the link works the moment the message arrives)."""
        s = self._settings
        token = new_tracking_token()
        self._repo.add_tracking_token(complaint.complaint_id, hash_tracking_token(token))
        customer = complaint.customer
        return render(
            TEMPLATE_OF[notice.purpose], language,
            complaint_id=complaint.complaint_id, name=" ".join(customer.name.split()) if customer else None,
            title=complaint.title, tracking_url=tracking_url(s.public_base_url, complaint.complaint_id, token),
            first_response_hours=s.first_response_hours,
            respond_by=format_deadline(complaint.received_at + timedelta(hours=s.first_response_hours), language),
            received_at=format_deadline(complaint.received_at, language), sender_name=s.sender_name,
        )

    def _send_email(self, complaint: Complaint, rendered: Rendered, language: str, notice: Notice,
                    now: datetime) -> list[str]:
        s = self._settings
        ours = our_message_id(complaint.complaint_id, notice.purpose, s.mail_domain)
        # recorded before sending: a quick reply must find its case even if we stop right after the send
        self._log.record_message_ids(complaint.complaint_id, [ours], purpose=notice.purpose)
        message = compose_email(rendered, sender_name=s.sender_name, sender_address=s.sender_address,
                                to_name=complaint.customer.name, to_address=complaint.customer.email,
                                message_id=ours, language=language, sent_at=now, in_reply_to=notice.in_reply_to)
        ses_id = self._email.send(email_bytes(message), to=complaint.customer.email, purpose=notice.purpose)
        theirs = ses_message_ids(ses_id, s.region)
        try:
            self._log.record_message_ids(complaint.complaint_id, theirs, purpose=notice.purpose)
        except Exception as exc:  # noqa: BLE001 - the email is out: failing now would send it again
            logger().warning("SES Message-ID not recorded; replies thread by the number in the subject",
                             extra={"complaint_id": complaint.complaint_id, "error": error_code(exc) or type(exc).__name__})
        return [ours, *theirs]

    def _timeline(self, complaint_id: str, at: datetime, channel: str) -> None:
        self._repo.add_timeline_entry(
            complaint_id, TimelineEntry(at=at, kind=TimelineKind.ACKNOWLEDGED, details={"channel": channel}),
            key="ack")

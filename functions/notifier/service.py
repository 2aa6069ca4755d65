"""Telling the customer: what to send, to whom, in which language, through which channel.

Acknowledgements (``ack``, ``reply-ack``) and the customer-facing case events (``staff_replied``,
``information_requested``, ``resolution_proposed``, ``resolved``, ``closed``; see
``customer_content``) go the same way. One call of :meth:`Notifier.notify` per event:

1. read the case with its contact data (decrypted) and its timeline; for a case event, the facts to
   tell (the handler's reply, the plan, the confirmation date ...), or ``skipped`` when the event is
   out of date (a plan replaced since);
2. choose the channel: email if the customer gave an address, else SMS to a phone number that can be
   written in E.164, else nothing (recorded as ``skipped``: the tracking page shows it anyway);
3. claim the notification in the delivery log (a repeat finds it ``sent`` and stops here);
4. mint a tracking token for the links and add its hash to the case, so the links work the moment
   the message arrives;
5. render the templates in the customer's language, send, record the Message-IDs (ours before the
   send, SES's after) and the outcome; for an acknowledgement, add ``acknowledged`` to the timeline.

Emails stay in one thread: the acknowledgement's Message-ID and the customer's latest one (from
``CustomerReplied``) are kept on the case (``DeliveryLog.thread``); later emails answer the customer's
latest message, else the acknowledgement, and keep the complaint number in the subject.

A failed send is recorded as ``failed`` and raised, so SQS redelivers the event (and dead-letters it
after the queue's maxReceiveCount); the next delivery claims the failed notification again.

Once the message is out, nothing may make the event come back before the log says ``sent``: a
redelivery would find the claim ``sending``, take it over when its lease ends and send a second email.
Closing the claim is tried :data:`RECORD_SENT_ATTEMPTS` times (after the SDK's own retries); if it still
fails the event is done anyway, with an error logged (the customer has the email; the log stays
``sending``).
"""
from __future__ import annotations

from dataclasses import dataclass
from time import sleep
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import quote

from functions.notifier.channels import EmailChannel, SendFailed, SmsChannel
from functions.notifier.customer_content import NothingToSay, facts
from shared.clock import now as domain_now
from shared.contact import e164
from functions.notifier.delivery_log import Claim, DeliveryLog, Record
from functions.notifier.messages import Rendered, compose_email, email_bytes, format_deadline, render, with_query
from shared.aws import error_code
from shared.config import Settings
from shared.events import CUSTOMER_KINDS, CaseEvent
from shared.identifiers import hash_tracking_token, new_tracking_token
from shared.mail_ids import our_message_id, ses_message_ids
from shared.models import Complaint, TimelineEntry, TimelineKind
from shared import metrics
from shared.observability import logger
from shared.repository import ComplaintRepository

ACK, REPLY_ACK = "ack", "reply-ack"
RECORD_SENT_ATTEMPTS = 4  # closing the claim after the send (each after the SDK's own retries)
RECORD_SENT_BACKOFF_SECONDS = 0.25  # doubled after each failed attempt: 0.25 + 0.5 + 1 s at most
TEMPLATE_OF = {ACK: "ack", REPLY_ACK: "reply_ack", **{kind: kind for kind in CUSTOMER_KINDS}}


class CaseNotFound(Exception):
    pass


@dataclass(frozen=True)
class Notice:
    """What an event asks of the notifier (from ``handlers.notice_of``)."""

    event_id: str
    complaint_id: str
    purpose: str  # ack | reply-ack | a customer-facing case event's kind
    in_reply_to: str | None = None  # the customer's Message-ID, for reply-acks
    received_at: str | None = None  # when the customer's message arrived, for reply-acks
    event: CaseEvent | None = None  # the case event, for the customer-facing kinds

    @classmethod
    def of_case_event(cls, event: CaseEvent) -> "Notice":
        return cls(event.event_id, event.complaint_id, event.kind, event=event)


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | duplicate | skipped
    channel: str


def language_of(complaint: Complaint, default: str) -> str:
    preferred = complaint.customer.preferred_language if complaint.customer else None
    return preferred or complaint.language or default


def tracking_url(base: str, complaint_id: str, token: str) -> str:
    return f"{base.rstrip('/')}/track?id={quote(complaint_id)}#token={quote(token)}"


def links(base: str, complaint_id: str, token: str) -> dict[str, str]:
    """The links of a customer message, all with the same fresh token: the tracking page, and the
    same page opened at the answer to give (``respond=accept|dispute``) or at the survey (``survey=1``)."""
    track = tracking_url(base, complaint_id, token)
    return {"tracking_url": track, "accept_url": with_query(track, respond="accept"),
            "dispute_url": with_query(track, respond="dispute"), "survey_url": with_query(track, survey=1)}


def message_id_purpose(purpose: str) -> str:
    """The purpose as our Message-IDs spell it (``staff_replied`` -> ``staff-replied``)."""
    return purpose.replace("_", "-")


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
        complaint, timeline = found
        customer = complaint.customer
        phone = e164(customer.phone, self._settings.sms_default_country_code) if customer else None
        channel = "email" if customer and customer.email else "sms" if phone else "none"
        extra = {"complaint_id": notice.complaint_id, "event_id": notice.event_id, "purpose": notice.purpose,
                 "channel": channel}
        language = language_of(complaint, self._settings.default_language)
        if notice.purpose == REPLY_ACK and notice.in_reply_to and notice.received_at:
            self._log.record_customer_message_id(notice.complaint_id, notice.in_reply_to,
                                                 received_at=notice.received_at)
        content: dict = {}
        if notice.event is not None:
            try:
                content = facts(notice.event, complaint, timeline, language)
            except NothingToSay as exc:
                if self._log.skip(notice.complaint_id, notice.event_id, purpose=notice.purpose, reason=exc.reason):
                    logger().info("notification skipped: the event is out of date", extra={**extra, "reason": exc.reason})
                return Outcome("skipped", "none")

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

        now = self._now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the log stores it (ms)
        try:
            rendered = self._render(complaint, notice, language, content)
            if channel == "email":
                message_ids = self._send_email(complaint, rendered, language, notice, now)
            else:
                message_ids = [self._sms.send(phone, rendered.sms)]
        except Exception as exc:
            code = exc.code if isinstance(exc, SendFailed) else (error_code(exc) or type(exc).__name__)
            self._log.failed(claim, error=code)
            metrics.count(metrics.NOTIFICATIONS_FAILED, channel=channel)
            logger().warning("notification failed; the event will be retried",
                             extra={**extra, "error": code, "attempt": claim.attempt})
            raise
        recorded = self._record_sent(claim, now, message_ids, extra)
        if notice.purpose == ACK:
            try:
                self._timeline(complaint.complaint_id, now, channel)
            except Exception as exc:
                if recorded:  # the redelivery finds the log "sent" and writes the entry, sending nothing
                    raise
                logger().error("acknowledged entry not written after an unrecorded send",
                               extra={**extra, "error": error_code(exc) or type(exc).__name__})
        metrics.count(metrics.NOTIFICATIONS_SENT, channel=channel)
        logger().info("notification sent", extra={**extra, "language": language, "attempt": claim.attempt})
        return Outcome("sent", channel)

    def _record_sent(self, claim: Claim, now: datetime, message_ids: list[str], extra: dict) -> bool:
        """Close the claim as sent (see the module docstring); False when that could not be recorded."""
        attempt, wait = 1, RECORD_SENT_BACKOFF_SECONDS
        while True:
            try:
                if not self._log.sent(claim, sent_at=now, message_ids=message_ids):
                    logger().warning("notification sent, but its claim had been taken over", extra=extra)
                return True
            except Exception as exc:  # noqa: BLE001 - the email is out: raising would send it again
                error = error_code(exc) or type(exc).__name__
                if attempt == RECORD_SENT_ATTEMPTS:
                    logger().error("notification sent, but not recorded as sent", extra={**extra, "error": error})
                    return False
                logger().warning("recording a sent notification failed; trying again",
                                 extra={**extra, "error": error, "attempt": attempt})
                sleep(wait)
                attempt, wait = attempt + 1, wait * 2

    def _render(self, complaint: Complaint, notice: Notice, language: str, content: dict) -> Rendered:
        """The notification's texts, with links holding a token minted for it (its hash is added to
        the case first, so the links work the moment the message arrives)."""
        s = self._settings
        token = new_tracking_token()
        self._repo.add_tracking_token(complaint.complaint_id, hash_tracking_token(token))
        return render(TEMPLATE_OF[notice.purpose], language,
                      **customer_context(complaint, language, s, links(s.public_base_url, complaint.complaint_id, token)),
                      **content)

    def _send_email(self, complaint: Complaint, rendered: Rendered, language: str, notice: Notice,
                    now: datetime) -> list[str]:
        s = self._settings
        ours = our_message_id(complaint.complaint_id, message_id_purpose(notice.purpose), s.mail_domain)
        # recorded before sending: a quick reply must find its case even if we stop right after the send
        self._log.record_message_ids(complaint.complaint_id, [ours], purpose=notice.purpose)
        in_reply_to, references = notice.in_reply_to, []
        if notice.purpose == ACK:
            self._log.record_acknowledgement_id(complaint.complaint_id, ours)
        else:  # answer in the case's thread: the customer's latest message, else our acknowledgement
            thread = self._log.thread(complaint.complaint_id)
            root, latest = thread.get("ack_message_id"), thread.get("customer_message_id")
            in_reply_to = in_reply_to or latest or root
            references = [m for m in (root, latest) if m]
        message = compose_email(rendered, sender_name=s.sender_name, sender_address=s.sender_address,
                                to_name=complaint.customer.name, to_address=complaint.customer.email,
                                message_id=ours, language=language, sent_at=now, in_reply_to=in_reply_to,
                                references=references)
        ses_id = self._email.send(email_bytes(message), to=complaint.customer.email, purpose=notice.purpose)
        theirs = ses_message_ids(ses_id, s.region)  # none when the send is unconfirmed
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


def customer_context(complaint: Complaint, language: str, s: Settings, urls: dict[str, str]) -> dict:
    """The variables every customer template may use (the kind's own facts come on top)."""
    customer = complaint.customer
    return dict(
        complaint_id=complaint.complaint_id, name=" ".join(customer.name.split()) if customer else None,
        title=complaint.title, first_response_hours=s.first_response_hours,
        respond_by=format_deadline(complaint.received_at + timedelta(hours=s.first_response_hours), language),
        received_at=format_deadline(complaint.received_at, language), sender_name=s.sender_name, **urls)

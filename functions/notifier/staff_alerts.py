"""Staff alerts: a ``StaffAlertRaised`` event reaches each of its recipients in the staff console's
inbox and, when they have an address, by email in their language.

One call of :meth:`StaffAlerts.deliver` per event; for each recipient (a handler id of the staff
directory):

1. look up the profile; an unknown recipient is logged (by position, never by name) and skipped;
2. put the alert in their inbox (``shared.inbox``: written once, whatever the redeliveries);
3. with an address: claim ``NOTIFY#<alert_id>#<recipient>#email`` in the delivery log (a repeat finds
   it ``sent`` and stops), render the ``staff_alert`` templates with the time left *now*, send
   through the same SES channel as the customers' emails, and record the outcome.

A failed email is recorded as ``failed``; the other recipients are still served, then the call
raises, so SQS redelivers the event and only what is missing is done again. The Message-IDs of these
emails are not recorded for threading: a staff member's reply is no customer message.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from functions.notifier.channels import EmailChannel, SendFailed
from functions.notifier.delivery_log import DeliveryInProgress, DeliveryLog, Record
from functions.notifier.messages import BEIJING, LANGUAGES, Rendered, compose_email, email_bytes, format_deadline
from shared.aws import error_code
from shared.clock import now as domain_now
from shared.config import Settings
from shared.events import StaffAlertRaised
from shared.inbox import InboxItem, StaffInbox, parse_time
from shared.mail_ids import our_message_id, ses_message_ids
from shared import metrics
from shared.observability import logger
from shared.repository import iso
from shared.staff_directory import HandlerProfile, StaffDirectory

TEMPLATE = "staff_alert"
PURPOSE = "staff_alert"  # delivery log and SES tag
MESSAGE_ID_PURPOSE = "staff-alert"  # in our Message-IDs (the local outbox names its files by it)
CHANNEL = "email"
_UNITS = {"en": ("d", "h", "min"), "zh": ("天", "小时", "分钟")}


class StaffAlertNotDelivered(Exception):
    """Some recipients' emails are not out yet (failed, or another delivery is sending): retry the event."""


def time_left(due: datetime, now: datetime, language: str) -> str:
    """``2 h 15 min left`` / ``overdue by 1 d 3 h`` (zh: ``剩余 2 小时 15 分钟`` / ``已超时 1 天 3 小时``):
    the two largest units, rounded down."""
    seconds = (due - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    d, h, m = _UNITS["zh" if language == "zh" else "en"]
    pairs = [(days, d), (hours, h)] if days else [(hours, h), (mins, m)] if hours else [(mins, m)]
    amount = " ".join(f"{n} {unit}" for n, unit in pairs if n)
    if language == "zh":
        amount = amount or "不到 1 分钟"
        return f"已超时 {amount}" if seconds < 0 else f"剩余 {amount}"
    amount = amount or "less than 1 min"
    return f"overdue by {amount}" if seconds < 0 else f"{amount} left"


def format_due(due: datetime, language: str) -> str:
    """A deadline for staff: UTC, and Beijing time as well in Chinese."""
    utc = due.astimezone(timezone.utc)
    if language == "zh":
        local = due.astimezone(BEIJING)
        return (f"{utc.year}年{utc.month}月{utc.day}日 {utc:%H:%M} UTC / "
                f"北京时间 {local.month}月{local.day}日 {local:%H:%M}")
    return format_deadline(due, "en")


def clock_label_of(alert: StaffAlertRaised, language: str) -> str:
    labels = alert.clock_label or {}
    fallback = alert.clock.replace("_", " ") if alert.clock else ("处理时限" if language == "zh" else "deadline")
    return labels.get(language) or labels.get("en") or fallback


def case_url(base: str, complaint_id: str) -> str:
    return f"{base.rstrip('/')}/staff/complaints/{complaint_id}"


class StaffAlerts:
    def __init__(self, directory: StaffDirectory, inbox: StaffInbox, log: DeliveryLog, email: EmailChannel,
                 settings: Settings, clock: Callable[[], datetime] | None = None):
        self._directory, self._inbox, self._log, self._email = directory, inbox, log, email
        self._settings = settings
        self._now = clock or domain_now

    def deliver(self, alert: StaffAlertRaised) -> str:
        """``delivered`` if anything was new, ``duplicate`` if every recipient had it already."""
        item = InboxItem.of(alert)  # a malformed alert (times) raises here, before anything is written
        extra = {"alert_id": alert.alert_id, "complaint_id": alert.complaint_id, "kind": alert.kind}
        recipients = list(dict.fromkeys(alert.recipients))
        profiles = self._directory.profiles(recipients)
        counts = {"inbox_added": 0, "emails_sent": 0, "unknown": 0, "without_email": 0}
        not_sent: list[str] = []
        for position, recipient in enumerate(recipients):
            profile = profiles.get(recipient)
            if profile is None:
                counts["unknown"] += 1
                logger().warning("staff alert recipient is not in the staff directory; skipped",
                                 extra={**extra, "recipient_position": position})
                continue
            counts["inbox_added"] += self._inbox.put(recipient, item)
            if not profile.email:
                counts["without_email"] += 1
                continue
            try:
                counts["emails_sent"] += self._send(alert, recipient, profile, extra) == "sent"
            except DeliveryInProgress:
                not_sent.append("in_progress")
            except Exception as exc:  # noqa: BLE001 - recorded and logged in _send; raised below
                not_sent.append(exc.code if isinstance(exc, SendFailed) else error_code(exc) or type(exc).__name__)
        logger().info("staff alert delivered", extra={**extra, "recipients": len(recipients), **counts,
                                                      "emails_not_sent": len(not_sent)})
        if not_sent:
            raise StaffAlertNotDelivered(f"{alert.alert_id}: {len(not_sent)} email(s) not sent "
                                         f"({', '.join(sorted(set(not_sent)))})")
        return "delivered" if counts["inbox_added"] or counts["emails_sent"] else "duplicate"

    def _send(self, alert: StaffAlertRaised, recipient: str, profile: HandlerProfile, extra: dict) -> str:
        """One email to one recipient, once: ``sent`` or ``duplicate``."""
        claim = self._log.claim(alert.complaint_id, f"{alert.alert_id}#{recipient}", CHANNEL, purpose=PURPOSE)
        if isinstance(claim, Record):
            return "duplicate"
        s = self._settings
        language = profile.language if profile.language in LANGUAGES else s.default_language
        now = self._now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the log stores it (ms)
        try:
            ours = our_message_id(alert.complaint_id, MESSAGE_ID_PURPOSE, s.mail_domain)
            message = compose_email(self._render(alert, language, now), sender_name=s.sender_name,
                                    sender_address=s.sender_address, to_name=profile.name,
                                    to_address=profile.email, message_id=ours, language=language, sent_at=now)
            message.replace_header("Auto-Submitted", "auto-generated")  # an alert, not an answer (RFC 3834)
            # a staff member's reply must not reach the complaints intake as a customer's message
            message.replace_header("Reply-To", s.staff_alert_reply_to or f"no-reply@{s.mail_domain}")
            ses_id = self._email.send(email_bytes(message), to=profile.email, purpose=PURPOSE)
        except Exception as exc:
            code = exc.code if isinstance(exc, SendFailed) else (error_code(exc) or type(exc).__name__)
            self._log.failed(claim, error=code)
            metrics.count(metrics.NOTIFICATIONS_FAILED, channel=CHANNEL)
            logger().warning("staff alert email failed; the event will be retried",
                             extra={**extra, "error": code, "attempt": claim.attempt})
            raise
        if not self._log.sent(claim, sent_at=now, message_ids=[ours, *ses_message_ids(ses_id, s.region)]):
            logger().warning("staff alert email sent, but its claim had been taken over", extra=extra)
        metrics.count(metrics.NOTIFICATIONS_SENT, channel=CHANNEL)
        logger().info("staff alert email sent", extra={**extra, "language": language, "attempt": claim.attempt})
        return "sent"

    def _render(self, alert: StaffAlertRaised, language: str, now: datetime) -> Rendered:
        due = parse_time(alert.due_at) if alert.due_at else None
        return render_alert(
            language, complaint_id=alert.complaint_id, kind=alert.kind, priority=alert.priority,
            department=alert.department, clock=alert.clock, clock_label=clock_label_of(alert, language),
            share_percent=round(alert.share * 100) if alert.share is not None else None, level=alert.level,
            reason=alert.reason, due=format_due(due, language) if due else None, due_iso=iso(due) if due else None,
            time_left=time_left(due, now, language) if due else None, overdue=bool(due and due < now),
            case_url=case_url(self._settings.public_base_url, alert.complaint_id),
            sender_name=self._settings.sender_name)


def render_alert(language: str, **context: object) -> Rendered:
    """The ``staff_alert`` templates: subject, text and HTML (autoescaped). ``messages.render`` also
    wants an SMS part, which alerts do not have, so the same environment is used directly."""
    from functions.notifier.messages import _environment

    if language not in LANGUAGES:
        raise ValueError(f"no templates for language {language!r}")
    env = _environment()
    part = lambda name: env.get_template(f"{TEMPLATE}.{language}.{name}.j2").render(**context)  # noqa: E731
    return Rendered(subject=" ".join(part("subject").split()), text=part("txt"), html=part("html"), sms="")

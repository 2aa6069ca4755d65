"""Staff-facing case events (assigned, customer replied, approval needed, plan decided, tasks,
escalated, disputed, reopened) to the people concerned and the department's webhooks.

One call of :meth:`StaffNotices.deliver` per event:

1. read the case (no contact data) and the routing configuration; the recipients are the event's,
   else the people the kind concerns, never the actor (``staff_content.recipients_of``);
2. per recipient, with their profile (staff directory) and preferences (``shared.preferences``):
   * an item in their inbox, always (written once, whatever the redeliveries);
   * an email in their language if their preferences keep email on, their profile has an address
     and the kind is not muted; an SMS if they turned SMS on and gave a number;
   * each once per (event, recipient, channel): ``NOTIFY#<event_id>#<staff_id>#email|sms``;
   * inside the recipient's quiet hours a non-urgent email/SMS is not sent but ``deferred`` until
     the hours end (:class:`DeliveryDeferred`, see ``handlers``), unless this is already the
     ``quiet_hours_max_receives``-th delivery of the message (it goes out rather than risk the DLQ);
3. the department's webhooks (``webhooks.Webhooks``), once per event each.

Failures are recorded and the other recipients still served; then the call raises, so SQS
redelivers the event and only what is missing is done again. Deferred parts raise
:class:`DeliveryDeferred` (after everything else was done) carrying the earliest time to come back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from functions.notifier.channels import EmailChannel, SendFailed, SmsChannel
from functions.notifier.delivery_log import DeliveryInProgress, DeliveryLog, Record
from functions.notifier.messages import LANGUAGES, compose_email, email_bytes, render
from functions.notifier.staff_alerts import case_url, format_due
from functions.notifier.staff_content import STAFF_TEMPLATE_PREFIX, due_of, recipients_of, staff_facts, staff_id_of
from functions.notifier.webhooks import WebhookNotDelivered, Webhooks
from shared.aws import error_code
from shared.clock import now as domain_now
from shared.config import Settings
from shared.events import STAFF_KINDS, CaseEvent, CustomerReplied
from shared.inbox import InboxItem, StaffInbox
from shared.mail_ids import our_message_id, ses_message_ids
from shared.models import Complaint
from shared import metrics
from shared.observability import logger
from shared.preferences import PreferenceStore, is_urgent
from shared.repository import ComplaintRepository, iso
from shared.staff_directory import HandlerProfile, StaffDirectory

CHANNELS = ("email", "sms")


class CaseNotFound(Exception):
    pass


class StaffNoticeNotDelivered(Exception):
    """Some recipients' messages or webhooks are not out yet: retry the event."""


class DeliveryDeferred(Exception):
    """Everything due now is done; some messages wait for the end of a recipient's quiet hours."""

    def __init__(self, until: datetime, count: int):
        super().__init__(f"{count} message(s) deferred until {iso(until)}")
        self.until, self.count = until, count


@dataclass
class _Tally:
    inbox_added: int = 0
    sent: int = 0
    deferred: int = 0
    off: int = 0
    webhooks: int = 0


class StaffNotices:
    def __init__(self, repository: ComplaintRepository, directory: StaffDirectory, preferences: PreferenceStore,
                 inbox: StaffInbox, log: DeliveryLog, email: EmailChannel, sms: SmsChannel, webhooks: Webhooks,
                 configs: Any, settings: Settings, clock: Callable[[], datetime] | None = None):
        self._repo, self._directory, self._preferences, self._inbox = repository, directory, preferences, inbox
        self._log, self._email, self._sms, self._webhooks = log, email, sms, webhooks
        self._configs, self._settings = configs, settings
        self._now = clock or domain_now

    # -- entry points ---------------------------------------------------------------------------------
    def deliver(self, event: CaseEvent, *, receive_count: int = 1) -> str:
        """``delivered`` if anything was new, ``duplicate`` if everything was done already."""
        if event.kind not in STAFF_KINDS:
            raise ValueError(f"{event.kind!r} is not a staff-facing case event")
        return self._deliver(event, self._case(event.complaint_id), receive_count)

    def customer_replied(self, replied: CustomerReplied, *, receive_count: int = 1) -> str:
        """The customer's email reply (``CustomerReplied``), told to the case's assignee as a
        ``customer_replied`` event of its own (``<event_id>:staff``)."""
        case = self._case(replied.complaint_id)
        event = CaseEvent(event_id=f"{replied.event_id}:staff", complaint_id=case.complaint_id, kind="customer_replied",
                          version=case.version, at=replied.received_at, actor="customer",
                          department=case.department, assignee=case.assignee, priority=case.priority,
                          data={"channel": "email"})
        return self._deliver(event, case, receive_count)

    def _case(self, complaint_id: str) -> Complaint:
        found = self._repo.get(complaint_id)
        if found is None:
            raise CaseNotFound(complaint_id)
        return found[0]

    # -- the work ------------------------------------------------------------------------------------
    def _deliver(self, event: CaseEvent, case: Complaint, receive_count: int) -> str:
        extra = {"complaint_id": event.complaint_id, "event_id": event.event_id, "kind": event.kind}
        recipients = recipients_of(event, case, self._configs.current("routing").config)
        due = due_of(event, case)
        item = InboxItem.of_case_event(event, due_at=iso(due) if due else None)
        urgent = is_urgent(event.kind, urgent=event.urgent, priority=event.priority or case.priority)
        actor = staff_id_of(event.actor)
        profiles = self._directory.profiles([*recipients, *([actor] if actor else [])]) if recipients else {}
        actor_name = profiles[actor].name if actor in profiles else actor
        preferences = self._preferences.many(recipients) if recipients else {}
        now = self._now()
        may_defer = receive_count < self._settings.quiet_hours_max_receives
        tally, problems, waits = _Tally(), [], []
        for recipient in recipients:
            tally.inbox_added += self._inbox.put(recipient, item)
            prefs, profile = preferences[recipient], profiles.get(recipient)
            for channel in CHANNELS:
                address = (profile.email if profile else None) if channel == "email" else prefs.phone
                if not address or not prefs.wants(channel, event.kind, urgent=urgent):
                    tally.off += 1
                    continue
                until = prefs.deferred_until(now, urgent=urgent) if may_defer else None
                try:
                    if until is not None:
                        done = self._log.defer(event.complaint_id, f"{event.event_id}#{recipient}", channel,
                                               purpose=_purpose(event), until=until)
                        if done is None:
                            tally.deferred += 1
                            waits.append(until)
                        continue
                    tally.sent += self._send(event, case, recipient, channel, address, profile, due,
                                             actor_name, extra) == "sent"
                except DeliveryInProgress:
                    problems.append("in_progress")
                except Exception as exc:  # noqa: BLE001 - recorded and logged in _send; raised below
                    problems.append(exc.code if isinstance(exc, SendFailed) else error_code(exc) or type(exc).__name__)
        try:
            tally.webhooks = self._webhooks.deliver(event, self._configs.current("notifications").config,
                                                    category=case.category, due_at=due)
        except WebhookNotDelivered:
            problems.append("webhook")
        logger().info("staff notice delivered", extra={**extra, "recipients": len(recipients), "urgent": urgent,
                                                       **tally.__dict__, "not_sent": len(problems)})
        if problems:
            raise StaffNoticeNotDelivered(f"{event.event_id}: {len(problems)} part(s) not delivered "
                                          f"({', '.join(sorted(set(problems)))})")
        if waits:
            raise DeliveryDeferred(min(waits), len(waits))
        return "delivered" if tally.inbox_added or tally.sent or tally.webhooks else "duplicate"

    def _send(self, event: CaseEvent, case: Complaint, recipient: str, channel: str, address: str,
              profile: HandlerProfile | None, due: datetime | None, actor_name: str | None, extra: dict) -> str:
        """One email or SMS to one recipient, once: ``sent`` or ``duplicate``."""
        claim = self._log.claim(event.complaint_id, f"{event.event_id}#{recipient}", channel, purpose=_purpose(event))
        if isinstance(claim, Record):
            return "duplicate"
        s = self._settings
        language = profile.language if profile and profile.language in LANGUAGES else s.default_language
        now = self._now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as the log stores it (ms)
        try:
            rendered = render(STAFF_TEMPLATE_PREFIX + event.kind, language,
                              **staff_context(event, case, language, due=due, recipient=recipient,
                                              actor_name=actor_name, settings=s))
            if channel == "email":
                ours = our_message_id(event.complaint_id, "staff-" + event.kind.replace("_", "-"), s.mail_domain)
                message = compose_email(rendered, sender_name=s.sender_name, sender_address=s.sender_address,
                                        to_name=profile.name if profile else None, to_address=address,
                                        message_id=ours, language=language, sent_at=now)
                message.replace_header("Auto-Submitted", "auto-generated")  # a notice, not an answer (RFC 3834)
                # a staff member's reply must not reach the complaints intake as a customer's message
                message.replace_header("Reply-To", s.staff_alert_reply_to or f"no-reply@{s.mail_domain}")
                ids = [ours, *ses_message_ids(self._email.send(email_bytes(message), to=address,
                                                               purpose=_purpose(event)), s.region)]
            else:
                ids = [self._sms.send(address, rendered.sms)]
        except Exception as exc:
            code = exc.code if isinstance(exc, SendFailed) else (error_code(exc) or type(exc).__name__)
            self._log.failed(claim, error=code)
            metrics.count(metrics.NOTIFICATIONS_FAILED, channel=channel)
            logger().warning("staff notice failed; the event will be retried",
                             extra={**extra, "channel": channel, "error": code, "attempt": claim.attempt})
            raise
        if not self._log.sent(claim, sent_at=now, message_ids=ids):
            logger().warning("staff notice sent, but its claim had been taken over", extra={**extra, "channel": channel})
        metrics.count(metrics.NOTIFICATIONS_SENT, channel=channel)
        logger().info("staff notice sent", extra={**extra, "channel": channel, "language": language,
                                                  "attempt": claim.attempt})
        return "sent"


def staff_context(event: CaseEvent, case: Complaint, language: str, *, due: datetime | None, recipient: str,
                  actor_name: str | None, settings: Settings) -> dict[str, Any]:
    """The variables of the ``staff_<kind>`` templates."""
    return {"complaint_id": event.complaint_id, "kind": event.kind, "priority": event.priority or case.priority,
            "department": event.department or case.department, "is_assignee": recipient == case.assignee,
            "actor": actor_name, "actor_kind": event.actor.split(":")[0], "urgent": event.urgent,
            "due": format_due(due, language) if due else None,
            "case_url": case_url(settings.public_base_url, event.complaint_id), "sender_name": settings.sender_name,
            **staff_facts(event, case, language)}


def _purpose(event: CaseEvent) -> str:
    return f"staff_{event.kind}"


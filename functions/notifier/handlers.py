"""The notifier's SQS consumer. Each record's body is an EventBridge event (the bus's rules put
``ComplaintReceived`` and ``CustomerReplied``, the SLA sweep's ``StaffAlertRaised`` and the
workflow's ``CaseEvent`` on the notifier queue); a record that fails is reported in
``batchItemFailures`` and comes back after the visibility timeout, the others are done.

A record whose staff email/SMS waits for the end of someone's quiet hours is reported as failed
too, after its message was made invisible until then (``redelivery.Redelivery``): it comes back
when the quiet hours end, and only the deferred messages are sent then.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from shared.events import (CASE_EVENT_KINDS, CUSTOMER_KINDS, SLA_SOURCE, SOURCE, WORKFLOW_SOURCE, CaseEvent,
                           ComplaintReceived, CustomerReplied, StaffAlertRaised)
from shared.identifiers import normalize_complaint_number
from shared.mail_ids import normalize_message_id
from shared.observability import logger

if TYPE_CHECKING:  # each kind of message loads its own path on first use: a customer's, an alert's, a notice's
    from functions.notifier.service import Notice, Notifier
    from functions.notifier.staff_alerts import StaffAlerts
    from functions.notifier.staff_notices import StaffNotices


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from functions.notifier.channels import EmailChannel, SmsChannel
    from functions.notifier.delivery_log import DeliveryLog
    from functions.notifier.service import Notifier
    from shared.aws import client
    from shared.config import settings
    from shared.store import complaint_repository

    s = settings()
    return Notifier(complaint_repository(), DeliveryLog(client("dynamodb"), s.table_name),
                    EmailChannel(client("sesv2"), sender_address=s.sender_address,
                                 configuration_set=s.ses_configuration_set, pacer=email_pacer),
                    SmsChannel(client("sns")), s)


@lru_cache(maxsize=1)
def staff_alerts() -> StaffAlerts:
    from functions.notifier.channels import EmailChannel
    from functions.notifier.delivery_log import DeliveryLog
    from functions.notifier.staff_alerts import StaffAlerts
    from shared.aws import client
    from shared.config import settings
    from shared.inbox import staff_inbox
    from shared.staff_directory import staff_directory

    s = settings()
    return StaffAlerts(staff_directory(), staff_inbox(), DeliveryLog(client("dynamodb"), s.table_name),
                       EmailChannel(client("sesv2"), sender_address=s.sender_address,
                                    configuration_set=s.ses_configuration_set, pacer=email_pacer), s)


def staff_notices() -> StaffNotices:
    """One per container; made anew whenever ``shared.aws`` hands out new clients (tests, local stack)."""
    from shared.aws import client

    return _staff_notices(client("dynamodb"))


@lru_cache(maxsize=1)
def _staff_notices(dynamodb: Any) -> StaffNotices:
    from functions.notifier.channels import EmailChannel, SmsChannel
    from functions.notifier.delivery_log import DeliveryLog
    from functions.notifier.staff_notices import StaffNotices
    from functions.notifier.webhooks import WebhookPoster, Webhooks
    from shared.aws import client
    from shared.config import settings
    from shared.config_store import config_store
    from shared.inbox import staff_inbox
    from shared.preferences import preference_store
    from shared.secrets import secret_store
    from shared.staff_directory import staff_directory
    from shared.store import complaint_repository

    s = settings()
    log = DeliveryLog(dynamodb, s.table_name)
    return StaffNotices(complaint_repository(), staff_directory(), preference_store(), staff_inbox(), log,
                        EmailChannel(client("sesv2"), sender_address=s.sender_address,
                                     configuration_set=s.ses_configuration_set, pacer=email_pacer),
                        SmsChannel(client("sns")),
                        Webhooks(log, secret_store(), WebhookPoster(), console_base=s.public_base_url),
                        config_store(), s)


def handle(event: Any) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent (or the raw Lambda event); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    _context["lambda"] = getattr(event, "context", None)  # the invocation's remaining time, for pacing
    return process_sqs_batch(event, _record)


def email_pacer() -> Any:
    from functions.notifier.pacing import email_pacer as pacer

    return pacer()


def _record(record: Any) -> str:
    """Paced: a record whose emails cannot go out soon enough (SES quota) comes back later, untouched."""
    from functions.notifier.pacing import SendingPaused

    try:
        email_pacer().admit(_remaining_seconds(record))
        return _deliver(record)
    except SendingPaused as paused:
        from functions.notifier.redelivery import Redelivery
        from shared.aws import client
        from shared.clock import now

        logger().info("notification paced: the message comes back later",
                      extra={"sqs_message_id": record.message_id, "reason": paused.reason})
        Redelivery(client("sqs")).postpone(record, paused.until, now())
        raise


def _remaining_seconds(record: Any) -> float | None:
    context = _context.get("lambda")
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else None


_context: dict[str, Any] = {}


def _deliver(record: Any) -> str:
    from functions.notifier.service import REPLY_ACK, Notice

    alert = staff_alert_of(record.body)
    if alert is not None:
        return staff_alerts().deliver(alert)
    case_event = case_event_of(record.body)
    if case_event is not None:
        if case_event.kind not in CASE_EVENT_KINDS:
            logger().info("case event of an unknown kind ignored by the notifier",
                          extra={"sqs_message_id": record.message_id, "kind": case_event.kind[:40],
                                 "complaint_id": case_event.complaint_id})
            return "ignored"
        if case_event.kind in CUSTOMER_KINDS:
            return notifier().notify(Notice.of_case_event(case_event)).state
        return _deferrable(record, lambda count: staff_notices().deliver(case_event, receive_count=count))
    notice = notice_of(record.body)
    if notice is None:
        logger().info("event ignored by the notifier", extra={"sqs_message_id": record.message_id})
        return "ignored"
    state = notifier().notify(notice).state
    if notice.purpose == REPLY_ACK:  # the assignee hears of it too
        replied = CustomerReplied.model_validate(json.loads(record.body)["detail"])
        replied = replied.model_copy(update={"complaint_id": notice.complaint_id})
        _deferrable(record, lambda count: staff_notices().customer_replied(replied, receive_count=count))
    return state


def _deferrable(record: Any, deliver: Callable[[int], str]) -> str:
    """Run a staff delivery; if part of it waits for quiet hours to end, make the message come back
    then (and report the record as failed, so it is not deleted)."""
    from functions.notifier.redelivery import Redelivery, receive_count
    from functions.notifier.staff_notices import DeliveryDeferred
    from shared.aws import client
    from shared.clock import now

    try:
        return deliver(receive_count(record))
    except DeliveryDeferred as deferred:
        Redelivery(client("sqs")).postpone(record, deferred.until, now())
        raise


def notice_of(body: str) -> Notice | None:
    """The acknowledgement an EventBridge event asks for; None for events it does not handle.
    A malformed event raises (it is retried, then dead-lettered for a look)."""
    from functions.notifier.service import ACK, REPLY_ACK, Notice

    envelope = json.loads(body)
    if envelope.get("source") != SOURCE:
        return None
    kind = envelope.get("detail-type")
    if kind == "ComplaintReceived":
        received = ComplaintReceived.model_validate(envelope["detail"])
        return Notice(received.event_id, normalize_complaint_number(received.complaint_id), ACK)
    if kind == "CustomerReplied":
        replied = CustomerReplied.model_validate(envelope["detail"])
        return Notice(replied.event_id, normalize_complaint_number(replied.complaint_id), REPLY_ACK,
                      in_reply_to=normalize_message_id(replied.message_id), received_at=replied.received_at)
    return None


def staff_alert_of(body: str) -> StaffAlertRaised | None:
    """The staff alert an EventBridge event carries; None for any other event. A malformed alert
    raises (it is retried, then dead-lettered for a look)."""
    envelope = json.loads(body)
    if envelope.get("source") != SLA_SOURCE or envelope.get("detail-type") != "StaffAlertRaised":
        return None
    alert = StaffAlertRaised.model_validate(envelope["detail"])
    return alert.model_copy(update={"complaint_id": normalize_complaint_number(alert.complaint_id)})


def case_event_of(body: str) -> CaseEvent | None:
    """The workflow's case event an EventBridge event carries; None for any other event. A malformed
    one (missing fields, a complaint number that is not one) raises: retried, then dead-lettered."""
    envelope = json.loads(body)
    if envelope.get("source") != WORKFLOW_SOURCE or envelope.get("detail-type") != "CaseEvent":
        return None
    event = CaseEvent.model_validate(envelope["detail"])
    return event.model_copy(update={"complaint_id": normalize_complaint_number(event.complaint_id)})

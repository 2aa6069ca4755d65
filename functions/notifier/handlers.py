"""The notifier's SQS consumer. Each record's body is an EventBridge event (the bus's rules put
``ComplaintReceived`` and ``CustomerReplied``, and the SLA sweep's ``StaffAlertRaised``, on the
notifier queue); a record that fails is reported in ``batchItemFailures`` and comes back after the
visibility timeout, the others are done.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from functions.notifier.service import ACK, REPLY_ACK, Notice, Notifier
from functions.notifier.staff_alerts import StaffAlerts
from shared.events import SLA_SOURCE, SOURCE, ComplaintReceived, CustomerReplied, StaffAlertRaised
from shared.identifiers import normalize_complaint_number
from shared.mail_ids import normalize_message_id
from shared.observability import logger


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    from functions.notifier.channels import EmailChannel, SmsChannel
    from functions.notifier.delivery_log import DeliveryLog
    from shared.aws import client
    from shared.config import settings
    from shared.store import complaint_repository

    s = settings()
    return Notifier(complaint_repository(), DeliveryLog(client("dynamodb"), s.table_name),
                    EmailChannel(client("sesv2"), sender_address=s.sender_address,
                                 configuration_set=s.ses_configuration_set),
                    SmsChannel(client("sns")), s)


@lru_cache(maxsize=1)
def staff_alerts() -> StaffAlerts:
    from functions.notifier.channels import EmailChannel
    from functions.notifier.delivery_log import DeliveryLog
    from shared.aws import client
    from shared.config import settings
    from shared.inbox import staff_inbox
    from shared.staff_directory import staff_directory

    s = settings()
    return StaffAlerts(staff_directory(), staff_inbox(), DeliveryLog(client("dynamodb"), s.table_name),
                       EmailChannel(client("sesv2"), sender_address=s.sender_address,
                                    configuration_set=s.ses_configuration_set), s)


def handle(event: Any) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent (or the raw Lambda event); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    return process_sqs_batch(event, _record)


def _record(record: Any) -> str:
    alert = staff_alert_of(record.body)
    if alert is not None:
        return staff_alerts().deliver(alert)
    notice = notice_of(record.body)
    if notice is None:
        logger().info("event ignored by the notifier", extra={"sqs_message_id": record.message_id})
        return "ignored"
    return notifier().notify(notice).state


def notice_of(body: str) -> Notice | None:
    """The notice an EventBridge event asks for; None for events the notifier does not handle.
    A malformed event raises (it is retried, then dead-lettered for a look)."""
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
                      in_reply_to=normalize_message_id(replied.message_id))
    return None


def staff_alert_of(body: str) -> StaffAlertRaised | None:
    """The staff alert an EventBridge event carries; None for any other event. A malformed alert
    raises (it is retried, then dead-lettered for a look)."""
    envelope = json.loads(body)
    if envelope.get("source") != SLA_SOURCE or envelope.get("detail-type") != "StaffAlertRaised":
        return None
    alert = StaffAlertRaised.model_validate(envelope["detail"])
    return alert.model_copy(update={"complaint_id": normalize_complaint_number(alert.complaint_id)})

"""The notifier's SQS consumer. Each record's body is an EventBridge event (the bus's rule puts
``ComplaintReceived`` and ``CustomerReplied`` on the notifier queue); a record that fails is
reported in ``batchItemFailures`` and comes back after the visibility timeout, the others are done.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from functions.notifier.service import ACK, REPLY_ACK, Notice, Notifier
from shared.events import SOURCE, ComplaintReceived, CustomerReplied
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


def handle(event: Any) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent (or the raw Lambda event); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    return process_sqs_batch(event, _record)


def _record(record: Any) -> str:
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

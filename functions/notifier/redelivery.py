"""Bringing a notifier message back when a staff member's quiet hours end.

A message whose staff email/SMS must wait (``staff_notices.DeliveryDeferred``) is not deleted: the
handler makes it invisible until the quiet hours end (``ChangeMessageVisibility`` on the record's
receipt handle) and reports it as a batch item failure. SQS (or the local event pump, which deletes
only what the handler did not report) hands it over again at that time; the delivery log skips what
was done the first time (inbox items, other recipients, webhooks) and the deferred messages go out.

SQS lets a message stay invisible for at most 12 hours (moto counts them from when it was sent):
longer quiet hours bring the message back early and it is deferred again. If the visibility cannot be
changed, the message comes back after the queue's visibility timeout and is deferred again then.
"""
from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from shared.aws import error_code
from shared.observability import logger

MAX_VISIBILITY_SECONDS = 43_200
MARGIN_SECONDS = 60


def receive_count(record: Any) -> int:
    """How many times SQS has handed this message over (1 the first time)."""
    value = (record.attributes or {}).get("ApproximateReceiveCount") if hasattr(record, "attributes") else None
    return int(value) if value and str(value).isdigit() else 1


def visibility_seconds(until: datetime, now: datetime, *, sent_at_ms: int | None = None,
                       wall_now: float | None = None) -> int:
    """Seconds to keep the message invisible: until ``until`` (rounded up), at most what is left of
    the 12 hours SQS allows, counted from when it was sent. 0: nothing to wait for / no time left."""
    wanted = math.ceil((until - now).total_seconds())
    age = max(0.0, (wall_now if wall_now is not None else time.time()) - sent_at_ms / 1000) if sent_at_ms else 0.0
    return max(0, min(wanted, int(MAX_VISIBILITY_SECONDS - MARGIN_SECONDS - age)))


class Redelivery:
    def __init__(self, sqs: Any):
        self._sqs = sqs

    def postpone(self, record: Any, until: datetime, now: datetime) -> int:
        """Make ``record``'s message invisible until ``until``; returns the seconds set (0 if not changed)."""
        sent = (record.attributes or {}).get("SentTimestamp")
        seconds = visibility_seconds(until, now, sent_at_ms=int(sent) if sent and str(sent).isdigit() else None)
        extra = {"sqs_message_id": record.message_id, "seconds": seconds}
        if seconds <= 0:
            return 0
        try:
            self._sqs.change_message_visibility(QueueUrl=record.queue_url, ReceiptHandle=record.receipt_handle,
                                                VisibilityTimeout=seconds)
        except Exception as exc:  # noqa: BLE001 - the message comes back after the queue's timeout instead
            logger().warning("could not postpone the message; it comes back after the queue's visibility timeout",
                             extra={**extra, "error": error_code(exc) or type(exc).__name__})
            return 0
        logger().info("message postponed to the end of quiet hours", extra=extra)
        return seconds

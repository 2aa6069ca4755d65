"""The email intake's queue consumer: S3 notifications of raw messages in the inbound-mail bucket
(and staff re-drives, shaped the same). Partial batch failures: a message whose outcome could not
be stored stays on the queue, is retried and after a few tries lands in the dead-letter queue."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterator
from urllib.parse import unquote_plus

from shared.observability import logger


@lru_cache(maxsize=1)
def email_intake() -> Any:
    from functions.intake.api import intake
    from functions.intake.mail_intake import EmailIntake, InboundMail
    from shared.attachments import attachment_store
    from shared.aws import client
    from shared.config import settings
    from shared.store import complaint_repository, event_publisher, mailbox

    return EmailIntake(complaint_repository(), mailbox(), InboundMail(client("s3")), intake(), attachment_store(),
                       event_publisher(), settings())


def stored_messages(body: dict[str, Any]) -> Iterator[tuple[str, str, datetime]]:
    """(bucket, key, time) of each object-created record; S3's test event and others yield nothing."""
    for record in body.get("Records") or []:
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        bucket, key = s3.get("bucket", {}).get("name"), s3.get("object", {}).get("key")
        if not bucket or not key:
            continue
        try:
            at = datetime.fromisoformat(str(record.get("eventTime")).replace("Z", "+00:00"))
        except ValueError:
            at = datetime.now(timezone.utc)
        yield bucket, unquote_plus(key), at


def _process_record(record: Any) -> None:
    try:
        body = json.loads(record.body)
    except ValueError:
        logger().warning("email intake: queue message is not JSON; dropped", extra={"message_id": record.message_id})
        return
    for bucket, key, at in stored_messages(body if isinstance(body, dict) else {}):
        outcome = email_intake().process(bucket, key, at)
        logger().info("email processed", extra={"outcome": outcome.outcome, "reason": outcome.reason,
                                                "complaint_id": outcome.complaint_id, "repeated": outcome.repeated})


def handle(event: Any) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent (or the raw Lambda event); returns the partial batch response."""
    from shared.batch import process_sqs_batch

    return process_sqs_batch(event, _process_record)

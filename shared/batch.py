"""One way to consume an SQS batch: Powertools' BatchProcessor with partial batch failures.

Every record that raises is reported in ``batchItemFailures`` (the template turns on
ReportBatchItemFailures), so SQS redelivers only those and dead-letters them after the queue's
maxReceiveCount; the others are acknowledged. A batch where every record failed is reported the
same way rather than by failing the invocation, so one answer shape covers both.
"""
from __future__ import annotations

from typing import Any, Callable


def process_sqs_batch(event: Any, record_handler: Callable[[Any], Any]) -> dict[str, Any]:
    """``event``: Chalice's SQSEvent or the raw Lambda event; returns the partial batch response."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from shared.observability import per_record

    raw = event.to_dict() if hasattr(event, "to_dict") else event
    record_handler = per_record(record_handler)  # each record's logs carry its message id and case number
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(event=raw, record_handler=record_handler, processor=processor,
                                    context=getattr(event, "context", None))

"""``complaints redrive``: move a dead-letter queue's messages back to the queue they came from.

In AWS this is SQS's own message move task (``aws sqs start-message-move-task --source-arn <DLQ ARN>``,
docs/operations.md). moto (5.2) does not implement StartMessageMoveTask, so for the local stack and the
tests this does the same by hand: receive from the DLQ, send the body and message attributes to the
source queue, delete from the DLQ only once sent (a crash in between re-drives a message twice, which
the consumers, being idempotent, absorb). The source queue is the one whose redrive policy names the
DLQ (``complaints-<stage>-router-dlq`` -> ``complaints-<stage>-router``).
"""
from __future__ import annotations

from typing import Any


def source_queue_url(sqs: Any, dlq_url: str) -> str:
    """The queue a DLQ serves, by name (``<name>-dlq`` -> ``<name>``), checked against its redrive policy."""
    import json

    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = dlq_arn.rsplit(":", 1)[-1]
    if not name.endswith("-dlq"):
        raise ValueError(f"{name} is not a dead-letter queue (<queue>-dlq)")
    url = sqs.get_queue_url(QueueName=name[: -len("-dlq")])["QueueUrl"]
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"].get("RedrivePolicy")
    if not policy or json.loads(policy).get("deadLetterTargetArn") != dlq_arn:
        raise ValueError(f"{url} does not send its failures to {name}")
    return url


def redrive(sqs: Any, dlq_url: str, *, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all when None) from ``dlq_url`` to its source queue; how many moved."""
    target = source_queue_url(sqs, dlq_url)
    moved = 0
    while limit is None or moved < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=min(10, (limit or 10) - moved or 10),
                                    MessageAttributeNames=["All"], VisibilityTimeout=60,
                                    WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        for m in batch:
            sqs.send_message(QueueUrl=target, MessageBody=m["Body"], MessageAttributes=m.get("MessageAttributes", {}))
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    return moved


def main(args: Any) -> int:
    """``complaints redrive --queue router`` against the running local stack (var/local-stack.json)."""
    import sys

    from infra import devkeys
    from infra.loadtest import LoopbackOnly, target_from

    try:
        target = target_from(devkeys.var_dir(), endpoint=args.endpoint)
    except LoopbackOnly as exc:
        print(f"redrive: {exc}", file=sys.stderr)
        return 2
    sqs = target.client("sqs")
    stage = target.env.get("STAGE") or "dev"
    dlq_url = sqs.get_queue_url(QueueName=f"complaints-{stage}-{args.queue}-dlq")["QueueUrl"]
    moved = redrive(sqs, dlq_url, limit=args.limit)
    print(f"re-drove {moved} message(s) from complaints-{stage}-{args.queue}-dlq to complaints-{stage}-{args.queue}")
    return 0

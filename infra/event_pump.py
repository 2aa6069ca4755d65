"""The event pump: runs a Chalice app's queue consumers and schedules the way Lambda would.

Locally there is no Lambda service to call our event handlers (moto's Lambda needs Docker, and
``chalice local`` serves HTTP only). The pump fills that gap without repeating the wiring: it reads
``app.event_sources`` and ``app.handler_map``, so whatever ``app.py`` declares is what runs.

* SQS sources are long-polled; each batch is handed to the handler as a real SQS event (distinct
  ``messageId``, ``receiptHandle``, ``attributes`` with ``ApproximateReceiveCount`` ...). Like an
  event source mapping with ``ReportBatchItemFailures``, only the messages the handler did not
  report in ``batchItemFailures`` are deleted; if it raises, none are. Failed messages come back
  after the queue's visibility timeout, and the queue's redrive policy moves them to the DLQ.
  Each queue has up to its ``maximum_concurrency`` pollers (at most ``PUMP_WORKERS_PER_QUEUE``,
  3 unless set), so consumers see concurrent batches as in Lambda.
* Schedules (``rate(...)`` and ``cron(...)``) fire with a real scheduled event. ``SCHEDULE_SPEEDUP``
  divides the waits (60 turns "every minute" into "every second") for demos and tests.

Other event sources (S3, SNS, Kinesis ...) are logged as not pumped.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from chalice.app import ScheduledEventConfig, SQSEventConfig

log = logging.getLogger(__name__)
ACCOUNT_ID = "123456789012"  # moto's default account


# -- Lambda's side of an invocation ----------------------------------------------------------------
@dataclass
class LambdaContext:
    """What the Python runtime passes as ``context`` (the attributes Powertools and we read)."""

    function_name: str
    region: str = "us-east-1"
    timeout_seconds: int = 60
    memory_limit_in_mb: str = "512"  # a string in the real runtime, too
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"{datetime.now(timezone.utc):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from a ReceiveMessage result (with all attributes requested)."""
    records = []
    for m in messages:
        record = {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": {name: _message_attribute(value)
                                  for name, value in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if m.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    import base64

    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return out


def scheduled_event(rule_name: str, region: str, when: datetime | None = None) -> dict[str, Any]:
    when = when or datetime.now(timezone.utc)
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT_ID, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region, "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def failed_message_ids(result: Any, batch_ids: list[str]) -> set[str]:
    """Which messages to keep, from a handler's return value (Lambda's partial-batch contract).

    A response naming an unknown or empty ``itemIdentifier`` fails the whole batch, as in Lambda.
    """
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    failures = result["batchItemFailures"] or []
    ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
    if not ids <= set(batch_ids):
        log.warning("batchItemFailures names an unknown message; the whole batch counts as failed")
        return set(batch_ids)
    return ids


# -- schedule expressions -----------------------------------------------------------------------------
_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAYS = "SUN MON TUE WED THU FRI SAT".split()  # EventBridge: 1 = SUN ... 7 = SAT


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which the schedule fires (UTC)."""
    rate = _RATE.fullmatch(expression.strip())
    if rate:
        return after + timedelta(seconds=int(rate[1]) * _UNIT_SECONDS[rate[2].rstrip("s")])
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ValueError(f"unsupported schedule expression: {expression!r}")
    return _next_cron(expression[5:-1].split(), after)


def _cron_field(spec: str, lo: int, hi: int, names: list[str] | None = None) -> set[int] | None:
    """The values a cron field allows, or None for any (``*`` / ``?``)."""
    if spec in ("*", "?"):
        return None
    if names:
        for i, name in enumerate(names):
            spec = spec.upper().replace(name, str(i + lo))
    values: set[int] = set()
    for part in spec.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            start, end = (int(x) for x in rng.split("-"))
        elif rng.isdigit():
            start, end = int(rng), (hi if step else int(rng))
        else:
            raise ValueError(f"unsupported cron field {spec!r} (L, W and # are not simulated)")
        values.update(range(start, end + 1, int(step or 1)))
    return values


def _next_cron(fields: list[str], after: datetime) -> datetime:
    if len(fields) != 6:
        raise ValueError("cron() takes six fields: minutes hours day-of-month month day-of-week year")
    minutes, hours, dom, months, dow, years = (
        _cron_field(fields[0], 0, 59), _cron_field(fields[1], 0, 23), _cron_field(fields[2], 1, 31),
        _cron_field(fields[3], 1, 12, _MONTHS), _cron_field(fields[4], 1, 7, _DAYS),
        _cron_field(fields[5], 1970, 2199))
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = after + timedelta(days=366 * 5)
    while t < limit:
        if (years and t.year not in years) or (months and t.month not in months):
            t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
        elif (dom and t.day not in dom) or (dow and (t.isoweekday() % 7 + 1) not in dow):
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
        elif hours and t.hour not in hours:
            t = t.replace(minute=0) + timedelta(hours=1)
        elif minutes and t.minute not in minutes:
            t += timedelta(minutes=1)
        else:
            return t
    raise ValueError(f"cron({' '.join(fields)}) does not fire in the next five years")


# -- the pump -------------------------------------------------------------------------------------
class EventPump:
    """Background threads serving an app's SQS consumers and schedules (see the module docstring)."""

    def __init__(self, app: Any, sqs_client: Any, *, stage: str = "dev", region: str = "us-east-1",
                 wait_seconds: int = 2, schedule_speedup: float | None = None, duplicate_delivery: str | None = None,
                 around_invoke: Callable[[str], Any] | None = None, workers_per_queue: int | None = None):
        self.app, self.sqs, self.stage, self.region = app, sqs_client, stage, region
        # pollers per queue, as Lambda runs a consumer in up to its maximum concurrency (capped here:
        # a laptop is not a region). Env PUMP_WORKERS_PER_QUEUE; 1 = one batch at a time per queue.
        self.workers_per_queue = workers_per_queue or int(os.environ.get("PUMP_WORKERS_PER_QUEUE") or 3)
        if self.workers_per_queue < 1:
            raise ValueError("PUMP_WORKERS_PER_QUEUE must be at least 1")
        self.wait_seconds = wait_seconds
        # "twice": every batch handed to its handler twice in a row; "concurrent": twice at the same time
        # (SQS's at-least-once delivery, exaggerated). Env COMPLAINTS_DUPLICATE_DELIVERY.
        self.duplicate_delivery = (duplicate_delivery or os.environ.get("COMPLAINTS_DUPLICATE_DELIVERY") or "").strip() or None
        if self.duplicate_delivery not in (None, "twice", "concurrent"):
            raise ValueError("duplicate delivery is 'twice' or 'concurrent'")
        self.around_invoke = around_invoke  # a context manager factory given the handler's name (infra.faults.running)
        self.speedup = schedule_speedup or float(os.environ.get("SCHEDULE_SPEEDUP") or 1)
        if self.speedup <= 0:
            raise ValueError("SCHEDULE_SPEEDUP must be a positive number (60: a minute lasts a second)")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: dict[str, tuple[str, str]] = {}  # queue name -> (url, arn)

    # sources
    def sqs_sources(self) -> list[SQSEventConfig]:
        return [s for s in self.app.event_sources if isinstance(s, SQSEventConfig)]

    def schedules(self) -> list[ScheduledEventConfig]:
        return [s for s in self.app.event_sources if isinstance(s, ScheduledEventConfig)]

    def function_name(self, source: Any) -> str:
        return f"{self.app.app_name}-{self.stage}-{source.name}"

    def _invoke(self, source: Any, event: dict[str, Any], timeout: int = 60) -> Any:
        handler: Callable[[dict, Any], Any] = self.app.handler_map[source.name]
        if self.around_invoke is None:
            return handler(event, LambdaContext(self.function_name(source), self.region, timeout))
        with self.around_invoke(source.name):
            return handler(event, LambdaContext(self.function_name(source), self.region, timeout))

    def _deliver(self, source: SQSEventConfig, messages: list[dict[str, Any]], arn: str) -> set[str]:
        """The handler's verdict on a batch: the ids to keep. In duplicate delivery mode the batch goes
        to the handler twice (one after the other, or at once in two threads); a message is kept when
        either delivery failed it, and a delivery that raised keeps them all."""
        ids = [m["MessageId"] for m in messages]
        if not self.duplicate_delivery:
            return failed_message_ids(self._invoke(source, sqs_event(messages, arn, self.region)), ids)
        outcomes: list[Any] = [None, None]

        def deliver(i: int) -> None:
            try:
                outcomes[i] = failed_message_ids(self._invoke(source, sqs_event(messages, arn, self.region)), ids)
            except Exception as exc:  # noqa: BLE001 - reported like a raising handler below
                outcomes[i] = exc

        if self.duplicate_delivery == "concurrent":
            twin = threading.Thread(target=deliver, args=(1,), name=f"pump-{source.name}-twin", daemon=True)
            twin.start()
            deliver(0)
            twin.join()
        else:
            deliver(0)
            deliver(1)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return set().union(*outcomes)

    def workers(self, source: SQSEventConfig) -> int:
        """Batches of one queue handled at once: its maximum concurrency, at most ``workers_per_queue``."""
        return max(1, min(source.maximum_concurrency or self.workers_per_queue, self.workers_per_queue))

    # SQS
    def queue(self, source: SQSEventConfig) -> tuple[str, str]:
        """(url, arn) of a source's queue; the decorator names it by full name or by ARN."""
        name = source.queue or str(source.queue_arn).rsplit(":", 1)[-1]
        if name not in self._queues:
            url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self._queues[name] = (url, arn)
        return self._queues[name]

    def poll_once(self, source: SQSEventConfig, wait_seconds: int | None = None) -> int:
        """Receive one batch, run the handler, delete what succeeded. Returns the batch size."""
        url, arn = self.queue(source)
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=max(1, min(10, source.batch_size)),
            WaitTimeSeconds=self.wait_seconds if wait_seconds is None else wait_seconds,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        started = time.monotonic()
        try:
            failed = self._deliver(source, messages, arn)
        except Exception:
            log.exception("%s raised; %d message(s) stay on the queue", source.name, len(messages))
            return len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
        log.info("%s <- %d message(s) from %s: %d done, %d failed (%d ms)", source.name, len(messages),
                 arn.rsplit(":", 1)[-1], len(done), len(failed), (time.monotonic() - started) * 1000)
        return len(messages)

    def _serve_queue(self, source: SQSEventConfig) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(source)
            except Exception as exc:  # queue not there (yet), endpoint going away at shutdown ...
                if not self._stop.is_set():
                    log.warning("polling for %s failed: %s; retrying", source.name, exc)
                    self._stop.wait(2)

    # schedules
    def fire(self, source: ScheduledEventConfig, when: datetime | None = None) -> Any:
        """Run a scheduled handler once with the event EventBridge would send."""
        started = time.monotonic()
        try:
            result = self._invoke(source, scheduled_event(self.function_name(source), self.region, when))
        except Exception:
            log.exception("scheduled %s raised", source.name)
            return None
        log.info("%s <- schedule %s (%d ms)", source.name, _expression(source),
                 (time.monotonic() - started) * 1000)
        return result

    def _serve_schedules(self) -> None:
        now = datetime.now(timezone.utc)
        due = {}  # source name -> (real monotonic due time, schedule time)
        for s in self.schedules():
            at = next_fire(_expression(s), now)
            due[s.name] = (time.monotonic() + (at - now).total_seconds() / self.speedup, at)
        by_name = {s.name: s for s in self.schedules()}
        while due and not self._stop.is_set():
            name = min(due, key=lambda n: due[n][0])
            real_due, at = due[name]
            if self._stop.wait(max(0.0, real_due - time.monotonic())):
                break
            self.fire(by_name[name], datetime.now(timezone.utc))
            following = next_fire(_expression(by_name[name]), at)
            due[name] = (real_due + (following - at).total_seconds() / self.speedup, following)

    # lifecycle
    def start(self) -> None:
        known = (SQSEventConfig, ScheduledEventConfig)
        for s in self.app.event_sources:
            if not isinstance(s, known):
                log.warning("event source %s (%s) is not pumped locally", s.name, type(s).__name__)
        for s in self.sqs_sources():
            for n in range(self.workers(s)):
                self._spawn(f"pump-{s.name}-{n}", self._serve_queue, s)
        if self.schedules():
            self._spawn("pump-schedules", self._serve_schedules)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        """Stop polling; a long poll in flight ends within ``wait_seconds``."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()


def _expression(source: ScheduledEventConfig) -> str:
    expr = source.schedule_expression
    return expr if isinstance(expr, str) else expr.to_string()

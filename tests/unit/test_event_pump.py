"""The event pump against a throwaway Chalice app and in-process moto.

The app has the three shapes the real one will have: an SQS consumer reporting partial batch
failures, a consumer that raises, and a schedule.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import boto3
import pytest
from chalice import Chalice, Cron, Rate
from moto import mock_aws

from infra.event_pump import EventPump, LambdaContext, failed_message_ids, next_fire, sqs_event

REGION = "us-east-1"


@pytest.fixture
def sqs(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def make_queue(sqs, name, *, dlq_max_receives=None, visibility=30):
    attributes = {"VisibilityTimeout": str(visibility)}
    dlq_url = None
    if dlq_max_receives:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": dlq_max_receives})
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], dlq_url


def count(sqs, url, attribute="ApproximateNumberOfMessages"):
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[attribute])["Attributes"][attribute])


@pytest.fixture
def calls():
    return {"work": [], "broken": 0, "tick": [], "contexts": []}


@pytest.fixture
def app(calls):
    app = Chalice(app_name="pumptest")

    @app.on_sqs_message(queue="pumptest-dev-work", batch_size=10)
    def work(event):
        calls["work"].append(event.to_dict())
        calls["contexts"].append(event.context)
        return {"batchItemFailures": [{"itemIdentifier": r.to_dict()["messageId"]}
                                      for r in event if r.body == "fail"]}

    @app.on_sqs_message(queue_arn=f"arn:aws:sqs:{REGION}:123456789012:pumptest-dev-broken")
    def broken(event):
        calls["broken"] += 1
        raise RuntimeError("the handler failed")

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def tick(event):
        calls["tick"].append(event.to_dict())

    return app


def test_sqs_event_has_lambda_shape_with_distinct_ids(sqs, app, calls):
    url, _ = make_queue(sqs, "pumptest-dev-work")
    sqs.send_message(QueueUrl=url, MessageBody="one",
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "demo"}})
    sqs.send_message(QueueUrl=url, MessageBody="two")
    pump = EventPump(app, sqs, wait_seconds=0)

    while pump.poll_once(pump.sqs_sources()[0]):
        pass

    records = [r for event in calls["work"] for r in event["Records"]]
    assert sorted(r["body"] for r in records) == ["one", "two"]
    assert len({r["messageId"] for r in records}) == 2
    first = next(r for r in records if r["body"] == "one")
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == f"arn:aws:sqs:{REGION}:123456789012:pumptest-dev-work"
    assert first["awsRegion"] == REGION
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["md5OfBody"] and first["receiptHandle"]
    assert first["messageAttributes"]["kind"] == {
        "stringValue": "demo", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    context = calls["contexts"][0]
    assert context.function_name == "pumptest-dev-work"
    assert context.invoked_function_arn.endswith(":function:pumptest-dev-work")
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert count(sqs, url) == 0 and count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 0


def test_partial_batch_failure_keeps_only_the_failed_message(sqs, app, calls):
    url, _ = make_queue(sqs, "pumptest-dev-work")
    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    pump = EventPump(app, sqs, wait_seconds=0)

    assert pump.poll_once(pump.sqs_sources()[0]) == 3

    assert count(sqs, url) == 0
    assert count(sqs, url, "ApproximateNumberOfMessagesNotVisible") == 1  # "fail", until its timeout


def test_raising_handler_leaves_the_batch_and_redrive_moves_it_to_the_dlq(sqs, app, calls):
    # VisibilityTimeout 0: a failed message is visible again at once, so the test needs no sleep.
    url, dlq_url = make_queue(sqs, "pumptest-dev-broken", dlq_max_receives=2, visibility=0)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    pump = EventPump(app, sqs, wait_seconds=0)
    broken = next(s for s in pump.sqs_sources() if s.name == "broken")

    assert pump.poll_once(broken) == 1
    assert pump.poll_once(broken) == 1
    assert pump.poll_once(broken) == 0  # a third receive finds it gone to the DLQ

    assert calls["broken"] == 2
    moved = sqs.receive_message(QueueUrl=dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]


def test_background_threads_consume_and_stop_promptly(sqs, app, calls):
    url, _ = make_queue(sqs, "pumptest-dev-work")
    make_queue(sqs, "pumptest-dev-broken")
    pump = EventPump(app, sqs, wait_seconds=1, schedule_speedup=600)  # rate(1 minute) -> 0.1 s
    pump.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        deadline = time.monotonic() + 10
        while (not calls["work"] or len(calls["tick"]) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        started = time.monotonic()
        pump.stop()
        assert time.monotonic() - started < 5
    assert calls["work"][0]["Records"][0]["body"] == "hello"
    tick = calls["tick"][0]
    assert tick["source"] == "aws.events" and tick["detail-type"] == "Scheduled Event"
    assert tick["resources"] == [f"arn:aws:events:{REGION}:123456789012:rule/pumptest-dev-tick"]
    assert tick["time"].endswith("Z") and tick["detail"] == {}


def test_handler_response_contract():
    ids = ["a", "b", "c"]
    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, ids) == set(ids)
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == set(ids)


def test_binary_message_attributes_are_base64():
    event = sqs_event([{"MessageId": "m", "ReceiptHandle": "r", "Body": "b", "MD5OfBody": "x",
                        "MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}}],
                      "arn:aws:sqs:us-east-1:123456789012:q", REGION)
    assert event["Records"][0]["messageAttributes"]["blob"]["binaryValue"] == "AAE="


@pytest.mark.parametrize("expression, after, expected", [
    ("rate(1 minute)", "2025-03-10T10:00:30", "2025-03-10T10:01:30"),
    ("rate(2 hours)", "2025-03-10T10:00:00", "2025-03-10T12:00:00"),
    ("cron(0/15 * * * ? *)", "2025-03-10T10:07:10", "2025-03-10T10:15:00"),
    ("cron(0 9 ? * MON-FRI *)", "2025-03-07T09:00:00", "2025-03-10T09:00:00"),  # Friday -> Monday
    ("cron(30 6 1 * ? *)", "2025-01-31T23:00:00", "2025-02-01T06:30:00"),
    ("cron(0 8 ? * 1 *)", "2025-03-10T00:00:00", "2025-03-16T08:00:00"),  # 1 = Sunday
    (Cron(0, 2, "*", "*", "?", "*").to_string(), "2025-12-31T03:00:00", "2026-01-01T02:00:00"),
])
def test_next_fire(expression, after, expected):
    def utc(text):
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)

    assert next_fire(expression, utc(after)) == utc(expected)


@pytest.mark.parametrize("expression", ["every minute", "cron(0 12 L * ? *)", "cron(0 12 * *)"])
def test_unsupported_schedules_are_refused(expression):
    with pytest.raises(ValueError):
        next_fire(expression, datetime.now(timezone.utc))


def test_context_counts_down():
    context = LambdaContext("fn", timeout_seconds=3)
    assert 2_000 < context.get_remaining_time_in_millis() <= 3_000
    assert context.memory_limit_in_mb == "512" and context.aws_request_id

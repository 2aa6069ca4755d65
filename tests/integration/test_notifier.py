"""The notifier: a submitted complaint is acknowledged to the customer once, in their language, by
email (multipart, tracking link with a working token, Message-IDs recorded) or SMS; a failed send is
reported as a batch item failure and retried; a redelivered event sends nothing more.

Events are taken from the notifier queue, where the bus's rule put them, and handed to the handler
as Lambda would (``infra.event_pump.sqs_event``: distinct messageIds, real attributes).
"""
from __future__ import annotations

import email
import json
import re
from email import policy

import boto3
import pytest

from infra.event_pump import sqs_event
from tests.support import a_complaint, post_json

SENDER = "complaints@example.com"
QUEUE = "complaints-dev-notifier"


@pytest.fixture
def notifier(aws, client):
    """The app's client with the sender identity verified in moto (done out of band in AWS)."""
    from infra.local_outbox import verify_sender

    verify_sender(boto3.client, SENDER)
    return client


def sent_emails():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [email.message_from_string(m.raw_data, policy=policy.default)
            for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]


def sent_sms():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def queued_event(delete: bool = True) -> dict:
    """The notifier queue's messages as the SQS event Lambda would build (deleted from the queue,
    as the event source mapping does once the handler succeeded)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
    if delete:
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sqs_event(messages, arn, "us-east-1")


def notify(client, event):
    return client.lambda_.invoke("notify_customer", event).payload


def submit(client, **overrides):
    res = post_json(client, "/complaints", a_complaint(**overrides))
    assert res.status_code == 201, res.body
    return json.loads(res.body)


def parts(message):
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def token_in(text):
    match = re.search(r"/track\?id=(C[0-9A-Z]{9})#token=([A-Za-z0-9_\-%]+)", text)
    assert match, text
    return match[1], match[2]


def track(client, number, token):
    return client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": token})


def delivery_log(aws, number):
    out = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :n)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":n": {"S": "NOTIFY#"}})
    return out["Items"]


# -- acknowledgement by email --------------------------------------------------------------------
def test_chinese_customer_gets_one_acknowledgement_email(notifier, aws):
    from shared.mail_ids import complaint_of_message_id, message_id_key

    receipt = submit(notifier)
    number = receipt["complaint_id"]
    event = queued_event()
    assert len(event["Records"]) == 1
    assert notify(notifier, event) == {"batchItemFailures": []}

    [message] = sent_emails()
    assert message["Subject"] == f"[{number}] 我们已收到您的投诉"
    assert message["To"].addresses[0].addr_spec == "li.wei@example.com"
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Content-Language"] == "zh-CN" and message["Auto-Submitted"] == "auto-replied"
    text, html = parts(message)
    for body in (text, html):
        assert number in body and "24 小时内" in body and "北京时间" in body
    assert "/track?id=" in html and 'lang="zh-CN"' in html

    # the link carries a new token, which opens the case like the form's
    linked_number, token = token_in(text)
    assert linked_number == number and token != receipt["tracking_token"]
    tracked = track(notifier, number, token)
    assert tracked.status_code == 200, tracked.body
    assert track(notifier, number, receipt["tracking_token"]).status_code == 200
    timeline = json.loads(tracked.body)["timeline"]
    assert [e["kind"] for e in timeline] == ["received", "acknowledged"]

    # the delivery log, and our Message-ID and SES's (SES replaces ours in AWS) recorded for threading
    ours = message["Message-ID"]
    assert complaint_of_message_id(ours, "example.com") == number
    [log] = delivery_log(aws, number)
    assert log["state"]["S"] == "sent" and log["SK"]["S"] == f"NOTIFY#{number}:received#email"
    recorded = [m["S"] for m in log["message_ids"]["L"]]
    assert recorded[0] == ours and recorded[1].endswith("@email.amazonses.com>")
    db = boto3.client("dynamodb")
    for message_id in recorded:
        key = {k: {"S": v} for k, v in message_id_key(message_id).items()}
        assert db.get_item(TableName=aws["TABLE_NAME"], Key=key)["Item"]["complaint_id"]["S"] == number


def test_language_and_escaping(notifier):
    """English for an English customer, with what they wrote escaped in HTML; without a preference,
    the language of the complaint's text."""
    body = a_complaint(title='<script>alert("x")</script> & <b>bold</b>', description="The zipper broke on day one.")
    body["customer"] = {"name": "Ann Lee", "email": "ann@example.com", "preferred_language": "en"}
    english = json.loads(post_json(notifier, "/complaints", body).body)["complaint_id"]
    body = a_complaint(title="冰箱不制冷", description="买了三天的冰箱完全不制冷。")
    body["customer"] = {"name": "王芳", "email": "wang@example.com"}
    chinese = json.loads(post_json(notifier, "/complaints", body).body)["complaint_id"]
    event = queued_event()
    assert len(event["Records"]) == 2
    assert notify(notifier, event) == {"batchItemFailures": []}

    by_number = {m["Subject"].split("]")[0][1:]: m for m in sent_emails()}
    message = by_number[english]
    assert message["Subject"] == f"[{english}] We have received your complaint"
    assert message["Content-Language"] == "en"
    text, html = parts(message)
    assert "Dear Ann Lee" in text and "within 24 hours" in text and english in text and "我们" not in text
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;" in html and "&amp; &lt;b&gt;" in html
    assert '<script>alert("x")</script>' in text  # plain text shows it as written
    assert by_number[chinese]["Subject"] == f"[{chinese}] 我们已收到您的投诉"


def test_redelivered_event_sends_nothing_more(notifier, aws):
    number = submit(notifier)["complaint_id"]
    event = queued_event()
    assert notify(notifier, event) == {"batchItemFailures": []}
    again = json.loads(json.dumps(event))
    again["Records"][0]["messageId"] = "redelivered-1"  # SQS delivers the same body again
    assert notify(notifier, again) == {"batchItemFailures": []}
    assert notify(notifier, event) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    items = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :tl)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":tl": {"S": "TL#"}})["Items"]
    assert [i["kind"]["S"] for i in items].count("acknowledged") == 1


# -- SMS ------------------------------------------------------------------------------------------
def test_phone_only_customers_get_one_sms(notifier, aws, monkeypatch):
    from tests.conftest import _forget_cached_services

    def phone_only(phone, **extra):
        body = a_complaint()
        body["customer"] = {"name": "Li Wei", "phone": phone, **extra}
        return json.loads(post_json(notifier, "/complaints", body).body)["complaint_id"]

    number = phone_only("+86 138 0013 8000", preferred_language="zh")
    unreachable = phone_only("139 0013 9000")  # no country code, and none configured
    event = queued_event()
    assert notify(notifier, event) == {"batchItemFailures": []}
    assert notify(notifier, event) == {"batchItemFailures": []}  # redelivered: still one SMS

    assert sent_emails() == []
    [(phone, text)] = sent_sms()
    assert phone == "+8613800138000"
    assert number in text and "24 小时" in text
    _, token = token_in(text)
    assert track(notifier, number, token).status_code == 200
    [log] = delivery_log(aws, number)
    assert log["SK"]["S"].endswith("#sms") and log["state"]["S"] == "sent"
    [log] = delivery_log(aws, unreachable)
    assert log["state"]["S"] == "skipped" and log["SK"]["S"].endswith("#none")

    monkeypatch.setenv("SMS_DEFAULT_COUNTRY_CODE", "86")  # numbers without a country code get this one
    _forget_cached_services()
    phone_only("137 0013 7000")
    assert notify(notifier, queued_event()) == {"batchItemFailures": []}
    assert [phone for phone, _ in sent_sms()] == ["+8613800138000", "+8613700137000"]


# -- failures ---------------------------------------------------------------------------------------
def test_failed_send_is_retried_then_sent_once(notifier, aws, monkeypatch):
    from botocore.exceptions import ClientError

    from functions.notifier import handlers

    def outage(**kwargs):
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded"}},
                          "SendEmail")

    number = submit(notifier)["complaint_id"]
    event = queued_event()
    email_channel = handlers.notifier()._email
    ses = email_channel._ses
    monkeypatch.setattr(email_channel, "_ses", type("SesDown", (), {"send_email": staticmethod(outage)}))
    message_id = event["Records"][0]["messageId"]
    assert notify(notifier, event) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    [log] = delivery_log(aws, number)
    assert log["state"]["S"] == "failed" and log["error_code"]["S"] == "TooManyRequestsException"
    assert sent_emails() == []

    monkeypatch.setattr(email_channel, "_ses", ses)
    assert notify(notifier, event) == {"batchItemFailures": []}  # the redelivery
    assert notify(notifier, event) == {"batchItemFailures": []}
    assert len(sent_emails()) == 1
    [log] = delivery_log(aws, number)
    assert log["state"]["S"] == "sent" and int(log["attempts"]["N"]) == 2 and "error_code" not in log


class FailingSentRecord:
    """The app's DynamoDB client refuses the update that closes a claim as ``sent`` (``times`` times,
    None: always) - the email has gone out by then."""

    def __init__(self, times: int | None):
        self.times, self.refused = times, 0

    def __call__(self, params, **_):
        from botocore.exceptions import ClientError

        if params.get("UpdateExpression", "").startswith("SET #s = :sent") and (
                self.times is None or self.refused < self.times):
            self.refused += 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "UpdateItem")


@pytest.mark.parametrize("refusals", [2, None], ids=["recorded-on-a-later-attempt", "never-recorded"])
def test_an_email_sent_but_not_yet_recorded_is_not_sent_again(notifier, aws, monkeypatch, app_logs, refusals):
    """The 2,000-complaint fault run once sent an acknowledgement twice: the send went out, closing the
    claim failed, the event came back and took the claim over when its lease ended."""
    from functions.notifier import service
    from functions.notifier.delivery_log import LEASE
    from shared.aws import client

    monkeypatch.setattr(service, "sleep", lambda seconds: None)
    number = submit(notifier)["complaint_id"]
    event = queued_event()
    failing = FailingSentRecord(refusals)
    events = client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", failing)
    try:
        assert notify(notifier, event) == {"batchItemFailures": []}  # done: SQS does not hand it over again
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", failing)
    assert len(sent_emails()) == 1
    [log] = delivery_log(aws, number)
    items = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :tl)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":tl": {"S": "TL#"}})["Items"]
    assert [i["kind"]["S"] for i in items].count("acknowledged") == 1
    lines = [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]
    if refusals:
        assert failing.refused == refusals and log["state"]["S"] == "sent"
        assert notify(notifier, event) == {"batchItemFailures": []}  # a duplicate delivery: nothing more
    else:
        assert failing.refused == service.RECORD_SENT_ATTEMPTS and log["state"]["S"] == "sending"
        assert any(line["level"] == "ERROR" and line["message"] == "notification sent, but not recorded as sent"
                   for line in lines)
        # a duplicate delivery while the claim's lease runs sends nothing (it is retried later)
        result = notify(notifier, event)
        assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        assert LEASE.total_seconds() >= 120
    assert len(sent_emails()) == 1


def test_unverified_sender_fails_the_record_only(aws, client):
    """SES refuses (sender not verified): that record fails; the other one of the batch is done."""
    submit(client)
    body = a_complaint()
    body["customer"] = {"name": "Li Wei", "phone": "+8613800138000"}
    post_json(client, "/complaints", body)
    event = queued_event()
    assert len(event["Records"]) == 2
    failures = notify(client, event)["batchItemFailures"]
    assert len(failures) == 1 and len(sent_sms()) == 1


def test_failed_send_goes_to_the_dead_letter_queue_after_five_receives(notifier, aws, monkeypatch):
    from chalice.app import SQSEventConfig

    from functions.app import app
    from functions.notifier.channels import EmailChannel, SendFailed
    from infra.event_pump import EventPump

    def outage(self, raw, *, to, purpose):
        raise SendFailed("email", "MessageRejected")

    monkeypatch.setattr(EmailChannel, "send", outage)
    submit(notifier)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})  # come back at once
    pump = EventPump(app, sqs, stage="dev", wait_seconds=0)
    source = next(s for s in pump.sqs_sources() if isinstance(s, SQSEventConfig) and s.queue == QUEUE)
    for _ in range(6):
        pump.poll_once(source, wait_seconds=0)
    dlq = sqs.get_queue_url(QueueName=QUEUE + "-dlq")["QueueUrl"]
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert len(moved) == 1 and json.loads(moved[0]["Body"])["detail-type"] == "ComplaintReceived"
    assert sent_emails() == []


# -- replies ----------------------------------------------------------------------------------------
def test_customer_reply_is_acknowledged_in_the_thread(notifier, aws):
    from shared.events import CustomerReplied
    from shared.store import event_publisher

    number = submit(notifier)["complaint_id"]
    notify(notifier, queued_event())
    event_publisher().publish(CustomerReplied(event_id=f"{number}:reply:1", complaint_id=number,
                                              message_id="<abc.123@mail.example.net>",
                                              received_at="2024-05-01T10:00:00.000Z"))
    event = queued_event()
    assert notify(notifier, event) == {"batchItemFailures": []}
    assert notify(notifier, event) == {"batchItemFailures": []}
    ack, reply_ack = sent_emails()
    assert reply_ack["Subject"] == f"[{number}] 我们已收到您的补充信息"
    assert reply_ack["In-Reply-To"] == "<abc.123@mail.example.net>"
    assert f"<{number}.reply-ack." in reply_ack["Message-ID"]
    timeline = [i["kind"]["S"] for i in boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :tl)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":tl": {"S": "TL#"}})["Items"]]
    assert timeline.count("acknowledged") == 1


def test_events_the_notifier_does_not_handle_are_done(notifier):
    event = queued_event()
    assert event["Records"] == []
    envelope = {"source": "complaints.router", "detail-type": "ComplaintRouted", "detail": {}}
    event = {"Records": [{**_record(json.dumps(envelope)), "messageId": "m-1"}]}
    assert notify(notifier, event) == {"batchItemFailures": []}
    bad = {"Records": [{**_record("not json"), "messageId": "m-2"}]}
    assert notify(notifier, bad) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}


def _record(body: str) -> dict:
    return {"messageId": "m", "receiptHandle": "r", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:complaints-dev-notifier", "awsRegion": "us-east-1"}


# -- logs -----------------------------------------------------------------------------------------
def test_notifier_logs_carry_no_personal_data(notifier, monkeypatch, app_logs):
    from functions.notifier.channels import EmailChannel, SendFailed

    receipt = submit(notifier)
    notify(notifier, queued_event())
    body = a_complaint()
    body["customer"] = {"name": "Zhang San", "phone": "+8613900139000"}
    post_json(notifier, "/complaints", body)
    notify(notifier, queued_event())
    post_json(notifier, "/complaints", a_complaint())
    monkeypatch.setattr(EmailChannel, "send", lambda *a, **k: (_ for _ in ()).throw(
        SendFailed("email", "MessageRejected")))
    notify(notifier, queued_event())
    out = app_logs.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "notification sent" and line.get("complaint_id") == receipt["complaint_id"]
               for line in lines)
    assert any(line.get("message", "").startswith("notification failed") for line in lines)
    for secret in ("li.wei@example.com", "13800138000", "13900139000", "Li Wei", "Zhang San", "token=",
                   "dumplings"):
        assert secret not in out, secret

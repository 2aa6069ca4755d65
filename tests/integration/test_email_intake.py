"""Email intake through the function AWS calls: raw mail in the inbound bucket, its S3 notification
on the email intake queue, the queue event handed to ``take_in_email`` (moto in-process)."""
from __future__ import annotations

import json
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import boto3
import pytest

from tests.integration.test_attachments import PNG


def mail(subject="冷冻水饺有异味", body="你好，我昨天买的水饺打开后有酸味，批次 B2411。\n\n王芳", sender="wang.fang@example.cn",
         name="王芳", attach_png=False, **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "complaints@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.cn")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    if attach_png:
        msg.add_attachment(PNG, maintype="image", subtype="png", filename="照片.png")
    return msg.as_bytes()


def notifications(queue_name="complaints-dev-email-intake"):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in out:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [m["Body"] for m in out]


def sqs_event(bodies):
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "rh-" + uuid.uuid4().hex, "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                       "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1700000000000"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:complaints-dev-email-intake", "awsRegion": "us-east-1",
    } for body in bodies]}


def store(aws, raw: bytes) -> list[str]:
    """What SES's receipt rule does: the raw message into the bucket (its notification follows)."""
    boto3.client("s3").put_object(Bucket=aws["INBOUND_MAIL_BUCKET"], Key=f"inbound/{uuid.uuid4().hex}", Body=raw)
    return [b for b in notifications() if "ObjectCreated" in b]


def deliver(client, aws, raw: bytes, *, times=1):
    bodies = store(aws, raw)
    assert len(bodies) == 1
    results = [client.lambda_.invoke("take_in_email", sqs_event(bodies)).payload for _ in range(times)]
    return results[-1], bodies[0]


def staff_get(client, token, path):
    res = client.http.get(path, headers={"Authorization": "Bearer " + token})
    assert res.status_code < 300, res.body
    return json.loads(res.body)


def email_cases(client, token):
    return staff_get(client, token, "/staff/complaints?channel=email")["complaints"]


def test_new_email_becomes_a_case_with_its_attachment(client, aws, make_token):
    result, _ = deliver(client, aws, mail(attach_png=True))
    assert result == {"batchItemFailures": []}
    token = make_token()
    [case] = email_cases(client, token)
    detail = staff_get(client, token, f"/staff/complaints/{case['complaint_id']}")
    assert detail["title"] == "冷冻水饺有异味" and detail["channel"] == "email" and detail["language"] == "zh"
    assert "酸味" in detail["description"]
    assert detail["customer"]["email"] == "wang.fang@example.cn" and detail["customer"]["name"] == "王芳"
    [att] = detail["attachments"]
    assert att["filename"] == "照片.png" and att["content_type"] == "image/png" and att["size"] == len(PNG)
    body = boto3.client("s3").get_object(Bucket=aws["ATTACHMENTS_BUCKET"], Key=f"attachments/{att['attachment_id']}")
    assert body["Body"].read() == PNG


def test_a_redelivered_notification_opens_no_second_case(client, aws, make_token):
    result, body = deliver(client, aws, mail(), times=3)
    assert result == {"batchItemFailures": []}
    assert len(email_cases(client, make_token())) == 1


def test_reply_with_the_number_in_the_subject_threads_and_resumes_a_waiting_case(client, aws, make_token):
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    deliver(client, aws, mail())
    token = make_token()
    [case] = email_cases(client, token)
    number = case["complaint_id"]
    repo = complaint_repository()
    stored, _ = repo.get(number)
    repo.save(stored.model_copy(update={"status": Status.WAITING_ON_CUSTOMER, "version": 2}), [], expected_version=1)

    deliver(client, aws, mail(subject=f"Re: [{number}] 我们已收到您的投诉", body="补充：购买于 11 月 20 日。\n\n> 原邮件内容"))
    assert len(email_cases(client, token)) == 1
    detail = staff_get(client, token, f"/staff/complaints/{number}")
    assert detail["status"] == "in_progress"
    messages = [e for e in detail["timeline"] if e["kind"] == "customer_message"]
    assert [m["text"] for m in messages] == ["补充：购买于 11 月 20 日。"]
    assert any(e["kind"] == "status_changed" and e["status"] == "in_progress" for e in detail["timeline"])


def test_reply_threads_by_in_reply_to_against_our_message_ids(client, aws, make_token):
    deliver(client, aws, mail(sender="amy@example.com", name="Amy", subject="Parcel never arrived",
                              body="Order SO-1001 never arrived."))
    token = make_token()
    [case] = email_cases(client, token)
    ours = f"<{case['complaint_id']}.ack.0123abcd@example.com>"
    boto3.client("dynamodb").put_item(TableName=aws["TABLE_NAME"], Item={
        "PK": {"S": "MSGID#" + ours}, "SK": {"S": "MSGID"}, "complaint_id": {"S": case["complaint_id"]}})
    deliver(client, aws, mail(sender="amy@example.com", name="Amy", subject="question",
                              body="Any news?", In_Reply_To=ours, References=ours))
    assert len(email_cases(client, token)) == 1
    detail = staff_get(client, token, f"/staff/complaints/{case['complaint_id']}")
    assert [e["text"] for e in detail["timeline"] if e["kind"] == "customer_message"] == ["Any news?"]


@pytest.mark.parametrize("headers", [{"Auto_Submitted": "auto-replied"}, {"Precedence": "bulk"},
                                     {"X_Autoreply": "yes"}, {"List_Id": "<news.example.com>"}])
def test_auto_replies_and_list_mail_open_no_case(client, aws, make_token, headers):
    result, _ = deliver(client, aws, mail(subject="Out of office", **headers))
    assert result == {"batchItemFailures": []}
    assert email_cases(client, make_token()) == []


def test_spam_is_quarantined_and_visible_to_staff(client, aws, make_token):
    deliver(client, aws, mail(subject="WIN A PRIZE", X_SES_Spam_Verdict="FAIL"))
    token = make_token()
    assert email_cases(client, token) == []
    [held] = staff_get(client, token, "/staff/quarantine")["messages"]
    assert held["reason"] == "spam_verdict" and held["state"] == "quarantined"
    assert held["sender"] == "wang.fang@example.cn" and held["subject"] == "WIN A PRIZE"
    one = staff_get(client, token, f"/staff/quarantine/{held['quarantine_id']}")
    assert one["raw_message_url"].startswith("http")


def test_garbage_is_quarantined_never_lost(client, aws, make_token):
    result, _ = deliver(client, aws, b"\x00\x01 this is not an email at all \xff\xfe")
    assert result == {"batchItemFailures": []}
    [held] = staff_get(client, make_token(), "/staff/quarantine")["messages"]
    assert held["state"] == "quarantined" and held["reason"]


def test_too_large_messages_are_quarantined_without_parsing(client, aws, make_token, monkeypatch):
    monkeypatch.setenv("MAX_EMAIL_BYTES", "1000")
    from tests.conftest import _forget_cached_services
    from functions.intake import mail_handler

    _forget_cached_services()
    mail_handler.email_intake.cache_clear()
    deliver(client, aws, mail(body="x" * 5000))
    [held] = staff_get(client, make_token(), "/staff/quarantine")["messages"]
    assert held["reason"] == "too_large"


def test_sender_rate_limit_quarantines_and_a_manager_can_redrive(client, aws, make_token, monkeypatch):
    monkeypatch.setenv("MAX_CASES_PER_SENDER_PER_HOUR", "1")
    from tests.conftest import _forget_cached_services
    from functions.intake import mail_handler

    _forget_cached_services()
    mail_handler.email_intake.cache_clear()
    deliver(client, aws, mail(subject="first"))
    deliver(client, aws, mail(subject="second"))
    token = make_token(role="manager")
    assert [c["title"] for c in email_cases(client, token)] == ["first"]
    [held] = staff_get(client, token, "/staff/quarantine")["messages"]
    assert held["reason"] == "sender_rate_limited"

    agent = client.http.post(f"/staff/quarantine/{held['quarantine_id']}/redrive",
                             headers={"Authorization": "Bearer " + make_token(role="agent")})
    assert agent.status_code == 403
    res = client.http.post(f"/staff/quarantine/{held['quarantine_id']}/redrive",
                           headers={"Authorization": "Bearer " + token})
    assert res.status_code == 202
    again = client.http.post(f"/staff/quarantine/{held['quarantine_id']}/redrive",
                             headers={"Authorization": "Bearer " + token})
    assert again.status_code == 409
    [redrive] = notifications()
    assert client.lambda_.invoke("take_in_email", sqs_event([redrive])).payload == {"batchItemFailures": []}
    assert sorted(c["title"] for c in email_cases(client, token)) == ["first", "second"]
    [held] = staff_get(client, token, "/staff/quarantine")["messages"]
    assert held["state"] == "redriven"


def test_s3_test_events_are_acknowledged_and_ignored(client, aws):
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": aws["INBOUND_MAIL_BUCKET"]})
    assert client.lambda_.invoke("take_in_email", sqs_event([body])).payload == {"batchItemFailures": []}


def test_a_failed_store_leaves_the_message_on_the_queue(client, aws, make_token):
    from unittest import mock

    from shared.mailbox import Mailbox

    bodies = store(aws, mail())
    event = sqs_event(bodies)

    def down(self, *a, **k):
        raise RuntimeError("DynamoDB unavailable")

    with mock.patch.object(Mailbox, "message_record", down):
        whole = client.lambda_.invoke("take_in_email", event).payload
        assert whole == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        two = sqs_event(bodies + [json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})])
        partial = client.lambda_.invoke("take_in_email", two).payload
    assert partial == {"batchItemFailures": [{"itemIdentifier": two["Records"][0]["messageId"]}]}
    assert email_cases(client, make_token()) == []
    assert client.lambda_.invoke("take_in_email", event).payload == {"batchItemFailures": []}
    assert len(email_cases(client, make_token())) == 1


def test_same_sender_replying_about_an_open_case_threads_but_a_new_topic_opens_a_case(client, aws, make_token):
    deliver(client, aws, mail(subject="冷冻水饺有异味"))
    deliver(client, aws, mail(subject="回复：冷冻水饺有异味", body="还有，包装也是破的。"))
    token = make_token()
    [case] = email_cases(client, token)
    detail = staff_get(client, token, f"/staff/complaints/{case['complaint_id']}")
    assert [e["text"] for e in detail["timeline"] if e["kind"] == "customer_message"] == ["还有，包装也是破的。"]
    deliver(client, aws, mail(subject="快递员态度很差", body="送货的快递员骂人。"))
    assert sorted(c["title"] for c in email_cases(client, token)) == ["冷冻水饺有异味", "快递员态度很差"]


def test_a_redelivery_after_the_intake_died_records_what_the_first_delivery_decided(client, aws, make_token):
    """The first delivery opened the case and died before recording the message's outcome; the
    redelivery finds that case by sender and subject, yet it is no reply to it: one case, no
    customer message in its timeline, and the message recorded as the new complaint it was."""
    from unittest import mock
    from urllib.parse import unquote_plus

    from shared.mailbox import Mailbox
    from shared.store import mailbox

    bodies = store(aws, mail())
    event = sqs_event(bodies)
    real = Mailbox.record

    def dies_after_opening(self, key, outcome, *a, **k):
        if outcome == "new":
            raise TimeoutError("the function timed out")
        return real(self, key, outcome, *a, **k)

    with mock.patch.object(Mailbox, "record", dies_after_opening):
        failed = client.lambda_.invoke("take_in_email", event).payload
    assert failed == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert client.lambda_.invoke("take_in_email", event).payload == {"batchItemFailures": []}
    token = make_token()
    [case] = email_cases(client, token)
    detail = staff_get(client, token, f"/staff/complaints/{case['complaint_id']}")
    assert [e for e in detail["timeline"] if e["kind"] == "customer_message"] == []
    key = unquote_plus(json.loads(bodies[0])["Records"][0]["s3"]["object"]["key"])
    record = mailbox().message_record(key)
    assert (record["outcome"], record["reason"], record["complaint_id"]) == ("new", "new_complaint",
                                                                            case["complaint_id"])


def test_each_mail_of_a_batch_logs_under_its_own_case_number(client, aws, app_logs):
    """A batch of a new complaint then an auto-reply: the auto-reply's log lines named the complaint
    of the record before it (found in a 10,000-complaint load test's logs) - an investigation would
    look at the wrong case."""
    bodies = store(aws, mail(subject="Broken kettle")) + store(aws, mail(subject="Out of office"))
    assert client.lambda_.invoke("take_in_email", sqs_event(bodies)).payload == {"batchItemFailures": []}
    lines = [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]
    opened = next(line["complaint_id"] for line in lines if line.get("message") == "complaint received")
    ignored = [line for line in lines if line.get("message") == "email decided" and line.get("outcome") == "ignore"]
    assert len(ignored) == 1 and "complaint_id" not in ignored[0], (opened, ignored)

"""Staff alerts: a ``StaffAlertRaised`` event on the bus reaches the notifier queue (the rule), and
the notifier puts it in each recipient's inbox once and emails each recipient with an address once,
in their language, however often the event is delivered; ``GET /staff/inbox`` shows a staff member
their own alerts, and ``POST /staff/inbox/{item_id}/read`` marks one read.

Events are put on the bus with ``EventPublisher`` (as the SLA sweep does), taken from the notifier
queue and handed to the handler as Lambda would (``infra.event_pump.sqs_event``: distinct messageIds).
"""
from __future__ import annotations

import email
import json
from datetime import datetime, timedelta, timezone
from email import policy

import boto3
import pytest

from infra.event_pump import sqs_event

SENDER = "complaints@example.com"
QUEUE = "complaints-dev-notifier"
LEAD, MANAGER, AGENT = "staff-ann-lead", "staff-wang-fang", "staff-no-mail"  # make_token: "staff-" + name


# -- helpers ------------------------------------------------------------------------------------------
@pytest.fixture
def alerts(aws, client):
    """The app's client, the sender verified in moto, three staff profiles and a fresh notifier."""
    from functions.notifier import handlers
    from infra.local_outbox import verify_sender
    from shared.staff_directory import HandlerProfileIn, staff_directory

    verify_sender(boto3.client, SENDER)
    directory = staff_directory()
    directory.put_profile(LEAD, HandlerProfileIn(name="Ann Lead", email="ann.lead@example.com", language="en",
                                                 departments=["quality"]))
    directory.put_profile(MANAGER, HandlerProfileIn(name="王芳", email="wang.fang@example.com", language="zh",
                                                    departments=["quality"]))
    directory.put_profile(AGENT, HandlerProfileIn(name="No Mail", departments=["quality"]))
    handlers.staff_alerts.cache_clear()
    yield client
    handlers.staff_alerts.cache_clear()


def an_alert(complaint_id: str, **overrides):
    from shared.events import StaffAlertRaised

    now = datetime.now(timezone.utc)
    fields = dict(
        event_id=f"{complaint_id}:first_response:warn:0.8", alert_id=f"{complaint_id}:first_response:warn:0.8",
        kind="sla_warning", complaint_id=complaint_id, recipients=[LEAD], department="quality",
        clock="first_response", clock_label={"en": "First response", "zh": "首次回复"},
        due_at=(now + timedelta(hours=2, minutes=15, seconds=40)).isoformat().replace("+00:00", "Z"),
        share=0.8, priority="P1", reason="80% of the 24 h first-response target used",
        raised_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    fields.update(overrides)
    return StaffAlertRaised(**fields)


def raise_alert(alert) -> None:
    from shared.store import event_publisher

    event_publisher().publish(alert)


def queued_event() -> dict:
    """The notifier queue's messages as Lambda's SQS event (deleted, as the event source mapping does)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"]).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sqs_event(messages, arn, "us-east-1")


def notify(client, event):
    return client.lambda_.invoke("notify_customer", event).payload


def sent_emails():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [email.message_from_string(m.raw_data, policy=policy.default)
            for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]


def to(message) -> str:
    return message["To"].addresses[0].addr_spec


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def inbox_items(aws, staff_id):
    """Every item of a staff member's partition (inbox items and their guards)."""
    return boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"INBOX#{staff_id}"}})["Items"]


def delivery_log(aws, number):
    return boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :n)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":n": {"S": "NOTIFY#"}})["Items"]


def number() -> str:
    from shared.identifiers import new_complaint_number

    return new_complaint_number()


def get(client, path, token=None):
    return client.http.get(path, headers={"Authorization": "Bearer " + token} if token else {})


def post(client, path, token=None):
    headers = {"Content-Type": "application/json", **({"Authorization": "Bearer " + token} if token else {})}
    return client.http.post(path, body="", headers=headers)


# -- the bus's rule --------------------------------------------------------------------------------
def test_a_raised_alert_lands_on_the_notifier_queue(alerts):
    case = number()
    raise_alert(an_alert(case))
    [record] = queued_event()["Records"]
    envelope = json.loads(record["body"])
    assert envelope["source"] == "complaints.sla" and envelope["detail-type"] == "StaffAlertRaised"
    assert envelope["detail"]["complaint_id"] == case and envelope["detail"]["recipients"] == [LEAD]


# -- delivery ------------------------------------------------------------------------------------------
def test_each_recipient_gets_one_inbox_item_and_one_email_in_their_language(alerts, aws):
    case = number()
    raise_alert(an_alert(case, recipients=[LEAD, MANAGER, AGENT]))
    event = queued_event()
    assert notify(alerts, event) == {"batchItemFailures": []}

    by_address = {to(m): m for m in sent_emails()}
    assert set(by_address) == {"ann.lead@example.com", "wang.fang@example.com"}  # AGENT has no address
    english = by_address["ann.lead@example.com"]
    assert english["Subject"] == f"[P1] {case}: First response 80% of target used"
    assert english["Content-Language"] == "en" and english["Auto-Submitted"] == "auto-generated"
    assert english["From"].addresses[0].addr_spec == SENDER
    # a reply to an alert must not reach the complaints intake as if the customer wrote it
    assert english["Reply-To"].addresses[0].addr_spec == "no-reply@example.com"
    assert f"<{case}.staff-alert." in english["Message-ID"]
    text = text_of(english)
    for expected in ("80% of the target time", "First response", "2 h 15 min left", "UTC", "Priority: P1",
                     "80% of the 24 h first-response target used", f"/staff/complaints/{case}"):
        assert expected in text, expected

    chinese = by_address["wang.fang@example.com"]
    assert chinese["Subject"] == f"[P1] {case}：首次回复时限已用 80%"
    assert chinese["Content-Language"] == "zh-CN"
    text, html = text_of(chinese), chinese.get_body(("html",)).get_content()
    assert "剩余 2 小时 15 分钟" in text and "优先级：P1" in text and "北京时间" in text
    assert 'lang="zh-CN"' in html and f"/staff/complaints/{case}" in html

    for staff_id in (LEAD, MANAGER, AGENT):
        [item] = [i for i in inbox_items(aws, staff_id) if not i["SK"]["S"].startswith("ALERT#")]
        assert item["complaint_id"]["S"] == case and item["kind"]["S"] == "sla_warning"
        assert "read_at" not in item
    logs = {i["SK"]["S"]: i for i in delivery_log(aws, case)}
    assert set(logs) == {f"NOTIFY#{case}:first_response:warn:0.8#{LEAD}#email",
                         f"NOTIFY#{case}:first_response:warn:0.8#{MANAGER}#email"}
    assert {i["state"]["S"] for i in logs.values()} == {"sent"}
    assert {i["purpose"]["S"] for i in logs.values()} == {"staff_alert"}


def test_no_customer_data_and_no_threading_of_staff_replies(alerts, aws):
    """The inbox item holds the alert's facts only, and the alert email's Message-ID is not recorded
    as one of the case's threads (a staff member's reply is no customer message)."""
    from shared.mail_ids import message_id_key

    case = number()
    raise_alert(an_alert(case))
    notify(alerts, queued_event())
    [item] = [i for i in inbox_items(aws, LEAD) if not i["SK"]["S"].startswith("ALERT#")]
    assert set(item) <= {"PK", "SK", "expires_at", "alert_id", "kind", "complaint_id", "department", "clock",
                         "clock_label", "due_at", "share", "level", "priority", "reason", "raised_at"}
    [message] = sent_emails()
    key = {k: {"S": v} for k, v in message_id_key(message["Message-ID"]).items()}
    assert "Item" not in boto3.client("dynamodb").get_item(TableName=aws["TABLE_NAME"], Key=key)


def test_overdue_and_escalation_texts(alerts):
    case = number()
    due = datetime.now(timezone.utc) - timedelta(days=1, hours=3, minutes=10)
    alert_id = f"{case}:first_response:level:2"
    raise_alert(an_alert(case, alert_id=alert_id, event_id=alert_id, kind="escalation", level=2, share=1.5,
                         recipients=[LEAD, MANAGER], due_at=due.isoformat(), reason="escalation level 2"))
    assert notify(alerts, queued_event()) == {"batchItemFailures": []}
    by_address = {to(m): m for m in sent_emails()}
    english, chinese = by_address["ann.lead@example.com"], by_address["wang.fang@example.com"]
    assert english["Subject"] == f"[P1] {case}: escalated to you (level 2): First response overdue"
    assert "overdue by 1 d 3 h" in text_of(english)
    assert chinese["Subject"] == f"[P1] {case}：已升级给您（第 2 级）：首次回复已超时"
    assert "已超时 1 天 3 小时" in text_of(chinese)


def test_the_same_event_delivered_again_changes_nothing(alerts, aws):
    case = number()
    raise_alert(an_alert(case, recipients=[LEAD, MANAGER, AGENT]))
    event = queued_event()
    assert notify(alerts, event) == {"batchItemFailures": []}
    again = json.loads(json.dumps(event))
    again["Records"][0]["messageId"] = "redelivered-1"
    assert notify(alerts, again) == {"batchItemFailures": []}
    assert notify(alerts, event) == {"batchItemFailures": []}
    assert len(sent_emails()) == 2
    for staff_id in (LEAD, MANAGER, AGENT):
        assert len([i for i in inbox_items(aws, staff_id) if not i["SK"]["S"].startswith("ALERT#")]) == 1


def test_the_same_alert_raised_twice_is_delivered_once(alerts, aws):
    """Two SQS messages with the same alert (the sweep ran twice), one of them raised a minute later
    by an overlapping sweep: one inbox item and one email per recipient."""
    case = number()
    first = an_alert(case, recipients=[LEAD, MANAGER])
    later = first.model_copy(update={"raised_at": (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()})
    for alert in (first, first, later):
        raise_alert(alert)
    event = queued_event()
    assert len({r["messageId"] for r in event["Records"]}) == 3
    assert notify(alerts, event) == {"batchItemFailures": []}
    assert sorted(to(m) for m in sent_emails()) == ["ann.lead@example.com", "wang.fang@example.com"]
    for staff_id in (LEAD, MANAGER):
        items = inbox_items(aws, staff_id)
        assert len([i for i in items if not i["SK"]["S"].startswith("ALERT#")]) == 1


def test_unknown_recipients_are_skipped_and_logged_without_personal_data(alerts, aws, app_logs):
    case = number()
    raise_alert(an_alert(case, recipients=["staff-left-the-company", LEAD]))
    assert notify(alerts, queued_event()) == {"batchItemFailures": []}
    assert [to(m) for m in sent_emails()] == ["ann.lead@example.com"]
    assert inbox_items(aws, "staff-left-the-company") == []
    lines = [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if "not in the staff directory" in line.get("message", "")]
    assert warning["alert_id"] == f"{case}:first_response:warn:0.8" and warning["level"] == "WARNING"
    out = app_logs.getvalue()
    for secret in ("staff-left-the-company", "ann.lead@example.com", "Ann Lead", "wang.fang", "王芳"):
        assert secret not in out, secret


def test_a_failed_send_is_retried_and_sends_each_email_once(alerts, aws, monkeypatch):
    """SES refuses the manager's email on the first delivery: the lead's goes out, the record fails;
    the redelivery sends only the missing email and adds no second inbox item."""
    from botocore.exceptions import ClientError

    from functions.notifier import handlers

    case = number()
    raise_alert(an_alert(case, recipients=[LEAD, MANAGER]))
    event = queued_event()
    channel = handlers.staff_alerts()._email
    ses = channel._ses

    class FlakySes:
        @staticmethod
        def send_email(**kwargs):
            if kwargs["Destination"]["ToAddresses"] == ["wang.fang@example.com"]:
                raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "SendEmail")
            return ses.send_email(**kwargs)

    monkeypatch.setattr(channel, "_ses", FlakySes)
    message_id = event["Records"][0]["messageId"]
    assert notify(alerts, event) == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert [to(m) for m in sent_emails()] == ["ann.lead@example.com"]
    states = {i["SK"]["S"].split("#")[2]: i for i in delivery_log(aws, case)}
    assert states[LEAD]["state"]["S"] == "sent"
    assert states[MANAGER]["state"]["S"] == "failed"
    assert states[MANAGER]["error_code"]["S"] == "TooManyRequestsException"

    monkeypatch.setattr(channel, "_ses", ses)
    assert notify(alerts, event) == {"batchItemFailures": []}  # the redelivery
    assert notify(alerts, event) == {"batchItemFailures": []}
    assert sorted(to(m) for m in sent_emails()) == ["ann.lead@example.com", "wang.fang@example.com"]
    states = {i["SK"]["S"].split("#")[2]: i for i in delivery_log(aws, case)}
    assert states[MANAGER]["state"]["S"] == "sent" and int(states[MANAGER]["attempts"]["N"]) == 2
    assert int(states[LEAD]["attempts"]["N"]) == 1
    for staff_id in (LEAD, MANAGER):
        assert len([i for i in inbox_items(aws, staff_id) if not i["SK"]["S"].startswith("ALERT#")]) == 1


def test_a_malformed_alert_is_retried_and_other_sources_are_ignored(alerts, aws):
    def record(body, message_id):
        return {"messageId": message_id, "receiptHandle": "r", "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
                "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
                "awsRegion": "us-east-1"}

    no_recipients = {"source": "complaints.sla", "detail-type": "StaffAlertRaised", "detail": {"alert_id": "x"}}
    bad_number = {"source": "complaints.sla", "detail-type": "StaffAlertRaised",
                  "detail": an_alert("C000000000").model_dump(exclude={"detail_type"})}
    bad_due = {"source": "complaints.sla", "detail-type": "StaffAlertRaised",
               "detail": {**an_alert(number()).model_dump(exclude={"detail_type"}), "due_at": "soon"}}
    other = {"source": "complaints.sla", "detail-type": "SweepFinished", "detail": {}}
    event = {"Records": [record(no_recipients, "m-1"), record(bad_number, "m-2"), record(bad_due, "m-3"),
                         record(other, "m-4")]}
    assert notify(alerts, event) == {"batchItemFailures": [{"itemIdentifier": m} for m in ("m-1", "m-2", "m-3")]}
    assert sent_emails() == [] and inbox_items(aws, LEAD) == []


# -- the inbox API --------------------------------------------------------------------------------------
def fill_inbox(staff_id, count, *, start=None):
    """``count`` alerts, a minute apart, oldest first; returns their alert ids."""
    from shared.inbox import InboxItem, staff_inbox

    start = start or datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
    inbox, ids = staff_inbox(), []
    for i in range(count):
        alert = an_alert(number(), raised_at=(start + timedelta(minutes=i)).isoformat(), recipients=[staff_id])
        assert inbox.put(staff_id, InboxItem.of(alert)) is True
        assert inbox.put(staff_id, InboxItem.of(alert)) is False  # idempotent
        ids.append(alert.alert_id)
    return ids


def test_the_inbox_needs_a_token(alerts):
    assert get(alerts, "/staff/inbox").status_code == 401
    assert post(alerts, "/staff/inbox/abc/read").status_code == 401


def test_the_inbox_shows_only_the_callers_alerts_newest_first(alerts, make_token):
    mine = fill_inbox(LEAD, 3)
    fill_inbox(MANAGER, 2)
    res = get(alerts, "/staff/inbox", make_token(name="Ann Lead", role="lead"))
    assert res.status_code == 200, res.body
    body = json.loads(res.body)
    assert [i["alert_id"] for i in body["items"]] == mine[::-1] and body["next_cursor"] is None
    first = body["items"][0]
    assert set(first) == {"item_id", "alert_id", "kind", "complaint_id", "department", "clock", "clock_label",
                          "due_at", "share", "level", "priority", "reason", "raised_at", "read_at"}
    assert first["raised_at"] == "2025-05-01T08:02:00.000Z" and first["read_at"] is None
    assert first["share"] == 0.8 and first["clock_label"] == {"en": "First response", "zh": "首次回复"}
    nobody = json.loads(get(alerts, "/staff/inbox", make_token(name="Someone Else")).body)
    assert nobody == {"items": [], "next_cursor": None}


def test_the_inbox_pages_with_a_cursor_and_refuses_bad_queries(alerts, make_token):
    ids = fill_inbox(LEAD, 5)
    token = make_token(name="Ann Lead")
    seen, cursor, pages = [], None, 0
    while True:
        res = get(alerts, "/staff/inbox?limit=2" + (f"&cursor={cursor}" if cursor else ""), token)
        assert res.status_code == 200, res.body
        body = json.loads(res.body)
        seen += [i["alert_id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1] and pages == 3
    for query, field in (("cursor=not-a-cursor", "cursor"), ("cursor=eyJzayI6IkFMRVJUI3gifQ", "cursor"),
                         ("limit=0", "limit"), ("limit=101", "limit"), ("unread=yes", "unread"),
                         ("status=open", "status")):
        res = get(alerts, f"/staff/inbox?{query}", token)
        assert res.status_code == 400, query
        body = json.loads(res.body)
        assert body["error"] == "invalid_query" and body["details"][0]["field"] == field, query


def unread_pages(client, token, limit):
    seen, cursor, pages = [], None, 0
    while True:
        res = get(client, f"/staff/inbox?unread=true&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), token)
        assert res.status_code == 200, res.body
        body = json.loads(res.body)
        seen += [i["alert_id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return seen, pages


def test_marking_read_and_the_unread_filter(alerts, make_token, monkeypatch):
    ids = fill_inbox(LEAD, 5)
    fill_inbox(MANAGER, 1)
    lead, manager = make_token(name="Ann Lead"), make_token(name="Wang Fang")
    items = json.loads(get(alerts, "/staff/inbox", lead).body)["items"]
    by_alert = {i["alert_id"]: i["item_id"] for i in items}

    read = {}
    for alert_id in (ids[4], ids[2], ids[1]):
        res = post(alerts, f"/staff/inbox/{by_alert[alert_id]}/read", lead)
        assert res.status_code == 200, res.body
        read[alert_id] = json.loads(res.body)
        assert read[alert_id]["alert_id"] == alert_id and read[alert_id]["read_at"]
    again = json.loads(post(alerts, f"/staff/inbox/{by_alert[ids[4]]}/read", lead).body)
    assert again == read[ids[4]]  # the first read counts

    unread = json.loads(get(alerts, "/staff/inbox?unread=true", lead).body)
    assert [i["alert_id"] for i in unread["items"]] == [ids[3], ids[0]]
    assert unread_pages(alerts, lead, 1) == ([ids[3], ids[0]], 2)  # pages of one, read items in between
    monkeypatch.setattr("shared.inbox.MAX_ROUNDS", 1)  # a call reads one Query page, then hands back a cursor
    seen, pages = unread_pages(alerts, lead, 1)
    assert seen == [ids[3], ids[0]] and pages > 2
    everything = json.loads(get(alerts, "/staff/inbox?unread=false", lead).body)["items"]
    assert [bool(i["read_at"]) for i in everything] == [True, False, True, True, False]

    # another staff member's item, or anything that is not an item id, is not found
    assert post(alerts, f"/staff/inbox/{by_alert[ids[3]]}/read", manager).status_code == 404
    for bogus in ("nope", "QUxFUlQjeA", "%2e%2e"):
        res = post(alerts, f"/staff/inbox/{bogus}/read", lead)
        assert res.status_code == 404 and json.loads(res.body)["error"] == "not_found", bogus
    assert json.loads(get(alerts, "/staff/inbox?unread=true", lead).body)["items"][0]["alert_id"] == ids[3]


def test_delivered_alerts_show_in_the_recipients_inbox(alerts, make_token):
    case = number()
    raise_alert(an_alert(case, recipients=[MANAGER]))
    notify(alerts, queued_event())
    body = json.loads(get(alerts, "/staff/inbox?unread=true", make_token(name="Wang Fang")).body)
    [item] = body["items"]
    assert item["complaint_id"] == case and item["kind"] == "sla_warning" and item["priority"] == "P1"
    assert json.loads(get(alerts, "/staff/inbox", make_token(name="Ann Lead")).body)["items"] == []

"""The workflow's case events reach the people concerned.

Customers: a reply, a request for information, a proposed resolution, the resolution and the closure
each reach the customer once, by email in their language and in the case's mail thread (else by SMS,
else nowhere), with links that open the case. Staff: the events addressed to them land in their
inbox, and by email or SMS as their preferences say; quiet hours hold non-urgent messages back until
they end (the message comes back then, through the event pump as in the local stack); nobody is told
of their own action.

Cases are submitted through the API and moved by the repository (as the workflow's transitions
write them); events are put on the bus with ``EventPublisher`` (the rule routes them to the notifier
queue), taken from the queue and handed to the handler as Lambda would (``infra.event_pump.sqs_event``).
"""
from __future__ import annotations

import email
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from email import policy

import boto3
import pytest

from infra.event_pump import sqs_event
from shared.lifecycle import Status
from tests.support import a_complaint, post_json, record_postponements

SENDER = "complaints@example.com"
QUEUE = "complaints-dev-notifier"
AGENT, LEAD, MANAGER = "staff-li-wei", "staff-ann-lead", "staff-wang-fang"  # make_token: "staff-" + name
AGENT_MAIL, LEAD_MAIL, MANAGER_MAIL = "li.wei.agent@example.com", "ann.lead@example.com", "wang.fang@example.com"
REPLY = "Please send a photo of the label <b>and</b> the receipt & we will test the batch."


# -- helpers ------------------------------------------------------------------------------------------
@pytest.fixture
def world(aws, client):
    """The app's client, the sender verified, three staff profiles and a routing configuration that
    names quality's lead (Ann) and manager (Wang Fang)."""
    from infra.local_outbox import verify_sender
    from shared.config_store import bundled, config_store
    from shared.staff_directory import HandlerProfileIn, staff_directory

    verify_sender(boto3.client, SENDER)
    directory = staff_directory()
    directory.put_profile(AGENT, HandlerProfileIn(name="Li Wei", email=AGENT_MAIL, language="zh",
                                                  departments=["quality"]))
    directory.put_profile(LEAD, HandlerProfileIn(name="Ann <Lead>", email=LEAD_MAIL, language="en",
                                                 departments=["quality"]))
    directory.put_profile(MANAGER, HandlerProfileIn(name="王芳", email=MANAGER_MAIL, language="zh",
                                                    departments=["quality"]))
    routing = bundled("routing").config.model_dump(mode="json", exclude_none=True)
    for dept in routing["departments"]:
        if dept["department_id"] == "quality":
            dept.update(lead=LEAD, manager=MANAGER)
    config_store().save("routing", routing, expected_version=0, actor="test")
    return client


def queued_event(delete: bool = True) -> dict:
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


def deliver(client) -> dict:
    """Take what waits on the notifier queue and hand it to the notifier; its partial batch response."""
    event = queued_event()
    assert event["Records"], "nothing on the notifier queue"
    return notify(client, event)


def sent_emails(to: str | None = None):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    found = [email.message_from_string(m.raw_data, policy=policy.default)
             for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]
    return [m for m in found if to is None or m["To"].addresses[0].addr_spec == to]


def sent_sms():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def parts(message):
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def token_in(text: str) -> str:
    match = re.search(r"/track\?id=C[0-9A-Z]{9}[^#\s\"]*#token=([A-Za-z0-9_\-%]+)", text)
    assert match, text
    return match[1]


def opens_the_case(client, number: str, token: str) -> bool:
    return client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": token}).status_code == 200


def log_items(aws, number: str) -> dict[str, dict]:
    items = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND begins_with(SK, :n)",
        ExpressionAttributeValues={":pk": {"S": f"CASE#{number}"}, ":n": {"S": "NOTIFY#"}})["Items"]
    return {i["SK"]["S"]: i for i in items}


def inbox(aws, staff_id: str) -> list[dict]:
    items = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk AND SK < :guards",
        ExpressionAttributeValues={":pk": {"S": f"INBOX#{staff_id}"}, ":guards": {"S": "ALERT#"}})["Items"]
    return items


def open_case(client, customer: dict | None = None, **fields) -> str:
    """A submitted case (acknowledged), routed to quality and assigned to the agent."""
    body = a_complaint()
    if customer is not None:
        body["customer"] = customer
    number = json.loads(post_json(client, "/complaints", body).body)["complaint_id"]
    assert deliver(client) == {"batchItemFailures": []}  # the acknowledgement
    move(number, status=Status.IN_PROGRESS, department="quality", assignee=AGENT, priority="P2",
         category="food_safety", **fields)
    return number


def move(number: str, entries=(), **changes):
    """A transition as the workflow writes it: the case with its version raised, and its entries."""
    from shared.clock import now
    from shared.store import complaint_repository

    repo = complaint_repository()
    case, _ = repo.get(number)
    changed = case.model_copy(update={"version": case.version + 1, "updated_at": now(), **changes})
    repo.save(changed, list(entries), expected_version=case.version)
    return changed


def announce(number: str, kind: str, *, actor: str = f"staff:{AGENT}", entries=(), changes=None, **fields):
    """Move the case and publish the event of ``kind`` (on the bus, to the notifier queue)."""
    from shared.clock import now
    from shared.events import CaseEvent
    from shared.store import event_publisher

    at = now()
    case = move(number, [e.model_copy(update={"at": at}) for e in entries], **(changes or {}))
    event = CaseEvent.of(case, kind, actor=actor, at=at, **fields)
    event_publisher().publish(event)
    return event


def staff_reply(text: str = REPLY, **details):
    from shared.models import TimelineEntry, TimelineKind

    return TimelineEntry(at=datetime.now(timezone.utc), kind=TimelineKind.STAFF_REPLY, actor=f"staff:{AGENT}",
                         text=text, details=details)


def a_plan(plan_id: str = "plan-1", state: str = "proposed"):
    from shared.models import PlanComponent, ResolutionPlan

    return ResolutionPlan(
        plan_id=plan_id, proposed_by=AGENT, proposed_at=datetime.now(timezone.utc), state=state,
        components=[PlanComponent(type="refund", amount=Decimal("1280.5"), currency="CNY"),
                    PlanComponent(type="replacement", description="a new bag <from batch B2412>")],
        explanation="The cold chain broke in transit.")


# -- the customer's side --------------------------------------------------------------------------------
WORDS = {
    "en": {"staff_replied": "A reply to your complaint", "information_requested": "We need more information",
           "resolution_proposed": "Our proposal to resolve your complaint", "resolved": "please confirm",
           "closed": "Your complaint is closed", "refund": "Refund: 1,280.50 CNY", "confirm_by": "UTC",
           "survey": "Rate our service", "greeting": "Dear Ann Lee"},
    "zh": {"staff_replied": "关于您投诉的回复", "information_requested": "请补充投诉相关信息",
           "resolution_proposed": "您投诉的处理方案", "resolved": "请确认", "closed": "您的投诉已结案",
           "refund": "退款：1,280.50 CNY", "confirm_by": "北京时间", "survey": "为服务评分", "greeting": "Ann Lee，您好"},
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_customer_event_reaches_the_customer_once_in_their_language_and_thread(world, aws, language):
    from shared.events import CustomerReplied
    from shared.store import event_publisher

    number = open_case(world, {"name": "Ann Lee", "email": "ann@example.com", "preferred_language": language})
    [ack] = sent_emails()
    words = WORDS[language]

    def customer_email(kind: str):
        message = sent_emails("ann@example.com")[-1]
        assert message["Subject"].startswith(f"[{number}] ") and words[kind] in message["Subject"]
        assert message["Content-Language"] == ("zh-CN" if language == "zh" else "en")
        assert f"<{number}.{kind.replace('_', '-')}." in message["Message-ID"]
        text, html = parts(message)
        assert words["greeting"] in text
        token = token_in(text)
        assert opens_the_case(world, number, token), kind  # a token minted for this message
        return message, text, html

    # the handler replies: quoted, shown and never interpreted in HTML, in the acknowledgement's thread
    announce(number, "staff_replied", entries=[staff_reply()])
    assert deliver(world) == {"batchItemFailures": []}
    message, text, html = customer_email("staff_replied")
    assert REPLY in text
    assert "<b>and</b>" not in html and "&lt;b&gt;and&lt;/b&gt; the receipt &amp; we" in html
    assert message["In-Reply-To"] == ack["Message-ID"] and message["References"] == ack["Message-ID"]

    # a question: the case waits on the customer
    question = "Which shop did you buy it in?"
    announce(number, "information_requested", entries=[staff_reply(question, requests_information=True)],
             changes={"status": Status.WAITING_ON_CUSTOMER})
    assert deliver(world) == {"batchItemFailures": []}
    message, text, _ = customer_email("information_requested")
    assert question in text and message["In-Reply-To"] == ack["Message-ID"]

    # the customer answers by email: acknowledged in their thread; later emails answer their message
    event_publisher().publish(CustomerReplied(event_id=f"{number}:reply:1", complaint_id=number,
                                              message_id="<answer.1@mail.example.net>",
                                              received_at="2026-11-24T02:00:00.000Z"))
    assert deliver(world) == {"batchItemFailures": []}
    assert sent_emails("ann@example.com")[-1]["In-Reply-To"] == "<answer.1@mail.example.net>"

    # the plan, with the links to accept or dispute it
    announce(number, "resolution_proposed", changes={"plan": a_plan(), "status": Status.RESOLUTION_PROPOSED},
             data={"plan_id": "plan-1"})
    assert deliver(world) == {"batchItemFailures": []}
    message, text, html = customer_email("resolution_proposed")
    assert message["In-Reply-To"] == "<answer.1@mail.example.net>"
    assert message["References"].split() == [ack["Message-ID"], "<answer.1@mail.example.net>"]
    assert words["refund"] in text and "The cold chain broke in transit." in text
    assert "&lt;from batch B2412&gt;" in html and "<from batch" not in html
    assert "respond=accept#token=" in text and "respond=dispute#token=" in text

    # resolved: asked to confirm by the deadline, in their language
    due = datetime(2026, 12, 1, 2, 30, tzinfo=timezone.utc)
    announce(number, "resolved", changes={"status": Status.RESOLVED, "confirmation_due_at": due})
    assert deliver(world) == {"batchItemFailures": []}
    _, text, _ = customer_email("resolved")
    assert (("北京时间 2026年12月1日 10:30" if language == "zh" else "1 December 2026, 02:30 UTC") in text)

    # closed after confirming: thanks, and the survey link (the tracking page with survey=1)
    announce(number, "closed", actor="customer", changes={"status": Status.CLOSED, "closure": "confirmed"},
             data={"closure": "confirmed", "survey": True})
    assert deliver(world) == {"batchItemFailures": []}
    _, text, html = customer_email("closed")
    assert words["survey"] in html
    survey = re.search(r"(http\S+&survey=1#token=\S+)", text)[1]
    assert survey.startswith(f"http://127.0.0.1:8000/track?id={number}&survey=1#token=")
    assert opens_the_case(world, number, survey.rsplit("#token=", 1)[1])

    assert len(sent_emails("ann@example.com")) == 7  # ack, 5 events, the reply's acknowledgement
    assert {i["state"]["S"] for i in log_items(aws, number).values()} == {"sent"}


def test_a_rejected_case_closes_without_a_survey(world):
    number = open_case(world, {"name": "Ann Lee", "email": "ann@example.com", "preferred_language": "en"})
    announce(number, "closed", entries=[staff_reply("This product is not one of ours.")],
             changes={"status": Status.REJECTED, "closure": "rejected"}, data={"closure": "rejected", "survey": False})
    assert deliver(world) == {"batchItemFailures": []}
    message = sent_emails("ann@example.com")[-1]
    text, html = parts(message)
    assert "We have closed your complaint." in text and "This product is not one of ours." in text
    assert "survey=1" not in text and "Rate our service" not in html


def test_phone_only_customers_get_a_short_sms_once(world, aws):
    number = open_case(world, {"name": "Li Wei", "phone": "+86 138 0013 8000", "preferred_language": "zh"})
    case_event = announce(number, "information_requested", entries=[staff_reply("请问您在哪家门店购买的？")])
    event = queued_event()
    assert notify(world, event) == {"batchItemFailures": []}
    assert notify(world, event) == {"batchItemFailures": []}  # redelivered: still one SMS
    assert sent_emails() == []
    ack, (phone, text) = sent_sms()
    assert phone == "+8613800138000" and number in text and "补充信息" in text and len(text) < 200
    assert "门店" not in text  # the question itself is on the tracking page, not in an SMS
    assert opens_the_case(world, number, token_in(text))
    assert log_items(aws, number)[f"NOTIFY#{case_event.event_id}#sms"]["state"]["S"] == "sent"


def test_customers_we_cannot_reach_are_skipped(world, aws):
    number = open_case(world, {"name": "Li Wei", "phone": "139 0013 9000"})  # no country code, none configured
    event = announce(number, "staff_replied", entries=[staff_reply()])
    assert deliver(world) == {"batchItemFailures": []}
    assert sent_emails() == [] and sent_sms() == []
    item = log_items(aws, number)[f"NOTIFY#{event.event_id}#none"]
    assert item["state"]["S"] == "skipped" and item["reason"]["S"] == "phone number not in international format"


def test_a_redelivered_event_sends_one_email(world, aws):
    number = open_case(world, {"name": "Ann Lee", "email": "ann@example.com"})
    announce(number, "staff_replied", entries=[staff_reply()])
    event = queued_event()
    again = json.loads(json.dumps(event))
    again["Records"][0]["messageId"] = "redelivered-1"
    for delivery in (event, again, event):
        assert notify(world, delivery) == {"batchItemFailures": []}
    assert len(sent_emails("ann@example.com")) == 2  # the acknowledgement and one reply


def test_a_plan_replaced_before_the_event_arrives_is_not_sent(world, aws):
    number = open_case(world, {"name": "Ann Lee", "email": "ann@example.com"})
    event = announce(number, "resolution_proposed", changes={"plan": a_plan("plan-1")}, data={"plan_id": "plan-1"})
    move(number, plan=a_plan("plan-2"))  # a newer plan: its own event will speak
    assert deliver(world) == {"batchItemFailures": []}
    assert len(sent_emails("ann@example.com")) == 1
    assert log_items(aws, number)[f"NOTIFY#{event.event_id}#none"]["reason"]["S"] == "plan_superseded"


# -- the staff's side -------------------------------------------------------------------------------------
def set_preferences(client, make_token, name: str, role: str = "agent", **body):
    res = client.http.put("/staff/me/preferences", body=json.dumps(body),
                          headers={"Authorization": "Bearer " + make_token(role=role, name=name),
                                   "Content-Type": "application/json"})
    assert res.status_code == 200, res.body
    return json.loads(res.body)


def test_staff_events_reach_the_inbox_always_and_email_or_sms_as_each_person_prefers(world, aws, make_token):
    from shared.events import CaseEvent
    from shared.store import event_publisher

    set_preferences(world, make_token, "Ann Lead", role="lead", email=False, sms=True, phone="+86 139 0013 9000")
    set_preferences(world, make_token, "Wang Fang", role="manager", muted_kinds=["task_assigned"])
    number = open_case(world)
    from shared.models import InvestigationTask

    task = InvestigationTask(task_id="task-1", department="quality", title="Test batch <B2411>", assignee=None,
                             due_at=datetime(2026, 12, 1, tzinfo=timezone.utc), opened_by=AGENT,
                             opened_at=datetime.now(timezone.utc))
    # the agent opens a task: the lead hears of it (no one named); the manager, named too, muted the kind
    event = announce(number, "task_assigned", changes={"tasks": [task]}, recipients=[LEAD, MANAGER, AGENT],
                     data={"task_id": "task-1"})
    assert deliver(world) == {"batchItemFailures": []}

    assert sent_emails(LEAD_MAIL) == [] and sent_emails(MANAGER_MAIL) == []  # email off / muted
    assert sent_emails(AGENT_MAIL) == []  # the actor is not told of their own action
    [(phone, text)] = [s for s in sent_sms() if s[0] == "+8613900139000"]
    assert text == f"[P2] {number}: an investigation task for you. http://127.0.0.1:8000/staff/complaints/{number}"
    for staff_id in (LEAD, MANAGER):
        [item] = inbox(aws, staff_id)
        assert item["alert_id"]["S"] == event.event_id and item["kind"]["S"] == "task_assigned"
        assert item["source"]["S"] == "workflow" and item["due_at"]["S"] == "2026-12-01T00:00:00.000Z"
    assert inbox(aws, AGENT) == []

    # the lead's inbox through the API, with the event's facts
    res = world.http.get("/staff/inbox", headers={"Authorization": "Bearer " + make_token(role="lead", name="Ann Lead")})
    [shown] = json.loads(res.body)["items"]
    assert shown["kind"] == "task_assigned" and shown["complaint_id"] == number and shown["source"] == "workflow"
    assert shown["data"] == {"task_id": "task-1"} and shown["actor"] == f"staff:{AGENT}"

    # the task is done: the case's assignee (the agent) hears of it by email, in Chinese
    done = task.model_copy(update={"state": "done", "outcome": "Cold chain broken", "closed_by": LEAD})
    announce(number, "task_closed", actor=f"staff:{LEAD}", changes={"tasks": [done]}, data={"task_id": "task-1"})
    assert deliver(world) == {"batchItemFailures": []}
    [message] = sent_emails(AGENT_MAIL)
    assert message["Subject"] == f"[P2] {number}：调查任务已完成"
    text, html = parts(message)
    assert "Test batch <B2411>" in text and "Test batch &lt;B2411&gt;" in html and "Ann &lt;Lead&gt;" in html
    assert "Cold chain broken" in text and message["Reply-To"].addresses[0].addr_spec == "no-reply@example.com"
    assert message["Auto-Submitted"] == "auto-generated" and f"<{number}.staff-task-closed." in message["Message-ID"]
    logs = log_items(aws, number)
    assert logs[f"NOTIFY#{event.event_id}#{LEAD}#sms"]["state"]["S"] == "sent"
    assert f"NOTIFY#{event.event_id}#{LEAD}#email" not in logs

    # a redelivery changes nothing
    event_publisher().publish(CaseEvent.model_validate(event.model_dump()))
    assert deliver(world) == {"batchItemFailures": []}
    assert len(sent_sms()) == 1 and len(inbox(aws, LEAD)) == 1  # (+ no ack SMS: the customer has an email)


def test_default_recipients_by_kind(world, aws):
    """With nobody named: an escalation goes to the department's lead (and its manager from level 2),
    a disputed resolution to the assignee and the lead, a customer's reply to the assignee."""
    number = open_case(world)
    announce(number, "escalated", actor="system", data={"level": 2})
    announce(number, "disputed", actor="customer")
    announce(number, "customer_replied", actor="customer", data={"channel": "web"})
    assert deliver(world) == {"batchItemFailures": []}
    kinds = {staff_id: sorted(i["kind"]["S"] for i in inbox(aws, staff_id)) for staff_id in (AGENT, LEAD, MANAGER)}
    assert kinds == {AGENT: ["customer_replied", "disputed"], LEAD: ["disputed", "escalated"], MANAGER: ["escalated"]}
    assert {m["Subject"] for m in sent_emails(MANAGER_MAIL)} == {f"[P2] {number}：已升级至您处理（第 2 级）"}


def test_a_customer_email_reply_is_acknowledged_and_the_assignee_told(world, aws):
    from shared.events import CustomerReplied
    from shared.store import event_publisher

    number = open_case(world, {"name": "Ann Lee", "email": "ann@example.com", "preferred_language": "en"})
    event_publisher().publish(CustomerReplied(event_id=f"{number}:reply:abc", complaint_id=number,
                                              message_id="<r1@mail.example.net>", received_at="2026-11-24T02:00:00.000Z"))
    event = queued_event()
    assert notify(world, event) == {"batchItemFailures": []}
    assert notify(world, event) == {"batchItemFailures": []}
    [reply_ack] = sent_emails("ann@example.com")[1:]
    assert reply_ack["In-Reply-To"] == "<r1@mail.example.net>"
    [told] = sent_emails(AGENT_MAIL)
    assert told["Subject"] == f"[P2] {number}：客户有新回复" and "（邮件）" in parts(told)[0]
    [item] = inbox(aws, AGENT)
    assert item["alert_id"]["S"] == f"{number}:reply:abc:staff" and item["actor"]["S"] == "customer"


# -- quiet hours ---------------------------------------------------------------------------------------------
@pytest.fixture
def clock():
    from shared.clock import set_clock

    now = [datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)]  # 23:00 in Shanghai
    set_clock(lambda: now[0])
    yield now
    set_clock(None)


QUIET = {"start": "22:00", "end": "07:30", "time_zone": "Asia/Shanghai"}


def test_quiet_hours_defer_an_email_until_they_end_and_the_pump_brings_it_back(world, aws, make_token, clock,
                                                                                monkeypatch):
    from chalice.app import SQSEventConfig

    from functions.app import app
    from infra.event_pump import EventPump

    postponed = record_postponements(monkeypatch)
    set_preferences(world, make_token, "Ann Lead", role="lead", quiet_hours=QUIET)
    number = open_case(world)
    event = announce(number, "assigned", actor=f"staff:{MANAGER}", recipients=[LEAD],
                     changes={"assignee": LEAD})
    sqs = boto3.client("sqs")
    pump = EventPump(app, sqs, stage="dev", wait_seconds=0)
    source = next(s for s in pump.sqs_sources() if isinstance(s, SQSEventConfig) and s.queue == QUEUE)

    assert pump.poll_once(source, wait_seconds=0) == 1
    assert sent_emails(LEAD_MAIL) == []  # 23:00 in Shanghai: not now
    assert len(inbox(aws, LEAD)) == 1  # the inbox has it at once
    item = log_items(aws, number)[f"NOTIFY#{event.event_id}#{LEAD}#email"]
    assert item["state"]["S"] == "deferred" and item["deferred_until"]["S"] == "2026-11-24T23:30:00.000Z"
    [(receipt, until, seconds)] = postponed
    assert until == datetime(2026, 11, 24, 23, 30, tzinfo=timezone.utc) and seconds == 8 * 3600 + 30 * 60
    assert pump.poll_once(source, wait_seconds=0) == 0  # invisible until the quiet hours end

    # 07:31 in Shanghai; moto's clock is the wall clock, so the wait is over by making the message visible
    clock[0] = datetime(2026, 11, 24, 23, 31, tzinfo=timezone.utc)
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    assert pump.poll_once(source, wait_seconds=0) == 1
    [message] = sent_emails(LEAD_MAIL)
    assert message["Subject"] == f"[P2] {number}: assigned to you" and "by 王芳" in parts(message)[0]
    assert len(inbox(aws, LEAD)) == 1 and len(postponed) == 1
    assert log_items(aws, number)[f"NOTIFY#{event.event_id}#{LEAD}#email"]["state"]["S"] == "sent"
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None  # done and deleted


def test_urgent_events_ignore_quiet_hours(world, aws, make_token, clock):
    set_preferences(world, make_token, "Ann Lead", role="lead", quiet_hours=QUIET, muted_kinds=["approval_needed"])
    number = open_case(world)
    announce(number, "escalated", actor=f"staff:{AGENT}", recipients=[LEAD], data={"level": 1})
    announce(number, "approval_needed", recipients=[LEAD], changes={"priority": "P1", "plan": a_plan()})
    announce(number, "reopened", recipients=[LEAD], urgent=True)
    assert deliver(world) == {"batchItemFailures": []}
    subjects = sorted(m["Subject"] for m in sent_emails(LEAD_MAIL))
    assert subjects == [f"[P1] {number}: a resolution plan needs your approval", f"[P1] {number}: reopened",
                        f"[P2] {number}: escalated to you (level 1)"]
    text = parts(next(m for m in sent_emails(LEAD_MAIL) if "approval" in m["Subject"]))[0]
    assert "Refund: 1,280.50 CNY" in text and "Replacement" in text


def test_a_deferred_message_goes_out_rather_than_to_the_dead_letter_queue(world, aws, make_token, clock, monkeypatch):
    """From the QUIET_HOURS_MAX_RECEIVES-th delivery of a message on, nothing is deferred any more."""
    set_preferences(world, make_token, "Ann Lead", role="lead", quiet_hours=QUIET)
    number = open_case(world)
    announce(number, "assigned", actor=f"staff:{MANAGER}", recipients=[LEAD])
    event = queued_event()
    first = event["Records"][0]["messageId"]
    assert notify(world, event) == {"batchItemFailures": [{"itemIdentifier": first}]}
    assert sent_emails(LEAD_MAIL) == []
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "4"
    assert notify(world, event) == {"batchItemFailures": []}
    assert len(sent_emails(LEAD_MAIL)) == 1


# -- the consumer's contract ----------------------------------------------------------------------------------
def _record(body: str, message_id: str) -> dict:
    return {"messageId": message_id, "receiptHandle": "r", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{QUEUE}",
            "awsRegion": "us-east-1"}


def test_malformed_case_events_are_retried_and_unknown_kinds_ignored(world, app_logs):
    envelope = {"source": "complaints.workflow", "detail-type": "CaseEvent"}
    malformed = json.dumps({**envelope, "detail": {"complaint_id": "C332M4QX9W", "kind": "staff_replied"}})
    not_a_number = json.dumps({**envelope, "detail": {"event_id": "x", "complaint_id": "nope", "kind": "assigned",
                                                      "version": 2, "at": "2026-11-24T02:00:00.000Z",
                                                      "actor": "system"}})
    unknown = json.dumps({**envelope, "detail": {"event_id": "C332M4QX9W:archived:v9", "complaint_id": "C332M4QX9W",
                                                 "kind": "archived", "version": 9, "at": "2026-11-24T02:00:00.000Z",
                                                 "actor": "system"}})
    answer = notify(world, {"Records": [_record(malformed, "m-1"), _record(not_a_number, "m-2"),
                                        _record(unknown, "m-3")]})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert any('"kind":"archived"' in line.replace(" ", "") and "unknown kind" in line
               for line in app_logs.getvalue().splitlines())


def test_notices_log_no_personal_data(world, make_token, app_logs):
    set_preferences(world, make_token, "Ann Lead", role="lead", sms=True, phone="+8613900139000")
    number = open_case(world, {"name": "Zhang San", "email": "zhang@example.com"})
    announce(number, "staff_replied", entries=[staff_reply()])
    announce(number, "escalated", recipients=[LEAD])
    assert deliver(world) == {"batchItemFailures": []}
    out = app_logs.getvalue()
    assert "staff notice sent" in out and "notification sent" in out
    for secret in ("zhang@example.com", "Zhang San", "13900139000", "ann.lead@example.com", "Ann <Lead>",
                   "receipt", "token="):
        assert secret not in out, secret


# -- preferences ---------------------------------------------------------------------------------------------
def test_preferences_are_each_persons_own_and_validated(world, aws, make_token):
    headers = {"Authorization": "Bearer " + make_token(role="agent", name="Li Wei"), "Content-Type": "application/json"}
    res = world.http.get("/staff/me/preferences", headers=headers)
    assert res.status_code == 200
    assert json.loads(res.body) == {"email": True, "sms": False, "phone": None, "quiet_hours": None,
                                    "muted_kinds": [], "version": 0, "updated_at": None}

    saved = set_preferences(world, make_token, "Li Wei", email=True, sms=True, phone="+86 138-0013-8000",
                            quiet_hours={"start": "22:00", "end": "07:30", "time_zone": "Asia/Shanghai"},
                            muted_kinds=["task_closed", "task_closed"])
    assert saved["phone"] == "+8613800138000" and saved["muted_kinds"] == ["task_closed"] and saved["version"] == 1
    assert json.loads(world.http.get("/staff/me/preferences", headers=headers).body) == saved
    other = {"Authorization": "Bearer " + make_token(role="manager", name="Wang Fang")}
    assert json.loads(world.http.get("/staff/me/preferences", headers=other).body)["phone"] is None

    # the phone is stored encrypted, like customers' contact data
    raw = boto3.client("dynamodb").get_item(TableName=aws["TABLE_NAME"],
                                            Key={"PK": {"S": f"STAFF#{AGENT}"}, "SK": {"S": "PREFERENCES"}})["Item"]
    assert "phone" not in raw and "13800138000" not in json.dumps(raw) and "phone_enc" in raw

    bad = {
        "quiet_hours": ({"quiet_hours": "not hours"}, "quiet_hours"),
        "time zone": ({"quiet_hours": {"start": "22:00", "end": "07:30", "time_zone": "Mars/Olympus"}},
                      "quiet_hours.time_zone"),
        "hour": ({"quiet_hours": {"start": "24:00", "end": "07:30", "time_zone": "UTC"}}, "quiet_hours.start"),
        "no phone": ({"sms": True}, "body"),
        "national number": ({"phone": "138 0013 8000"}, "phone"),
        "urgent kind": ({"muted_kinds": ["escalated"]}, "muted_kinds"),
        "unknown kind": ({"muted_kinds": ["lunch"]}, "muted_kinds.0"),
        "not a flag": ({"email": "yes"}, "email"),
        "unknown field": ({"pager": True}, "pager"),
    }
    for name, (body, field) in bad.items():
        res = world.http.put("/staff/me/preferences", body=json.dumps(body), headers=headers)
        assert res.status_code == 422, name
        answer = json.loads(res.body)
        assert answer["error"] == "validation_failed" and field in {d["field"] for d in answer["details"]}, (name, answer)
    assert json.loads(world.http.get("/staff/me/preferences", headers=headers).body) == saved  # unchanged

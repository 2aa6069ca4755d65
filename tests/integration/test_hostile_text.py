"""Hostile text is data everywhere: HTML never becomes markup, spreadsheet formulas never run, line
breaks never become mail headers - in every text field a request can carry.

:data:`STEPS` is the whole story as data: three complaints full of payloads come in through the form API
(``POST /complaints``), are classified and assigned by the router's functions, and are worked through
every workflow action, task, correction, assignment and transfer of the staff API, answered by the
customer (message, dispute, confirmation, feedback), with an admin renaming a handler, changing a
configuration and a data-subject request giving a reason; an email with payloads in its subject, body,
sender name and attachment name comes in through the mail intake. Every free-text string field of every
request body in the OpenAPI document (``tests/hostile.py`` walks it) is filled by some step, or named
in :data:`NOT_TEXT` with the reason it cannot carry text: a new text field fails
:func:`test_every_text_field_of_the_api_is_filled_with_payloads` until a step fills it. Then:

* every JSON answer (tracking view, staff case, tasks, handlers, configuration, privacy requests) gives
  every payload back as the same plain string; the email's case has its subject, body and sender name as
  text (a header's line break becomes a space), its attachment a safe file name;
* every email the notifier sends (customer and staff) has one recipient, a one-line subject, no injected
  header, and an HTML part where no payload became an element or attribute;
* the CSV, XLSX and CFPB exports start every formula-looking cell with ``'`` and hold no formula cell;
  the report's HTML (the scheduled email's body) and the data-subject export page hold the payloads as
  escaped text;
* the pages reflect no query text (``?lang="><script>...``).

The pages escape by construction (they set ``textContent``); ``tests/e2e/test_hostile_pages_browser.py``
loads them with these payloads in headless Chromium.
"""
from __future__ import annotations

import base64
import csv
import email
import html
import io
import json
import re
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import boto3
import pytest

from infra.event_pump import sqs_event
from tests.hostile import (XSS, filled_fields, formula_cells, hostile, markup_problems, normalised, strings,
                           text_fields)
from tests.integration.test_routing import FOOD, assign, classify, clock  # noqa: F401 - the fixture
from tests.integration.test_router import fake_model  # noqa: F401 - the fixture
from tests.integration.test_stats_counters import people  # noqa: F401 - the fixture
from tests.support import a_complaint

SENDER = "complaints@example.com"
CUSTOMER_EMAIL = "hostile.customer@example.com"
MAIL_SENDER = "hostile.mailer@example.cn"
MAIL_NAME = '王芳"><img src=x onerror=alert(1)>\r\nBcc: x@evil.example'

ACTIONS = "/staff/complaints/{complaint_id}/actions"
H = hostile  # H(n, max_length): the n-th payload
DEPARTMENT_NAMES = {"en": f"=1+2 Quality {XSS[1]}", "zh": f"质量部{XSS[2]}"}


def _complaint(n: int, email_address: str) -> dict[str, Any]:
    return a_complaint(
        title=H(n, 200), description=FOOD + " " + H(n + 1, 20_000), expected_resolution=H(n + 2, 2000),
        product={"name": H(n + 3, 200), "sku": H(n + 4, 64), "batch": H(n + 5, 64), "order_id": H(n + 6, 64),
                 "purchase_channel": H(n + 7, 200)},
        customer={"name": H(n + 8, 100), "email": email_address, "member_id": H(n + 9, 64),
                  "preferred_language": "zh"})


def _proposal(n: int, amount: str) -> dict[str, Any]:
    return {"action": "propose_resolution", "explanation": H(n, 20_000), "internal_note": H(n + 1, 2000),
            "components": [{"type": "refund", "amount": amount, "currency": "CNY", "description": H(n + 2, 2000)},
                           {"type": "apology", "description": H(n + 3, 2000)}]}


# (who, method, route, case, body): who is "customer" (the case's tracking token), a person of the
# ``people`` fixture, "boss" (a manager of quality and logistics) or "admin"; case is c1/c2/c3 (c1 is the
# hostile case the customer follows); {task} in a body is the case's newest open task.
STEPS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # the quality department's display names (its emails, pages and reports show them) become payloads
    ("admin", "PUT", "/staff/config/{kind}", "", {"comment": H(141, 500)}),
    ("customer", "POST", "/complaints/attachments", "", {"filename": H(1, 240) + ".png", "content_type": "image/png",
                                                        "size": 100}),
    ("customer", "POST", "/complaints", "c1", _complaint(10, CUSTOMER_EMAIL)),
    ("customer", "POST", "/complaints", "c2", _complaint(30, "hostile.two@example.com")),
    ("customer", "POST", "/complaints", "c3", _complaint(50, "hostile.three@example.com")),
    ("alice", "POST", ACTIONS, "c1", {"action": "accept"}),
    ("alice", "POST", ACTIONS, "c1", {"action": "note", "text": H(100, 20_000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "reply", "text": H(101, 20_000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "request_information", "text": H(102, 20_000)}),
    ("customer", "POST", "/complaints/{complaint_id}/messages", "c1", {"text": H(103, 20_000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "escalate", "reason": H(104, 2000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "open_task", "department": "quality", "title": H(105, 200),
                                      "details": H(106, 2000)}),
    ("alice", "POST", "/staff/complaints/{complaint_id}/tasks/{task_id}", "c1",
     {"state": "done", "outcome": H(107, 2000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "open_task", "department": "quality", "title": H(108, 200)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "cancel_task", "task_id": "{task}", "reason": H(109, 2000)}),
    ("mara", "POST", "/staff/complaints/{complaint_id}/classification", "c1",
     {"category": "food_safety", "reason": H(110, 500)}),
    ("alice", "POST", ACTIONS, "c1", _proposal(112, "800")),
    ("mara", "POST", ACTIONS, "c1", {"action": "reject_plan", "comment": H(116, 2000)}),
    ("alice", "POST", ACTIONS, "c1", _proposal(117, "800")),
    ("mara", "POST", ACTIONS, "c1", {"action": "approve", "comment": H(121, 2000)}),
    ("customer", "POST", "/complaints/{complaint_id}/confirmation", "c1", {"accept": False, "reason": H(122, 2000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "resolve", "text": H(123, 20_000)}),
    ("customer", "POST", "/complaints/{complaint_id}/confirmation", "c1", {"accept": True}),
    ("customer", "POST", "/complaints/{complaint_id}/feedback", "c1", {"rating": 2, "comment": H(124, 2000)}),
    ("alice", "POST", ACTIONS, "c1", {"action": "reopen", "reason": H(125, 2000)}),
    ("admin", "PUT", "/staff/handlers/{handler_id}", "", {"name": H(140, 100), "departments": ["quality"]}),
    ("mara", "POST", "/staff/complaints/{complaint_id}/assignment", "c1",
     {"handler_id": "staff-hostile", "reason": H(111, 1000)}),
    ("boss", "POST", "/staff/complaints/{complaint_id}/transfer", "c2",
     {"department": "logistics", "reason": H(130, 1000)}),
    ("boss", "POST", ACTIONS, "c2", {"action": "reject", "reason": H(131, 2000)}),
    ("alice", "POST", ACTIONS, "c3", {"action": "withdraw", "reason": H(132, 2000)}),
    ("admin", "POST", "/staff/privacy/export", "", {"email": CUSTOMER_EMAIL}),
    ("admin", "POST", "/staff/privacy/erasure", "", {"email": "nobody.here@example.com", "reason": H(142, 1000)}),
]

# text fields no step fills, and why they cannot carry text (ids, codes and numbers are checked against
# their sets; the honeypot and the challenge token are never shown)
NOT_TEXT: dict[tuple[str, str, str], str] = {
    ("POST /complaints", "", "customer.phone"): "a phone number, checked against phone patterns",
    ("PUT /staff/me/preferences", "", "phone"): "a phone number, checked against phone patterns",
    ("POST /staff/privacy/erasure", "", "phone"): "a look-up key: a phone number",
    ("POST /staff/privacy/export", "", "phone"): "a look-up key: a phone number",
    ("POST /staff/privacy/erasure", "", "member_id"): "a look-up key: a member id",
    ("POST /staff/privacy/export", "", "member_id"): "a look-up key: a member id",
    ("POST /complaints", "", "website"): "the honeypot: a filled value marks the sender a bot",
    ("POST /complaints", "", "challenge_token"): "an opaque proof-of-work token, verified and never shown",
    ("POST /complaints/attachments", "", "content_type"): "a media type from the allow-list",
    ("POST /staff/complaints/{complaint_id}/actions", "open_task", "department"): "a department id",
    ("POST /staff/complaints/{complaint_id}/actions", "open_task", "assignee"): "a handler id",
    ("POST /staff/complaints/{complaint_id}/actions", "cancel_task", "task_id"): "a task id",
    ("POST /staff/complaints/{complaint_id}/actions", "merge", "into"): "a complaint number",
    ("POST /staff/complaints/{complaint_id}/actions", "split", "case"): "a complaint number",
    ("POST /staff/complaints/{complaint_id}/actions", "propose_resolution", "components[].amount"): "a decimal",
    ("POST /staff/complaints/{complaint_id}/classification", "", "category"): "a category id",
    ("PUT /staff/handlers/{handler_id}", "", "skills[]"): "category ids",
    ("PUT /staff/me/preferences", "", "quiet_hours.time_zone"): "an IANA time-zone name",
}


def step_fields() -> set[tuple[str, str, str]]:
    """The (route, variant, field) that :data:`STEPS` fill with a payload."""
    return {(f"{method} {route}", body.get("action", "") if route == ACTIONS else "", name)
            for _, method, route, _, body in STEPS for name in filled_fields(body)}


def test_every_text_field_of_the_api_is_filled_with_payloads():
    from functions.openapi import document

    fields = text_fields(document())
    assert len(fields) > 40, "the walk found the request bodies"
    assert fields - step_fields() - set(NOT_TEXT) == set(), "a text field no step fills: add a step (or NOT_TEXT)"
    assert set(NOT_TEXT) - fields == set(), "NOT_TEXT names a field the API no longer has"


# -- running the story ---------------------------------------------------------------------------------------
def hostile_mail() -> bytes:
    from tests.integration.test_attachments import PNG

    msg = EmailMessage()
    msg["From"] = f"sender-name <{MAIL_SENDER}>"
    msg["To"] = SENDER
    msg["Subject"] = H(201, 100).replace("\r", " ").replace("\n", " ")
    msg["Message-ID"] = make_msgid(domain="example.cn")
    msg.set_content(FOOD + "\n" + H(202, 2000))
    msg.add_attachment(PNG, maintype="image", subtype="png", filename=H(203, 60).replace("\r\n", " ") + ".png")
    # an encoded word hides a line break and markup in the display name: decoded, they must stay a name
    name = base64.b64encode(MAIL_NAME.encode()).decode()
    return msg.as_bytes().replace(b"sender-name", f"=?utf-8?b?{name}?=".encode(), 1)


def take_in_mail(client, aws) -> None:
    from tests.integration.test_email_intake import notifications, sqs_event as mail_event

    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws["INBOUND_MAIL_BUCKET"], Key="inbound/hostile", Body=hostile_mail())
    bodies = [b for b in notifications() if "ObjectCreated" in b]
    assert client.lambda_.invoke("take_in_email", mail_event(bodies)).payload == {"batchItemFailures": []}


@pytest.fixture
def hostile_world(client, aws, clock, people, make_token, monkeypatch):  # noqa: F811 - fixtures imported above
    """Runs :data:`STEPS` (and the hostile email); returns the cases' numbers and tokens and the answers."""
    from infra.local_outbox import verify_sender

    monkeypatch.setenv("SES_SEND_QUOTA", "-1/10000")  # moto's sandbox quota is 1 a second
    verify_sender(boto3.client, SENDER)
    tokens = {**people, "boss": make_token(role="manager", name="boss", departments=["quality", "logistics"]),
              "admin": make_token(role="admin", name="root")}
    cases: dict[str, dict[str, str]] = {}
    answers: list[Any] = []
    for minute, (who, method, route, case, body) in enumerate(STEPS, start=1):
        clock.set(minutes=minute * 10)
        number = cases.get(case, {}).get("complaint_id", "")
        headers = {"Content-Type": "application/json"}
        if who == "customer":
            headers["X-Tracking-Token"] = cases.get(case, {}).get("tracking_token", "")
        else:
            headers["Authorization"] = "Bearer " + tokens[who]
        body = dict(body)
        if number and who != "customer":
            staff = json.loads(client.http.get(f"/staff/complaints/{number}", headers=headers).body)
            body["version"] = staff["version"]
            open_tasks = [t["task_id"] for t in staff.get("tasks", []) if t["state"] == "open"]
            if body.get("task_id") == "{task}":
                body["task_id"] = open_tasks[-1]
        if route == "/staff/config/{kind}":
            current = json.loads(client.http.get("/staff/config/routing", headers=headers).body)
            for department in current["config"]["departments"]:
                if department["department_id"] == "quality":
                    department["name"] = DEPARTMENT_NAMES
            body.update(version=current["version"], config=current["config"])
        url = route.format(complaint_id=number, task_id=(open_tasks[-1] if "{task_id}" in route else ""),
                           handler_id="staff-hostile", kind="routing")
        res = client.http.request(method, url, body=json.dumps(body), headers=headers)
        assert res.status_code in (200, 201, 202), (who, method, route, res.status_code, res.body)
        answer = json.loads(res.body)
        answers.append(answer)
        if route == "/complaints":
            cases[case] = answer
            if case == "c3":
                classify(client)
                assign(client)
    take_in_mail(client, aws)
    return {"cases": cases, "answers": answers, "tokens": tokens}


def staff_get(client, token: str, path: str) -> Any:
    res = client.http.get(path, headers={"Authorization": "Bearer " + token})
    assert res.status_code == 200, (path, res.body)
    assert res.headers["Content-Type"].startswith("application/json")
    return json.loads(res.body)


def test_hostile_text_comes_out_as_data_in_every_answer_email_and_export(client, hostile_world, tmp_path):
    """One story (it is the slow part), three checks: the JSON answers, the emails, the exports."""
    every_json_answer_gives_every_payload_back_as_the_same_plain_string(client, hostile_world)
    every_email_escapes_html_and_takes_no_injected_headers(client, hostile_world)
    exports_and_the_report_neutralise_formulas_and_markup(client, hostile_world, tmp_path)
    the_personal_data_export_page_escapes_every_value(hostile_world)


def every_json_answer_gives_every_payload_back_as_the_same_plain_string(client, hostile_world):
    cases, tokens = hostile_world["cases"], hostile_world["tokens"]
    boss, admin = tokens["boss"], tokens["admin"]
    c1 = cases["c1"]
    tracking = client.http.get(f"/complaints/{c1['complaint_id']}", headers={"X-Tracking-Token": c1["tracking_token"]})
    assert tracking.headers["Content-Type"].startswith("application/json")
    seen = set(strings(json.loads(tracking.body)))
    public = [H(10, 200), FOOD + " " + H(11, 20_000), H(101, 20_000), H(102, 20_000), H(103, 20_000), H(117, 20_000),
              H(119, 2000), H(122, 2000), H(123, 20_000)]
    assert [normalised(v) for v in public if normalised(v) not in seen] == [], "the tracking view"
    assert normalised(H(100, 20_000)) not in seen and normalised(H(118, 2000)) not in seen, "internal text stays inside"

    for answer in hostile_world["answers"]:
        seen |= set(strings(answer))
    for number in (cases[c]["complaint_id"] for c in ("c1", "c2", "c3")):
        seen |= set(strings(staff_get(client, boss, f"/staff/complaints/{number}")))
    seen |= set(strings(staff_get(client, admin, "/staff/handlers/staff-hostile")))
    config = staff_get(client, admin, "/staff/config/routing")
    assert DEPARTMENT_NAMES in [d["name"] for d in config["config"]["departments"]]
    seen |= set(strings(config))
    seen |= set(strings(staff_get(client, admin, "/staff/privacy/requests")))
    seen |= set(strings(staff_get(client, admin, "/staff/tasks?department=quality")))
    sent = [value for _, _, route, _, body in STEPS for value in _hostile_values(body)
            if route != "/complaints/attachments"]
    missing = [v for v in sent if normalised(v) not in seen and FOOD + " " + normalised(v) not in seen]
    assert missing == [], "payloads not given back as sent"
    # an attachment's name is made safe instead: a file name, with no markup or line break left
    [upload] = [a for a in hostile_world["answers"] if "attachment_id" in a]
    assert upload["filename"].endswith(".png") and not re.search(r"[<>\r\n/\\]", upload["filename"]), upload

    mailed = staff_get(client, boss, "/staff/complaints?channel=email")["complaints"]
    assert len(mailed) == 1, staff_get(client, admin, "/staff/quarantine")
    [mailed] = mailed
    case = staff_get(client, boss, f"/staff/complaints/{mailed['complaint_id']}")
    mailed_strings = set(strings(case))
    subject = re.sub(r"\s+", " ", H(201, 100)).strip()
    assert subject in {re.sub(r"\s+", " ", s).strip() for s in mailed_strings}, case["title"]
    assert any(normalised(H(202, 2000)).split("\r\n")[0] in s for s in mailed_strings), "the body"
    assert case["customer"]["name"] == re.sub(r"\s+", " ", MAIL_NAME)  # a display name is one line, markup kept as text
    [attachment] = case["attachments"]
    assert attachment["filename"].endswith(".png") and not re.search(r"[\r\n/\\]", attachment["filename"]), attachment


def _hostile_values(body: Any) -> list[str]:
    from tests.hostile import is_hostile

    return [v for v in strings(body) if is_hostile(v)]


def deliver_notifications(client) -> None:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="complaints-dev-notifier")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                          MessageAttributeNames=["All"]).get("Messages", []):
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        payload = client.lambda_.invoke("notify_customer", sqs_event(messages, arn, "us-east-1")).payload
        assert payload == {"batchItemFailures": []}


def sent_raw() -> list[str]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [m.raw_data for m in backend.sent_messages]


def every_email_escapes_html_and_takes_no_injected_headers(client, hostile_world):
    deliver_notifications(client)
    raws = sent_raw()
    to_customer = [raw for raw in raws if CUSTOMER_EMAIL in raw]
    assert len(to_customer) >= 5, "the acknowledgement, replies, the plan, the resolution..."
    assert any(MAIL_SENDER in raw for raw in raws), "the email's acknowledgement"
    for raw in raws:
        message = email.message_from_string(raw, policy=policy.default)
        for part in message.walk():  # no header of the message or of a part was made by a payload
            names = [name.lower() for name in part.keys()]
            assert not {"bcc", "cc"} & set(names) and names.count("subject") <= 1 and names.count("to") <= 1, names
            for name in ("From", "To", "Reply-To", "Sender"):  # a payload's address stays inside a display name
                addresses = part[name].addresses if part[name] is not None else ()
                assert not any(a.addr_spec.endswith("evil.example") for a in addresses), part[name]
        assert len(message["To"].addresses) == 1 and not message["To"].addresses[0].addr_spec.endswith(
            "evil.example")
        assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
        html = message.get_body(("html",))
        if html is not None:
            assert markup_problems(html.get_content()) == [], message["Subject"]
    html = {email.message_from_string(r, policy=policy.default)["Subject"]: email.message_from_string(
        r, policy=policy.default).get_body(("html",)).get_content() for r in to_customer}
    everything = "\n".join(html.values())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything  # the text is there, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in everything


def exports_and_the_report_neutralise_formulas_and_markup(client, hostile_world, tmp_path):
    from openpyxl import load_workbook

    from infra.cli import main

    manager = {"Authorization": "Bearer " + hostile_world["tokens"]["boss"]}
    answer = client.http.get("/staff/reports/export?period=2025-03&format=csv", headers=manager)
    assert answer.status_code == 200, answer.body
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    values = {r["value"] for r in rows if r["section"] in ("product", "batch")}
    assert "'" + normalised(H(15, 64)) in values, values  # c1's batch, a formula-looking start
    assert formula_cells(cell for row in rows for cell in row.values()) == []

    book = load_workbook(io.BytesIO(client.http.get("/staff/reports/export?period=2025-03&format=xlsx", headers={
        **manager, "Accept": "application/octet-stream"}).body))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells), [c.value for c in cells if c.data_type == "f"]
    assert formula_cells(c.value for c in cells if isinstance(c.value, str)) == []

    cfpb = client.http.get("/staff/reports/export?period=2025-03&format=cfpb", headers=manager)
    rows = list(csv.DictReader(io.StringIO(cfpb.body.decode("utf-8"))))
    assert {r["Complaint ID"] for r in rows} >= {hostile_world["cases"][c]["complaint_id"] for c in ("c1", "c2")}
    assert formula_cells(cell for row in rows for cell in row.values()) == []

    page = tmp_path / "report.html"
    assert main(["report", "--period", "2025-03", "--format", "html", "--out", str(page), "--language", "zh"]) == 0
    report = page.read_text(encoding="utf-8")
    assert markup_problems(report) == [] and "&lt;script&gt;" in report  # a product or batch name, as text
    assert "质量部&#34;&gt;&lt;svg onload=alert(1)&gt;" in report or "质量部&quot;&gt;&lt;svg onload=alert(1)&gt;" in report


def the_personal_data_export_page_escapes_every_value(hostile_world):
    """The data-subject export (``POST /staff/privacy/export``): its HTML page shows the payloads as text."""
    import os

    s3, bucket = boto3.client("s3"), os.environ["REPORTS_BUCKET"]
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="exports/privacy/").get("Contents", [])
             if o["Key"].endswith(".html")]
    page = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    assert markup_problems(page) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and html.escape(normalised(H(101, 20_000))) in page


@pytest.mark.parametrize("path", ["/?lang={p}&id={p}", "/track?lang={p}&id={p}", "/console?lang={p}"])
def test_the_pages_reflect_no_query_text(client, aws, path):
    """A link with markup in its query (``?lang="><script>...``) gets the page, never the markup in it."""
    from urllib.parse import quote

    res = client.http.get(path.format(p=quote(XSS[2] + XSS[0])))
    body = res.body.decode("utf-8", "replace")
    assert res.status_code < 500 and not any(x in body for x in XSS), body[:500]

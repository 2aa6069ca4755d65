"""Hostile text is data everywhere: HTML never becomes markup, spreadsheet formulas never run, line
breaks never become mail headers.

A complaint full of payloads comes in through the form API (``POST /complaints``), is classified and
assigned by the router's functions, and the handler answers it with more payloads through the staff
API (``POST /staff/complaints/{id}/actions``). Then:

* the tracking page's JSON and the staff API give every payload back as the same plain string;
* the customer's emails (the notifier function, over moto's SES) show them escaped in the HTML part,
  and a name with ``\\r\\nBcc:`` adds no header and no recipient;
* the CSV and XLSX report exports and the CFPB export start a formula-looking cell with ``'``; no XLSX
  cell is a formula.

Pages escape by construction (they set ``textContent``; ``tests/integration/test_pages.py`` and
``test_console.py`` check the scripts never assign HTML), so no browser is needed here.
"""
from __future__ import annotations

import csv
import email
import io
import json
import re
from email import policy

import boto3
import pytest

from infra.event_pump import sqs_event
from tests.integration.test_routing import FOOD, assign, classify, clock  # noqa: F401 - the fixture
from tests.integration.test_router import fake_model  # noqa: F401 - the fixture
from tests.integration.test_stats_counters import act, people  # noqa: F401 - the fixture
from tests.support import a_complaint, post_json

SENDER = "complaints@example.com"
CUSTOMER_EMAIL = "hostile.customer@example.com"
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>')
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3")
INJECTED = "\r\nBcc: x@evil.example"

TITLE = f"{XSS[0]} dumplings{INJECTED}"
DESCRIPTION = FOOD + " " + " ".join(XSS) + " " + " ".join(FORMULAS)
NAME = f'Li {XSS[1]}{INJECTED}'
PRODUCT = {"name": FORMULAS[2], "sku": FORMULAS[0], "batch": FORMULAS[1], "order_id": FORMULAS[3]}
REPLY = f"We are looking into it {XSS[2]} {XSS[0]} {FORMULAS[0]}"


@pytest.fixture
def hostile_case(client, clock, people):  # noqa: F811 - fixtures imported above
    from infra.local_outbox import verify_sender

    verify_sender(boto3.client, SENDER)
    body = a_complaint(title=TITLE, description=DESCRIPTION, product=PRODUCT, expected_resolution=XSS[1],
                       customer={"name": NAME, "email": CUSTOMER_EMAIL, "preferred_language": "zh"})
    res = post_json(client, "/complaints", body)
    assert res.status_code == 201, res.body
    receipt = json.loads(res.body)
    classify(client)
    assign(client)
    number = receipt["complaint_id"]
    clock.set(minutes=10)
    act(client, people["alice"], number, action="accept")
    clock.set(minutes=20)
    act(client, people["alice"], number, action="reply", text=REPLY)
    return {**receipt, "body": body}


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


def test_the_apis_give_hostile_text_back_as_plain_strings(client, make_token, hostile_case, people):
    number, token = hostile_case["complaint_id"], hostile_case["tracking_token"]
    tracking = client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": token})
    assert tracking.headers["Content-Type"].startswith("application/json")
    view = json.loads(tracking.body)
    assert view["title"] == TITLE.strip() and view["description"] == DESCRIPTION
    assert REPLY in [e.get("text") for e in view["timeline"]]

    staff = json.loads(client.http.get(f"/staff/complaints/{number}",
                                       headers={"Authorization": "Bearer " + people["mara"]}).body)
    assert staff["customer"]["name"] == NAME.strip() and staff["expected_resolution"] == XSS[1]
    assert {k: staff["product"][k] for k in PRODUCT} == PRODUCT


def test_emails_escape_html_and_take_no_injected_headers(client, hostile_case):
    deliver_notifications(client)
    raws = [raw for raw in sent_raw() if CUSTOMER_EMAIL in raw]
    assert len(raws) >= 2, "the acknowledgement and the reply"
    for raw in raws:
        message = email.message_from_string(raw, policy=policy.default)
        assert not re.search(r"(?im)^bcc:", raw) and message["Bcc"] is None
        # the name stays inside the quoted display name of the one recipient
        assert [a.addr_spec for a in message["To"].addresses] == [CUSTOMER_EMAIL]
        assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
        header_names = [name.lower() for name, _ in message.items()]
        assert "bcc" not in header_names
        html = message.get_body(("html",)).get_content()
        for payload in XSS:
            assert payload not in html
    html = {email.message_from_string(r, policy=policy.default)["Subject"]: email.message_from_string(
        r, policy=policy.default).get_body(("html",)).get_content() for r in raws}
    reply = next(h for s, h in html.items() if "reply" in s.lower() or "回复" in s)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in reply or "&quot;&gt;&lt;svg onload=alert(1)&gt;" in reply
    ack = next(h for s, h in html.items() if h is not reply)
    assert "&lt;img src=x onerror=alert(1)&gt;" in ack  # the customer's name


def test_exports_neutralise_formulas(client, hostile_case, people):
    from openpyxl import load_workbook

    manager = {"Authorization": "Bearer " + people["mara"]}
    answer = client.http.get("/staff/reports/export?period=2025-03&format=csv", headers=manager)
    assert answer.status_code == 200, answer.body
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    values = {r["value"] for r in rows if r["section"] in ("product", "batch")}
    assert {"'" + FORMULAS[0], "'" + FORMULAS[1]} <= values
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@")) or cell in ("-",), (row, cell)

    book = load_workbook(io.BytesIO(client.http.get("/staff/reports/export?period=2025-03&format=xlsx", headers={
        **manager, "Accept": "application/octet-stream"}).body))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells), [c.value for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert {"'" + FORMULAS[0], "'" + FORMULAS[1]} <= texts

    cfpb = client.http.get("/staff/reports/export?period=2025-03&format=cfpb", headers=manager)
    [row] = [r for r in csv.DictReader(io.StringIO(cfpb.body.decode("utf-8")))
             if r["Complaint ID"] == hostile_case["complaint_id"]]
    assert row["Sub-product"] == "'" + FORMULAS[0]

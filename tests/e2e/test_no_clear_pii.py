"""No clear-text email, phone or member id is stored or logged: a scan of every DynamoDB item of the
local stack and of every line it wrote (issue 8).

The test drives a representative flow through the stack over HTTP and SMTP - the form with email,
phone and member id, a phone-only complaint (acknowledged by SMS), an email complaint, a staff search
by email and by phone, the handler's reply, the tracking page and the customer's answer, an admin's
export of the person's data - then reads the whole table (test code may Scan; the application never
does) and the stack's output, and looks for:

* the values it submitted, in the forms they may take (an email in any case and URL-encoded; a phone in
  E.164, national, spaced and dashed forms; the member id);
* every customer address and phone the stack wrote to during the whole session (the ``To:`` of each
  ``.eml`` in ``var/outbox/`` that is no staff member's, every number in ``sms.log``);
* any email address at all, other than the staff directory's, our own sender addresses and those
  inside Message-IDs (``<…@…>``).

The same scan runs again when the session ends (``pii_scan_at_the_end``), after every other e2e test
that used the session's stack: a finding then is reported as an error at that teardown.
"""
from __future__ import annotations

import json
import re
import smtplib
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from urllib.parse import quote, quote_plus

import pytest
import requests

from tests.e2e.test_workflow_e2e import Staff, assigned_handler, wait_for

pytestmark = pytest.mark.e2e

EMAIL_LIKE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
OUR_ADDRESSES = {"complaints@example.com", "no-reply@example.com"}  # the stack's sender, the alerts' Reply-To
# the hostile-input tests' header-injection payloads ("\r\nBcc: x@evil.example", tests/hostile.py) are text
# typed into fields, nobody's contact data; the recipients check above still catches one that became a recipient
PAYLOAD_DOMAIN = "@evil.example"
SUBMITTED: dict[str, set[str]] = {"email": set(), "phone": set(), "member_id": set()}


# -- what to look for ----------------------------------------------------------------------------------------
def email_forms(address: str) -> set[str]:
    lower = address.lower()
    return {lower, quote(lower, safe=""), quote_plus(lower)}


def phone_forms(phone: str) -> set[str]:
    """E.164, the national number and its spaced and dashed forms (China: 3-4-4), URL-encoded too."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    national = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits[-10:]
    forms = {"+" + digits, national, quote("+" + digits, safe=""), quote_plus("+" + digits)}
    if len(national) == 11:
        forms |= {f"{national[:3]} {national[3:7]} {national[7:]}", f"{national[:3]}-{national[3:7]}-{national[7:]}"}
    return forms


def outbox_recipients(stack, staff_addresses: set[str]) -> tuple[set[str], set[str]]:
    """Every customer address the stack emailed and every number it texted, this whole session."""
    outbox = stack.var_dir / "outbox"
    emails, phones = set(), set()
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        headers = BytesParser(policy=policy.default).parsebytes(path.read_bytes(), headersonly=True)
        # the parsed header's addresses: a display name may itself hold text like "x@evil.example" (the
        # hostile-input tests put header-injection payloads in names), which re-parsing its string would
        # take for a recipient
        emails |= {a.addr_spec.lower() for a in getattr(headers["To"], "addresses", ()) if a.addr_spec}
    sms_log = outbox / "sms.log"
    if sms_log.exists():
        phones |= {line.split("\t")[1] for line in sms_log.read_text(encoding="utf-8").splitlines() if "\t" in line}
    return emails - staff_addresses - OUR_ADDRESSES, phones


# -- reading the stack ---------------------------------------------------------------------------------------
def every_item(stack) -> list[dict]:
    dynamodb, items, kwargs = stack.client("dynamodb"), [], {"TableName": stack.env["TABLE_NAME"]}
    while True:
        out = dynamodb.scan(**kwargs)
        items += out["Items"]
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def scan(stack) -> list[str]:
    """What the table and the stack's output hold in clear: ``<where>: <kind> <value>`` per finding."""
    items = every_item(stack)
    staff = {i["email"]["S"].lower() for i in items
             if i["PK"]["S"].startswith("HANDLER#") and i["SK"]["S"] == "PROFILE" and "email" in i}
    emails, phones = outbox_recipients(stack, staff)
    emails |= SUBMITTED["email"]
    phones |= SUBMITTED["phone"]
    wanted = ([("email", e, f) for e in emails for f in email_forms(e)]
              + [("phone", p, f) for p in phones for f in phone_forms(p)]
              + [("member id", m, m) for m in SUBMITTED["member_id"]])
    places = [(f"item {i['PK']['S']} / {i['SK']['S']}", json.dumps(i, ensure_ascii=False), i["PK"]["S"])
              for i in items]
    places += [(f"log line {n}", line, "") for n, line in enumerate(stack.output().splitlines(), 1)]
    findings = []
    for where, text, pk in places:
        lower = text.lower()
        findings += [f"{where}: {kind} {value}" for kind, value, form in wanted if form.lower() in lower]
        if pk.startswith(("HANDLER#", "CONFIG#")):  # the staff directory and configuration: staff addresses
            continue
        for address in EMAIL_LIKE.findall(MESSAGE_ID.sub("<message-id>", text)):
            if address.lower() not in staff | OUR_ADDRESSES and not address.lower().endswith(PAYLOAD_DOMAIN):
                findings.append(f"{where}: an email address {address}")
    return sorted(set(findings))


@pytest.fixture(scope="session")
def pii_scan_at_the_end(local_stack):
    """The scan again once every test of the session is done with the stack (its teardown runs first)."""
    yield
    findings = scan(local_stack)
    assert findings == [], "clear contact data after the e2e session:\n" + "\n".join(findings[:50])


# -- the flow ---------------------------------------------------------------------------------------------------
def submit(stack, customer: dict, title: str) -> dict:
    body = {"title": title, "description": "昨天买的速冻猪肉水饺（批次 B2611）煮好后有一股酸臭味，馅料已经变质发霉，"
                                           "孩子吃了两个就开始拉肚子，请尽快处理并退款。",
            "customer": customer, "product": {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": "B2611"},
            "channel": "web"}
    res = requests.post(f"{stack.api_url}/complaints", json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()


def test_no_clear_email_phone_or_member_id_is_stored_or_logged(local_stack, pii_scan_at_the_end):
    stack, stamp = local_stack, time.time_ns()
    email, member = f"pii.form.{stamp}@example.org", f"M{stamp}"
    phone, texted = f"+86 139 {stamp % 10**4:04d} {stamp // 10**4 % 10**4:04d}", f"+86 137{stamp % 10**8:08d}"
    sender = f"pii.mail.{stamp}@example.net"
    SUBMITTED["email"] |= {email, sender}
    SUBMITTED["phone"] |= {phone, texted}
    SUBMITTED["member_id"].add(member)

    # the form with every contact field; a phone-only complaint (acknowledged by SMS); an email complaint
    form = submit(stack, {"name": "Pii Tester", "email": email, "phone": phone, "member_id": member,
                          "preferred_language": "en"}, "饺子变质")
    submit(stack, {"name": "Pii Texter", "phone": texted, "preferred_language": "zh"}, "饺子变质")
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Pii Mailer <{sender}>", "complaints@example.com"
    msg["Subject"], msg["Message-ID"] = "汤圆包装破损", make_msgid(domain="example.net")
    msg.set_content("收到的汤圆包装破损，汤圆都粘在一起了。批次 T2410。")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)

    # staff find the customer by email and by phone (the console's search), the handler replies
    boss = Staff(stack, "Zhao Min", "manager", [])
    number = form["complaint_id"]
    for q in (email, phone.replace(" ", "")):
        found = boss.get("/staff/complaints", q=q)["complaints"]
        assert [c["complaint_id"] for c in found] == [number]
    handler, _ = assigned_handler(stack, number)
    handler.act(number, "accept")
    handler.act(number, "reply", text="We are testing the batch and will write again within two days.")

    # the customer reads the tracking page and answers there
    headers = {"X-Tracking-Token": form["tracking_token"]}
    assert requests.get(f"{stack.api_url}/complaints/{number}", headers=headers, timeout=10).status_code == 200
    answer = requests.post(f"{stack.api_url}/complaints/{number}/messages", headers=headers, timeout=10,
                           json={"text": "Thank you, the batch number is on the bag."})
    assert answer.status_code in (200, 201), answer.text

    # an admin exports what is held about the person
    admin = {"Authorization": "Bearer " + stack.token(role="admin", departments=[], name="Pii Admin")}
    export = requests.post(f"{stack.api_url}/staff/privacy/export", headers=admin, json={"member_id": member},
                           timeout=10)
    assert export.status_code == 201 and export.json()["summary"]["cases"] == 1, export.text

    # the notifications went out (the acknowledgements by email and SMS, the reply), so everything was written
    outbox = stack.var_dir / "outbox"
    wait_for("the emails and the SMS", lambda: outbox_recipients(stack, set())[0] >= {email, sender}
             and any(texted.replace(" ", "") in p for p in outbox_recipients(stack, set())[1])
             and len(list(outbox.glob(f"*-{number}-*.eml"))) >= 2, stack=stack)

    findings = scan(stack)
    assert findings == [], "clear contact data:\n" + "\n".join(findings[:50])

"""The whole life of a complaint through the local stack, as a new user would drive it over HTTP and
SMTP: submitted -> classified -> assigned -> the handler asks for information -> the customer answers
by email -> the handler proposes a refund above the approval limit -> a manager approves -> the
customer sees the plan on the tracking page and accepts -> the survey email lands in var/outbox/ ->
the customer answers it -> the case is closed with the answer recorded. And the dispute branch: the
customer does not accept, the case reopens escalated and the department lead hears of it.
"""
from __future__ import annotations

import re
import smtplib
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid

import pytest
import requests

pytestmark = pytest.mark.e2e

TOKEN_LINK = re.compile(r"(https?://\S+/track\?id=(C\w+)(?:&amp;|&)?([^#\s]*)#token=([\w-]+))")


def wait_for(what, probe, timeout=45.0, stack=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    tail = stack.output()[-4000:] if stack is not None else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


class Staff:
    """A staff member of the demo directory, signed in with the stack's development key."""

    def __init__(self, stack, name, role, departments):
        self.stack, self.name = stack, name
        self.headers = {"Authorization": "Bearer " + stack.token(role=role, departments=departments, name=name)}

    def get(self, path, **params):
        res = requests.get(self.stack.api_url + path, headers=self.headers, params=params, timeout=10)
        assert res.status_code == 200, f"GET {path}: {res.status_code} {res.text}"
        return res.json()

    def case(self, number):
        return self.get(f"/staff/complaints/{number}")

    def act(self, number, action, expect=200, **body):
        version = self.case(number)["version"]
        res = requests.post(f"{self.stack.api_url}/staff/complaints/{number}/actions", headers=self.headers,
                            json={"action": action, "version": version, **body}, timeout=10)
        assert res.status_code == expect, f"{action}: {res.status_code} {res.text}"
        return res.json()


def manager(stack):
    return Staff(stack, "Zhao Min", "manager", [])


def submit(stack, email, **overrides):
    body = {
        # in Chinese, as most of the bundled classifier's training texts are; the customer reads English
        "title": "饺子变质",
        "description": "昨天买的速冻猪肉水饺（批次 B2611）煮好后有一股酸臭味，馅料已经变质发霉，"
                       "孩子吃了两个就开始拉肚子，请尽快处理并退款。",
        "customer": {"name": "Alice Walker", "email": email, "preferred_language": "en"},
        "product": {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": "B2611"},
        "channel": "web",
        **overrides,
    }
    res = requests.post(f"{stack.api_url}/complaints", json=body, timeout=10)
    assert res.status_code == 201, res.text
    return res.json()


def assigned_handler(stack, number):
    boss = manager(stack)
    case = wait_for("the case to be assigned", lambda: (c := boss.case(number))["assignee"] and c, stack=stack)
    profile = boss.get(f"/staff/handlers/{case['assignee']}")
    return Staff(stack, profile["name"], "agent", [case["department"]]), case


def mails_about(stack, number, to):
    outbox = stack.var_dir / "outbox"
    found = []
    for path in sorted(outbox.glob(f"*-{number}-*.eml")) if outbox.exists() else []:
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if to in str(parsed["To"]):
            found.append(parsed)
    return found


def text_of(mail):
    return mail.get_body(preferencelist=("plain",)).get_content()


def mail_containing(stack, number, to, needle):
    return wait_for(f"an email to the customer containing {needle!r}",
                    lambda: next((m for m in mails_about(stack, number, to) if needle in text_of(m)), None),
                    stack=stack)


def track(stack, number, token):
    res = requests.get(f"{stack.api_url}/complaints/{number}", headers={"X-Tracking-Token": token}, timeout=10)
    assert res.status_code == 200, res.text
    return res.json()


def customer_post(stack, number, token, what, body, expect=200):
    res = requests.post(f"{stack.api_url}/complaints/{number}/{what}", headers={"X-Tracking-Token": token},
                        json=body, timeout=10)
    assert res.status_code == expect, f"{what}: {res.status_code} {res.text}"
    return res.json()


def link_in(mail):
    found = TOKEN_LINK.search(text_of(mail))
    assert found, text_of(mail)
    return found


def test_a_complaint_from_submission_to_survey(local_stack):
    stack = local_stack
    email = f"alice.{time.time_ns()}@example.com"
    number = submit(stack, email)["complaint_id"]
    agent, case = assigned_handler(stack, number)
    assert case["status"] == "assigned" and case["category"]

    # the handler starts and asks for a photo of the batch number: the customer gets it by email
    agent.act(number, "accept")
    question = "Could you send us a photo of the batch code printed on the bag?"
    asked = agent.act(number, "request_information", text=question)
    assert asked["status"] == "waiting_on_customer"
    assert {c["state"] for c in asked["clocks"] if c["name"] == "first_response"} == {"met"}
    request_mail = mail_containing(stack, number, email, question)
    assert number in str(request_mail["Subject"])

    # the customer answers by email, threaded onto the case: the clocks run again
    reply = EmailMessage()
    reply["From"] = f"Alice Walker <{email}>"
    reply["To"] = "complaints@example.com"
    reply["Subject"] = "Re: " + str(request_mail["Subject"])
    reply["Message-ID"] = make_msgid(domain="example.com")
    reply["In-Reply-To"] = request_mail["Message-ID"]
    reply["References"] = request_mail["Message-ID"]
    reply.set_content("The code on the bag says B2611, printed 2026-10-02.\n\nOn Monday you wrote:\n> Could you")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(reply)
    answered = wait_for("the customer's answer on the case",
                        lambda: (c := agent.case(number))["status"] == "in_progress" and c, stack=stack)
    messages = [e["text"] for e in answered["timeline"] if e["kind"] == "customer_message"]
    assert messages == ["The code on the bag says B2611, printed 2026-10-02."]
    assert all(c["state"] != "paused" for c in answered["clocks"])

    # a refund above the limit (500 CNY) waits for a manager; the customer does not see it yet
    proposed = agent.act(number, "propose_resolution", explanation="We are sorry: we will refund the order "
                         "and add compensation for the trouble.",
                         components=[{"type": "refund", "amount": "129.00", "currency": "CNY"},
                                     {"type": "compensation", "amount": "600.00", "currency": "CNY"},
                                     {"type": "apology"}])
    assert proposed["status"] == "resolution_proposed" and proposed["plan"]["state"] == "pending_approval"
    token = link_in(request_mail)[4]
    assert track(stack, number, token).get("plan") is None
    boss = manager(stack)
    assert number in [a["complaint_id"] for a in boss.get("/staff/approvals")["approvals"]]
    refused = requests.post(f"{stack.api_url}/staff/complaints/{number}/actions", headers=agent.headers, timeout=10,
                            json={"action": "approve", "version": proposed["version"]})
    assert refused.status_code == 403
    approved = boss.act(number, "approve", comment="Batch B2611 is under recall: approved.")
    assert approved["plan"]["state"] == "proposed"

    # the customer is told, sees the plan on the tracking page and accepts it
    proposal_mail = mail_containing(stack, number, email, "600.00")
    token = link_in(proposal_mail)[4]
    page = track(stack, number, token)
    assert page["plan"]["explanation"].startswith("We are sorry")
    assert {c["type"] for c in page["plan"]["components"]} == {"refund", "compensation", "apology"}
    closed = customer_post(stack, number, token, "confirmation", {"accept": True})
    assert closed["status"] == "closed"

    # the survey arrives by email; its link opens the survey and the answer is recorded
    survey_mail = wait_for("the survey email", lambda: next(
        (m for m in mails_about(stack, number, email) if "survey=1" in text_of(m)), None), stack=stack)
    survey_token = link_in(survey_mail)[4]
    survey = track(stack, number, survey_token)
    aspects = [a["aspect_id"] for a in survey["actions"]["feedback"]["aspects"]]
    answer = {"rating": 4, "aspects": {aspects[0]: "good", aspects[1]: "bad"}, "comment": "Quick, thank you."}
    customer_post(stack, number, survey_token, "feedback", answer, expect=201)
    customer_post(stack, number, survey_token, "feedback", {**answer, "rating": 1}, expect=409)

    final = boss.case(number)
    assert final["status"] == "closed" and final["closure"] == "confirmed"
    assert final["feedback"]["rating"] == 4
    kinds = [e["kind"] for e in final["timeline"]]
    for kind in ("assigned", "staff_reply", "customer_message", "plan_proposed", "plan_approved", "confirmed",
                 "feedback"):
        assert kind in kinds, kind
    ledger = boss.get("/staff/compensation", month=final["received_at"][:7])
    mine = [e for e in ledger["entries"] if e["complaint_id"] == number]
    assert sorted(e["amount"] for e in mine) == ["129.00", "600.00"]


def test_the_customer_disputes_the_resolution(local_stack):
    stack = local_stack
    email = f"bob.{time.time_ns()}@example.com"
    number = submit(stack, email, title="快递太慢",
                    description="订单SO-7731说周一送到，结果周四才到，快递员也不打电话，客服热线也没人接。",
                    product={"name": "Gift box", "order_id": "SO-7731"},
                    customer={"name": "Bob Stone", "email": email, "preferred_language": "en"})["complaint_id"]
    agent, case = assigned_handler(stack, number)
    agent.act(number, "accept")
    assert case["priority"] != "P1", case["priority"]  # P1 plans need a manager (bundled workflow config)
    proposed = agent.act(number, "propose_resolution", explanation="We apologise for the late delivery.",
                         components=[{"type": "apology"}, {"type": "explanation",
                                                          "description": "The courier missed the slot."}])
    assert proposed["plan"]["state"] == "proposed"
    mail = mail_containing(stack, number, email, "We apologise for the late delivery.")
    token = link_in(mail)[4]
    missing_reason = requests.post(f"{stack.api_url}/complaints/{number}/confirmation", timeout=10,
                                   headers={"X-Tracking-Token": token}, json={"accept": False})
    assert missing_reason.status_code in (400, 422)
    disputed = customer_post(stack, number, token, "confirmation",
                             {"accept": False, "reason": "An apology does not pay for the day I took off work."})
    assert disputed["status"] == "in_progress"

    staff_view = agent.case(number)
    assert staff_view["escalated"] is True
    dispute = [e for e in staff_view["timeline"] if e["kind"] == "disputed"]
    assert dispute and "took off work" in dispute[0]["text"]
    lead_name = {"quality": "Wang Fang", "customer_service": "Liu Yang", "logistics": "Zhou Jie",
                 "finance": "Qian Lei", "privacy": "Qian Lei"}[case["department"]]
    lead = Staff(stack, lead_name, "lead", [case["department"]])
    wait_for("the dispute in the lead's inbox", lambda: [
        i for i in lead.get("/staff/inbox")["items"] if i.get("complaint_id") == number
        and i.get("kind") == "disputed"], stack=stack)

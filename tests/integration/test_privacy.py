"""Data-subject rights through the staff API and the scheduled jobs (``follow_up_privacy_requests``,
``anonymise_expired_cases``), as Lambda calls them.

Each case is lived through the routes a customer and a handler use: submitted with a photo, accepted,
an internal note, a reply, the customer's answer from the tracking page, resolved, accepted by the
customer and rated with a comment - each text carrying the person's name, email, phone, member id,
address or ID number. The domain's clock is held at ``T0`` and moved by the tests.
"""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlparse

import boto3
import pytest

from tests.integration.test_attachments import upload
from tests.integration.test_routing import T0, Clock, call, hire, set_leads
from tests.support import a_complaint, post_json

NAME, EMAIL, PHONE, MEMBER = "王秀英", "wang.xiuying@example.com", "+86 139 1234 5678", "VIP-778899"
PHONE_FORMS = ("+8613912345678", "13912345678", "139 1234 5678", "139-1234-5678")
ID_NUMBER = "11010519491231002X"
ADDRESS = "上海市浦东新区世纪大道100号5楼502室"
DESCRIPTION = (f"我是{NAME}，会员号{MEMBER}。饺子有异味，请打 139 1234 5678 或写信到 {EMAIL}。"
               f"<script>alert('x')</script>")
NOTE = f"王女士的身份证号 {ID_NUMBER}，已核对。"
REPLY = f"王女士您好，我们会把新的饺子寄到{ADDRESS}。"
MESSAGE = f"好的，地址是{ADDRESS}，也可以打 021-62345678。"
FEEDBACK = f"处理很快，谢谢。秀英 {EMAIL}"
SECRETS = (NAME, "秀英", "王女士", EMAIL, MEMBER, ID_NUMBER, ADDRESS, "021-62345678", *PHONE_FORMS)
LEAD, MANAGER = "staff-qa-lead", "staff-qa-boss"


# -- fixtures and helpers -------------------------------------------------------------------------------
@pytest.fixture
def clock(aws):
    from shared.clock import set_clock

    c = Clock(T0)
    set_clock(c)
    yield c
    set_clock(None)


@pytest.fixture
def staff(client, make_token, clock) -> dict[str, str]:
    tokens = {"admin": make_token(role="admin", name="root"), "alice": make_token(role="agent", name="alice",
                                                                                    departments=["quality"]),
              "auditor": make_token(role="auditor", name="eve"), "manager": make_token(role="manager", name="boss")}
    set_leads(client, tokens["admin"], quality=(LEAD, MANAGER))
    hire("staff-alice")
    return tokens


def submit(client, aws, photo_name: str = "王秀英-身份证.png", **overrides) -> dict:
    photo = upload(client, aws, filename=photo_name)
    customer = {"name": NAME, "email": EMAIL, "phone": PHONE, "member_id": MEMBER, "preferred_language": "zh"}
    body = a_complaint(**{"title": f"{NAME}：饺子变质", "description": DESCRIPTION, "customer": customer,
                          "attachment_ids": [photo["attachment_id"]], **overrides})
    res = post_json(client, "/complaints", body)
    assert res.status_code == 201, res.body
    return json.loads(res.body)


PLAIN = {"note": "批次已核对。", "reply": "我们会补发。", "message": "好的。", "feedback": "谢谢。"}  # another customer's


def worked_case(client, aws, staff, clock, texts: dict | None = None, **overrides) -> dict:
    """A case routed to staff-alice, accepted, with a note, a reply and the customer's answer: open."""
    texts = texts or {"note": NOTE, "reply": REPLY, "message": MESSAGE, "feedback": FEEDBACK}
    from shared.assignment import assigner
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    receipt = submit(client, aws, **overrides)
    number = receipt["complaint_id"]
    repo = complaint_repository()
    stored, _ = repo.get(number)
    repo.save(stored.model_copy(update={"status": Status.CLASSIFIED, "category": "product_quality", "priority": "P3",
                                        "version": stored.version + 1}), [], expected_version=stored.version)
    assert assigner().route(number).state == "assigned"
    for body in ({"action": "accept"}, {"action": "note", "text": texts["note"]},
                 {"action": "reply", "text": texts["reply"]}):
        act(client, staff["alice"], number, **body)
    clock.set(hours=2)
    answer = post_json(client, f"/complaints/{number}/messages", {"text": texts["message"]},
                       {"X-Tracking-Token": receipt["tracking_token"]})
    assert answer.status_code in (200, 201), answer.body
    return {"number": number, "token": receipt["tracking_token"], "feedback": texts["feedback"]}


def closed_case(client, aws, staff, clock, texts: dict | None = None, **overrides) -> dict:
    """As :func:`worked_case`, then resolved, accepted by the customer (closed) and rated with a comment."""
    case = worked_case(client, aws, staff, clock, texts, **overrides)
    close(client, staff, clock, case)
    return case


def close(client, staff, clock, case: dict) -> None:
    number, token = case["number"], case["token"]
    act(client, staff["alice"], number, action="resolve", text="已补发新的饺子。")
    clock.set(days=1)
    for what, body in (("confirmation", {"accept": True}), ("feedback", {"rating": 5, "comment": case["feedback"]})):
        res = post_json(client, f"/complaints/{number}/{what}", body, {"X-Tracking-Token": token})
        assert res.status_code in (200, 201), res.body


def act(client, token: str, number: str, **body) -> dict:
    status, view = call(client, "GET", f"/staff/complaints/{number}", token)
    assert status == 200, view
    status, answer = call(client, "POST", f"/staff/complaints/{number}/actions", token,
                          {**body, "version": view["version"]})
    assert status == 200, answer
    return answer


def privacy(client, token: str, what: str, body) -> tuple[int, dict]:
    return call(client, "POST", f"/staff/privacy/{what}", token, body)


def fetch(url: str) -> str:
    """A presigned link's object (path-style: /<bucket>/<key>), read from moto."""
    bucket, key = urlparse(url).path.lstrip("/").split("/", 1)
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def report(client, staff) -> dict:
    status, body = call(client, "GET", "/staff/reports?period=2025-03", staff["manager"])
    assert status == 200, body
    return body


def every_item(aws) -> list[dict]:
    """The whole table as the test sees it (a test may Scan; the application never does)."""
    dynamodb, items, kwargs = boto3.client("dynamodb"), [], {"TableName": aws["TABLE_NAME"]}
    while True:
        out = dynamodb.scan(**kwargs)
        items += out["Items"]
        if "LastEvaluatedKey" not in out:
            return items
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def audit_records(aws, number: str) -> list[dict]:
    from shared.items import ItemCodec

    return [ItemCodec().load(i) for i in every_item(aws) if i["PK"]["S"] == f"AUDIT#{number}"]


def clear_text_found(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def run_job(client, clock, name: str) -> dict:
    at = clock.at
    event = {"version": "0", "id": f"{name}-{at:%Y%m%d%H%M}", "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "us-east-1",
             "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{name}"], "detail": {}}
    return client.lambda_.invoke(name, event).payload


# -- export -----------------------------------------------------------------------------------------------
def test_an_export_holds_everything_about_the_person_in_json_and_a_readable_page(client, aws, staff, clock):
    case = closed_case(client, aws, staff, clock)
    status, answer = privacy(client, staff["admin"], "export", {"email": EMAIL.upper()})
    assert status == 201, answer
    assert answer["kind"] == "export" and answer["status"] == "completed" and answer["summary"]["cases"] == 1
    assert answer["cases"] == [case["number"]] and answer["subject_kind"] == "email"
    assert answer["due_at"] == "2025-04-05T02:00:00.000Z"  # received (T0 + 1 day) + 30 days
    assert set(answer["files"]) == {"json", "html"} and EMAIL not in json.dumps(answer)

    document = json.loads(fetch(answer["files"]["json"]["url"]))
    [held] = document["cases"]
    assert held["contact"] == {"name": NAME, "email": EMAIL, "phone": "+8613912345678", "member_id": MEMBER,
                               "preferred_language": "zh"}
    assert held["description"] == DESCRIPTION and held["status"] == "closed"
    said = {(m["from"], m["text"]) for m in held["conversation"]}
    assert {("staff", REPLY), ("customer", MESSAGE)} <= said
    assert NOTE in [n["text"] for n in held["internal_notes"]]
    assert held["feedback"]["comment"] == FEEDBACK and held["feedback"]["rating"] == 5
    [photo] = held["attachments"]
    assert photo["filename"] == "王秀英-身份证.png" and photo["download"].startswith("http")
    assert "staff-alice" not in json.dumps(document)  # staff appear as "staff", never by name

    page = fetch(answer["files"]["html"]["url"])
    assert "我们投诉记录中关于您的个人数据" in page and EMAIL in page and "联系信息" in page  # zh: preferred
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page

    by_phone = privacy(client, staff["admin"], "export", {"phone": "+86 139-1234-5678"})[1]
    by_member = privacy(client, staff["admin"], "export", {"member_id": MEMBER})[1]
    assert by_phone["cases"] == by_member["cases"] == [case["number"]]
    nobody = privacy(client, staff["admin"], "export", {"email": "someone.else@example.com"})[1]
    assert nobody["summary"]["cases"] == 0
    assert "We hold no complaint records about you." in fetch(nobody["files"]["html"]["url"])


# -- erasure -------------------------------------------------------------------------------------------------
def test_erasure_keeps_the_figures_and_a_second_export_finds_nothing_personal(client, aws, staff, clock):
    case = closed_case(client, aws, staff, clock)
    other = closed_case(client, aws, staff, clock, PLAIN, title="另一位客户", description="包装破了。",
                        photo_name="box.png", customer={"name": "Li Lei", "email": "li.lei@example.com"})
    figures = report(client, staff)
    first = privacy(client, staff["admin"], "export", {"email": EMAIL})[1]
    status, done = privacy(client, staff["admin"], "erasure", {"member_id": MEMBER, "reason": f"asked by {EMAIL}"})
    assert status == 201, done
    assert done["status"] == "completed"
    assert done["summary"] == {"cases": 1, "erased": 1, "held": 0} and done["reason"] == "asked by [email]"

    assert report(client, staff) == figures  # the counters are not touched
    # the case skeleton stays for staff: number, status, category, department, dates; no contact data
    status, view = call(client, "GET", f"/staff/complaints/{case['number']}", staff["manager"])
    assert status == 200 and view["status"] == "closed" and view["category"] == "product_quality"
    assert view["department"] == "quality" and view.get("customer") is None
    assert clear_text_found(json.dumps(view, ensure_ascii=False)) == []
    assert "[name]" in view["title"] and "[phone]" in view["description"] and "[email]" in view["description"]
    texts = json.dumps([e.get("text") for e in view["timeline"]], ensure_ascii=False)
    assert "[ID number]" in texts and "[address]" in texts and "[name]您好" in texts
    # the tracking page no longer opens it, the photo is gone, nothing personal is left in the table
    tracked = client.http.get(f"/complaints/{case['number']}", headers={"X-Tracking-Token": case["token"]})
    assert tracked.status_code == 404
    assert boto3.client("s3").list_objects_v2(Bucket=aws["ATTACHMENTS_BUCKET"]).get("KeyCount") == 1  # the other's
    leftovers = [i["PK"]["S"] + "/" + i["SK"]["S"] for i in every_item(aws)
                 if clear_text_found(json.dumps(i, ensure_ascii=False))]
    assert leftovers == [], leftovers
    # the audit trail says who erased it, under which request - nothing about the person
    [record] = [r for r in audit_records(aws, case["number"]) if r["action"] == "api.erase_personal_data"]
    assert record["actor"] == "staff-root" and record["role"] == "admin"
    assert record["details"]["privacy_request"] == done["request_id"] and record["details"]["cases"] == 1
    # the other customer's case is untouched
    status, kept = call(client, "GET", f"/staff/complaints/{other['number']}", staff["manager"])
    assert kept["customer"]["email"] == "li.lei@example.com" and kept["title"] == "另一位客户"

    second = privacy(client, staff["admin"], "export", {"email": EMAIL})[1]
    assert second["summary"]["cases"] == 0
    for name in ("json", "html"):
        assert clear_text_found(fetch(second["files"][name]["url"])) == []
        assert EMAIL in fetch(first["files"][name]["url"])  # the first export had it all

    again = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "again"})
    assert again[0] == 201 and again[1]["summary"] == {"cases": 0, "erased": 0, "held": 0}


def test_cases_beyond_what_one_call_erases_are_queued_for_the_follow_up(client, aws, staff, clock, monkeypatch):
    monkeypatch.setattr("shared.privacy.REQUEST_ERASURES", 1)
    first, second = closed_case(client, aws, staff, clock), closed_case(client, aws, staff, clock)
    status, pending = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})
    assert status == 202 and pending["summary"] == {"cases": 2, "erased": 1, "held": 1}
    [queued] = pending["holds"]
    assert queued["hold"] == "queued" and queued["complaint_id"] in (first["number"], second["number"])
    ran = run_job(client, clock, "follow_up_privacy_requests")
    assert (ran["erased"], ran["completed"]) == (1, 1)
    status, done = call(client, "GET", f"/staff/privacy/requests/{pending['request_id']}", staff["admin"])
    assert done["status"] == "completed" and done["summary"] == {"cases": 2, "erased": 2, "held": 0}


def test_an_open_case_holds_the_erasure_until_it_is_closed(client, aws, staff, clock):
    case = worked_case(client, aws, staff, clock)
    status, pending = privacy(client, staff["admin"], "erasure", {"phone": PHONE, "reason": "customer's request"})
    assert status == 202 and pending["status"] == "pending"
    assert pending["holds"] == [{"complaint_id": case["number"], "hold": "open_case", "until": None,
                                 "reason": f"case {case['number']} is open: erased when it is closed"}]
    status, view = call(client, "GET", f"/staff/complaints/{case['number']}", staff["alice"])
    assert view["customer"]["email"] == EMAIL and view["description"] == DESCRIPTION  # the work goes on

    assert run_job(client, clock, "follow_up_privacy_requests")["completed"] == 0  # still open
    close(client, staff, clock, case)
    assert run_job(client, clock, "follow_up_privacy_requests")["completed"] == 1
    status, done = call(client, "GET", f"/staff/privacy/requests/{pending['request_id']}", staff["auditor"])
    assert status == 200 and done["status"] == "completed" and done["holds"] == []
    assert done["completed_at"] == "2025-03-06T02:00:00.000Z"  # the run after the closure
    status, view = call(client, "GET", f"/staff/complaints/{case['number']}", staff["manager"])
    assert view.get("customer") is None and clear_text_found(json.dumps(view, ensure_ascii=False)) == []


def test_a_regulatory_retention_period_delays_the_erasure_until_it_ends(client, aws, staff, clock):
    case = closed_case(client, aws, staff, clock, region="GB")
    status, pending = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})
    assert status == 202
    [hold] = pending["holds"]
    assert hold["hold"] == "retention" and hold["until"].startswith("2028-03-05")  # closed + 1095 days
    assert "UK FCA DISP 1.9" in hold["reason"]

    clock.set(days=1094)
    assert run_job(client, clock, "follow_up_privacy_requests")["completed"] == 0
    clock.set(days=1097)
    assert run_job(client, clock, "follow_up_privacy_requests")["completed"] == 1
    status, view = call(client, "GET", f"/staff/complaints/{case['number']}", staff["manager"])
    assert view.get("customer") is None and view["region"] == "GB"


# -- retention ----------------------------------------------------------------------------------------------
def test_the_retention_job_anonymises_cases_past_their_retention_once(client, aws, staff, clock, monkeypatch):
    monkeypatch.setattr("shared.privacy.JOB_ERASURES", 1)  # one case a run: the next run goes on from there
    old = closed_case(client, aws, staff, clock)
    older = closed_case(client, aws, staff, clock, PLAIN, title="包装破了", description="包装破了，请补发。",
                        photo_name="box.png", customer={"name": "Han Mei", "email": "han.mei@example.com"})
    clock.set(days=400)
    recent = closed_case(client, aws, staff, clock, PLAIN, customer={"name": "Li Lei", "email": "li.lei@example.com"})
    clock.set(days=1097)  # the first two ended on day 1, the third on day 401: only the first two are due
    assert [run_job(client, clock, "anonymise_expired_cases")["erased"] for _ in range(3)] == [1, 1, 0]
    for case in (old, older):
        status, gone = call(client, "GET", f"/staff/complaints/{case['number']}", staff["manager"])
        assert gone.get("customer") is None and gone["status"] == "closed"
        assert clear_text_found(json.dumps(gone, ensure_ascii=False)) == [] and "han.mei" not in json.dumps(gone)
    status, kept = call(client, "GET", f"/staff/complaints/{recent['number']}", staff["manager"])
    assert kept["customer"]["email"] == "li.lei@example.com"
    assert run_job(client, clock, "anonymise_expired_cases")["erased"] == 0  # nothing twice
    [record] = [r for r in audit_records(aws, old["number"]) if r["action"] == "case.erased"]
    assert record["actor"].startswith("system:") and record["actor"].endswith("anonymise_expired_cases")

    clock.set(days=1500)
    assert run_job(client, clock, "anonymise_expired_cases")["erased"] == 1
    status, kept = call(client, "GET", f"/staff/complaints/{recent['number']}", staff["manager"])
    assert kept.get("customer") is None


# -- requests, validation, access ------------------------------------------------------------------------------
def test_requests_are_listed_by_status_and_store_no_clear_contact_data(client, aws, staff, clock):
    worked_case(client, aws, staff, clock)
    status, pending = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})
    status, export = privacy(client, staff["admin"], "export", {"email": EMAIL})

    status, listed = call(client, "GET", "/staff/privacy/requests?status=pending", staff["auditor"])
    assert status == 200 and [r["request_id"] for r in listed["requests"]] == [pending["request_id"]]
    status, everything = call(client, "GET", "/staff/privacy/requests?limit=1", staff["admin"])
    assert status == 200 and len(everything["requests"]) == 1 and everything["next_cursor"]
    status, rest = call(client, "GET", f"/staff/privacy/requests?limit=1&cursor={everything['next_cursor']}",
                        staff["admin"])
    ids = {everything["requests"][0]["request_id"], rest["requests"][0]["request_id"]}
    assert ids == {pending["request_id"], export["request_id"]}
    stored = [i for i in every_item(aws) if i["PK"]["S"].startswith("PRIVACY#prv_")]
    assert len(stored) == 2 and clear_text_found(json.dumps(stored, ensure_ascii=False)) == []

    for query, field in (("status=done", "status"), ("limit=0", "limit"), ("sort=due", "sort"), ("cursor=abc", "cursor")):
        status, body = call(client, "GET", f"/staff/privacy/requests?{query}", staff["admin"])
        assert status == 400 and field in [d["field"] for d in body["details"]], query
    assert call(client, "GET", "/staff/privacy/requests/not-an-id", staff["admin"])[0] == 400
    assert call(client, "GET", "/staff/privacy/requests/prv_" + "0" * 20, staff["admin"])[0] == 404


@pytest.mark.parametrize("body, field", [
    ({}, "body"), ({"email": EMAIL, "phone": PHONE}, "body"), ({"email": "not an address"}, "email"),
    ({"phone": "call me"}, "phone"), ({"email": EMAIL, "colour": "red"}, "colour"), ({"member_id": "x" * 65}, "member_id"),
])
def test_a_bad_subject_is_a_422_naming_the_field(client, staff, body, field):
    status, answer = privacy(client, staff["admin"], "export", body)
    assert status == 422 and field in [d["field"] for d in answer["details"]], answer
    status, answer = privacy(client, staff["admin"], "erasure", {**body, "reason": "r"})
    assert status == 422 and field in [d["field"] for d in answer["details"]], answer


def test_an_erasure_needs_a_reason_and_only_admins_act(client, staff, make_token):
    status, answer = privacy(client, staff["admin"], "erasure", {"email": EMAIL})
    assert status == 422 and answer["details"] == [{"field": "reason", "problem": "is required"}]
    for role in ("agent", "lead", "manager", "auditor"):
        token = make_token(role=role, name=f"p-{role}")
        for what in ("export", "erasure"):
            status, answer = privacy(client, token, what, {"email": EMAIL, "reason": "r"})
            assert status == 403 and answer["error"] == "forbidden", (role, what)
    assert privacy(client, None, "export", {"email": EMAIL})[0] == 401
    assert call(client, "GET", "/staff/privacy/requests", staff["alice"])[0] == 403


def test_the_follow_up_logs_requests_near_and_past_their_deadline_without_personal_data(
        client, aws, staff, clock, app_logs):
    worked_case(client, aws, staff, clock)
    pending = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})[1]
    clock.set(days=1 + 25)
    assert run_job(client, clock, "follow_up_privacy_requests")["near_deadline"] == 1
    clock.set(days=1 + 31)
    assert run_job(client, clock, "follow_up_privacy_requests")["overdue"] == 1
    lines = [json.loads(line) for line in app_logs.getvalue().splitlines() if line.startswith("{")]
    flagged = [(line["level"], line["message"]) for line in lines if line.get("request_id") == pending["request_id"]]
    assert ("WARNING", "privacy request near its deadline") in flagged
    assert ("ERROR", "privacy request past its deadline") in flagged
    assert clear_text_found(app_logs.getvalue()) == []
    status, view = call(client, "GET", f"/staff/privacy/requests/{pending['request_id']}", staff["auditor"])
    assert view["overdue"] is True and view["status"] == "pending"


def test_admins_configure_deadlines_and_retention_per_jurisdiction(client, staff):
    status, current = call(client, "GET", "/staff/config/privacy", staff["auditor"])
    assert status == 200 and current["version"] == 0 and current["config"]["request_deadline_days"] == 30
    document = {**current["config"], "request_deadline_days": 10,
                "jurisdictions": {"DE": {"legal_hold_days": 400, "retention_days": 300}}}
    status, answer = call(client, "PUT", "/staff/config/privacy", staff["admin"], {"version": 0, "config": document})
    assert status == 422 and "retention_days cannot be shorter than legal_hold_days" in json.dumps(answer)
    document["jurisdictions"] = {"DE": {"legal_hold_days": 400, "retention_days": 800, "basis": "HGB"}}
    status, answer = call(client, "PUT", "/staff/config/privacy", staff["admin"], {"version": 0, "config": document})
    assert status == 200, answer
    status, request = privacy(client, staff["admin"], "export", {"email": EMAIL})
    assert request["due_at"] == "2025-03-15T02:00:00.000Z"  # 10 days


def test_an_erasure_cut_short_by_a_failure_is_carried_out_by_the_follow_up(client, aws, staff, clock, monkeypatch):
    from shared.privacy_store import PrivacyStore

    case = closed_case(client, aws, staff, clock)
    real = PrivacyStore.erase

    def broken(self, *args, **kwargs):
        raise ConnectionError("DynamoDB went away")

    monkeypatch.setattr(PrivacyStore, "erase", broken)
    status, answer = privacy(client, staff["admin"], "erasure", {"email": EMAIL, "reason": "customer's request"})
    assert status == 500 and answer["error"] == "internal_error"
    status, listed = call(client, "GET", "/staff/privacy/requests?status=received", staff["admin"])
    [left] = listed["requests"]
    assert left["cases"] == [case["number"]] and left["summary"]["erased"] == 0

    monkeypatch.setattr(PrivacyStore, "erase", real)
    assert run_job(client, clock, "follow_up_privacy_requests")["erased"] == 0  # the call may still be running
    clock.set(days=1, minutes=20)
    assert run_job(client, clock, "follow_up_privacy_requests")["erased"] == 1
    status, done = call(client, "GET", f"/staff/privacy/requests/{left['request_id']}", staff["admin"])
    assert done["status"] == "completed" and done["summary"]["erased"] == 1


def test_erasure_deletes_the_raw_emails_of_the_case(client, aws, staff, clock):
    """A case opened by email and answered by email: both raw messages are linked to it and go with it."""
    import boto3

    from shared.lifecycle import Status
    from shared.store import complaint_repository
    from tests.integration.test_email_intake import deliver, mail

    sender = "raw.sender@example.cn"
    deliver(client, aws, mail(sender=sender))
    s3 = boto3.client("s3")
    bucket = aws["INBOUND_MAIL_BUCKET"]
    [first_key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    repo = complaint_repository()
    [number] = repo.cases_of_customer("email", sender)
    deliver(client, aws, mail(sender=sender, subject=f"Re: [{number}] 冷冻水饺有异味", body="补充一张照片。"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert len(keys) == 2 and first_key in keys

    case, _ = repo.get(number)
    repo.save(case.model_copy(update={"status": Status.CLOSED, "version": case.version + 1, "updated_at": clock()}),
              [], expected_version=case.version)
    status, done = privacy(client, staff["admin"], "erasure", {"email": sender, "reason": "customer's request"})
    assert status == 201 and done["status"] == "completed", done
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []

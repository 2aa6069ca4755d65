"""The local stack end to end, over real HTTP: what a customer and a staff member would do.

One stack serves the module (the session fixture ``local_stack``); the last test starts its own to
press Ctrl-C on it.
"""
from __future__ import annotations

import base64
import json
import time

import pytest
import requests

pytestmark = pytest.mark.e2e

EMAIL = "wang.fang.e2e@example.com"
PHONE = "+8613800138000"
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def complaint(**overrides):
    body = {
        "title": "Kettle leaks",
        "description": "The kettle I bought last week leaks from the base after two days of use.",
        "customer": {"name": "Wang Fang", "email": EMAIL, "phone": PHONE, "preferred_language": "zh"},
        "product": {"name": "Electric kettle", "sku": "EK-200", "batch": "B2024-07", "order_id": "SO-1001"},
        "channel": "web",
    }
    body.update(overrides)
    return body


def submit(stack, **overrides):
    response = requests.post(f"{stack.api_url}/complaints", json=complaint(**overrides), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def received(local_stack):
    """One complaint submitted through the API, shared by the checks that read it back."""
    return submit(local_stack)


def test_pages_are_served(local_stack):
    for path in ("/", "/track"):
        response = requests.get(local_stack.api_url + path, timeout=10)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("text/html")


def test_submit_and_track(local_stack, received):
    assert received["status"] == "received"
    assert received["complaint_id"] and received["tracking_token"] and received["received_at"]

    url = f"{local_stack.api_url}/complaints/{received['complaint_id']}"
    tracked = requests.get(url, headers={"X-Tracking-Token": received["tracking_token"]}, timeout=10)
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["complaint_id"] == received["complaint_id"]
    assert tracked.json()["status"] == "received"
    assert EMAIL not in tracked.text

    wrong = requests.get(url, headers={"X-Tracking-Token": "not-the-token"}, timeout=10)
    assert wrong.status_code == 404


def test_attachment_upload_through_presigned_form(local_stack):
    asked = requests.post(f"{local_stack.api_url}/complaints/attachments", timeout=10,
                          json={"filename": "leak.png", "content_type": "image/png", "size": len(PNG)})
    assert asked.status_code == 201, asked.text
    offer = asked.json()
    assert offer["attachment_id"].startswith("att_") and offer["max_bytes"] > 0
    upload = offer["upload"]
    assert upload["url"].startswith(local_stack.aws_endpoint + "/")  # moto, path-style

    # The browser form on the API origin posts across origins: the bucket's CORS must allow it.
    origin = local_stack.api_url
    preflight = requests.options(upload["url"], timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers.get("Access-Control-Allow-Origin") in (origin, "*")
    posted = requests.post(upload["url"], data=upload["fields"], headers={"Origin": origin}, timeout=10,
                           files={upload.get("file_field", "file"): ("leak.png", PNG, "image/png")})
    assert posted.status_code in (200, 201, 204), posted.text

    receipt = submit(local_stack, attachment_ids=[offer["attachment_id"]])
    s3 = local_stack.client("s3")
    key = upload["fields"]["key"]
    assert s3.get_object(Bucket=local_stack.env["ATTACHMENTS_BUCKET"], Key=key)["Body"].read() == PNG

    token = local_stack.token(role="admin", departments=["quality"])
    detail = requests.get(f"{local_stack.api_url}/staff/complaints/{receipt['complaint_id']}", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert detail.status_code == 200, detail.text
    assert offer["attachment_id"] in detail.text


def test_staff_list_needs_a_valid_token(local_stack, received):
    url = f"{local_stack.api_url}/staff/complaints"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer not.a.jwt"}, timeout=10).status_code == 401

    token = local_stack.token(role="manager", departments=[], name="Zhao Min")
    listed = requests.get(url, params={"limit": 100}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200, listed.text
    assert received["complaint_id"] in [c["complaint_id"] for c in listed.json()["complaints"]]
    assert EMAIL not in listed.text
    # an agent sees their own department's cases only
    agent = local_stack.token(role="agent", departments=["quality"], name="Li Wei")
    mine = requests.get(url, params={"limit": 100}, headers={"Authorization": f"Bearer {agent}"}, timeout=10)
    assert mine.status_code == 200 and {c["department"] for c in mine.json()["complaints"]} <= {"quality"}
    other = requests.get(url, params={"department": "finance"}, headers={"Authorization": f"Bearer {agent}"},
                         timeout=10)
    assert other.status_code == 403


def test_stored_case_keeps_contact_data_encrypted(local_stack, received):
    item = local_stack.client("dynamodb").get_item(
        TableName=local_stack.env["TABLE_NAME"],
        Key={"PK": {"S": f"CASE#{received['complaint_id']}"}, "SK": {"S": "CASE"}})["Item"]
    everything = json.dumps(item, default=lambda v: v.decode("latin-1") if isinstance(v, bytes) else str(v))
    for secret in (EMAIL, EMAIL.split("@")[0], PHONE):
        assert secret not in everything


def test_submitted_complaint_is_classified_routed_and_assigned(local_stack):
    """Through the pump: router -> ComplaintClassified -> assignment -> a demo handler on duty, with
    its SLA and regulatory clocks running and the case in the handler's queue."""
    received = submit(local_stack, title="饺子变质", description="昨天买的速冻饺子煮好后有一股酸臭味，馅料已经变质发霉，"
                                                            "孩子吃了两个就开始拉肚子，请尽快处理。",
                      product={"name": "速冻水饺", "sku": "DUMP-1KG", "batch": "B2411"})
    token = local_stack.token(role="manager", departments=[], name="Zhao Min")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{local_stack.api_url}/staff/complaints/{received['complaint_id']}"
    case = {}
    for _ in range(120):
        case = requests.get(url, headers=headers, timeout=10).json()
        if case.get("status") == "assigned":
            break
        time.sleep(0.25)
    assert case.get("status") == "assigned", [(e["kind"], e["text"]) for e in case.get("timeline", [])]
    assert case["department"] and case["assignee"].startswith("dev-")
    assert {"routed", "clocks_started", "assigned"} <= {e["kind"] for e in case["timeline"]}
    names = {c["name"] for c in case["clocks"]}
    assert {"first_response", "resolution", "cn_consumer.reply"} <= names
    assert all(c["state"] == "running" and c["due_at"] for c in case["clocks"])
    queue = requests.get(f"{local_stack.api_url}/staff/queue", params={"assignee": case["assignee"]},
                         headers=headers, timeout=10).json()
    assert received["complaint_id"] in [c["complaint_id"] for c in queue["complaints"]]


def test_acknowledgement_email_lands_in_the_outbox(local_stack, received):
    """The notifier consumes the event through the pump and SES's copy is written to var/outbox/."""
    import email
    import re
    from email import policy

    number = received["complaint_id"]
    outbox = local_stack.var_dir / "outbox"
    deadline = time.monotonic() + 15
    while not list(outbox.glob(f"*-{number}-ack.eml")) and time.monotonic() < deadline:
        time.sleep(0.2)
    files = list(outbox.glob(f"*-{number}-ack.eml"))
    assert len(files) == 1, local_stack.output()[-3000:]
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == f"[{number}] 我们已收到您的投诉"
    assert message["To"].addresses[0].addr_spec == EMAIL
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"(http://\S+/track\?id=(C\w+)#token=([\w-]+))", text)
    assert link and link[2] == number and link[1].startswith(local_stack.api_url)
    tracked = requests.get(f"{local_stack.api_url}/complaints/{number}", headers={"X-Tracking-Token": link[3]},
                           timeout=10)
    assert tracked.status_code == 200, tracked.text
    assert "acknowledged" in [e["kind"] for e in tracked.json()["timeline"]]
    assert EMAIL not in local_stack.output() and link[3] not in local_stack.output()


def test_acknowledgement_sms_lands_in_the_outbox(local_stack):
    phone = "+8613900139000"
    number = submit(local_stack, customer={"name": "Zhang San", "phone": phone, "preferred_language": "en"})[
        "complaint_id"]
    sms_log = local_stack.var_dir / "outbox" / "sms.log"
    deadline = time.monotonic() + 15
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = [line for line in (sms_log.read_text(encoding="utf-8").splitlines() if sms_log.exists() else [])
                 if number in line]
        if lines:
            break
        time.sleep(0.2)
    assert len(lines) == 1, local_stack.output()[-3000:]
    _, to, text = lines[0].split("\t")
    assert to == phone and text.startswith(f"We have received your complaint {number}")


def test_resources_are_what_the_template_declares(local_stack):
    kms = local_stack.client("kms")
    assert kms.describe_key(KeyId=local_stack.env["LOOKUP_KEY_ID"])["KeyMetadata"]["KeySpec"] == "HMAC_256"
    assert kms.describe_key(KeyId=local_stack.env["PII_KEY_ID"])["KeyMetadata"]["KeySpec"] == "SYMMETRIC_DEFAULT"
    table = local_stack.client("dynamodb").describe_table(TableName=local_stack.env["TABLE_NAME"])["Table"]
    assert {"ByStatus", "PendingEvents"} <= {g["IndexName"] for g in table["GlobalSecondaryIndexes"]}
    rules = local_stack.client("s3").get_bucket_cors(Bucket=local_stack.env["ATTACHMENTS_BUCKET"])["CORSRules"]
    assert "POST" in rules[0]["AllowedMethods"]
    redrive = local_stack.client("sqs").get_queue_attributes(
        QueueUrl=local_stack.env["ROUTER_QUEUE_URL"], AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(redrive["RedrivePolicy"])["deadLetterTargetArn"].endswith("-router-dlq")


def test_event_pump_runs_the_schedules(local_stack):
    # The fixture sets SCHEDULE_SPEEDUP=60, so "rate(1 minute)" fires about every second.
    deadline = time.monotonic() + 10
    while "publish_pending_events <- schedule" not in local_stack.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "publish_pending_events <- schedule" in local_stack.output()
    assert "scheduled publish_pending_events raised" not in local_stack.output()


def test_ctrl_c_stops_everything(local_stack_factory):
    stack = local_stack_factory()
    assert requests.get(stack.api_url + "/", timeout=10).status_code == 200

    stack.stop_and_check()  # exit code 0 within 15 s, no child process left, both ports closed

    assert not (stack.var_dir / "local-stack.json").exists()
    assert "Traceback" not in stack.output()


def test_the_stack_stops_with_a_clear_error_when_its_aws_endpoint_dies(local_stack_factory):
    """moto runs in a child process; killed (as the kernel kills a process out of memory), the stack
    says so and exits with 1 instead of answering every request with a 500."""
    import os
    import re
    import signal

    stack = local_stack_factory()
    moto_pid = int(re.search(r"moto server on \S+ \(process (\d+)\)", stack.output()).group(1))
    os.kill(moto_pid, signal.SIGKILL)
    assert stack.process.wait(30) == 1
    assert "moto's server (the AWS endpoint) exited with -9 (SIGKILL: out of memory?)" in stack.output()
    assert not (stack.var_dir / "local-stack.json").exists()

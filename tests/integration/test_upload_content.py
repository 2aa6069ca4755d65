"""Attachments are checked by content, not by name: a file whose first bytes are not of its declared
type never joins a case - refused with a clear error on the form's path (the presigned upload, then
the complaint or the customer's message that attaches it), left out and marked for staff on the
email path."""
from __future__ import annotations

import json
from email.message import EmailMessage

import boto3

from tests.integration.test_attachments import PNG, ask_upload, upload
from tests.integration.test_email_intake import deliver, email_cases, staff_get
from tests.support import a_complaint, post_json

PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64  # a Windows program


def test_a_program_uploaded_as_a_pdf_is_refused_and_nothing_is_stored(client, aws, make_token):
    disguised = upload(client, aws, data=PROGRAM, filename="invoice.pdf", content_type="application/pdf")
    photo = upload(client, aws)
    res = post_json(client, "/complaints", a_complaint(attachment_ids=[photo["attachment_id"],
                                                                       disguised["attachment_id"]]))
    assert res.status_code == 422, res.body
    body = json.loads(res.body)
    assert body["error"] == "invalid_attachments"
    assert body["details"] == [{"field": "attachment_ids", "problem": f"{disguised['attachment_id']}: its content "
                                "is not application/pdf (it looks like a Windows program)"}]
    token = make_token()
    listed = json.loads(client.http.get("/staff/complaints", headers={"Authorization": "Bearer " + token}).body)
    assert listed["complaints"] == []
    # the photo was not used up: without the disguised file the complaint goes through
    ok = post_json(client, "/complaints", a_complaint(attachment_ids=[photo["attachment_id"]]))
    assert ok.status_code == 201, ok.body


def test_a_message_cannot_attach_a_file_that_is_not_what_it_says(client, aws):
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    fake_text = upload(client, aws, data=PNG, filename="notes.txt", content_type="text/plain")
    res = post_json(client, f"/complaints/{receipt['complaint_id']}/messages",
                    {"text": "Here are my notes.", "attachment_ids": [fake_text["attachment_id"]]},
                    {"X-Tracking-Token": receipt["tracking_token"]})
    assert res.status_code == 422 and "is not text/plain (it looks like a PNG image)" in res.body.decode()
    view = json.loads(client.http.get(f"/complaints/{receipt['complaint_id']}",
                                      headers={"X-Tracking-Token": receipt["tracking_token"]}).body)
    assert all(e["kind"] != "customer_message" for e in view["timeline"])


def test_an_empty_upload_is_refused(client, aws):
    answer = json.loads(ask_upload(client).body)
    boto3.client("s3").put_object(Bucket=aws["ATTACHMENTS_BUCKET"], Key=answer["upload"]["fields"]["key"], Body=b"",
                                  ContentType="image/png")
    res = post_json(client, "/complaints", a_complaint(attachment_ids=[answer["attachment_id"]]))
    assert res.status_code == 422 and "an empty file" in res.body.decode()


def test_an_email_attachment_that_is_not_what_it_says_is_left_out_and_marked(client, aws, make_token):
    msg = EmailMessage()
    msg["From"] = "王芳 <wang.fang@example.cn>"
    msg["To"] = "complaints@example.com"
    msg["Subject"] = "发票和照片"
    msg.set_content("附件是发票和照片。")
    msg.add_attachment(PROGRAM, maintype="application", subtype="pdf", filename="发票.pdf")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="照片.png")
    result, _ = deliver(client, aws, msg.as_bytes())
    assert result == {"batchItemFailures": []}

    token = make_token()
    [case] = email_cases(client, token)
    detail = staff_get(client, token, f"/staff/complaints/{case['complaint_id']}")
    assert [a["filename"] for a in detail["attachments"]] == ["照片.png"]
    received = next(e for e in detail["timeline"] if e["kind"] == "received")
    assert received["details"]["refused_attachments"] == [{
        "part": 1, "content_type": "application/pdf",
        "problem": "its content is not application/pdf (it looks like a Windows program)"}]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=aws["ATTACHMENTS_BUCKET"]).get("Contents", [])]
    assert keys == [f"attachments/{detail['attachments'][0]['attachment_id']}"]

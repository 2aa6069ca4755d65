"""Attachment uploads: allow-list, size cap in the upload policy, and checks at submit time."""
from __future__ import annotations

import base64
import json

import boto3

from tests.support import a_complaint, post_json

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


def ask_upload(client, **body):
    return post_json(client, "/complaints/attachments",
                     {"filename": "photo.png", "content_type": "image/png", **body})


def upload(client, aws, data=PNG, **body):
    res = ask_upload(client, **body)
    assert res.status_code == 201, res.body
    answer = json.loads(res.body)
    fields = answer["upload"]["fields"]
    boto3.client("s3").put_object(Bucket=aws["ATTACHMENTS_BUCKET"], Key=fields["key"], Body=data,
                                  ContentType=fields["Content-Type"])
    return answer


def test_upload_answer_is_a_presigned_post_with_type_and_size_conditions(client, aws):
    answer = json.loads(ask_upload(client, size=len(PNG)).body)
    assert answer["attachment_id"].startswith("att_") and answer["max_bytes"] == 10 * 1024 * 1024
    fields = answer["upload"]["fields"]
    assert fields["key"] == "attachments/" + answer["attachment_id"]
    assert fields["Content-Type"] == "image/png"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 10 * 1024 * 1024] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert aws["ATTACHMENTS_BUCKET"] in answer["upload"]["url"] + json.dumps(policy)


def test_types_outside_the_allow_list_and_oversized_files_are_refused(client):
    exe = ask_upload(client, filename="setup.exe", content_type="application/x-msdownload")
    assert exe.status_code == 422 and json.loads(exe.body)["error"] == "attachment_not_allowed"
    renamed = ask_upload(client, filename="invoice.exe", content_type="application/pdf")
    assert renamed.status_code == 422 and json.loads(renamed.body)["details"][0]["field"] == "filename"
    big = ask_upload(client, size=11 * 1024 * 1024)
    assert big.status_code == 413 and json.loads(big.body)["error"] == "attachment_too_large"


def test_allowed_office_audio_and_text_types(client):
    for name, ctype in [("a.pdf", "application/pdf"), ("a.txt", "text/plain; charset=utf-8"),
                        ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                        ("a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                        ("录音.mp3", "audio/mpeg"), ("a.jpg", "image/jpeg")]:
        assert ask_upload(client, filename=name, content_type=ctype).status_code == 201, name


def test_complaint_links_uploaded_attachments_and_staff_can_download(client, aws, make_token):
    att = upload(client, aws)
    receipt = json.loads(post_json(client, "/complaints", a_complaint(attachment_ids=[att["attachment_id"]])).body)
    res = client.http.get(f"/staff/complaints/{receipt['complaint_id']}",
                          headers={"Authorization": "Bearer " + make_token()})
    attachments = json.loads(res.body)["attachments"]
    assert [(a["attachment_id"], a["filename"], a["size"]) for a in attachments] == [
        (att["attachment_id"], "photo.png", len(PNG))]
    assert attachments[0]["download_url"].startswith("http")


def test_an_attachment_cannot_be_used_twice_or_before_upload(client, aws):
    att = upload(client, aws)
    assert post_json(client, "/complaints", a_complaint(attachment_ids=[att["attachment_id"]])).status_code == 201
    again = post_json(client, "/complaints", a_complaint(attachment_ids=[att["attachment_id"]]))
    assert again.status_code == 422 and json.loads(again.body)["error"] == "invalid_attachments"
    pending = json.loads(ask_upload(client).body)
    early = post_json(client, "/complaints", a_complaint(attachment_ids=[pending["attachment_id"]]))
    assert early.status_code == 422
    assert "not been uploaded" in json.loads(early.body)["details"][0]["problem"]


def test_a_file_larger_than_the_cap_is_refused_at_submit(client, aws, monkeypatch):
    monkeypatch.setenv("ATTACHMENT_MAX_BYTES", "100")
    from tests.conftest import _forget_cached_services

    _forget_cached_services()
    att = upload(client, aws, data=b"x" * 500, filename="notes.txt", content_type="text/plain")
    res = post_json(client, "/complaints", a_complaint(attachment_ids=[att["attachment_id"]]))
    assert res.status_code == 422 and "larger than" in res.body.decode()

"""The intake API through Chalice's test client, with moto standing in for AWS."""
from __future__ import annotations

import json

import boto3

from shared.identifiers import normalize_complaint_number
from tests.support import a_complaint, post_json


def test_submit_answers_with_number_and_token_and_stores_the_case_encrypted(client, aws):
    res = post_json(client, "/complaints", a_complaint())
    assert res.status_code == 201, res.body
    body = json.loads(res.body)
    assert set(body) == {"complaint_id", "tracking_token", "status", "received_at"}
    assert body["status"] == "received"
    assert normalize_complaint_number(body["complaint_id"]) == body["complaint_id"]
    assert len(body["tracking_token"]) >= 22

    table = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "CASE#" + body["complaint_id"]}})
    items = table["Items"]
    raw = json.dumps(items, ensure_ascii=False)
    assert "li.wei@example.com" not in raw and "13800138000" not in raw and "Li Wei" not in raw
    assert body["tracking_token"] not in raw
    case = next(i for i in items if i["SK"]["S"] == "CASE")
    assert case["status"]["S"] == "received" and case["version"]["N"] == "1"
    assert case["customer_enc"]["S"].startswith("v1.")


def test_received_event_reaches_the_router_queue_without_personal_data(client, aws):
    res = post_json(client, "/complaints", a_complaint())
    number = json.loads(res.body)["complaint_id"]
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="complaints-dev-router")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    events = [json.loads(m["Body"]) for m in messages]
    assert [e["detail"]["complaint_id"] for e in events] == [number]
    assert events[0]["detail-type"] == "ComplaintReceived" and events[0]["source"] == "complaints.intake"
    assert events[0]["detail"]["event_id"] == number + ":received"
    assert "li.wei" not in json.dumps(events)


def test_customer_tracks_with_token_and_sees_public_timeline_only(client):
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    res = client.http.get(f"/complaints/{receipt['complaint_id']}",
                          headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert res.status_code == 200
    view = json.loads(res.body)
    assert view["complaint_id"] == receipt["complaint_id"] and view["status"] == "received"
    assert [e["kind"] for e in view["timeline"]] == ["received"]
    assert "customer" not in view and "li.wei@example.com" not in res.body.decode()


def test_lowercase_and_dashes_in_the_number_are_accepted_when_tracking(client):
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    n = receipt["complaint_id"].lower()
    res = client.http.get(f"/complaints/{n[:4]}-{n[4:]}", headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert res.status_code == 200


def test_wrong_or_missing_token_answers_exactly_like_an_unknown_number(client):
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    wrong = client.http.get(f"/complaints/{receipt['complaint_id']}", headers={"X-Tracking-Token": "x" * 32})
    missing = client.http.get(f"/complaints/{receipt['complaint_id']}")
    from shared.identifiers import check_character
    body = "C" + "K7M" + "4QX9T"
    unknown = client.http.get(f"/complaints/{body}{check_character(body[1:])}",
                              headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert wrong.status_code == missing.status_code == unknown.status_code == 404
    assert wrong.body == missing.body == unknown.body
    assert json.loads(wrong.body)["error"] == "not_found"


def test_mistyped_number_is_rejected_before_any_lookup(client):
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    n = receipt["complaint_id"]
    typo = n[:5] + ("A" if n[5] != "A" else "B") + n[6:]
    res = client.http.get(f"/complaints/{typo}", headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert res.status_code == 400
    assert json.loads(res.body)["error"] == "invalid_complaint_number"


def test_idempotency_key_replays_the_first_answer_and_never_opens_a_second_case(client, aws):
    body = a_complaint()
    first = post_json(client, "/complaints", body, {"Idempotency-Key": "form-42"})
    again = post_json(client, "/complaints", body, {"Idempotency-Key": "form-42"})
    assert first.status_code == again.status_code == 201
    assert json.loads(first.body) == json.loads(again.body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = post_json(client, "/complaints", a_complaint(description="something else entirely"),
                      {"Idempotency-Key": "form-42"})
    assert other.status_code == 409 and json.loads(other.body)["error"] == "idempotency_key_reused"
    listed = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], IndexName="ByStatus", KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "received"}})
    assert listed["Count"] == 1


def test_customer_index_finds_the_cases_of_a_customer_by_email_or_phone(client):
    from shared.store import complaint_repository

    a = json.loads(post_json(client, "/complaints", a_complaint()).body)["complaint_id"]
    b = json.loads(post_json(client, "/complaints", a_complaint(
        customer={"name": "Li Wei", "email": "LI.WEI@example.com"})).body)["complaint_id"]
    repo = complaint_repository()
    assert set(repo.cases_of_customer("email", "li.wei@example.com")) == {a, b}
    assert repo.cases_of_customer("phone", "+8613800138000") == [a]

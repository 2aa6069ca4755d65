"""Bad input gets a clear JSON error with the field named, never a 5xx, and stores nothing."""
from __future__ import annotations

import json

import boto3
import pytest

from tests.support import a_complaint, post_json


def error_of(res):
    body = json.loads(res.body)
    assert set(body) == {"error", "message", "details"}, body
    return body


def fields(res):
    return {d["field"]: d["problem"] for d in error_of(res)["details"]}


def cases_stored(aws) -> int:
    out = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], IndexName="ByStatus", KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "received"}})
    return out["Count"]


@pytest.mark.parametrize("body, field", [
    ({**a_complaint(), "description": ""}, "description"),
    ({k: v for k, v in a_complaint().items() if k != "description"}, "description"),
    ({**a_complaint(), "description": "x" * 20_001}, "description"),
    ({**a_complaint(), "description": 42}, "description"),
    ({**a_complaint(), "customer": {"email": "a@example.com"}}, "customer.name"),
    ({**a_complaint(), "customer": {"name": "A", "email": "not-an-email"}}, "customer.email"),
    ({**a_complaint(), "customer": {"name": "A", "phone": "call me maybe"}}, "customer.phone"),
    ({**a_complaint(), "customer": {"name": "A"}}, "customer"),
    ({**a_complaint(), "customer": {"name": "A", "email": "a@example.com", "preferred_language": "fr"}},
     "customer.preferred_language"),
    ({**a_complaint(), "channel": "fax"}, "channel"),
    ({**a_complaint(), "title": "t" * 201}, "title"),
    ({**a_complaint(), "attachment_ids": ["../../etc/passwd"]}, "attachment_ids.0"),
    ({**a_complaint(), "occurred_at": "2999-01-01"}, "occurred_at"),
    ({**a_complaint(), "customer": "Li Wei"}, "customer"),
])
def test_invalid_fields_are_named(client, aws, body, field):
    res = post_json(client, "/complaints", body)
    assert res.status_code == 422, res.body
    assert field in fields(res), fields(res)
    assert cases_stored(aws) == 0


def test_unknown_fields_are_rejected_by_name(client, aws):
    res = post_json(client, "/complaints", {**a_complaint(), "urgency": "now",
                                            "customer": {"name": "A", "email": "a@example.com", "vip": True}})
    assert res.status_code == 422
    assert fields(res) == {"urgency": "unknown field", "customer.vip": "unknown field"}


@pytest.mark.parametrize("raw, content_type", [
    ("this is not json", "application/json"),
    ("{\"description\": ", "application/json"),
    ("[1, 2, 3]", "application/json"),
    ("", "application/json"),
    ("description=hello", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
])
def test_non_json_bodies_are_400(client, aws, raw, content_type):
    res = client.http.post("/complaints", body=raw, headers={"Content-Type": content_type})
    assert res.status_code == 400
    assert error_of(res)["error"] == "invalid_json"


def test_a_one_megabyte_body_is_413(client, aws):
    res = post_json(client, "/complaints", {**a_complaint(), "description": "x" * 1_000_000})
    assert res.status_code == 413
    assert error_of(res)["error"] == "payload_too_large"
    assert cases_stored(aws) == 0


def test_script_tags_are_stored_as_plain_text(client):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)> 投诉"
    receipt = json.loads(post_json(client, "/complaints", a_complaint(title=evil, description=evil)).body)
    view = client.http.get(f"/complaints/{receipt['complaint_id']}",
                           headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert json.loads(view.body)["title"] == evil
    assert view.headers["Content-Type"].startswith("application/json")
    assert view.headers["X-Content-Type-Options"] == "nosniff"


def test_empty_or_oversized_idempotency_key_is_400(client):
    res = post_json(client, "/complaints", a_complaint(), {"Idempotency-Key": "k" * 300})
    assert res.status_code == 400 and error_of(res)["error"] == "invalid_idempotency_key"


def test_an_internal_failure_is_a_json_500_without_details(client, monkeypatch):
    from functions.intake import api

    def broken(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(api.Intake, "submit", broken)
    res = post_json(client, "/complaints", a_complaint())
    assert res.status_code == 500
    body = error_of(res)
    assert body["error"] == "internal_error" and "hunter2" not in res.body.decode()

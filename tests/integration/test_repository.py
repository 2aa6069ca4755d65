"""Conditional writes with a version number keep transitions safe under repeats and races."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shared.lifecycle import Status, check_transition
from shared.models import TimelineEntry, TimelineKind, Visibility
from shared.repository import StaleVersion
from tests.support import a_complaint, post_json


def test_a_stale_version_cannot_overwrite_a_newer_one(client):
    from shared.store import complaint_repository

    number = json.loads(post_json(client, "/complaints", a_complaint()).body)["complaint_id"]
    repo = complaint_repository()
    case, _ = repo.get(number, with_contact=True)
    check_transition(case.status, Status.CLASSIFIED)
    now = datetime.now(timezone.utc)
    first = case.model_copy(update={"status": Status.CLASSIFIED, "version": 2, "category": "food_safety",
                                    "updated_at": now})
    note = TimelineEntry(at=now, kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL, text="checked")
    repo.save(first, [note], expected_version=1)
    second = case.model_copy(update={"status": Status.REJECTED, "version": 2, "updated_at": now})
    with pytest.raises(StaleVersion):
        repo.save(second, [], expected_version=1)
    stored, timeline = repo.get(number, with_contact=True)
    assert (stored.status, stored.version, stored.category) == (Status.CLASSIFIED, 2, "food_safety")
    assert stored.customer.email == "li.wei@example.com"
    assert [e.kind for e in timeline] == [TimelineKind.RECEIVED, TimelineKind.INTERNAL_NOTE]
    # the internal note never reaches the customer's view
    view = client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": "wrong"})
    assert view.status_code == 404


def test_a_stored_case_that_no_longer_fits_its_model_is_a_server_error_not_a_client_one(client, make_token, aws):
    """A broken stored item is our fault: 500 (logged), never a 422 that names stored fields to the caller."""
    import json as _json

    import boto3

    from tests.support import a_complaint, post_json

    created = post_json(client, "/complaints", a_complaint())
    complaint_id = _json.loads(created.body)["complaint_id"]
    boto3.client("dynamodb").update_item(
        TableName=aws["TABLE_NAME"], Key={"PK": {"S": f"CASE#{complaint_id}"}, "SK": {"S": "CASE"}},
        UpdateExpression="SET received_at = :p", ExpressionAttributeValues={":p": {"S": "not-a-time"}})
    token = make_token(role="manager")
    answer = client.http.get(f"/staff/complaints/{complaint_id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 500
    assert _json.loads(answer.body)["error"] == "internal_error"
    assert "received_at" not in answer.body.decode()

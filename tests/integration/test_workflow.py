"""A handler's work on a case through ``POST /staff/complaints/{id}/actions``: accept, internal note,
reply, request information - each a transition of the state machine, on the timeline, conditional
on the version read, with the SLA clocks following (first response met; paused while waiting)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.support import a_complaint, post_json


@pytest.fixture
def assigned(aws, client):
    """A P3 quality case, routed and assigned to staff-alice (through the assignment step)."""
    from shared.assignment import assigner
    from shared.lifecycle import Status
    from shared.staff_directory import HandlerProfileIn, staff_directory
    from shared.store import complaint_repository

    directory = staff_directory()
    directory.put_profile("staff-alice", HandlerProfileIn(name="Alice", departments=["quality"]))
    directory.set_on_duty("staff-alice", True)
    receipt = post_json(client, "/complaints", a_complaint()).json_body
    repo = complaint_repository()
    case, _ = repo.get(receipt["complaint_id"])
    classified = case.model_copy(update={"status": Status.CLASSIFIED, "category": "product_quality", "priority": "P3",
                                         "version": case.version + 1, "updated_at": datetime.now(timezone.utc)})
    repo.save(classified, [], expected_version=case.version)
    assert assigner().route(case.complaint_id).state == "assigned"
    return receipt


def act(client, token, number, **body):
    res = client.http.post(f"/staff/complaints/{number}/actions", body=json.dumps(body).encode(),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return res.status_code, json.loads(res.body)


def clocks(view):
    return {c["name"]: c["state"] for c in view["clocks"]}


def test_accept_note_reply_and_request_information(client, assigned, make_token):
    number, tracking = assigned["complaint_id"], assigned["tracking_token"]
    alice = make_token(role="agent", name="alice", departments=["quality"])
    bob = make_token(role="agent", name="bob", departments=["quality"])

    status, body = act(client, bob, number, action="accept", version=3)
    assert status == 409 and body["error"] == "not_assignee"
    status, case = act(client, alice, number, action="accept", version=3)
    assert status == 200 and case["status"] == "in_progress" and case["version"] == 4
    assert act(client, alice, number, action="accept", version=3)[1]["error"] == "stale_version"

    status, case = act(client, alice, number, action="note", text="checked the batch record", version=4)
    assert status == 200 and case["timeline"][-1]["kind"] == "internal_note"
    assert act(client, alice, number, action="note", text="  ", version=5)[0] == 422

    status, case = act(client, alice, number, action="reply", text="We are looking into it.", version=5)
    assert status == 200 and case["status"] == "in_progress"
    assert clocks(case)["first_response"] == "met" and clocks(case)["resolution"] == "running"

    status, case = act(client, alice, number, action="request_information", text="Please send a photo of the label.",
                       version=6)
    assert status == 200 and case["status"] == "waiting_on_customer"
    states = clocks(case)
    assert states["resolution"] == "paused" and states["cn_consumer.reply"] == "met"  # a reply meets it
    assert "clock_paused" in [e["kind"] for e in case["timeline"]]

    # the customer sees the reply and the question, never the internal note
    tracked = json.loads(client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": tracking}).body)
    texts = [e.get("text") for e in tracked["timeline"]]
    assert "We are looking into it." in texts and "Please send a photo of the label." in texts
    assert "checked the batch record" not in json.dumps(tracked)


def test_writing_to_the_customer_needs_an_accepted_case_and_an_own_department(client, assigned, make_token):
    number = assigned["complaint_id"]
    alice = make_token(role="agent", name="alice", departments=["quality"])
    status, body = act(client, alice, number, action="reply", text="hello", version=3)
    assert status == 409 and body["error"] == "not_in_progress"
    other = make_token(role="agent", name="lina", departments=["logistics"])
    assert act(client, other, number, action="note", text="x", version=3)[1]["error"] == "forbidden"
    assert act(client, alice, number, action="dance", version=3)[0] == 422

"""The customer's tracking view (``GET /complaints/{id}`` with the token; functions/intake/views.py):
the conversation and the plan as the customer may see them, never an internal entry, never a plan
still waiting for a manager, and what the customer can do in each state. Cases are put in each state
straight through the store, as the workflow would leave them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.support import a_complaint, post_json

SECRET = "internal-only-7f3a"  # in every internal text: must never reach the customer


@pytest.fixture
def submitted(aws, client):
    return post_json(client, "/complaints", a_complaint()).json_body  # preferred language zh


def track(client, receipt):
    res = client.http.get(f"/complaints/{receipt['complaint_id']}",
                          headers={"X-Tracking-Token": receipt["tracking_token"]})
    assert res.status_code == 200, res.body
    return json.loads(res.body)


def put_case(number, entries=(), **changes):
    """Change the stored case as a transition would (its version raised), with timeline entries."""
    from shared.store import complaint_repository

    repo = complaint_repository()
    case, _ = repo.get(number)
    repo.save(case.model_copy(update={"version": case.version + 1, "updated_at": datetime.now(timezone.utc),
                                      **changes}), list(entries), expected_version=case.version)


def entry(kind, *, minutes=0, text=None, internal=False, actor="staff:staff-alice", **kwargs):
    from shared.models import TimelineEntry, TimelineKind, Visibility

    return TimelineEntry(at=datetime.now(timezone.utc) + timedelta(minutes=minutes), kind=TimelineKind(kind),
                         visibility=Visibility.INTERNAL if internal else Visibility.PUBLIC, actor=actor, text=text,
                         **kwargs)


def plan(state, *, minutes=0):
    from shared.models import PlanApproval, PlanComponent, ResolutionPlan

    return ResolutionPlan(
        plan_id="plan-7", state=state, proposed_by="staff-alice",
        proposed_at=datetime.now(timezone.utc) + timedelta(minutes=minutes),
        components=[PlanComponent(type="refund", amount=Decimal("129"), currency="CNY"),
                    PlanComponent(type="replacement", description="A new pack from another batch")],
        explanation="We refund the pack and send a new one from another batch.",
        internal_note=f"over the limit, see {SECRET}",
        approval=PlanApproval(required=True, reasons=[f"amount above 100.00 CNY {SECRET}"]))


def test_the_conversation_is_public_and_nothing_internal_leaks(client, submitted):
    from shared.lifecycle import Status
    from shared.models import Attachment

    number = submitted["complaint_id"]
    photo = Attachment(attachment_id="att_" + "1" * 24, filename="label.jpg", content_type="image/jpeg", size=2048,
                       key="attachments/att_" + "1" * 24)
    put_case(number, status=Status.WAITING_ON_CUSTOMER, category="food_safety", department="quality",
             assignee="staff-alice", attachments=[photo], entries=[
                 entry("status_changed", minutes=1, status=Status.IN_PROGRESS),
                 entry("internal_note", minutes=2, text=f"batch record checked {SECRET}", internal=True),
                 entry("staff_reply", minutes=3, text="We are looking into it.",
                       details={"requests_information": False}),
                 entry("staff_reply", minutes=4, text="Please send a photo of the label.",
                       details={"requests_information": True}),
                 entry("status_changed", minutes=4, status=Status.WAITING_ON_CUSTOMER),
                 entry("clock_paused", minutes=4, text=f"paused {SECRET}", internal=True),
                 entry("task_opened", minutes=5, text=f"test the batch {SECRET}"),  # written public by mistake
                 entry("transferred", minutes=5, text=f"to quality {SECRET}"),
                 entry("customer_message", minutes=6, text="Here is the label.", actor="customer",
                       details={"channel": "web", "attachments": [photo.attachment_id, "att_" + "9" * 24]}),
             ])
    view = track(client, submitted)
    dumped = json.dumps(view, ensure_ascii=False)
    assert SECRET not in dumped and "staff-alice" not in dumped

    conversation = [(e["kind"], e["from"], e["text"]) for e in view["timeline"] if e["text"]]
    assert conversation == [("staff_reply", "staff", "We are looking into it."),
                            ("staff_reply", "staff", "Please send a photo of the label."),
                            ("customer_message", "customer", "Here is the label.")]
    replies = [e for e in view["timeline"] if e["kind"] == "staff_reply"]
    assert [e["requests_information"] for e in replies] == [False, True]
    (message,) = [e for e in view["timeline"] if e["kind"] == "customer_message"]
    assert message["attachments"] == [{"filename": "label.jpg"}]  # only this case's files, by name
    kinds = {e["kind"] for e in view["timeline"]}
    assert kinds == {"received", "status_changed", "staff_reply", "customer_message"}
    assert view["status"] == "waiting_on_customer" and view["category"] == "food_safety"
    assert view["actions"] == {"reply": {"max_length": 20_000, "max_attachments": 10}}
    assert view["plan"] is None and view["feedback"] is None and view["merged"] is False


def test_a_plan_waiting_for_approval_is_invisible_until_approved(client, submitted):
    from shared.lifecycle import Status

    number = submitted["complaint_id"]
    put_case(number, status=Status.RESOLUTION_PROPOSED, plan=plan("pending_approval"), entries=[
        entry("plan_proposed", text="We refund the pack and send a new one from another batch.",
              details={"plan_id": "plan-7"}),
        entry("status_changed", status=Status.RESOLUTION_PROPOSED),
        entry("plan_approved", minutes=1, text=f"approved {SECRET}", internal=True),
    ])
    view = track(client, submitted)
    assert view["status"] == "in_progress" and view["plan"] is None
    assert "resolution_proposed" not in json.dumps(view) and "refund" not in json.dumps(view)
    assert "confirm" not in view["actions"] and "reply" in view["actions"]

    put_case(number, plan=plan("rejected"))  # a manager said no: still nothing to see
    view = track(client, submitted)
    assert view["status"] == "in_progress" and view["plan"] is None and "plan_proposed" not in json.dumps(view)

    put_case(number, plan=plan("proposed"))  # approved: now the customer sees it and may answer
    view = track(client, submitted)
    assert view["status"] == "resolution_proposed"
    assert view["plan"] == {
        "plan_id": "plan-7", "state": "proposed",
        "components": [{"type": "refund", "amount": "129.00", "currency": "CNY", "description": None},
                       {"type": "replacement", "amount": None, "currency": None,
                        "description": "A new pack from another batch"}],
        "explanation": "We refund the pack and send a new one from another batch.",
        "proposed_at": view["plan"]["proposed_at"]}
    assert view["actions"]["confirm"] == {"subject": "plan", "confirmation_due_at": None, "reason_max_length": 2000}
    assert [e["kind"] for e in view["timeline"]][-2:] == ["plan_proposed", "status_changed"]
    assert SECRET not in json.dumps(view)


def closed(**more):
    from shared.lifecycle import Status

    now = datetime.now(timezone.utc)
    return {"status": Status.CLOSED, "resolved_at": now - timedelta(days=2), "closed_at": now, **more}


def the_state(name):
    from shared.lifecycle import Status
    from shared.models import Feedback

    now = datetime.now(timezone.utc)
    return {
        "received": {},
        "in progress": {"status": Status.IN_PROGRESS},
        "waiting on the customer": {"status": Status.WAITING_ON_CUSTOMER},
        "plan proposed": {"status": Status.RESOLUTION_PROPOSED, "plan": plan("proposed")},
        "resolved": {"status": Status.RESOLVED, "resolved_at": now, "confirmation_due_at": now + timedelta(days=7),
                     "plan": plan("proposed")},
        "closed, confirmed": closed(closure="confirmed", plan=plan("accepted")),
        "closed silently": closed(closure="resolved_without_confirmation"),
        "closed with feedback": closed(closure="confirmed", feedback=Feedback(
            rating=4, aspects={"speed": "good", "outcome": "bad"}, comment="Quick, but the refund was small.",
            at=now, handler="staff-alice", department="quality")),
        "rejected": {"status": Status.REJECTED, "closure": "rejected", "closed_at": now},
        "withdrawn": {"status": Status.WITHDRAWN, "closure": "withdrawn", "closed_at": now},
        "merged": {"status": Status.MERGED, "closure": "merged", "merged_into": "C33EMNPDNR",
                   "status_before_merge": Status.IN_PROGRESS},
    }[name]


@pytest.mark.parametrize("state, actions", [
    ("received", {"reply"}),
    ("in progress", {"reply"}),
    ("waiting on the customer", {"reply"}),
    ("plan proposed", {"reply", "confirm"}),
    ("resolved", {"reply", "confirm"}),
    ("closed, confirmed", {"feedback"}),
    ("closed silently", {"feedback"}),
    ("closed with feedback", set()),
    ("rejected", set()),
    ("withdrawn", set()),
    ("merged", set()),
])
def test_what_the_customer_can_do_in_each_state(client, submitted, state, actions):
    put_case(submitted["complaint_id"], **the_state(state))
    view = track(client, submitted)
    assert set(view["actions"]) == actions
    if state == "resolved":
        assert view["actions"]["confirm"]["subject"] == "resolution"
        assert view["actions"]["confirm"]["confirmation_due_at"].endswith("Z")
    if "feedback" in actions:
        survey = view["actions"]["feedback"]
        assert (survey["rating_min"], survey["rating_max"]) == (1, 5)
        aspects = {a["aspect_id"]: a for a in survey["aspects"]}
        assert aspects["speed"]["label"] == "处理速度"  # in the case's language (zh)
        assert aspects["speed"]["labels"] == {"en": "Speed of the answer", "zh": "处理速度"}
        assert view["closure"] in ("confirmed", "resolved_without_confirmation") and view["closed_at"]
    if state == "closed with feedback":
        assert view["feedback"]["rating"] == 4 and view["feedback"]["aspects"] == {"speed": "good", "outcome": "bad"}
        assert "staff-alice" not in json.dumps(view)
    if state == "merged":
        assert view["merged"] is True and view["status"] == "merged"
        assert "C33EMNPDNR" not in json.dumps(view)  # another case's number is not the customer's to know
    if state == "closed, confirmed":
        assert view["plan"]["state"] == "accepted"


def test_the_survey_follows_the_workflow_configuration(client, submitted, make_token):
    admin = make_token(role="admin")
    config = {"survey_aspects": [{"aspect_id": "packaging", "label": {"en": "Packaging", "zh": "包装"}}]}
    res = client.http.put("/staff/config/workflow", body=json.dumps({"version": 0, "config": config}),
                          headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    assert res.status_code == 200, res.body
    put_case(submitted["complaint_id"], **closed(closure="confirmed"))
    survey = track(client, submitted)["actions"]["feedback"]
    assert survey["aspects"] == [{"aspect_id": "packaging", "label": "包装", "labels": {"en": "Packaging", "zh": "包装"}}]


def test_the_reason_of_a_resolution_or_rejection_is_told_other_status_texts_are_not(client, submitted):
    from shared.lifecycle import Status

    put_case(submitted["complaint_id"], status=Status.REJECTED, closure="rejected", entries=[
        entry("status_changed", minutes=1, status=Status.IN_PROGRESS, text=f"assigned by rule 4 {SECRET}"),
        entry("status_changed", minutes=2, status=Status.REJECTED,
              text="This product is not one of ours: please contact the seller."),
    ])
    view = track(client, submitted)
    told = [(e["status"], e["text"]) for e in view["timeline"] if e["kind"] == "status_changed"]
    assert ("rejected", "This product is not one of ours: please contact the seller.") in told
    assert ("in_progress", None) in told and SECRET not in json.dumps(view)
    assert view["closure"] == "rejected" and view["actions"] == {}

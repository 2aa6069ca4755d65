"""The customer's side of a case through the routes the tracking page calls, with the tracking token:
``POST /complaints/{id}/messages`` (answers, files, Idempotency-Key), ``/confirmation`` (accept or
dispute a resolution) and ``/feedback`` (the survey of a closed case).

Each test has a P3 quality case routed to staff-alice (the quality lead is staff-qa-lead) and accepted
by her; the domain's clock is held at ``T0`` and moved by the tests. The case is resolved as the
handler's workflow resolves it (:func:`shared.closure.resolve`, saved with the load operations).
The workflow's ``CaseEvent`` s are read from the application's bus through a test rule.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.integration.test_attachments import upload
from tests.integration.test_routing import T0, Clock, call, hire, listen, load, set_leads
from tests.support import a_complaint, post_json

LEAD, MANAGER = "staff-qa-lead", "staff-qa-boss"


# -- fixtures and helpers -----------------------------------------------------------------------------------
@pytest.fixture
def clock(aws):
    from shared.clock import set_clock

    c = Clock(T0)
    set_clock(c)
    yield c
    set_clock(None)


@pytest.fixture
def case_events(aws):
    take = listen(aws, "test-case-events", {"source": ["complaints.workflow"], "detail-type": ["CaseEvent"]})
    return lambda: [e["detail"] for e in take()]


@pytest.fixture
def manager(make_token) -> str:
    return make_token(role="manager", name="qa-boss", departments=["quality"])


@pytest.fixture
def alice(make_token) -> str:
    return make_token(role="agent", name="alice", departments=["quality"])


@pytest.fixture
def case(client, clock, make_token) -> dict:
    """A P3 product-quality case assigned to staff-alice and accepted by her: its number and token."""
    from shared.assignment import assigner
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    set_leads(client, make_token(role="admin", name="root"), quality=(LEAD, MANAGER))
    hire("staff-alice")
    receipt = json.loads(post_json(client, "/complaints", a_complaint()).body)
    repo = complaint_repository()
    stored, _ = repo.get(receipt["complaint_id"])
    repo.save(stored.model_copy(update={"status": Status.CLASSIFIED, "category": "product_quality", "priority": "P3",
                                        "version": stored.version + 1}), [], expected_version=stored.version)
    assert assigner().route(stored.complaint_id).state == "assigned"
    accepted, _ = repo.get(receipt["complaint_id"])  # she starts work on it (the staff "accept" action)
    repo.save(accepted.model_copy(update={"status": Status.IN_PROGRESS, "version": accepted.version + 1}),
              [], expected_version=accepted.version)
    return {"number": receipt["complaint_id"], "token": receipt["tracking_token"]}


def ask_the_customer(number: str) -> None:
    """The handler asks the customer something (the staff "request_information" action): the case
    waits on them, its clocks that pause stop running."""
    from tests.integration.test_sla_sweep import wait_on_customer

    wait_on_customer(number, T0)


def staff_view(client, tok: str, number: str) -> dict:
    status, body = call(client, "GET", f"/staff/complaints/{number}", tok)
    assert status == 200, body
    return body


def customer(client, case: dict, what: str, body, *, token: str | None = "same", number: str | None = None,
             headers: dict | None = None) -> tuple[int, dict, dict]:
    tok = case["token"] if token == "same" else token
    sent = {**({"X-Tracking-Token": tok} if tok else {}), **(headers or {})}
    res = post_json(client, f"/complaints/{number or case['number']}/{what}", body, sent)
    return res.status_code, json.loads(res.body), res.headers


def track(client, case: dict) -> dict:
    res = client.http.get(f"/complaints/{case['number']}", headers={"X-Tracking-Token": case["token"]})
    assert res.status_code == 200, res.body
    return json.loads(res.body)


def resolve(number: str, text: str = "We refunded your order.") -> None:
    """The handler resolves the case (the workflow's transition, saved with the load operations)."""
    from shared.case_events import announce_now
    from shared.clock import now
    from shared.closure import load_ops, resolve as resolved
    from shared.config_store import config_store
    from shared.staff_directory import staff_directory
    from shared.store import complaint_repository

    repo = complaint_repository()
    before, _ = repo.get(number)
    t = resolved(before, actor="staff-alice", text=text, at=now(), configs=config_store(),
                 workflow=config_store().current("workflow").config)
    repo.save(t.case, t.entries, expected_version=before.version,
              also=t.also + load_ops(before, t.case, staff_directory()), events=t.events)
    announce_now(t.events)


def stored(number: str):
    from shared.store import complaint_repository

    return complaint_repository().get(number)[0]


def kinds(timeline: list[dict]) -> list[str]:
    return [e["kind"] for e in timeline]


# -- messages -----------------------------------------------------------------------------------------------
def test_an_answer_from_the_tracking_page_resumes_the_paused_clocks(client, case, clock, alice, case_events):
    number = case["number"]
    due_before = {c["name"]: c for c in staff_view(client, alice, number)["clocks"]}["resolution"]["due_at"]
    ask_the_customer(number)
    paused = {c["name"]: c for c in staff_view(client, alice, number)["clocks"]}
    assert paused["resolution"]["state"] == "paused"
    case_events()

    clock.set(hours=26)
    status, view, _ = customer(client, case, "messages", {"text": "  The label says B2411, best before May.  "})
    assert status == 201 and view["status"] == "in_progress"
    assert [(e["at"], e["kind"], e["status"], e["text"]) for e in view["timeline"][-2:]] == [
        ("2025-03-06T04:00:00.000Z", "customer_message", None, "The label says B2411, best before May."),
        ("2025-03-06T04:00:00.000Z", "status_changed", "in_progress", None)]
    assert track(client, case) == view

    staff = staff_view(client, alice, number)
    running = {c["name"]: c for c in staff["clocks"]}
    assert running["resolution"]["state"] == "running" and running["resolution"]["pauses"] == 1
    assert running["resolution"]["due_at"] > due_before  # moved by the working time spent waiting
    [message] = [e for e in staff["timeline"] if e["kind"] == "customer_message"]
    assert message["actor"] == "customer" and message["details"] == {"channel": "tracking_page", "attachments": []}
    assert "clock_resumed" in kinds(staff["timeline"])
    [event] = case_events()
    assert event["kind"] == "customer_replied" and event["recipients"] == ["staff-alice"]
    assert event["data"]["clocks_resumed"] is True and "B2411" not in json.dumps(event)

    # a message while the case is in progress changes nothing but the timeline
    status, view, _ = customer(client, case, "messages", {"text": "Also: two bags were affected."})
    assert status == 201 and view["status"] == "in_progress"


def test_a_wrong_or_missing_token_answers_like_an_unknown_number(client, case):
    from shared.identifiers import new_complaint_number

    other = json.loads(post_json(client, "/complaints", a_complaint()).body)
    answers = []
    for what, body in (("messages", {"text": "hello"}), ("confirmation", {"accept": True}),
                       ("feedback", {"rating": 5})):
        for token, number in ((None, None), ("wrong-token", None), (other["tracking_token"], None),
                              (case["token"], new_complaint_number(T0))):
            status, answer, _ = customer(client, case, what, body, token=token, number=number)
            answers.append((status, answer))
    assert set(json.dumps(a, sort_keys=True) for _, a in answers) == {json.dumps(
        {"details": [], "error": "not_found", "message": "no complaint with this number and tracking token"},
        sort_keys=True)}
    assert {s for s, _ in answers} == {404}
    assert "customer_message" not in kinds(track(client, case)["timeline"])


def test_validation_of_a_message(client, case):
    for body, field in (({"text": "   "}, "text"), ({"text": "x" * 20_001}, "text"), ({}, "text"),
                        ({"text": "hi", "attachment_ids": ["att_x"]}, "attachment_ids.0"),
                        ({"text": "hi", "extra": 1}, "extra")):
        status, answer, _ = customer(client, case, "messages", body)
        assert status == 422 and answer["error"] == "validation_failed", body
        assert answer["details"][0]["field"] == field, body


def test_files_attached_to_a_message_join_the_case(client, aws, case, alice):
    first, second = upload(client, aws), upload(client, aws, filename="label.png")
    status, view, _ = customer(client, case, "messages", {"text": "Photos attached.",
                                                          "attachment_ids": [first["attachment_id"],
                                                                             second["attachment_id"]]})
    assert status == 201
    staff = staff_view(client, alice, case["number"])
    assert [a["filename"] for a in staff["attachments"]] == ["photo.png", "label.png"]
    assert all(a["download_url"] for a in staff["attachments"])
    [message] = [e for e in staff["timeline"] if e["kind"] == "customer_message"]
    assert message["details"]["attachments"] == [first["attachment_id"], second["attachment_id"]]

    # a file already used, or not uploaded yet, is refused as on the form, and nothing is written
    pending = json.loads(post_json(client, "/complaints/attachments",
                                   {"filename": "late.png", "content_type": "image/png"}).body)
    for ids, problem in (([first["attachment_id"]], "unknown, expired or already used"),
                         ([pending["attachment_id"]], "has not been uploaded yet")):
        status, answer, _ = customer(client, case, "messages", {"text": "again", "attachment_ids": ids})
        assert status == 422 and answer["error"] == "invalid_attachments", answer
        assert problem in answer["details"][0]["problem"]
    assert len([e for e in track(client, case)["timeline"] if e["kind"] == "customer_message"]) == 1


def test_an_idempotency_key_makes_a_retried_message_safe(client, case, case_events):
    case_events()
    key = {"Idempotency-Key": "msg-7f3a"}
    first = customer(client, case, "messages", {"text": "Is there any news?"}, headers=key)
    again = customer(client, case, "messages", {"text": "Is there any news?"}, headers=key)
    assert first[0] == again[0] == 201 and again[2].get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first[2]
    assert first[1] == again[1]
    status, answer, _ = customer(client, case, "messages", {"text": "Something else"}, headers=key)
    assert status == 422 and answer["error"] == "idempotency_key_reused"
    other = customer(client, case, "messages", {"text": "Is there any news?"}, headers={"Idempotency-Key": "msg-2"})
    assert other[0] == 201 and "Idempotent-Replayed" not in other[2]
    texts = [e["text"] for e in track(client, case)["timeline"] if e["kind"] == "customer_message"]
    assert texts == ["Is there any news?", "Is there any news?"]  # the first post and the one with another key
    assert [e["kind"] for e in case_events()] == ["customer_replied", "customer_replied"]
    status, answer, _ = customer(client, case, "messages", {"text": "x"}, headers={"Idempotency-Key": " "})
    assert status == 400 and answer["error"] == "invalid_idempotency_key"


def test_a_resolved_case_takes_messages_a_closed_one_does_not(client, case, clock):
    resolve(case["number"])
    status, view, _ = customer(client, case, "messages", {"text": "Thanks, one question about the refund."})
    assert status == 201 and view["status"] == "resolved"  # the handler reads it; it does not reopen
    assert customer(client, case, "confirmation", {"accept": True})[0] == 200
    status, answer, _ = customer(client, case, "messages", {"text": "One more thing"})
    assert status == 409 and answer["error"] == "case_closed" and "new complaint" in answer["message"]


# -- confirmation ---------------------------------------------------------------------------------------------
def test_accepting_the_resolution_closes_the_case_and_offers_the_survey(client, case, clock, case_events):
    number = case["number"]
    assert load("staff-alice") == 1
    resolve(number)
    assert load("staff-alice") == 0  # resolved: no longer in her open work
    assert [e["kind"] for e in case_events()] == ["resolved"]
    clock.set(days=2)
    status, view, _ = customer(client, case, "confirmation", {"accept": True})
    assert status == 200 and view["status"] == "closed"
    assert kinds(view["timeline"])[-2:] == ["confirmed", "status_changed"]
    closed = stored(number)
    assert closed.closure == "confirmed" and closed.closed_at == T0 + timedelta(days=2)
    assert closed.next_check_at is None
    [event] = case_events()
    assert event["kind"] == "closed" and event["data"] == {"closure": "confirmed", "survey": True}
    assert event["actor"] == "customer"

    again = customer(client, case, "confirmation", {"accept": True})  # a double click
    assert again[0] == 200 and again[1] == view and stored(number).version == closed.version
    assert case_events() == [] and load("staff-alice") == 0
    status, answer, _ = customer(client, case, "confirmation", {"accept": False, "reason": "changed my mind"})
    assert status == 409 and answer["error"] == "nothing_to_confirm"


def test_disputing_reopens_the_case_escalated_with_the_reason_for_staff(client, case, clock, alice, case_events):
    number = case["number"]
    resolve(number)
    case_events()
    status, answer, _ = customer(client, case, "confirmation", {"accept": False})
    assert status == 422 and answer["details"] == [
        {"field": "body", "problem": "tell us why the resolution does not solve your problem (reason)"}]
    assert customer(client, case, "confirmation", {"accept": False, "reason": "x" * 2001})[0] == 422
    assert customer(client, case, "confirmation", {"accept": "no", "reason": "x"})[0] == 422

    clock.set(days=3)
    status, view, _ = customer(client, case, "confirmation",
                               {"accept": False, "reason": "The refund never reached my card."})
    assert status == 200 and view["status"] == "in_progress"
    assert "disputed" in kinds(view["timeline"])
    staff = staff_view(client, alice, number)
    assert staff["escalated"] is True and staff["escalation_level"] == 1 and staff["reopened_count"] == 1
    [disputed] = [e for e in staff["timeline"] if e["kind"] == "disputed"]
    assert disputed["text"] == "The refund never reached my card." and disputed["actor"] == "customer"
    assert {c["name"]: c["state"] for c in staff["clocks"]}["resolution"] in ("running", "breached")
    assert load("staff-alice") == 1  # back in her open work
    [event] = case_events()
    assert event["kind"] == "disputed" and event["recipients"] == ["staff-alice", LEAD]
    assert "never reached" not in json.dumps(event)

    again = customer(client, case, "confirmation", {"accept": False, "reason": "The refund never reached my card."})
    assert again[0] == 200 and stored(number).version == staff["version"] and case_events() == []
    status, answer, _ = customer(client, case, "confirmation", {"accept": True})
    assert status == 409 and answer["error"] == "nothing_to_confirm"


def test_nothing_to_confirm_before_the_resolution(client, case):
    for body in ({"accept": True}, {"accept": False, "reason": "not happy"}):
        status, answer, _ = customer(client, case, "confirmation", body)
        assert status == 409 and answer["error"] == "nothing_to_confirm", body
    assert stored(case["number"]).status.value == "in_progress"


# -- the survey -----------------------------------------------------------------------------------------------
def test_the_survey_is_answered_once_and_kept_per_department_and_handler(client, case, clock):
    from shared.feedback import feedback_store

    number = case["number"]
    answer_body = {"rating": 4, "aspects": {"speed": "good", "outcome": "bad"}, "comment": "Fast, but only half."}
    status, answer, _ = customer(client, case, "feedback", answer_body)
    assert status == 409 and answer["error"] == "not_closed"
    resolve(number)
    clock.set(days=1)
    assert customer(client, case, "confirmation", {"accept": True})[0] == 200

    for bad, field in (({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({"rating": "5"}, "rating"),
                       ({"rating": 4.5}, "rating"), ({}, "rating"), ({"rating": 3, "aspects": {"speed": "meh"}},
                                                                       "aspects.speed"),
                       ({"rating": 3, "comment": "x" * 2001}, "comment")):
        status, answer, _ = customer(client, case, "feedback", bad)
        assert status == 422 and answer["details"][0]["field"] == field, bad
    status, answer, _ = customer(client, case, "feedback", {"rating": 3, "aspects": {"parking": "good"}})
    assert status == 422 and answer["error"] == "unknown_aspect" and "parking" in answer["message"]

    clock.set(days=2)
    status, view, _ = customer(client, case, "feedback", answer_body)
    assert status == 201 and view["timeline"][-1]["kind"] == "feedback"
    kept = stored(number)
    assert kept.feedback.rating == 4 and kept.feedback.aspects == {"speed": "good", "outcome": "bad"}
    assert (kept.feedback.handler, kept.feedback.department) == ("staff-alice", "quality")
    assert kept.feedback.comment == "Fast, but only half."

    assert customer(client, case, "feedback", answer_body)[0] == 200  # the same answer again
    status, answer, _ = customer(client, case, "feedback", {"rating": 1})
    assert status == 409 and answer["error"] == "already_answered"
    assert stored(number).feedback.rating == 4

    records = feedback_store().for_department("quality", T0, T0 + timedelta(days=3))
    assert [(r.complaint_id, r.rating, r.aspects, r.closure, r.category, r.priority, r.handler) for r in records] == [
        (number, 4, {"speed": "good", "outcome": "bad"}, "confirmed", "product_quality", "P3", "staff-alice")]
    assert records[0].at == "2025-03-07T02:00:00.000Z"
    assert feedback_store().for_handler("staff-alice", T0, T0 + timedelta(days=3)) == records
    assert feedback_store().for_department("quality", T0 + timedelta(days=3), T0 + timedelta(days=9)) == []
    assert feedback_store().for_department("logistics", T0, T0 + timedelta(days=3)) == []
    assert "half" not in repr(records)  # the comment stays on the case

"""Help for the handler: ``GET /staff/responses`` (canned responses by category and language) and
``GET /staff/complaints/{id}/suggestions`` (those responses plus resolved cases like this one, with
the plan that resolved them)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.support import a_complaint, post_json


def get(client, path, token):
    res = client.http.get(path, headers={"Authorization": f"Bearer {token}"})
    return res.status_code, json.loads(res.body)


def make_case(client, *, title, description, category="product_quality", department="quality", status="closed",
              plan=None, rating=None, closure="confirmed", messages=()):
    """A case as the workflow leaves it, written straight to the store."""
    from shared.lifecycle import Status
    from shared.models import Feedback, PlanComponent, ResolutionPlan, TimelineEntry, TimelineKind
    from shared.store import complaint_repository

    number = post_json(client, "/complaints", a_complaint(title=title, description=description)).json_body[
        "complaint_id"]
    repo = complaint_repository()
    case, _ = repo.get(number)
    at = datetime.now(timezone.utc)
    changes = {"status": Status(status), "category": category, "department": department, "priority": "P3",
               "version": case.version + 1, "updated_at": at}
    if status in ("resolved", "closed"):
        changes["resolved_at"] = at - timedelta(days=1)
    if status == "closed":
        changes.update(closed_at=at, closure=closure)
    if plan:
        components = [PlanComponent(**c) for c in plan["components"]]
        changes["plan"] = ResolutionPlan(plan_id="plan-1", components=components, explanation=plan["explanation"],
                                         internal_note="internal: batch B2411 seal fault", proposed_by="staff-alice",
                                         proposed_at=at - timedelta(days=2), state="accepted")
    if rating:
        changes["feedback"] = Feedback(rating=rating, at=at, handler="staff-alice", department=department)
    entries = [TimelineEntry(at=at, kind=TimelineKind.CUSTOMER_MESSAGE, actor="customer", text=m) for m in messages]
    repo.save(case.model_copy(update=changes), entries, expected_version=case.version)
    return number


@pytest.fixture
def cases(aws, client):
    refund = {"components": [{"type": "refund", "amount": Decimal("129.00"), "currency": "CNY"},
                             {"type": "apology"}],
              "explanation": "We refunded the kettle in full and apologise for the leak."}
    return {
        "current": make_case(client, title="Kettle leaking", status="in_progress",
                             description="My new electric kettle leaks water from the base when it boils.",
                             messages=["The leak is at the seam next to the power switch."]),
        "kettle": make_case(client, title="Water leaking from kettle",
                            description="The electric kettle started leaking water from the base after a week; "
                                        "the seam near the switch is wet.",
                            plan=refund, rating=4),
        "kettle_resolved": make_case(client, title="Kettle base leaks", status="resolved",
                                     description="Leaking kettle: water comes out of the base."),
        "open_twin": make_case(client, title="Kettle leaking", status="in_progress",
                               description="My new electric kettle leaks water from the base when it boils."),
        "other_category": make_case(client, title="Kettle leaking", category="delivery_logistics",
                                    description="My new electric kettle leaks water from the base when it boils."),
        "other_department": make_case(client, title="Kettle drips", department="after-sales",
                                      description="Water drips from the base of my electric kettle."),
        "unrelated": make_case(client, title="Blender stopped",
                               description="The blender motor stopped after two days and smells of burning."),
    }


def test_a_manager_gets_responses_and_similar_resolved_cases_with_their_plan(client, cases, make_token):
    status, body = get(client, f"/staff/complaints/{cases['current']}/suggestions", make_token(role="manager"))
    assert status == 200
    assert body["category"] == "product_quality" and body["language"] == "zh"
    # the case's category first, then the general ones; all in the case's language
    assert {r["language"] for r in body["responses"]} == {"zh"}
    assert body["responses"][0]["categories"] == ["product_quality"]
    assert {"reply", "request_information"} <= {r["purpose"] for r in body["responses"] if r["categories"]}
    assert body["responses"][-1]["categories"] == []

    similar = body["similar_cases"]
    numbers = [s["complaint_id"] for s in similar]
    assert numbers[0] == cases["kettle"]  # the closest history: the same seam, the same switch
    assert set(numbers) == {cases["kettle"], cases["kettle_resolved"], cases["other_department"]}
    assert cases["open_twin"] not in numbers and cases["other_category"] not in numbers  # open / other category
    assert cases["unrelated"] not in numbers and cases["current"] not in numbers
    assert all(0 < s["score"] <= 1 for s in similar) and similar == sorted(similar, key=lambda s: -s["score"])
    best = similar[0]
    assert best["title"] == "Water leaking from kettle" and best["closure"] == "confirmed"
    assert best["feedback_rating"] == 4 and best["status"] == "closed"
    assert best["plan"] == {"state": "accepted", "explanation": "We refunded the kettle in full and apologise for the leak.",
                            "components": [{"type": "refund", "amount": "129.00", "currency": "CNY"},
                                           {"type": "apology"}]}
    assert "description" not in best and "internal_note" not in json.dumps(best)


def test_an_agent_sees_similar_cases_of_their_own_departments_only(client, cases, make_token):
    agent = make_token(role="agent", name="alice", departments=["quality"])
    status, body = get(client, f"/staff/complaints/{cases['current']}/suggestions", agent)
    assert status == 200
    assert cases["other_department"] not in [s["complaint_id"] for s in body["similar_cases"]]
    assert cases["kettle"] in [s["complaint_id"] for s in body["similar_cases"]]
    outsider = make_token(role="agent", name="lina", departments=["logistics"])
    status, body = get(client, f"/staff/complaints/{cases['current']}/suggestions", outsider)
    assert status == 403 and body["error"] == "forbidden"
    assert get(client, "/staff/complaints/CK7M4QX9TR/suggestions", make_token())[0] in (400, 404)


def test_a_case_with_nothing_like_it_gets_no_similar_cases(client, aws, make_token):
    number = make_case(client, title="Rude driver", category="service_attitude", department="customer-service",
                       status="in_progress", description="The driver shouted at my mother at the door.")
    make_case(client, title="Wrong invoice", category="service_attitude", department="customer-service",
              description="The invoice shows a company name that is not ours.")
    status, body = get(client, f"/staff/complaints/{number}/suggestions", make_token(role="manager"))
    assert status == 200 and body["similar_cases"] == []
    assert body["responses"]


def test_canned_responses_by_category_language_and_purpose(client, aws, make_token):
    token = make_token(role="auditor")
    status, body = get(client, "/staff/responses?category=food_safety&language=en", token)
    assert status == 200 and body["config_version"] == 0
    titles = [r["title"] for r in body["responses"]]
    assert body["responses"][0]["categories"] == ["food_safety"] and all(r["language"] == "en" for r in body["responses"])
    assert any("Food safety" in t for t in titles) and not any("Delivery" in t for t in titles)
    status, body = get(client, "/staff/responses?category=billing_price&language=zh&purpose=request_information", token)
    assert status == 200 and body["responses"]
    assert {r["purpose"] for r in body["responses"]} == {"request_information"}
    status, every = get(client, "/staff/responses", token)
    assert status == 200 and {r["language"] for r in every["responses"]} == {"zh", "en"}
    assert len(every["responses"]) > len(body["responses"])

    status, body = get(client, "/staff/responses?category=weather&language=fr&colour=red", token)
    assert status == 400 and body["error"] == "invalid_query"
    assert {d["field"] for d in body["details"]} == {"category", "language", "colour"}
    assert client.http.get("/staff/responses").status_code == 401


def test_an_admins_change_to_the_responses_is_listed(client, aws, make_token):
    admin = make_token(role="admin", name="Root")
    document = {"responses": [{"response_id": "recall-en", "language": "en", "categories": ["food_safety"],
                               "purpose": "reply", "title": "Recall notice",
                               "text": "Dear {name}, batch B2411 is being recalled; please return it to the store."}]}
    res = client.http.put("/staff/config/responses", body=json.dumps({"version": 0, "config": document}),
                          headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
    assert res.status_code == 200, res.body
    status, body = get(client, "/staff/responses?category=food_safety", make_token(role="agent"))
    assert status == 200 and body["config_version"] == 1
    assert [r["response_id"] for r in body["responses"]] == ["recall-en"]

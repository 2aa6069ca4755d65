"""The handler's workflow through the functions AWS calls: ``POST /staff/complaints/{id}/actions`` (escalate,
investigation tasks, resolution plans and their approval, resolve/reopen, reject/withdraw, merge/split),
``GET /staff/tasks`` and ``POST /staff/complaints/{id}/tasks/{task_id}`` for the department doing a task,
``GET /staff/approvals`` and ``GET /staff/compensation`` for managers - with real staff JWTs, the
CaseEvents taken from a queue on the application's bus, and the outbox when a publish fails.

People: staff-alice (agent, quality) handles the cases; staff-lena leads quality; staff-mara and
staff-nora are managers (mara: quality's manager in the routing configuration); staff-bob is a
logistics agent. The domain's clock is held still at ``T0`` and moved by the tests.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import boto3
import pytest

from tests.support import a_complaint, post_json

T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)
MONTH = "2025-03"


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def tick(self, minutes: int = 5) -> None:
        self.at += timedelta(minutes=minutes)


@pytest.fixture
def clock(aws):
    from shared.clock import set_clock

    c = Clock()
    set_clock(c)
    yield c
    set_clock(None)


@pytest.fixture
def people(client, clock, make_token) -> dict[str, str]:
    """The staff directory, quality's lead and manager in the routing configuration, and a token each."""
    from shared.staff_directory import HandlerProfileIn, staff_directory

    directory = staff_directory()
    for handler, departments in (("staff-alice", ["quality"]), ("staff-bob", ["logistics"])):
        directory.put_profile(handler, HandlerProfileIn(name=handler[6:].title(), departments=departments))
        directory.set_on_duty(handler, True)
    tokens = {
        "alice": make_token(role="agent", name="alice", departments=["quality"]),
        "lena": make_token(role="lead", name="lena", departments=["quality"]),
        "bob": make_token(role="agent", name="bob", departments=["logistics"]),
        "mara": make_token(role="manager", name="mara", departments=["quality"]),
        "nora": make_token(role="manager", name="nora", departments=["quality"]),
        "auditor": make_token(role="auditor", name="audrey", departments=["quality"]),
    }
    admin = make_token(role="admin", name="root", departments=["quality"])
    status, current = call(client, "GET", "/staff/config/routing", admin)
    config = current["config"]
    next(d for d in config["departments"] if d["department_id"] == "quality").update(
        lead="staff-lena", manager="staff-mara")
    status, saved = call(client, "PUT", "/staff/config/routing", admin, {"version": current["version"], "config": config})
    assert status == 200, saved
    return tokens


TRACKING: dict[str, str] = {}  # complaint number -> the customer's tracking token


def new_case(client, clock, **overrides) -> str:
    """A P3 product-quality case from the form, classified and assigned to staff-alice (quality)."""
    from shared.assignment import assigner
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    res = post_json(client, "/complaints", a_complaint(**overrides))
    assert res.status_code == 201, res.body
    receipt = json.loads(res.body)
    number = receipt["complaint_id"]
    TRACKING[number] = receipt["tracking_token"]
    repo = complaint_repository()
    case, _ = repo.get(number)
    classified = case.model_copy(update={"status": Status.CLASSIFIED, "category": "product_quality", "priority": "P3",
                                         "version": case.version + 1, "updated_at": clock()})
    repo.save(classified, [], expected_version=case.version)
    assert assigner().route(number).state == "assigned"
    clock.tick()
    return number


def call(client, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    if method == "GET":
        res = client.http.get(path, headers=headers)
    else:
        res = getattr(client.http, method.lower())(path, headers=headers, body=json.dumps(body or {}).encode())
    return res.status_code, (json.loads(res.body) if res.body else None)


def case_of(client, token: str, number: str) -> dict:
    status, body = call(client, "GET", f"/staff/complaints/{number}", token)
    assert status == 200, body
    return body


def act(client, token: str, number: str, clock: Clock | None = None, **body) -> tuple[int, dict]:
    if clock:
        clock.tick()
    return call(client, "POST", f"/staff/complaints/{number}/actions", token, body)


def ok(result: tuple[int, dict]) -> dict:
    status, body = result
    assert status == 200, body
    return body


def stored(number: str):
    from shared.store import complaint_repository

    return complaint_repository().get_many([number])[number]


def load(handler: str) -> int:
    from shared.staff_directory import staff_directory

    return staff_directory().profile(handler).open_load


def ledger(client, token: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in {"month": MONTH, **params}.items())
    status, body = call(client, "GET", f"/staff/compensation?{query}", token)
    assert status == 200, body
    return body


@pytest.fixture
def case_events(aws) -> Callable[[], list[dict]]:
    """The CaseEvents put on the application's bus (their ``detail``), taken from a test queue."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="test-case-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="test-case-events", EventBusName=aws["EVENT_BUS_NAME"],
                    EventPattern=json.dumps({"source": ["complaints.workflow"], "detail-type": ["CaseEvent"]}))
    events.put_targets(Rule="test-case-events", EventBusName=aws["EVENT_BUS_NAME"], Targets=[{"Id": "q", "Arn": arn}])

    def take() -> list[dict]:
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                out.append(json.loads(m["Body"])["detail"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return sorted(out, key=lambda e: (e["version"], e["event_id"]))

    return take


def kinds(events: list[dict]) -> list[str]:
    return [e["kind"] for e in events]


def customer_view(client, number: str) -> dict:
    """What the customer's tracking page shows (``GET /complaints/{id}`` with their token)."""
    res = client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": TRACKING[number]})
    assert res.status_code == 200, res.body
    return json.loads(res.body)


def public_kinds(client, number: str) -> list[str]:
    return [e["kind"] for e in customer_view(client, number)["timeline"]]


# -- versions --------------------------------------------------------------------------------------------------
def test_two_handlers_acting_on_the_same_version_one_wins(client, clock, people):
    from functions.staff.workflow import commit
    from shared.config_store import config_store
    from shared.repository import StaleVersion
    from shared.store import complaint_repository
    from shared.workflow import Context, apply, parse_command

    number = new_case(client, clock)
    alice, lena = people["alice"], people["lena"]
    case = ok(act(client, alice, number, clock, action="accept", version=3))
    assert case["version"] == 4
    first = act(client, alice, number, clock, action="note", text="called the warehouse", version=4)
    second = act(client, lena, number, clock, action="escalate", reason="VIP customer", version=4)
    assert first[0] == 200 and second == (409, {"error": "stale_version", "details": [],
                                                "message": second[1]["message"]})
    # the same race decided by the database: both read version 5, the write of the slower one is refused
    read = complaint_repository().get_many([number])[number]
    ok(act(client, alice, number, clock, action="note", text="first", version=5))
    late = apply(read, parse_command({"action": "escalate", "reason": "late", "version": 5}),
                 Context(actor_id="staff-lena", at=clock(), configs=config_store()))
    with pytest.raises(StaleVersion):
        commit([late])
    timeline = case_of(client, alice, number)["timeline"]
    assert [e["text"] for e in timeline if e["kind"] == "internal_note"] == ["called the warehouse", "first"]
    assert not [e for e in timeline if e["kind"] == "escalated"]


# -- escalation ----------------------------------------------------------------------------------------------------
def test_escalate_tells_the_lead_then_the_manager(client, clock, people, case_events):
    number = new_case(client, clock)
    case_events()  # the assignment's event
    case = ok(act(client, people["alice"], number, clock, action="escalate", reason="second complaint this month",
                  version=3))
    assert case["escalated"] and case["escalation_level"] == 1
    [entry] = [e for e in case["timeline"] if e["kind"] == "escalated"]
    assert entry["visibility"] == "internal" and entry["text"] == "second complaint this month"
    case = ok(act(client, people["lena"], number, clock, action="escalate", reason="no answer from QA", version=4))
    assert case["escalation_level"] == 2
    assert [(e["kind"], e["recipients"], e["data"]["level"]) for e in case_events()] == [
        ("escalated", ["staff-lena"], 1), ("escalated", ["staff-mara"], 2)]  # the lead is not told of her own act
    status, body = act(client, people["bob"], number, action="escalate", reason="x", version=5)
    assert status == 403 and body["error"] == "forbidden"
    status, body = act(client, people["alice"], number, action="escalate", version=5)
    assert status == 422 and body["details"] == [{"field": "escalate.reason", "problem": "is required"}]
    status, body = act(client, people["alice"], number, action="promote", version=5)
    assert status == 422 and body["details"][0]["field"] == "action" and "escalate" in body["details"][0]["problem"]
    status, body = act(client, people["alice"], number, action="escalate", reason="x", urgency="high", version=5)
    assert status == 422 and body["details"] == [{"field": "escalate.urgency", "problem": "unknown field"}]


# -- investigation tasks ------------------------------------------------------------------------------------------
def test_a_task_for_another_department_blocks_the_resolution_until_that_department_closes_it(
        client, clock, people, case_events):
    number = new_case(client, clock)
    alice, bob = people["alice"], people["bob"]
    ok(act(client, alice, number, clock, action="accept", version=3))
    case = ok(act(client, alice, number, clock, action="open_task", department="logistics",
                  title="Check the courier's scan log", assignee="staff-bob", version=4))
    [task] = case["tasks"]
    assert task["state"] == "open" and task["due_at"] == "2025-03-08T02:15:00.000Z"  # 3 days (task_due_days)
    assert case["open_tasks"] == 1
    case_events()

    # logistics finds it on its board (bob names no department: his own), with what it needs of the case
    status, board = call(client, "GET", "/staff/tasks", bob)
    assert status == 200, board
    [listed] = board["tasks"]
    assert listed["task_id"] == task["task_id"] and listed["title"] == "Check the courier's scan log"
    assert listed["complaint"] == {"complaint_id": number, "title": "Frozen dumplings smelled off",
                                   "category": "product_quality", "priority": "P3", "department": "quality",
                                   "status": "in_progress", "assignee": "staff-alice", "version": 5}
    assert call(client, "GET", "/staff/tasks?department=quality", bob)[0] == 403
    assert call(client, "GET", "/staff/tasks?department=quality", alice)[1]["tasks"] == []

    status, body = act(client, alice, number, clock, action="resolve", text="Solved.", version=5)
    assert status == 409 and body["error"] == "open_tasks"

    path = f"/staff/complaints/{number}/tasks/{task['task_id']}"
    assert call(client, "POST", path, alice, {"state": "done", "outcome": "x", "version": 5})[0] == 403
    assert call(client, "POST", f"/staff/complaints/{number}/tasks/tsk_nope", bob,
                {"state": "done", "outcome": "x", "version": 5})[0] == 404
    assert call(client, "POST", path, bob, {"state": "finished", "outcome": "x", "version": 5})[0] == 422
    assert call(client, "POST", path, bob, {"state": "done", "outcome": "x", "version": 4})[1]["error"] == "stale_version"
    clock.tick()
    status, closed = call(client, "POST", path, bob, {"state": "done", "outcome": "delivered crushed", "version": 5})
    assert status == 200, closed
    assert closed["task"]["state"] == "done" and closed["task"]["closed_by"] == "staff-bob"
    assert closed["version"] == 6 and closed["open_tasks"] == 0
    again = call(client, "POST", path, bob, {"state": "done", "outcome": "x", "version": 6})
    assert again[0] == 409 and again[1]["error"] == "task_closed"
    assert call(client, "GET", "/staff/tasks", bob)[1]["tasks"] == []  # off the board
    assert [(e["kind"], e["recipients"], e["data"]) for e in case_events()] == [
        ("task_closed", ["staff-alice"], {"task_id": task["task_id"], "task_department": "logistics",
                                         "state": "done"})]

    assert load("staff-alice") == 1
    case = ok(act(client, alice, number, clock, action="resolve", text="We replaced the dumplings.", version=6))
    assert case["status"] == "resolved" and case["confirmation_due_at"] == "2025-03-12T02:30:00.000Z"
    assert load("staff-alice") == 0  # the resolved case no longer counts against her cap
    assert kinds(case_events()) == ["resolved"]
    case = ok(act(client, alice, number, clock, action="reopen", reason="the replacement was faulty too", version=7))
    assert case["status"] == "in_progress" and case["reopened_count"] == 1 and load("staff-alice") == 1
    assert kinds(case_events()) == ["reopened"]


def test_opening_and_cancelling_tasks(client, clock, people, case_events):
    number = new_case(client, clock)
    alice = people["alice"]
    case_events()
    case = ok(act(client, alice, number, clock, action="open_task", department="quality", title="Test batch B2411",
                  details="lab test for contamination", due_at="2025-03-06T10:00:00+08:00", version=3))
    task = case["tasks"][0]
    assert task["due_at"] == "2025-03-06T02:00:00.000Z"
    [event] = case_events()
    assert event["kind"] == "task_assigned" and event["recipients"] == ["staff-lena"]  # quality's lead
    assert event["data"]["task_id"] == task["task_id"]
    for body, code in [({"department": "marketing", "title": "x"}, "unknown_department"),
                       ({"department": "quality", "title": "x", "assignee": "staff-bob"}, "unknown_handler"),
                       ({"department": "quality", "title": "x", "due_at": "2025-03-01T00:00:00Z"}, "due_in_past")]:
        status, answer = act(client, alice, number, action="open_task", version=4, **body)
        assert (status, answer["error"]) == (422, code)
    lena_board = call(client, "GET", "/staff/tasks?department=quality", people["lena"])[1]
    assert [t["task_id"] for t in lena_board["tasks"]] == [task["task_id"]]
    case = ok(act(client, alice, number, clock, action="cancel_task", task_id=task["task_id"],
                  reason="the lab already tested it", version=4))
    assert case["tasks"][0]["state"] == "cancelled" and case["tasks"][0]["outcome"] == "the lab already tested it"
    assert call(client, "GET", "/staff/tasks?department=quality", people["lena"])[1]["tasks"] == []
    [event] = case_events()
    assert event["kind"] == "task_closed" and event["recipients"] == ["staff-lena"]
    assert [e["kind"] for e in case["timeline"] if e["visibility"] == "internal"][-2:] == ["task_opened", "task_closed"]


def test_the_board_pages_through_a_departments_tasks_by_due_date(client, clock, people):
    number = new_case(client, clock)
    version = 3
    for days in (5, 2, 9):
        ok(act(client, people["alice"], number, clock, action="open_task", department="logistics", title=f"in {days}",
               due_at=(T0 + timedelta(days=days)).isoformat(), version=version))
        version += 1
    status, first = call(client, "GET", "/staff/tasks?department=logistics&limit=2", people["mara"])
    assert status == 200 and [t["title"] for t in first["tasks"]] == ["in 2", "in 5"]
    status, rest = call(client, "GET", f"/staff/tasks?department=logistics&limit=2&cursor={first['next_cursor']}",
                        people["mara"])
    assert [t["title"] for t in rest["tasks"]] == ["in 9"] and rest["next_cursor"] is None
    everything = call(client, "GET", "/staff/tasks", people["mara"])[1]  # a manager: every department
    assert [t["title"] for t in everything["tasks"]] == ["in 2", "in 5", "in 9"]
    assert call(client, "GET", "/staff/tasks?department=logistics&cursor=bogus", people["mara"])[0] == 400


# -- resolution plans, approval, the ledger ---------------------------------------------------------------------
def test_a_plan_above_the_limit_waits_for_another_manager_and_is_booked_when_the_customer_sees_it(
        client, clock, people, case_events):
    number = new_case(client, clock)
    alice, mara, nora = people["alice"], people["mara"], people["nora"]
    ok(act(client, alice, number, clock, action="accept", version=3))
    case_events()
    case = ok(act(client, alice, number, clock, action="propose_resolution",
                  explanation="We refund the order in full.", internal_note="customer since 2019",
                  components=[{"type": "refund", "amount": "800.00", "currency": "CNY"}, {"type": "apology"}],
                  version=4))
    plan = case["plan"]
    assert case["status"] == "resolution_proposed" and plan["state"] == "pending_approval"
    assert plan["approval"]["reasons"] == ["800.00 CNY above the limit of 500 CNY"]
    assert "plan_proposed" not in public_kinds(client, number)  # the customer sees nothing yet
    [event] = case_events()
    assert (event["kind"], event["recipients"], event["data"]) == (
        "approval_needed", ["staff-mara"], {"plan_id": plan["plan_id"]})

    status, waiting = call(client, "GET", "/staff/approvals", mara)
    assert status == 200 and len(waiting["approvals"]) == 1
    [item] = waiting["approvals"]
    assert item["complaint_id"] == number and item["plan"]["plan_id"] == plan["plan_id"]
    assert item["reasons"] == plan["approval"]["reasons"] and item["proposed_by"] == "staff-alice"
    assert call(client, "GET", "/staff/approvals", people["auditor"])[0] == 200
    assert call(client, "GET", "/staff/approvals", alice)[0] == 403

    status, body = act(client, alice, number, action="approve", version=5)
    assert status == 403 and body["error"] == "forbidden"  # approvals are a manager's
    status, body = act(client, people["lena"], number, action="reject_plan", comment="no", version=5)
    assert status == 403
    assert ledger(client, mara)["entries"] == []

    case = ok(act(client, mara, number, clock, action="approve", comment="loyal customer", version=5))
    assert case["plan"]["state"] == "proposed" and case["plan"]["approval"]["decided_by"] == "staff-mara"
    assert "plan_proposed" in public_kinds(client, number)
    [shown] = [e for e in case["timeline"] if e["kind"] == "plan_proposed" and e["visibility"] == "public"]
    assert shown["text"] == "We refund the order in full." and "customer since 2019" not in json.dumps(shown)
    assert [(e["kind"], e["recipients"], e["data"].get("approved")) for e in case_events()] == [
        ("plan_decided", ["staff-alice"], True), ("resolution_proposed", [], None)]
    assert call(client, "GET", "/staff/approvals", mara)[1]["approvals"] == []
    booked = ledger(client, mara)
    assert booked["totals"] == {"CNY": {"refund": "800.00", "total": "800.00"}}
    [line] = booked["entries"]
    assert (line["complaint_id"], line["amount"], line["department"], line["handler"], line["sku"], line["batch"]) == (
        number, "800.00", "quality", "staff-alice", "DUMP-1KG", "B2411")
    again = act(client, nora, number, action="approve", version=6)
    assert again[0] == 409 and again[1]["error"] == "nothing_to_approve"

    # a revised plan within the limits: shown at once; the 800 is reversed, the 300 booked
    case = ok(act(client, alice, number, clock, action="propose_resolution", explanation="A partial refund.",
                  components=[{"type": "refund", "amount": "300", "currency": "CNY"},
                              {"type": "compensation", "amount": "20", "currency": "USD"}], version=6))
    assert case["plan"]["state"] == "proposed"
    booked = ledger(client, mara)
    assert booked["totals"] == {"CNY": {"refund": "300.00", "total": "300.00"},
                                "USD": {"compensation": "20.00", "total": "20.00"}}
    assert sorted((e["amount"], e["currency"], e["reverses"] or "") for e in booked["entries"]) == [
        ("-800.00", "CNY", line["key"]), ("20.00", "USD", ""), ("300.00", "CNY", ""), ("800.00", "CNY", "")]
    assert ledger(client, people["auditor"], department="logistics")["entries"] == []
    assert ledger(client, people["auditor"], department="quality")["totals"] == booked["totals"]
    assert ledger(client, mara, month="2025-04")["entries"] == []
    assert call(client, "GET", "/staff/compensation", alice)[0] == 403
    assert call(client, "GET", "/staff/compensation?month=2025-13", mara)[0] == 400

    # a plan a manager proposes is decided by another manager
    case = ok(act(client, mara, number, clock, action="propose_resolution", explanation="Refund and a voucher.",
                  components=[{"type": "refund", "amount": "600", "currency": "CNY"}], version=7))
    status, body = act(client, mara, number, action="approve", version=8)
    assert status == 409 and body["error"] == "own_plan"
    case = ok(act(client, nora, number, clock, action="reject_plan", comment="600 is too much", version=8))
    assert case["plan"]["state"] == "rejected" and case["status"] == "in_progress"
    assert [e["text"] for e in case["timeline"] if e["kind"] == "plan_rejected"] == ["600 is too much"]
    assert ledger(client, mara)["totals"]["CNY"]["total"] == "0.00"  # the 300 plan was superseded by it


def test_approvals_list_the_longest_waiting_plan_first(client, clock, people):
    first, second = new_case(client, clock), new_case(client, clock)
    for number in (second, first):
        ok(act(client, people["alice"], number, clock, action="accept", version=3))
        ok(act(client, people["alice"], number, clock, action="propose_resolution", explanation="refund",
               components=[{"type": "refund", "amount": "501", "currency": "CNY"}], version=4))
    approvals = call(client, "GET", "/staff/approvals", people["mara"])[1]["approvals"]
    assert [a["complaint_id"] for a in approvals] == [second, first]
    assert approvals[0]["proposed_at"] < approvals[1]["proposed_at"]


def test_resolve_is_refused_while_a_plan_waits_for_approval(client, clock, people):
    number = new_case(client, clock)
    alice = people["alice"]
    ok(act(client, alice, number, clock, action="accept", version=3))
    ok(act(client, alice, number, clock, action="propose_resolution", explanation="x",
           components=[{"type": "compensation", "amount": "10", "currency": "JPY"}], version=4))  # no JPY limit
    status, body = act(client, alice, number, clock, action="resolve", version=5)
    assert status == 409 and body["error"] == "plan_pending_approval"


# -- endings --------------------------------------------------------------------------------------------------------
def test_reject_and_withdraw_end_the_case_and_free_the_handler(client, clock, people, case_events):
    alice = people["alice"]
    first, second = new_case(client, clock), new_case(client, clock)
    assert load("staff-alice") == 2
    case_events()
    case = ok(act(client, alice, first, clock, action="reject", reason="This product is not sold by us.", version=3))
    assert case["status"] == "rejected" and case["closure"] == "rejected" and case["closed_at"]
    assert all(c["state"] in ("met", "missed") for c in case["clocks"])
    status_entry = next(e for e in case["timeline"] if e["kind"] == "status_changed" and e["status"] == "rejected")
    assert status_entry["visibility"] == "public" and status_entry["text"] == "This product is not sold by us."
    case = ok(act(client, alice, second, clock, action="withdraw", reason="the customer called to withdraw",
                  version=3))
    assert case["status"] == "withdrawn" and load("staff-alice") == 0
    assert sorted((e["complaint_id"], e["kind"], e["data"]["closure"]) for e in case_events()) == sorted([
        (first, "closed", "rejected"), (second, "closed", "withdrawn")])
    assert customer_view(client, first)["status"] == "rejected"
    status, body = act(client, alice, first, action="withdraw", reason="x", version=4)
    assert status == 409 and body["error"] == "invalid_transition"


# -- merge and split ------------------------------------------------------------------------------------------------
def test_merge_a_duplicate_and_split_it_again(client, clock, people, case_events):
    from shared.store import complaint_repository

    alice = people["alice"]
    target = new_case(client, clock)
    duplicate = new_case(client, clock)  # the same customer (same email): they may see which case
    stranger = new_case(client, clock, customer={"name": "Wang Fang", "email": "wang.fang@example.com"})
    assert load("staff-alice") == 3
    case_events()

    case = ok(act(client, alice, duplicate, clock, action="merge", into=target, version=3))
    assert case["status"] == "merged" and case["merged_into"] == target and case["closure"] == "merged"
    assert case["status_before_merge"] == "assigned" and case["due_at"] is None  # every clock held
    [public] = [e for e in case["timeline"] if e["kind"] == "merged"]
    assert public["visibility"] == "public" and target in public["text"]
    assert load("staff-alice") == 2
    assert stored(target).merged_cases == [duplicate] and stored(target).version == 4
    handling = case_of(client, alice, target)
    [internal] = [e for e in handling["timeline"] if e["kind"] == "merged"]
    assert internal["visibility"] == "internal" and duplicate in internal["text"]
    assert [(e["kind"], e["complaint_id"], e["data"]["closure"]) for e in case_events()] == [
        ("closed", duplicate, "merged")]

    # another customer's case: told it is handled with another case, never which
    case = ok(act(client, alice, stranger, clock, action="merge", into=target, version=3))
    [public] = [e for e in case["timeline"] if e["kind"] == "merged"]
    assert target not in json.dumps(public) and "another case" in public["text"]
    _, timeline = complaint_repository().get(stranger)
    assert target not in json.dumps([e.model_dump(mode="json") for e in timeline if e.visibility == "public"])
    seen = customer_view(client, stranger)
    assert seen["status"] == "merged" and "merged" in [e["kind"] for e in seen["timeline"]]
    assert target not in json.dumps(seen)

    # no chains, no merging a merged case, no self-merge
    other = new_case(client, clock)
    for number, into, version, code in [(target, other, 5, "merge_chain"), (duplicate, other, 4, "already_merged"),
                                        (other, other, 3, "self_merge")]:
        status, body = act(client, alice, number, action="merge", into=into, version=version)
        assert body["error"] == code, body

    case = ok(act(client, alice, target, clock, action="split", case=duplicate, version=5))
    assert case["merged_cases"] == [stranger]
    back = case_of(client, alice, duplicate)
    assert back["status"] == "assigned" and stored(duplicate).merged_into is None and back["due_at"] is not None
    assert [e["visibility"] for e in back["timeline"] if e["kind"] == "split"] == ["public"]
    assert load("staff-alice") == 3  # hers again
    status, body = act(client, alice, target, action="split", case=duplicate, version=6)
    assert status == 409 and body["error"] == "not_merged_here"


def test_merging_needs_work_rights_on_both_cases_and_fresh_versions(client, clock, people):
    from functions.staff.workflow import commit
    from shared.config_store import config_store
    from shared.repository import StaleVersion
    from shared.store import complaint_repository
    from shared.workflow import Context, merge

    alice, bob = people["alice"], people["bob"]
    target, duplicate = new_case(client, clock), new_case(client, clock)
    repo = complaint_repository()
    logistics_case = new_case(client, clock)
    case = repo.get_many([logistics_case])[logistics_case]
    repo.save(case.model_copy(update={"department": "logistics", "version": case.version + 1}), [],
              expected_version=case.version)
    status, body = act(client, alice, duplicate, action="merge", into=logistics_case, version=3)
    assert status == 403 and body["error"] == "forbidden"
    status, body = act(client, bob, duplicate, action="merge", into=logistics_case, version=3)
    assert status == 403  # bob may work the logistics case, not the quality duplicate
    # the target changed between the read and the write: the whole merge is refused
    cases = repo.get_many([duplicate, target])
    ok(act(client, alice, target, clock, action="note", text="meanwhile", version=3))
    with pytest.raises(StaleVersion):
        commit(merge(cases[duplicate], cases[target], Context(actor_id="staff-alice", at=clock(),
                                                               configs=config_store())))
    assert case_of(client, alice, duplicate)["status"] == "assigned"


# -- events: the outbox when the bus is down -----------------------------------------------------------------------
def test_an_event_whose_publish_failed_is_delivered_by_the_outbox(client, clock, people, case_events, monkeypatch):
    from shared.events import EventPublisher
    from shared.store import complaint_repository
    from tests.conftest import _forget_cached_services

    number = new_case(client, clock)
    alice = people["alice"]
    ok(act(client, alice, number, clock, action="accept", version=3))
    case_events()
    real_publish = EventPublisher.publish

    def outage(self, event):
        raise RuntimeError("bus down")

    monkeypatch.setattr(EventPublisher, "publish", outage)
    ok(act(client, alice, number, clock, action="reply", text="We are looking into it.", version=4))
    pending = complaint_repository().pending_case_events(older_than=clock() + timedelta(days=1))
    assert [(e.kind, e.complaint_id) for e in pending] == [("staff_replied", number)]
    assert case_events() == []

    monkeypatch.setattr(EventPublisher, "publish", real_publish)
    monkeypatch.setenv("OUTBOX_GRACE_SECONDS", "0")
    _forget_cached_services()
    clock.tick()
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:123456789012:rule/outbox"])
    assert client.lambda_.invoke("publish_pending_events", event).payload == {"published": 1, "failed": 0}
    [delivered] = case_events()
    assert delivered["kind"] == "staff_replied" and delivered["event_id"] == f"{number}:staff_replied:v5"
    assert complaint_repository().pending_case_events(older_than=clock() + timedelta(days=1)) == []

"""The report counters through the functions AWS calls: a complaint posted to the Chalice app, classified
and routed by the router and assignment functions (their queues' events, in-process), worked through
``POST /staff/complaints/{id}/actions`` and answered by the customer (``/confirmation``, ``/feedback``) -
then ``StatsStore.read`` must show exactly what happened, per day and dimension; ``rebuild`` must give
the same figures from the cases alone; the open-backlog gauge and its daily snapshot must follow.

People: staff-alice (agent, quality, food-safety skills) handles the cases; staff-lena leads quality,
staff-mara manages it. The domain's clock starts at ``T0`` (2025-03-05 02:00 UTC, Wednesday 10:00 in
Shanghai): the case is received on 2025-03-05 and closed on 2025-03-06.
"""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from tests.integration.test_router import fake_model  # noqa: F401 - the fixture
from tests.integration.test_routing import (FOOD, T0, assign, call, classify, clock, hire,  # noqa: F401 - fixture
                                            set_leads)
from tests.support import a_complaint, post_json

DAY0, DAY1 = "2025-03-05", "2025-03-06"
PRODUCT = {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG", "batch": "B2411"}
HOURS = 3600


@pytest.fixture
def people(client, clock, make_token) -> dict[str, str]:  # noqa: F811 - the clock fixture imported above
    set_leads(client, make_token(role="admin", name="root"), quality=("staff-lena", "staff-mara"))
    hire("staff-alice", skills=["food_safety"], languages=["zh"])
    return {"alice": make_token(role="agent", name="alice", departments=["quality"]),
            "mara": make_token(role="manager", name="mara", departments=["quality"])}


_customers = itertools.count(1)


def new_case(client) -> tuple[str, str]:
    """A food-safety complaint (P2: first response within 4 working hours) about batch B2411 from a new
    customer, classified and assigned to staff-alice. Returns its number and the tracking token."""
    n = next(_customers)
    res = post_json(client, "/complaints", a_complaint(title=None, description=FOOD, product=PRODUCT, customer={
        "name": f"Customer {n}", "email": f"stats{n}@example.com", "preferred_language": "zh"}))
    assert res.status_code == 201, res.body
    receipt = json.loads(res.body)
    classify(client)
    assign(client)
    return receipt["complaint_id"], receipt["tracking_token"]


def act(client, token: str, number: str, **body) -> dict:
    status, case = call(client, "GET", f"/staff/complaints/{number}", token)
    assert status == 200, case
    status, answer = call(client, "POST", f"/staff/complaints/{number}/actions", token,
                          {"version": case["version"], **body})
    assert status == 200, answer
    return answer


def customer(client, number: str, token: str, what: str, body: dict) -> dict:
    res = post_json(client, f"/complaints/{number}/{what}", body, {"X-Tracking-Token": token})
    assert res.status_code in (200, 201), res.body
    return json.loads(res.body)


def counters(first: str = DAY0, last: str = DAY1):
    from shared.stats_store import stats_store

    return stats_store().read(first, last)


def open_backlog() -> dict:
    from shared.stats_store import stats_store

    return {k: v for k, v in stats_store().read_open().items() if v}


def work_the_case_to_the_end(client, clock, people) -> str:
    """Accept, reply after 1 h, a plan of 120.50 CNY shown to the customer, then one of 800 CNY that
    waits for the manager (superseding the first) and is approved, resolved the next day, confirmed by
    the customer and rated 5."""
    number, tracking = new_case(client)
    alice, mara = people["alice"], people["mara"]
    clock.set(minutes=10)
    act(client, alice, number, action="accept")
    clock.set(hours=1)
    act(client, alice, number, action="reply", text="We are testing the batch.")
    clock.set(hours=2)
    act(client, alice, number, action="propose_resolution", explanation="A refund.",
        components=[{"type": "refund", "amount": "120.50", "currency": "CNY"}])
    clock.set(hours=3)
    act(client, alice, number, action="propose_resolution", explanation="A refund and compensation.",
        components=[{"type": "refund", "amount": "120.50", "currency": "CNY"},
                    {"type": "compensation", "amount": "679.50", "currency": "CNY"}])
    clock.set(hours=4)
    act(client, mara, number, action="approve", comment="Fine.")
    clock.set(hours=26)
    act(client, alice, number, action="resolve", text="Refunded and compensated.")
    clock.set(hours=27)
    customer(client, number, tracking, "confirmation", {"accept": True})
    clock.set(hours=28)
    customer(client, number, tracking, "feedback", {"rating": 5, "aspects": {}, "comment": "Quick."})
    return number


def test_a_case_worked_to_the_end_is_counted_per_day_and_dimension(client, clock, people):
    number = work_the_case_to_the_end(client, clock, people)
    from shared.store import complaint_repository

    case, _ = complaint_repository().get(number)
    assert (case.status.value, case.category, case.priority, case.department, case.assignee) == (
        "closed", "food_safety", "P2", "quality", "staff-alice")
    figures = counters()
    day0, day1 = figures[DAY0], figures[DAY1]
    assert figures.items_read == len(_items(DAY0)) + len(_items(DAY1))  # one item per dimension value and shard

    # received on day 0, under every dimension of its classification and routing (not the handler)
    for key in (("all", "-"), ("channel", "web"), ("category", "food_safety"), ("priority", "P2"),
                ("department", "quality"), ("product", "DUMP-1KG"), ("batch", "B2411")):
        assert day0[key]["received"] == 1, key
    assert "received" not in day0[("handler", "staff-alice")]

    # day 0: the first response after an hour (P2: 4 working hours; 10:00 -> 11:00 is working time), the plans
    everything = day0[("all", "-")]
    assert everything["first_response_count"] == 1 and everything["first_response_sum_s"] == 1 * HOURS
    assert everything["first_response_bus_sum_s"] == 1 * HOURS
    assert everything["first_response_h" + str(_bucket(HOURS))] == 1
    assert everything["sla_first_response_met"] == 1 and everything["sla_cn_consumer_reply_met"] == 1  # regulatory
    assert everything["comp_CNY_cents"] == 80000  # +12050, -12050 (superseded), +80000 (approved)
    assert day0[("handler", "staff-alice")]["comp_CNY_cents"] == 80000

    # day 1: resolved after 26 h; P2's resolution clock counts wall time (48 hours), never paused here
    closing = day1[("all", "-")]
    assert closing["resolved"] == 1 and closing["closed"] == 1 and closing["surveys_sent"] == 1
    assert "closed_unconfirmed" not in closing
    assert closing["resolution_count"] == 1 and closing["resolution_sum_s"] == 26 * HOURS
    assert closing["resolution_bus_sum_s"] == 26 * HOURS
    assert closing["resolution_h" + str(_bucket(26 * HOURS))] == 1
    assert closing["sla_resolution_met"] == 1 and "sla_first_response_met" not in closing
    assert (closing["feedback_count"], closing["feedback_sum"], closing["feedback_4_5"]) == (1, 5, 1)
    for key in (("handler", "staff-alice"), ("department", "quality"), ("category", "food_safety"),
                ("batch", "B2411")):
        assert day1[key]["resolved"] == 1 and day1[key]["feedback_count"] == 1, key
    assert not any("received" in m for m in day1.values())
    assert open_backlog() == {}  # it entered the backlog at intake and left it when resolved


def _items(day: str) -> list[dict]:
    import boto3

    from shared.config import settings

    return boto3.client("dynamodb").query(
        TableName=settings().table_name, KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "STATS#" + day}})["Items"]


def _bucket(seconds: float) -> int:
    from shared.stats import bucket

    return bucket(seconds)


def test_a_rebuild_from_the_cases_gives_the_live_figures_and_is_idempotent(client, clock, people):
    from infra.cli import main
    from shared.stats_store import stats_store

    work_the_case_to_the_end(client, clock, people)
    clock.set(hours=29)
    still_open, _ = new_case(client)  # received on day 1, waiting for its handler
    live = counters()
    assert live[DAY1][("all", "-")]["received"] == 1
    assert open_backlog()[("handler", "staff-alice")] == 1

    report = stats_store().rebuild(DAY0, DAY1)
    assert report.cases == 2 and report.months[-1] == "2025-03" and report.items_deleted == 0
    assert counters() == live
    # damaged counters (a lost item, a stray one) are repaired; a second run changes nothing
    import boto3

    from shared.config import settings

    db, table = boto3.client("dynamodb"), settings().table_name
    db.delete_item(TableName=table, Key={"PK": {"S": "STATS#" + DAY1}, "SK": {"S": _sk(DAY1, "all")}})
    db.put_item(TableName=table, Item={"PK": {"S": "STATS#" + DAY0}, "SK": {"S": "category#nonsense#0"},
                                       "received": {"N": "7"}})
    assert counters() != live
    assert main(["stats", "rebuild", "--from", DAY0, "--to", DAY1]) == 0
    assert counters() == live
    again = stats_store().rebuild(DAY0, DAY1)
    assert (again.items_deleted, counters()) == (0, live)


def _sk(day: str, dimension: str) -> str:
    return next(i["SK"]["S"] for i in _items(day) if i["SK"]["S"].startswith(dimension + "#"))


def test_the_open_backlog_is_snapshot_into_the_day_and_can_be_rebuilt(client, clock, people):
    from shared.stats_store import stats_store

    first, _ = new_case(client)
    second, _ = new_case(client)
    backlog = open_backlog()
    assert backlog[("all", "-")] == 2 and backlog[("handler", "staff-alice")] == 2
    assert backlog[("priority", "P2")] == 2 and backlog[("department", "quality")] == 2

    store = stats_store()
    store.snapshot_open(DAY0)
    assert counters(DAY0, DAY0)[DAY0][("all", "-")]["open_eod"] == 2
    act(client, people["alice"], first, action="accept")
    act(client, people["alice"], first, action="withdraw", reason="The customer called to withdraw it.")
    assert open_backlog()[("all", "-")] == 1
    store.snapshot_open(DAY0)  # run again the same day: replaced, not added
    day0 = counters(DAY0, DAY0)[DAY0]
    assert day0[("all", "-")]["open_eod"] == 1 and day0[("handler", "staff-alice")]["open_eod"] == 1
    assert day0[("all", "-")]["withdrawn"] == 1

    live = open_backlog()
    import boto3

    from shared.config import settings

    boto3.client("dynamodb").put_item(TableName=settings().table_name, Item={
        "PK": {"S": "STATS#OPEN"}, "SK": {"S": "handler#staff-gone#2"}, "open": {"N": "-3"}})
    assert open_backlog() != live
    report = store.rebuild_open()
    assert report.items_deleted >= 1 and open_backlog() == live


def test_a_transition_retried_after_a_stale_version_is_counted_once(client, clock, people):
    from shared.repository import StaleVersion
    from shared.store import complaint_repository
    from shared.workflow import Context, apply, parse_command
    from shared.config_store import config_store

    number, _ = new_case(client)
    repo = complaint_repository()
    case, _ = repo.get(number)
    context = Context(actor_id="staff-alice", at=T0 + timedelta(minutes=5), configs=config_store())
    change = apply(case, parse_command({"action": "escalate", "version": case.version, "reason": "Urgent."}), context)
    with pytest.raises(StaleVersion):  # the case moved on meanwhile: nothing is written, nothing counted
        repo.save(change.case, change.entries, expected_version=case.version - 1, before=case)
    assert "escalations" not in counters(DAY0, DAY0)[DAY0][("all", "-")]
    repo.save(change.case, change.entries, expected_version=case.version, before=case)  # the retry
    with pytest.raises(StaleVersion):  # delivered again
        repo.save(change.case, change.entries, expected_version=case.version, before=case)
    assert counters(DAY0, DAY0)[DAY0][("all", "-")]["escalations"] == 1

    # two handlers escalating the same version through the API: one wins, one is told 409
    status, view = call(client, "GET", f"/staff/complaints/{number}", people["alice"])
    body = {"action": "escalate", "version": view["version"], "reason": "Again."}
    first = call(client, "POST", f"/staff/complaints/{number}/actions", people["alice"], body)
    second = call(client, "POST", f"/staff/complaints/{number}/actions", people["mara"], body)
    assert (first[0], second[0], second[1]["error"]) == (200, 409, "stale_version")
    day0 = counters(DAY0, DAY0)[DAY0]
    assert day0[("all", "-")]["escalations"] == 2 and day0[("handler", "staff-alice")]["escalations"] == 2

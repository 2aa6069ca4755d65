"""Assignment under concurrency: threads against moto in-process. Every ``ComplaintClassified``
delivered twice at once, and ten agents claiming one case at once, leave one owner per case and
exact load counters, and nobody above their cap.

moto applies ``TransactWriteItems`` operation by operation without a lock, so concurrent
transactions are neither atomic nor isolated there (``moto/dynamodb/models/__init__.py``,
``transact_write_items``: condition check, then write, item by item; a failed transaction restores a
deep copy of the table taken when it began). Measured with moto 5.2.5: ten threads making the same
conditional transaction had two or three "winners" in about half the trials, and a rollback erased
another thread's committed write. DynamoDB runs each transaction atomically and serializably with
the other writes, so ``atomic_transactions`` simulates that: one re-entrant lock around each of
moto's DynamoDB backend calls. It changes nothing of ours: the conditions still decide who wins.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from tests.integration.test_routing import (  # noqa: F401 - fixtures
    ASSIGNMENT_QUEUE, DELIVERY, FOOD, PRODUCT, assign, call, classify, clock, drain, entries, fake_model, hire,
    load, submit, token, view)


@pytest.fixture
def atomic_transactions(monkeypatch):
    """Serialize moto's DynamoDB backend calls, as DynamoDB's transactions are atomic and isolated."""
    from infra.moto_stack import serialize_dynamodb

    serialize_dynamodb(monkeypatch.setattr)


def deliver_concurrently(events: list[dict], threads: int) -> list[dict]:
    """Each single-record event to the assignment step, ``threads`` at a time; returns the records
    that failed (SQS would deliver them again)."""
    from functions.router import handlers

    def one(event):
        return [r for r in event["Records"] for f in handlers.handle_classified(event)["batchItemFailures"]
                if f["itemIdentifier"] == r["messageId"]]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [r for failed in pool.map(one, events) for r in failed]


def twice(record: dict) -> list[dict]:
    """The record and a second delivery of it (another messageId), each as a one-record event."""
    again = {**record, "messageId": record["messageId"] + "-again",
             "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}
    return [{"Records": [record]}, {"Records": [again]}]


def request(tok: str, body: dict | None = None) -> SimpleNamespace:
    """What the Chalice route hands the staff handler. Concurrent requests go to the handler itself:
    a Chalice app keeps one ``current_request`` for all threads, so the test client cannot."""
    return SimpleNamespace(headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"},
                           raw_body=json.dumps(body).encode() if body else b"", query_params=None,
                           context={"requestId": tok[-12:]})


QUALITY = {"staff-qa1": 3, "staff-qa2": 3, "staff-qa3": 2}  # handler: cap (8 cases in all)
LOGISTICS = ("staff-lo1", "staff-lo2", "staff-lo3")


def test_twenty_cases_each_delivered_twice_by_eight_threads(client, clock, make_token, atomic_transactions):
    hire("staff-qa1", skills=["food_safety"], languages=["zh"], max_open=QUALITY["staff-qa1"])
    hire("staff-qa2", skills=["food_safety"], languages=["zh"], max_open=QUALITY["staff-qa2"])
    hire("staff-qa3", max_open=QUALITY["staff-qa3"])
    for h in LOGISTICS:
        hire(h, "logistics")
    texts = [FOOD] * 10 + [PRODUCT] * 4 + [DELIVERY] * 6  # 14 for quality (8 places), 6 for logistics
    numbers = [submit(client, text) for text in texts]
    classify(client)
    records = drain(ASSIGNMENT_QUEUE)["Records"]
    assert len(records) == 20

    failed = deliver_concurrently([e for r in records for e in twice(r)], threads=8)
    for _ in range(5):  # what a busy moment made fail comes back from the queue
        if not failed:
            break
        failed = deliver_concurrently([{"Records": [r]} for r in failed], threads=8)
    assert failed == []

    tok = make_token()
    cases = {n: view(client, tok, n) for n in numbers}
    owners: dict[str, list[str]] = {}
    for number, case in cases.items():
        assert len(entries(case, "routed")) == 1, number
        if case["assignee"]:
            assert len(entries(case, "assigned")) == 1 and entries(case, "queued") == [], number
            owners.setdefault(case["assignee"], []).append(number)
        else:  # nobody could take it: it waits in its department's queue, once
            assert case["queued_at"] and len(entries(case, "queued")) == 1 and entries(case, "assigned") == [], number
    handlers = [*QUALITY, *LOGISTICS]
    for h in handlers:  # each counter is what the handler's queue holds, never above the cap
        status, mine = call(client, "GET", f"/staff/queue?assignee={h}&limit=100", tok)
        assert sorted(c["complaint_id"] for c in mine["complaints"]) == sorted(owners.get(h, [])), h
        assert load(h) == len(owners.get(h, [])) <= QUALITY.get(h, 30), h
    assigned = [n for n, c in cases.items() if c["assignee"]]
    assert sum(load(h) for h in handlers) == len(assigned) == 8 + 6  # every place in quality taken
    assert {h: load(h) for h in LOGISTICS} == {h: 2 for h in LOGISTICS}  # strict turns, even under contention
    waiting = call(client, "GET", "/staff/queue?department=quality&limit=100", tok)[1]["complaints"]
    assert sorted(c["complaint_id"] for c in waiting) == sorted(set(numbers) - set(assigned))


def test_ten_agents_claiming_one_case_at_once(client, clock, make_token, atomic_transactions):
    from functions.staff import routing

    agents = [f"staff-agent{i}" for i in range(10)]
    for h in agents:
        hire(h, on_duty=False)
    number = submit(client, FOOD)
    classify(client)
    assign(client)  # nobody on duty: it waits in the quality queue
    tokens = [token(make_token, h) for h in agents]
    start = threading.Barrier(len(agents))

    def claim(tok):
        start.wait()
        res = routing.claim(request(tok), number)
        return res.status_code, json.loads(res.body)

    with ThreadPoolExecutor(max_workers=len(agents)) as pool:
        answers = list(pool.map(claim, tokens))

    won = [body["assignee"] for status, body in answers if status == 200]
    assert len(won) == 1
    losers = [body["error"] for status, body in answers if status != 200]
    # a loser reads the case after the winner's write (already assigned) or before it (its write fails)
    assert len(losers) == 9 and set(losers) == {"already_assigned"}  # each loser learns who has it
    assert all(status in (200, 409) for status, _ in answers)
    assert {h: load(h) for h in agents} == {h: int(h == won[0]) for h in agents}
    case = view(client, tokens[0], number)
    assert case["assignee"] == won[0] and len(entries(case, "assigned")) == 1
    assert entries(case, "assigned")[0]["actor"] == f"staff:{won[0]}"

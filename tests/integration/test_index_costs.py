"""What a case's writes cost in the list indexes, and that the lists still show whole cases.

``ByStatus``, ``ByChannel``, ``ByMonth`` and ``ByQueue`` project a few small attributes (docs/data-model.md,
"Indexes"): a case of any size costs one unit per index entry written, and a write that changes none of
the projected attributes (a notifier's token, a note) writes nothing to them. Measured with the pipeline
bench's meter (``infra/pipeline_bench.py``), which prices each index write from the projected item.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest

from shared.lifecycle import Status
from shared.models import TimelineEntry, TimelineKind, Visibility
from tests.support import a_complaint, post_json

LIST_INDEXES = ("ByStatus", "ByChannel", "ByMonth", "ByQueue")
LONG = "The dumplings smelled sour and the box was crushed. " * 200  # ~10 KB: a case of 3 units and more


@pytest.fixture
def meter(aws):
    """The bench's capacity meter on the functions' DynamoDB client."""
    from infra.pipeline_bench import CapacityMeter
    from shared.aws import client

    db = client("dynamodb")
    m = CapacityMeter(boto3.client("dynamodb", region_name="us-east-1"), aws["TABLE_NAME"])
    db.meta.events.register("provide-client-params.dynamodb", m.remember_read_mode)
    db.meta.events.register("provide-client-params.dynamodb", m.before)
    db.meta.events.register("after-call.dynamodb", m.after)
    yield m
    db.meta.events.unregister("provide-client-params.dynamodb", m.remember_read_mode)
    db.meta.events.unregister("provide-client-params.dynamodb", m.before)
    db.meta.events.unregister("after-call.dynamodb", m.after)


def submit(client, **overrides) -> str:
    res = post_json(client, "/complaints", a_complaint(**overrides))
    assert res.status_code == 201, res.body
    return json.loads(res.body)["complaint_id"]


def test_a_large_case_costs_one_unit_per_list_index_entry(client, meter):
    meter.take()
    number = submit(client, description=LONG)
    units = meter.take()
    # created in a transaction: one small entry in each of ByStatus, ByChannel, ByMonth, at the price of a
    # plain write (the transaction's 2x is the base table's: the case pays 2 x its size, once)
    assert {i: units.by_index[i] for i in LIST_INDEXES} == {"ByStatus": 1, "ByChannel": 1, "ByMonth": 1, "ByQueue": 0}
    assert units.write >= 2 * 3

    from shared.store import complaint_repository

    repo = complaint_repository()
    repo.add_tracking_token(number, "f" * 64)  # the notifier's write on the case
    case, _ = repo.get(number)
    now = datetime.now(timezone.utc)
    note = TimelineEntry(at=now, kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL, text="called")
    meter.take()
    repo.add_tracking_token(number, "e" * 64)
    repo.save(case.model_copy(update={"version": case.version + 1, "updated_at": now}), [note],
              expected_version=case.version)
    assert sum(meter.take().by_index[i] for i in LIST_INDEXES) == 0  # nothing the lists hold changed

    case, _ = repo.get(number)
    repo.save(case.model_copy(update={"version": case.version + 1, "status": Status.CLASSIFIED,
                                      "category": "food_safety", "updated_at": now}), [],
              expected_version=case.version)
    units = meter.take()
    # the status moved: ByStatus deletes and puts one small entry; ByChannel/ByMonth do not hold the category
    assert {i: units.by_index[i] for i in LIST_INDEXES} == {"ByStatus": 2, "ByChannel": 0, "ByMonth": 0, "ByQueue": 0}


def test_lists_filtered_on_what_the_index_does_not_hold_show_whole_cases(client, make_token):
    from shared.store import complaint_repository

    repo = complaint_repository()
    numbers = [submit(client, description=f"{LONG} case {n}") for n in range(5)]
    now = datetime.now(timezone.utc)
    for n, number in enumerate(numbers):
        case, _ = repo.get(number)
        repo.save(case.model_copy(update={"version": case.version + 1, "updated_at": now, "department": "quality",
                                          "category": "food_safety" if n % 2 == 0 else "delivery_logistics"}),
                  [], expected_version=case.version)
    token = make_token(role="manager")
    seen, cursor = [], None
    for _ in range(5):  # ByMonth does not hold the category: tested on the cases read by key, paged the same
        res = client.http.get("/staff/complaints?category=food_safety&limit=2" + (f"&cursor={cursor}" if cursor else ""),
                              headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200, res.body
        page = json.loads(res.body)
        seen += page["complaints"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [c["complaint_id"] for c in seen] == [numbers[4], numbers[2], numbers[0]]  # newest first, each once
    assert all(c["category"] == "food_safety" and c["department"] == "quality" for c in seen)
    # the department's queue (ByQueue holds keys only) shows the cases as stored, paged
    first = repo.queue("QUEUE#quality", limit=3)
    rest = repo.queue("QUEUE#quality", limit=3, cursor=first.cursor)
    queued = first.complaints + rest.complaints
    assert sorted(c.complaint_id for c in queued) == sorted(numbers) and rest.cursor is None
    assert all(c.description.startswith(LONG) and c.category for c in queued)

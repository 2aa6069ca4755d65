"""The report counters as plain Python (shared/stats.py) and their DynamoDB operations (shared/stats_store.py):
what each kind of transition adds, on which day and under which dimension values; the duration
histograms; clock names; compensation in cents; the case before a write read from its entries; the
replay of a timeline; the aggregation into one ``ADD`` per item; a transaction retried after a conflict.

The transitions are the real ones (shared/workflow.py, shared/closure.py, shared/feedback.py) on a P3
quality case received at ``T0`` (bundled configs: first response 24 h, resolution 5 business days in P3;
every case also runs the ``cn_consumer.reply`` regulatory clock).
"""
from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared import closure, stats
from shared.config_store import VersionedConfig, bundled
from shared.feedback import answer
from shared.lifecycle import Status
from shared.models import Complaint, Product, TimelineEntry, TimelineKind, Visibility
from shared.sla import Calendars, start_clocks
from shared.stats import (DURATION_BUCKETS_S, OPEN, Increment, bucket, cents, clock_measure, histogram, increments,
                          previous, quantile, replay)
from shared.stats_store import StatsStore, parse_sort_key
from shared.workflow import Context, apply, merge, parse_command

T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)  # a Wednesday, 10:00 in Shanghai
HOUR = timedelta(hours=1)
DAY0, DAY1 = "2025-03-05", "2025-03-06"
ID = "C2503050001"


class Configs:
    def __init__(self) -> None:
        routing = bundled("routing")
        people = {"quality": {"lead": "staff-lena", "manager": "staff-mara"}}
        departments = [d.model_copy(update=people.get(d.department_id, {})) for d in routing.config.departments]
        self._docs = {"routing": VersionedConfig("routing", 1, routing.config.model_copy(
            update={"departments": departments})), "sla": bundled("sla"), "workflow": bundled("workflow")}

    def current(self, kind: str) -> VersionedConfig:
        return self._docs[kind]


CONFIGS = Configs()
CALENDARS = Calendars.of(CONFIGS.current("routing").config, CONFIGS.current("sla").config)
IDS = itertools.count(1)


def ctx(at: datetime, actor: str = "staff-alice") -> Context:
    return Context(actor_id=actor, at=at, configs=CONFIGS, handler_departments=lambda h: ["quality"],
                   new_id=lambda prefix: f"{prefix}_{next(IDS)}")


def received(**changes) -> Complaint:
    case = Complaint(complaint_id=ID, channel="web", language="en", description="torn bag", received_at=T0,
                     updated_at=T0, tracking_token_hashes=["h"],
                     product=Product(name="Pork dumplings 1kg", sku="DUMP-1KG", batch="B2411"))
    return case.model_copy(update=changes)


def working(status: Status = Status.IN_PROGRESS, **changes) -> Complaint:
    """Classified, routed to quality and assigned to staff-alice; its clocks running since ``T0``."""
    clocks = start_clocks(department="quality", priority="P3", category="product_quality", region=None,
                          received_at=T0, config=CONFIGS.current("sla").config, calendars=CALENDARS)
    return received(version=4, status=status, category="product_quality", priority="P3", department="quality",
                    assignee="staff-alice", clocks=clocks).model_copy(update=changes)


def act(case: Complaint, at: datetime, actor: str = "staff-alice", **body):
    return apply(case, parse_command({"version": case.version, **body}), ctx(at, actor))


def table(incs: list[Increment]) -> dict[tuple[str, str, str, str], int]:
    """{(key, dimension, value, measure): amount}, shards left out (one case: one shard)."""
    out: Counter = Counter()
    for i in incs:
        out[(i.key, i.dimension, i.value, i.measure)] += i.amount
    return {k: v for k, v in out.items() if v}


def measures(incs: list[Increment], key: str, dimension: str = "all", value: str = "-") -> dict[str, int]:
    return {m: n for (k, d, v, m), n in table(incs).items() if (k, d, v) == (key, dimension, value)}


def gauge(incs: list[Increment]) -> dict[tuple[str, str], int]:
    return {(d, v): n for (k, d, v, m), n in table(incs).items() if k == OPEN}


ALL_DIMS = {("all", "-"), ("channel", "web"), ("category", "product_quality"), ("priority", "P3"),
            ("department", "quality"), ("handler", "staff-alice"), ("product", "DUMP-1KG"), ("batch", "B2411")}


# -- intake, classification, routing ----------------------------------------------------------------------
def test_a_new_case_counts_as_received_under_all_and_channel_and_enters_the_backlog():
    case = received()
    incs = increments(None, case, [TimelineEntry(at=T0, kind=TimelineKind.RECEIVED, status=Status.RECEIVED)])
    assert table([i for i in incs if i.key != OPEN]) == {(DAY0, "all", "-", "received"): 1,
                                                        (DAY0, "channel", "web", "received"): 1}
    assert gauge(incs) == {("all", "-"): 1, ("channel", "web"): 1, ("product", "DUMP-1KG"): 1, ("batch", "B2411"): 1}
    assert {i.shard for i in incs} == {stats.shard_of(ID)} and 0 <= stats.shard_of(ID) < 4


def test_the_product_dimension_is_the_sku_else_the_product_name():
    assert stats.dimensions(received())["product"] == "DUMP-1KG"
    assert stats.dimensions(received(product=Product(name=" Pork dumplings 1kg ")))["product"] == "Pork dumplings 1kg"
    assert "product" not in stats.dimensions(received(product=None))


def classification(case: Complaint, at: datetime, category="product_quality", priority="P3", repeat_of=None):
    after = case.model_copy(update={"status": Status.CLASSIFIED, "category": category, "priority": priority,
                                    "repeat_of": repeat_of, "version": case.version + 1, "updated_at": at})
    entries = [TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, status=Status.CLASSIFIED),
               TimelineEntry(at=at, kind=TimelineKind.CLASSIFIED, visibility=Visibility.INTERNAL,
                             status=Status.CLASSIFIED, details={
                                 "category": category, "priority": {"level": priority},
                                 "repeat": {"repeat_of": repeat_of} if repeat_of else None})]
    return after, entries


def test_the_first_classification_counts_the_case_under_its_category_priority_product_and_batch_on_its_received_day():
    case = received()
    after, entries = classification(case, T0 + 30 * HOUR)  # classified the next day: still counted on DAY0
    incs = increments(previous(after, entries), after, entries)
    assert table([i for i in incs if i.key != OPEN]) == {
        (DAY0, "category", "product_quality", "received"): 1, (DAY0, "priority", "P3", "received"): 1,
        (DAY0, "product", "DUMP-1KG", "received"): 1, (DAY0, "batch", "B2411", "received"): 1}
    assert gauge(incs) == {("category", "product_quality"): 1, ("priority", "P3"): 1}


def test_a_classification_correction_moves_the_received_count_and_the_backlog():
    case, _ = classification(received(), T0)
    now = T0 + 26 * HOUR
    corrected = case.model_copy(update={"category": "food_safety", "priority": "P2", "version": case.version + 1,
                                        "updated_at": now})
    entry = TimelineEntry(at=now, kind=TimelineKind.CLASSIFICATION_CORRECTED, visibility=Visibility.INTERNAL,
                          details={"from": {"category": "product_quality", "priority": "P3"},
                                   "to": {"category": "food_safety", "priority": "P2"}})
    before = previous(corrected, [entry])
    assert (before.category, before.priority) == ("product_quality", "P3")
    incs = increments(before, corrected, [entry])
    assert table([i for i in incs if i.key != OPEN]) == {
        (DAY0, "category", "product_quality", "received"): -1, (DAY0, "category", "food_safety", "received"): 1,
        (DAY0, "priority", "P3", "received"): -1, (DAY0, "priority", "P2", "received"): 1}
    assert gauge(incs) == {("category", "product_quality"): -1, ("category", "food_safety"): 1,
                           ("priority", "P3"): -1, ("priority", "P2"): 1}


def test_a_repeat_counts_as_a_repeat_and_leaves_the_backlog():
    after, entries = classification(received(), T0, repeat_of="C2503010001")
    incs = increments(previous(after, entries), after, entries)
    assert measures(incs, DAY0) == {"repeats": 1}
    assert measures(incs, DAY0, "category", "product_quality") == {"received": 1, "repeats": 1}
    assert gauge(incs) == {("all", "-"): -1, ("channel", "web"): -1, ("product", "DUMP-1KG"): -1,
                           ("batch", "B2411"): -1}


def test_routing_counts_the_department_as_received_and_puts_the_handler_in_the_backlog():
    case, _ = classification(received(), T0)
    at = T0 + HOUR
    routed = case.model_copy(update={"status": Status.ASSIGNED, "department": "quality", "assignee": "staff-alice",
                                     "version": case.version + 1, "updated_at": at})
    entries = [TimelineEntry(at=at, kind=TimelineKind.ROUTED, visibility=Visibility.INTERNAL,
                             details={"department": "quality"}),
               TimelineEntry(at=at, kind=TimelineKind.ASSIGNED, visibility=Visibility.INTERNAL,
                             details={"handler": "staff-alice", "previous_handler": None}),
               TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, status=Status.ASSIGNED,
                             details={"from": "classified"})]
    before = previous(routed, entries)
    assert (before.status, before.department, before.assignee) == (Status.CLASSIFIED, None, None)
    incs = increments(before, routed, entries)
    assert table([i for i in incs if i.key != OPEN]) == {(DAY0, "department", "quality", "received"): 1}
    assert gauge(incs) == {("department", "quality"): 1, ("handler", "staff-alice"): 1}


def test_a_transfer_moves_the_backlog_to_the_new_department_and_handler():
    case = working()
    at = T0 + 2 * HOUR
    moved = case.model_copy(update={"status": Status.CLASSIFIED, "department": "logistics", "assignee": None,
                                    "version": 5, "updated_at": at})
    entries = [TimelineEntry(at=at, kind=TimelineKind.TRANSFERRED, visibility=Visibility.INTERNAL,
                             details={"from_department": "quality", "to_department": "logistics",
                                      "from_handler": "staff-alice"})]
    incs = increments(previous(moved, entries), moved, entries)
    assert gauge(incs) == {("department", "quality"): -1, ("department", "logistics"): 1,
                           ("handler", "staff-alice"): -1}
    assert measures(incs, DAY0, "department", "logistics") == {"received": 1}


# -- the handler's work --------------------------------------------------------------------------------------
def test_the_first_reply_measures_the_first_response_and_its_clocks():
    change = act(working(), T0 + timedelta(seconds=2 * 3600 + 30 * 60 + 5), action="reply",
                 text="We are looking into it.")
    incs = increments(change.before, change.case, change.entries)
    seconds = 2 * 3600 + 30 * 60 + 5
    clock = next(c for c in change.case.clocks if c.name == "first_response")
    assert measures(incs, DAY0) == {
        "first_response_count": 1, "first_response_sum_s": seconds,
        "first_response_bus_sum_s": round(clock.consumed_seconds), f"first_response_h{bucket(seconds)}": 1,
        "sla_first_response_met": 1, "sla_cn_consumer_reply_met": 1}
    assert {(d, v) for (k, d, v, m) in table(incs) if k == DAY0} == ALL_DIMS
    assert gauge(incs) == {}
    second = act(change.case, T0 + 3 * HOUR, action="reply", text="More news.")
    assert increments(second.before, second.case, second.entries) == []  # a note, a second reply: nothing


def test_the_business_time_is_the_clocks_own_working_time():
    # received Wednesday 10:00 Shanghai, answered Thursday 10:00: 24 calendar hours, 8 working hours
    change = act(working(), T0 + 24 * HOUR, action="reply", text="Answer.")
    m = measures(increments(change.before, change.case, change.entries), DAY1)
    assert m["first_response_sum_s"] == 24 * 3600 and m["first_response_h" + str(bucket(24 * 3600))] == 1
    # quality works 09-12 and 13-18: Wednesday 10-12 and 13-18, Thursday 09-10
    assert m["first_response_bus_sum_s"] == 8 * 3600


def test_resolving_counts_the_resolution_with_its_durations_and_leaves_the_backlog():
    replied = act(working(), T0 + HOUR, action="reply", text="On it.").case
    at = T0 + 3 * 24 * HOUR
    t = closure.resolve(replied, actor="staff-alice", text="Refunded.", at=at, configs=CONFIGS,
                        workflow=CONFIGS.current("workflow").config)
    incs = increments(replied, t.case, t.entries)
    m = measures(incs, "2025-03-08")
    assert m["resolved"] == 1 and m["resolution_count"] == 1 and m["resolution_sum_s"] == 3 * 86400
    assert m[f"resolution_h{bucket(3 * 86400)}"] == 1
    assert m["resolution_bus_sum_s"] == round(next(c for c in t.case.clocks if c.name == "resolution").consumed_seconds)
    assert "first_response_count" not in m  # answered already
    assert m["sla_resolution_met"] == 1
    assert gauge(incs) == {dim: -1 for dim in ALL_DIMS}


def test_a_late_resolution_is_missed():
    at = T0 + 20 * 24 * HOUR
    t = closure.resolve(working(), actor="staff-alice", text=None, at=at, configs=CONFIGS,
                        workflow=CONFIGS.current("workflow").config)
    m = measures(increments(working(), t.case, t.entries), "2025-03-25")
    assert m["sla_resolution_missed"] == 1 and m["sla_first_response_missed"] == 1
    assert m["sla_cn_consumer_reply_missed"] == 1 and "sla_resolution_met" not in m
    assert m["first_response_count"] == 1 and m["resolution_count"] == 1  # resolving answered the customer too


def test_rejecting_counts_a_rejection_and_the_first_response_but_no_resolution_time():
    change = act(working(), T0 + 2 * HOUR, action="reject", reason="Not our product.")
    incs = increments(change.before, change.case, change.entries)
    m = measures(incs, DAY0)
    assert m["rejected"] == 1 and m["first_response_count"] == 1 and m["sla_resolution_met"] == 1
    assert "resolution_count" not in m and "resolved" not in m and "closed" not in m
    assert gauge(incs) == {dim: -1 for dim in ALL_DIMS}
    withdrawn = act(working(), T0 + 2 * HOUR, action="withdraw", reason="Customer called.")
    assert measures(increments(withdrawn.before, withdrawn.case, withdrawn.entries), DAY0)["withdrawn"] == 1


def test_escalations_reopens_and_disputes():
    esc = act(working(), T0 + HOUR, action="escalate", reason="Angry customer.")
    assert measures(increments(esc.before, esc.case, esc.entries), DAY0) == {"escalations": 1}
    breach = TimelineEntry(at=T0 + HOUR, kind=TimelineKind.SLA_BREACHED, visibility=Visibility.INTERNAL,
                           details={"clock": "first_response", "level": 1})
    swept = working().model_copy(update={"version": 5, "escalated": True, "updated_at": T0 + HOUR})
    assert measures(increments(previous(swept, [breach]), swept, [breach]), DAY0) == {"escalations": 1}

    resolved = closure.resolve(working(), actor="staff-alice", text=None, at=T0 + 4 * HOUR, configs=CONFIGS,
                               workflow=CONFIGS.current("workflow").config).case
    again = closure.reopen(resolved, actor="staff-lena", reason="Wrong fix.", at=T0 + 5 * HOUR, configs=CONFIGS,
                           escalate=True)
    incs = increments(resolved, again.case, again.entries)
    assert measures(incs, DAY0) == {"reopened": 1, "escalations": 1}
    assert gauge(incs) == {dim: 1 for dim in ALL_DIMS}

    disputed = closure.dispute(resolved, reason="Still broken.", at=T0 + 6 * HOUR, configs=CONFIGS)
    before = previous(disputed.case, disputed.entries)
    assert before.status == Status.RESOLVED
    assert measures(increments(before, disputed.case, disputed.entries), DAY0) == {"disputed": 1, "reopened": 1}


def test_closing_counts_closures_and_surveys_sent():
    resolved = closure.resolve(working(), actor="staff-alice", text=None, at=T0 + 4 * HOUR, configs=CONFIGS,
                               workflow=CONFIGS.current("workflow").config).case
    confirmed = closure.confirm(resolved, at=T0 + 5 * HOUR, configs=CONFIGS)
    assert measures(increments(previous(confirmed.case, confirmed.entries), confirmed.case, confirmed.entries),
                    DAY0) == {"closed": 1, "surveys_sent": 1}
    silent = closure.auto_close(resolved, at=T0 + 8 * 24 * HOUR)
    assert measures(increments(resolved, silent.case, silent.entries), "2025-03-13") == {
        "closed": 1, "closed_unconfirmed": 1, "surveys_sent": 1}


def test_feedback_counts_the_answer_its_rating_and_a_4_or_5():
    resolved = closure.resolve(working(), actor="staff-alice", text=None, at=T0 + 4 * HOUR, configs=CONFIGS,
                               workflow=CONFIGS.current("workflow").config).case
    closed = closure.confirm(resolved, at=T0 + 5 * HOUR, configs=CONFIGS).case
    for rating, high in ((5, 1), (2, 0)):
        t = answer(closed, rating=rating, aspects={}, comment="ok", at=T0 + 30 * HOUR,
                   workflow=CONFIGS.current("workflow").config)
        m = measures(increments(previous(t.case, t.entries), t.case, t.entries), DAY1, "handler", "staff-alice")
        assert m == {"feedback_count": 1, "feedback_sum": rating, **({"feedback_4_5": 1} if high else {})}


def test_a_merge_counts_the_duplicate_as_merged_only():
    duplicate = working()
    target = working(complaint_id="C2503050002")
    dup_change, target_change = merge(duplicate, target, ctx(T0 + HOUR))
    incs = increments(dup_change.before, dup_change.case, dup_change.entries)
    assert measures(incs, DAY0) == {"merged": 1}
    assert gauge(incs) == {dim: -1 for dim in ALL_DIMS}
    assert increments(target_change.before, target_change.case, target_change.entries) == []


# -- compensation ------------------------------------------------------------------------------------------------
def money(*parts: tuple[str, str, str]) -> list[dict]:
    return [{"type": kind, "amount": amount, "currency": currency} for kind, amount, currency in parts]


def test_a_plan_the_customer_sees_counts_its_refund_and_compensation_in_cents_per_currency():
    change = act(working(), T0 + HOUR, action="propose_resolution", explanation="Refund and a voucher.",
                 components=money(("refund", "120.10", "CNY"), ("compensation", "30.20", "CNY"))
                 + [{"type": "apology"}])
    m = measures(increments(change.before, change.case, change.entries), DAY0)
    assert m["comp_CNY_cents"] == 15030  # 120.10 + 30.20, exact (Decimal)
    assert m["first_response_count"] == 1  # showing a plan answers the customer


def test_a_plan_waiting_for_approval_counts_nothing_until_approved():
    change = act(working(), T0 + HOUR, action="propose_resolution", explanation="Big refund.",
                 components=money(("refund", "800.00", "CNY")))
    assert change.case.plan.state == "pending_approval"
    assert not [i for i in increments(change.before, change.case, change.entries) if i.measure.startswith("comp_")]
    approved = act(change.case, T0 + 2 * HOUR, actor="staff-mara", action="approve")
    m = measures(increments(approved.before, approved.case, approved.entries), DAY0)
    assert m["comp_CNY_cents"] == 80000


def test_a_superseded_plan_is_reversed_and_a_disputed_one_still_stands():
    first = act(working(), T0 + HOUR, action="propose_resolution", explanation="Refund.",
                components=money(("refund", "50.00", "CNY"), ("compensation", "10.00", "USD")))
    second = act(first.case, T0 + 2 * HOUR, action="propose_resolution", explanation="More.",
                 components=money(("refund", "70.00", "CNY")))
    m = measures(increments(second.before, second.case, second.entries), DAY0)
    assert (m["comp_CNY_cents"], m["comp_USD_cents"]) == (2000, -1000)  # +7000 -5000
    disputed = closure.dispute(second.case, reason="Not enough.", at=T0 + 3 * HOUR, configs=CONFIGS)
    assert not [i for i in increments(second.case, disputed.case, disputed.entries) if i.measure.startswith("comp_")]
    ended = act(disputed.case, T0 + 4 * HOUR, action="withdraw", reason="Settled by phone.")
    assert measures(increments(ended.before, ended.case, ended.entries), DAY0)["comp_CNY_cents"] == -7000
    # without the case before, an ending still finds the plan it withdrew
    assert measures(increments(previous(ended.case, ended.entries), ended.case, ended.entries),
                    DAY0)["comp_CNY_cents"] == -7000


def test_cents_are_exact():
    assert cents(Decimal("0.10")) + cents(Decimal("0.20")) == 30
    assert cents(Decimal("9999999.99")) == 999999999 and cents(Decimal("-12.35")) == -1235


# -- names, buckets, quantiles ------------------------------------------------------------------------------------
def test_clock_names_become_attribute_names():
    assert clock_measure("first_response") == "first_response"
    assert clock_measure("cn_consumer.reply") == "cn_consumer_reply"
    assert clock_measure("UK-FCA.Final Response") == "uk_fca_final_response"
    assert clock_measure("..") == "clock"


def test_histogram_buckets_are_log_scale_and_bounds_belong_to_the_lower_bucket():
    assert DURATION_BUCKETS_S[:4] == (60, 85, 120, 170) and DURATION_BUCKETS_S[-1] > 120 * 86400
    ratios = {round(b / a, 2) for a, b in zip(DURATION_BUCKETS_S, DURATION_BUCKETS_S[1:])}
    assert ratios <= {1.41, 1.42}
    assert [bucket(s) for s in (-5, 0, 60, 60.5, 85, 86)] == [0, 0, 0, 1, 1, 2]
    assert DURATION_BUCKETS_S[bucket(3600) - 1] < 3600 <= DURATION_BUCKETS_S[bucket(3600)]
    assert bucket(10 ** 9) == len(DURATION_BUCKETS_S)


def test_quantiles_from_a_histogram():
    assert quantile({}, 0.5) is None
    hours = [bucket(h * 3600) for h in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)]
    counts = Counter(hours)
    median, p90 = quantile(counts, 0.5), quantile(counts, 0.9)
    assert 5 * 3600 / 1.42 < median <= 8 * 3600 * 1.42
    assert 55 * 3600 / 1.42 < p90 <= 55 * 3600 * 1.42
    assert quantile({len(DURATION_BUCKETS_S): 3}, 0.5) == DURATION_BUCKETS_S[-1]
    assert histogram({"resolution_h3": 2, "resolution_h10": 1, "resolution_count": 3, "first_response_h1": 4},
                     "resolution") == {3: 2, 10: 1}


# -- the case before, the replay ---------------------------------------------------------------------------------
def test_the_case_before_is_read_from_the_entries():
    replied = act(working(), T0 + HOUR, action="request_information", text="Which batch?")
    before = previous(replied.case, replied.entries)
    assert before.status == Status.IN_PROGRESS and before.version == replied.case.version - 1
    untouched = previous(working(), [])
    assert untouched.status == Status.IN_PROGRESS and untouched.assignee == "staff-alice"


def test_replaying_a_timeline_gives_what_the_live_writes_counted():
    """Intake, classification, routing, a reply, a plan superseded by another, a resolution, the
    customer's confirmation and feedback - counted live write by write, then replayed."""
    case = received()
    creation = [TimelineEntry(at=T0, kind=TimelineKind.RECEIVED, status=Status.RECEIVED)]
    live = increments(None, case, creation)
    writes = []
    classified, entries = classification(case, T0 + timedelta(minutes=1))
    live += increments(case, classified, entries)
    writes.append(entries)
    at = T0 + timedelta(minutes=2)
    routed = working(status=Status.ASSIGNED, version=classified.version + 1, updated_at=at)
    entries = [TimelineEntry(at=at, kind=TimelineKind.ROUTED, details={"department": "quality"}),
               TimelineEntry(at=at, kind=TimelineKind.ASSIGNED, details={"handler": "staff-alice",
                                                                         "previous_handler": None}),
               TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, status=Status.ASSIGNED,
                             details={"from": "classified"})]
    live += increments(classified, routed, entries)
    writes.append(entries)
    state = routed
    steps = [dict(action="accept"), dict(action="reply", text="Looking."),
             dict(action="propose_resolution", explanation="A", components=money(("refund", "40.00", "CNY"))),
             dict(action="propose_resolution", explanation="B", components=money(("refund", "45.50", "CNY")))]
    for n, body in enumerate(steps, start=1):
        change = act(state, T0 + n * HOUR, **body)
        live += increments(change.before, change.case, change.entries)
        writes.append(change.entries)
        state = change.case
    t = closure.confirm(state, at=T0 + 30 * HOUR, configs=CONFIGS)
    live += increments(state, t.case, t.entries)
    writes.append(t.entries)
    state = t.case
    t = answer(state, rating=4, aspects={}, comment=None, at=T0 + 31 * HOUR,
               workflow=CONFIGS.current("workflow").config)
    live += increments(state, t.case, t.entries)
    writes.append(t.entries)
    final = t.case
    assert table(replay(final, creation, writes)) == table(live)
    day1 = measures(live, DAY1)
    assert "comp_CNY_cents" not in day1  # the plans were shown on the first day; accepting one changes nothing
    assert measures(live, DAY0)["comp_CNY_cents"] == 4550
    assert day1["resolved"] == 1 and day1["closed"] == 1 and day1["feedback_4_5"] == 1


# -- the store's operations ------------------------------------------------------------------------------------
def test_one_add_per_item_zero_sums_left_out():
    store = StatsStore(dynamodb=None, table="t")
    incs = [Increment(DAY0, "all", "-", 1, "received", 1), Increment(DAY0, "all", "-", 1, "repeats", 1),
            Increment(DAY0, "all", "-", 1, "received", 1), Increment(DAY0, "all", "-", 2, "received", 1),
            Increment(OPEN, "category", "a#b", 1, "open", 1), Increment(OPEN, "category", "a#b", 1, "open", -1)]
    ops = store.ops(incs)
    assert [(o["Update"]["Key"]["PK"]["S"], o["Update"]["Key"]["SK"]["S"]) for o in ops] == [
        ("STATS#2025-03-05", "all#-#1"), ("STATS#2025-03-05", "all#-#2")]
    first = ops[0]["Update"]
    assert first["UpdateExpression"] == "ADD #m0 :m0, #m1 :m1"
    assert first["ExpressionAttributeNames"] == {"#m0": "received", "#m1": "repeats"}
    assert first["ExpressionAttributeValues"] == {":m0": {"N": "2"}, ":m1": {"N": "1"}}
    assert store.ops([]) == []
    assert parse_sort_key("product#Pork #1 dumplings#3") == ("product", "Pork #1 dumplings", 3)


class _ConflictOnce:
    def __init__(self, codes: list[str], failures: int = 1):
        self.calls, self.codes, self.failures = 0, codes, failures

    def transact_write_items(self, TransactItems):  # noqa: N803 - boto3's name
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                               "CancellationReasons": [{"Code": c} for c in self.codes]}, "TransactWriteItems")


def test_a_transaction_cancelled_by_a_conflict_on_a_counter_is_sent_again_but_a_failed_condition_is_not():
    from botocore.exceptions import ClientError

    from shared.repository import ComplaintRepository

    db = _ConflictOnce(["None", "TransactionConflict"])
    ComplaintRepository(db, "t", cipher=None, hasher=None)._transact([{}])
    assert db.calls == 2
    db = _ConflictOnce(["ConditionalCheckFailed", "TransactionConflict"])
    with pytest.raises(ClientError):
        ComplaintRepository(db, "t", cipher=None, hasher=None)._transact([{}])
    assert db.calls == 1
    db = _ConflictOnce(["TransactionConflict"], failures=10)
    with pytest.raises(ClientError):
        ComplaintRepository(db, "t", cipher=None, hasher=None)._transact([{}])
    assert db.calls == 4


def test_the_rebuild_command_refuses_bad_days(capsys):
    from infra.cli import main

    assert main(["stats", "rebuild", "--from", "2026-11-30", "--to", "2026-11-01"]) == 2
    assert "before" in capsys.readouterr().err
    assert main(["stats", "rebuild", "--from", "2026-11", "--to", "2026-11-30"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["stats", "rebuild", "--from", "2026-11-01", "--to", "2026-11-30", "--lookback-months", "-1"]) == 2


def test_the_rollup_command_refuses_bad_months(capsys):
    from infra.cli import main

    assert main(["stats", "rollup", "--month", "2026-13"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert main(["stats", "rollup", "--month", "2026-11", "--through", "2026-12-01"]) == 2
    assert "not in 2026-11" in capsys.readouterr().err
    assert main(["stats", "rollup", "--month", "2026-11", "--through", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err

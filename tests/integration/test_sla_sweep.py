"""The SLA sweep (``functions/router/sweep.py``) against moto, with the domain's clock held at chosen
instants: warnings, breaches and escalations each announced once (``StaffAlertRaised`` on the bus,
taken by a test rule), paused clocks silent, stuck cases re-driven and reported, waiting cases
offered again - and the sweep reading only the cases that are due.

Cases are made as in ``test_routing`` (the app, the router and assignment queues, the fake model).
``T0`` is when they arrive; ``sweep(clock, minutes=31)`` runs one sweep at ``T0 + 31 min``.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.integration.test_assignment_concurrency import atomic_transactions  # noqa: F401 - fixture
from tests.integration.test_routing import (  # noqa: F401 - fixtures
    FOOD, POISONING, ROUTER_QUEUE, T0, UNCLEAR, admin, classify, clock, drain, fake_model, hire,
    load, new_case, set_leads, staff_alerts, stored, submit, token, view)

LEAD, MANAGER = "staff-qa-lead", "staff-qa-boss"
CS_LEAD, CS_MANAGER = "staff-cs-lead", "staff-cs-boss"


def sweep(clock, **since_t0):
    """One sweep at ``T0 + since_t0`` (the assigner it uses reads the same clock)."""
    from functions.router.sweep import sla_sweep

    at = clock.set(**since_t0)
    return sla_sweep(clock=lambda: at).run()


def racing_sweeps(clock, monkeypatch, **since_t0) -> list:
    """Two sweeps at the same instant (two schedules overlapping), made to race: each has read the
    case before either writes it."""
    from functions.router.sweep import sla_sweep
    from shared.repository import ComplaintRepository

    at = clock.set(**since_t0)
    both_read, reports, real_save = threading.Barrier(2, timeout=10), [], ComplaintRepository.save
    waited = threading.local()

    def save_after_the_other_read(self, *args, **kwargs):
        if not getattr(waited, "done", False):
            waited.done = True
            both_read.wait()
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ComplaintRepository, "save", save_after_the_other_read)
    threads = [threading.Thread(target=lambda: reports.append(sla_sweep(clock=lambda: at).run())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.setattr(ComplaintRepository, "save", real_save)
    assert [r.errors for r in reports] == [0, 0]
    return reports


def alert_id(number: str, clock_name: str, suffix: str) -> str:
    return f"{number}:{clock_name}:{int(T0.timestamp())}:{suffix}"


def kinds(case: dict, *wanted: str) -> list[str]:
    return [e["kind"] for e in case["timeline"] if e["kind"] in wanted]


SLA_KINDS = ("sla_warning", "sla_breached", "escalated")


def wait_on_customer(number: str, at) -> None:
    """The handler asked the customer something: the case waits, its internal clocks pause."""
    from shared.clock_changes import pause_clocks
    from shared.config_store import config_store
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    case = stored(number)
    changes, paused = pause_clocks(case, at, config_store(), actor="staff:staff-alice")
    complaint_repository().save(case.model_copy(update={
        **changes, "status": Status.WAITING_ON_CUSTOMER, "version": case.version + 1}), paused,
        expected_version=case.version)


def customer_answers(number: str, at) -> None:
    from shared.clock_changes import resume_clocks
    from shared.config_store import config_store
    from shared.lifecycle import Status
    from shared.store import complaint_repository

    case = stored(number)
    changes, resumed = resume_clocks(case, at, config_store())
    complaint_repository().save(case.model_copy(update={
        **changes, "status": Status.IN_PROGRESS, "version": case.version + 1}), resumed, expected_version=case.version)


# -- warnings, breach, escalation -------------------------------------------------------------------------
def test_a_p1_case_warns_breaches_and_escalates_each_point_once(
        client, clock, make_token, admin, staff_alerts, atomic_transactions, monkeypatch):
    set_leads(client, admin, quality=(LEAD, MANAGER))
    hire("staff-alice")
    number = new_case(client, POISONING)
    alice = token(make_token, "staff-alice")
    case = view(client, alice, number)
    assert case["priority"] == "P1" and case["assignee"] == "staff-alice"
    assert case["clocks"][0]["due_at"] == "2025-03-05T03:00:00.000Z"  # first response within the hour
    assert staff_alerts() == []

    assert sweep(clock, minutes=29).index_items_read == 0  # nothing due yet
    report = sweep(clock, minutes=31)  # half the hour used: the assignee is warned
    assert report.alerts == 1 and report.cases_read == 1
    [warning] = staff_alerts()
    assert warning["kind"] == "sla_warning" and warning["share"] == 0.5 and warning["recipients"] == ["staff-alice"]
    assert warning["clock"] == "first_response" and warning["due_at"] == "2025-03-05T03:00:00.000Z"
    assert warning["alert_id"] == alert_id(number, "first_response", "warn:0.5") and warning["priority"] == "P1"
    case = view(client, alice, number)
    assert kinds(case, *SLA_KINDS) == ["sla_warning"] and case["clocks"][0]["warnings_sent"] == [0.5]
    version = case["version"]

    again = sweep(clock, minutes=31)  # the same moment again: nothing to send, nothing to write
    assert (again.index_items_read, again.cases_read, again.alerts) == (0, 0, 0)
    assert staff_alerts() == [] and view(client, alice, number)["version"] == version

    expected = [(49, "sla_warning", "warn:0.8", ["staff-alice"], "sla_warning"),
                (61, "sla_breach", "level:1", [LEAD, "staff-alice"], "sla_breached"),
                (91, "escalation", "level:2", [MANAGER], "escalated")]
    for minutes, kind, suffix, recipients, entry in expected:
        reports = racing_sweeps(clock, monkeypatch, minutes=minutes)
        assert [r.alerts for r in reports] == [1, 1], minutes  # both announce it (before writing) ...
        assert sweep(clock, minutes=minutes).cases_read == 0  # ... and a late third finds nothing due
        announced = alert_id(number, "first_response", suffix)
        assert [(a["alert_id"], a["kind"], a["recipients"]) for a in staff_alerts()] == [
            (announced, kind, recipients)] * 2, minutes  # one alert id: the notifier delivers it once
        case = view(client, alice, number)
        written = [e["kind"] for e in case["timeline"] if e["details"].get("alert_id") == announced]
        assert written == [entry], minutes  # the losing sweep's write failed on the version
    assert kinds(case, *SLA_KINDS) == ["sla_warning", "sla_warning", "sla_breached", "escalated"]
    assert case["escalated"] is True and case["escalation_level"] == 2
    first_response = case["clocks"][0]
    assert first_response["state"] == "breached" and first_response["escalation_level"] == 2
    assert first_response["breached_at"] == "2025-03-05T03:00:00.000Z"
    [breach] = [e for e in case["timeline"] if e["kind"] == "sla_breached"]
    assert breach["details"]["recipients"] == [LEAD, "staff-alice"] and breach["details"]["level"] == 1
    assert sweep(clock, minutes=120).alerts == 0  # the resolution clock's first warning is at 12 h
    assert sweep(clock, hours=12, minutes=1).alerts == 1
    assert [a["clock"] for a in staff_alerts()] == ["resolution"]


def test_the_breach_marks_the_case_escalated_at_level_one(client, clock, make_token, admin, staff_alerts):
    """A sweep that comes late announces the highest warning and every level reached only."""
    set_leads(client, admin, quality=(LEAD, MANAGER))
    hire("staff-alice")
    number = new_case(client, POISONING)
    report = sweep(clock, minutes=65)  # nobody swept for an hour: the warnings are moot, the breach is not
    assert report.alerts == 1
    [breach] = staff_alerts()
    assert breach["kind"] == "sla_breach" and breach["level"] == 1 and breach["recipients"] == [LEAD, "staff-alice"]
    case = view(client, token(make_token, "staff-alice"), number)
    assert case["escalated"] is True and case["escalation_level"] == 1
    assert kinds(case, *SLA_KINDS) == ["sla_breached"] and case["clocks"][0]["warnings_sent"] == [0.5, 0.8]


def test_a_paused_clock_fires_nothing_until_the_customer_answers(client, clock, make_token, admin, staff_alerts):
    set_leads(client, admin, quality=(LEAD, MANAGER))
    hire("staff-alice")
    number = new_case(client, POISONING)
    wait_on_customer(number, clock.set(minutes=10))  # 10 of the 60 minutes used
    for minutes in (31, 61, 95, 120):
        report = sweep(clock, minutes=minutes)
        assert (report.index_items_read, report.alerts) == (0, 0), minutes
    alice = token(make_token, "staff-alice")
    case = view(client, alice, number)
    assert [c["state"] for c in case["clocks"]] == ["paused", "paused", "running"]
    assert kinds(case, *SLA_KINDS) == [] and staff_alerts() == []

    customer_answers(number, clock.set(minutes=120))  # paused for 110 minutes
    assert sweep(clock, minutes=139).alerts == 0  # half of the hour: 20 more minutes after the answer
    assert sweep(clock, minutes=141).alerts == 1
    [warning] = staff_alerts()
    assert warning["kind"] == "sla_warning" and warning["share"] == 0.5
    assert warning["due_at"] == "2025-03-05T04:50:00.000Z"  # the hour's deadline moved by the 110 minutes


# -- stuck before routing ------------------------------------------------------------------------------------
def test_an_unclassified_case_is_sent_to_the_router_again_then_reported_then_backed_off(
        client, clock, make_token, admin, staff_alerts):
    set_leads(client, admin, customer_service=(CS_LEAD, CS_MANAGER))
    number = submit(client)  # the router never takes it
    assert len(drain(ROUTER_QUEUE)["Records"]) == 1
    redriven_at = []
    for minutes in (16, 32, 48, 64, 80, 95, 120, 160):
        report = sweep(clock, minutes=minutes)
        records = drain(ROUTER_QUEUE)["Records"]
        if report.redriven:
            redriven_at.append(minutes)
            [record] = records
            assert f'"complaint_id": "{number}"' in record["body"] and '"ComplaintReceived"' in record["body"]
        else:
            assert records == [] and report.index_items_read == 0, minutes
    # every 15 minutes three times, then the lead is told and the interval doubles
    assert redriven_at == [16, 32, 48, 64, 95, 160]
    [stuck] = staff_alerts()
    assert stuck["kind"] == "stuck" and stuck["recipients"] == [CS_LEAD] and stuck["department"] == "customer_service"
    assert stuck["alert_id"] == f"{number}:stuck:unclassified"
    case = view(client, make_token(), number)
    assert case["status"] == "received"
    assert [e["details"]["attempt"] for e in case["timeline"] if e["kind"] == "redriven"] == [1, 2, 3, 4, 5, 6]
    [entry] = [e for e in case["timeline"] if e["kind"] == "stuck"]
    assert entry["at"] == "2025-03-05T02:48:00.000Z" and entry["details"]["recipients"] == [CS_LEAD]

    assert stored(number).next_check_at == T0 + timedelta(minutes=160 + 120)
    assert sweep(clock, minutes=280).redriven == 1
    classify(client)  # the router works again: the re-driven event is classified
    assert view(client, make_token(), number)["status"] == "classified"


def test_a_case_waiting_in_triage_too_long_is_reported_once(client, clock, make_token, admin, staff_alerts):
    set_leads(client, admin, customer_service=(CS_LEAD, CS_MANAGER))
    number = new_case(client, UNCLEAR)
    assert view(client, make_token(), number)["needs_triage"] is True
    assert sweep(clock, minutes=239).index_items_read == 0
    report = sweep(clock, minutes=241)
    assert report.alerts == 1 and report.actions == {"triage_reported": 1}
    [stuck] = staff_alerts()
    assert stuck["kind"] == "stuck" and stuck["recipients"] == [CS_LEAD] and stuck["alert_id"] == f"{number}:stuck:triage"
    for minutes in (300, 600, 2000):  # it left the sweep's list
        assert sweep(clock, minutes=minutes).index_items_read == 0
    assert staff_alerts() == []
    assert [e["kind"] for e in view(client, make_token(), number)["timeline"]][-1] == "stuck"


# -- the department queue ------------------------------------------------------------------------------------
def test_a_queued_case_is_offered_again_once_someone_is_on_duty(client, clock, make_token):
    from shared.staff_directory import staff_directory

    hire("staff-alice", on_duty=False)
    number = new_case(client, FOOD)
    assert stored(number).next_check_at == T0 + timedelta(minutes=30)  # QUEUE_RETRY_MINUTES
    report = sweep(clock, minutes=31)  # still nobody: it keeps waiting, looked at again later
    assert report.actions == {"checked": 1, "offered_queued": 1}
    assert stored(number).next_check_at == T0 + timedelta(minutes=61)

    staff_directory().set_on_duty("staff-alice", True)  # not through the API: nothing offers the queue
    assert stored(number).assignee is None
    report = sweep(clock, minutes=62)
    assert report.offered == 1 and report.actions == {"checked": 1, "offered_assigned": 1}
    case = view(client, token(make_token, "staff-alice"), number)
    assert case["assignee"] == "staff-alice" and case["status"] == "assigned" and case["queued_at"] is None
    assert load("staff-alice") == 1
    assert stored(number).next_check_at == T0 + timedelta(hours=2)  # the next: half of the 4 hours


# -- cost --------------------------------------------------------------------------------------------------
def test_the_sweep_reads_only_the_cases_that_are_due(client, clock, monkeypatch):
    from botocore.client import BaseClient

    from shared.repository import DUE_SHARDS

    clock.set(minutes=-10)
    due = [submit(client) for _ in range(3)]  # next check at T0 + 5 min
    clock.set()
    for _ in range(37):  # next check at T0 + 15 min
        submit(client)
    drain(ROUTER_QUEUE)
    calls: list[tuple[str, str | None]] = []
    real = BaseClient._make_api_call

    def spy(self, operation, params):
        if self.meta.service_model.service_name == "dynamodb":
            calls.append((operation, params.get("IndexName")))
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    report = sweep(clock, minutes=6)
    assert report.index_items_read == 3 and report.cases_read == 3 and report.redriven == 3
    assert sorted(r["body"].split('"complaint_id": "')[1][:10] for r in drain(ROUTER_QUEUE)["Records"]) == sorted(due)
    assert [c for c in calls if c[0] == "Scan"] == []
    assert calls.count(("Query", "ByDue")) == DUE_SHARDS
    assert {op for op, _ in calls} <= {"Query", "BatchGetItem", "GetItem", "TransactWriteItems"}

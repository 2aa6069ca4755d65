"""Closing a case (shared.closure), plain Python: resolve, confirm, dispute, the silent close, a
reopen - what each does to the status, the clocks, the plan, the timeline and the events - and the
handlers' load operations; then ``sla.restart``.

Cases are P1 (wall-clock targets: first response 1 h, resolution 24 h) in the quality department,
received at ``T0``; the configs are the bundled defaults, the quality department with a lead.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.closure import ClosureRefused, auto_close, confirm, dispute, load_ops, reopen, resolve
from shared.config_store import VersionedConfig, bundled
from shared.lifecycle import Status
from shared.models import (Complaint, InvestigationTask, PlanComponent, ResolutionPlan, TimelineKind,
                           Visibility)
from shared.sla import Calendars, restart, start_clocks, stop

T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
LEAD = "staff-qa-lead"


class Configs:
    """The config store's ``current(kind)`` over the bundled documents (quality gets a lead)."""

    def __init__(self) -> None:
        routing = bundled("routing")
        departments = [d.model_copy(update={"lead": LEAD}) if d.department_id == "quality" else d
                       for d in routing.config.departments]
        self._docs = {"routing": VersionedConfig("routing", 1, routing.config.model_copy(
            update={"departments": departments})), "sla": bundled("sla"), "workflow": bundled("workflow")}

    def current(self, kind: str) -> VersionedConfig:
        return self._docs[kind]


CONFIGS = Configs()
WORKFLOW = bundled("workflow").config
CALENDARS = Calendars.of(CONFIGS.current("routing").config, CONFIGS.current("sla").config)


def a_case(status: Status = Status.IN_PROGRESS, **changes) -> Complaint:
    clocks = start_clocks(department="quality", priority="P1", category="food_safety", region=None,
                          received_at=T0, config=CONFIGS.current("sla").config, calendars=CALENDARS)
    case = Complaint(complaint_id="C2503050001", version=5, status=status, channel="web", language="en",
                     description="sour dumplings", received_at=T0, updated_at=T0, tracking_token_hashes=["h"],
                     category="food_safety", department="quality", priority="P1", assignee="staff-alice",
                     clocks=clocks, next_check_at=T0 + timedelta(minutes=30))
    return case.model_copy(update=changes)


def a_plan(state: str = "proposed") -> ResolutionPlan:
    return ResolutionPlan(plan_id="plan-1", explanation="We refund the order.", proposed_by="staff:staff-alice",
                          proposed_at=T0, state=state,
                          components=[PlanComponent(type="refund", amount=Decimal("59.00"), currency="CNY")])


def resolved_case(at: datetime = T0 + 3 * HOUR, **changes) -> Complaint:
    return resolve(a_case(**changes), actor="staff-alice", text="We refunded your order.", at=at,
                   configs=CONFIGS, workflow=WORKFLOW).case


def kinds(entries) -> list[str]:
    return [e.kind.value for e in entries]


def clock(case: Complaint, name: str):
    return next(c for c in case.clocks if c.name == name)


# -- resolve ------------------------------------------------------------------------------------------
def test_resolve_stops_the_clocks_and_opens_the_confirmation_window():
    at = T0 + 3 * HOUR
    t = resolve(a_case(), actor="staff-alice", text="  We refunded your order.  ", at=at, configs=CONFIGS,
                workflow=WORKFLOW)
    case = t.case
    assert case.status == Status.RESOLVED and case.version == 6 and case.updated_at == at
    assert case.resolved_at == at and case.confirmation_due_at == at + timedelta(days=7)
    assert case.next_check_at == case.confirmation_due_at  # the sweep closes it then
    assert clock(case, "resolution").met is True and clock(case, "resolution").stopped_at == at
    assert clock(case, "first_response").met is False  # the resolution answered the customer, late
    status = t.entries[0]
    assert status.kind == TimelineKind.STATUS_CHANGED and status.visibility == Visibility.PUBLIC
    assert status.text == "We refunded your order." and status.actor == "staff:staff-alice"
    assert "clock_stopped" in kinds(t.entries)
    [event] = t.events
    assert event.kind == "resolved" and event.event_id == "C2503050001:resolved:v6"
    assert event.data["confirmation_due_at"] == "2025-03-12T05:00:00.000Z"
    assert t.also == []


def test_resolve_waits_for_tasks_and_approvals_and_the_right_state():
    task = InvestigationTask(task_id="t1", department="logistics", title="check", due_at=T0, opened_by="x",
                             opened_at=T0)
    for case, code in ((a_case(tasks=[task]), "tasks_open"), (a_case(plan=a_plan("pending_approval")),
                                                               "plan_pending_approval"),
                       (a_case(Status.ASSIGNED), "invalid_transition"), (a_case(Status.CLOSED), "invalid_transition")):
        with pytest.raises(ClosureRefused) as refused:
            resolve(case, actor="staff-alice", text="done", at=T0, configs=CONFIGS, workflow=WORKFLOW)
        assert refused.value.code == code
    custom = WORKFLOW.model_copy(update={"confirmation_days": 3})
    t = resolve(a_case(Status.WAITING_ON_CUSTOMER), actor="staff:staff-alice", text=None, at=T0, configs=CONFIGS,
                workflow=custom)
    assert t.case.confirmation_due_at == T0 + timedelta(days=3) and t.entries[0].actor == "staff:staff-alice"


# -- confirm ------------------------------------------------------------------------------------------
def test_confirm_closes_a_resolved_case_with_the_survey():
    resolved = resolved_case(plan=a_plan())
    at = T0 + timedelta(days=1)
    t = confirm(resolved, at=at, configs=CONFIGS)
    case = t.case
    assert case.status == Status.CLOSED and case.closure == "confirmed" and case.closed_at == at
    assert case.next_check_at is None and case.plan.state == "accepted" and case.version == resolved.version + 1
    assert kinds(t.entries) == ["confirmed", "status_changed"]
    assert all(e.visibility == Visibility.PUBLIC and e.actor == "customer" for e in t.entries)
    [event] = t.events
    assert (event.kind, event.actor, event.data) == ("closed", "customer", {"closure": "confirmed", "survey": True})


def test_accepting_a_proposed_plan_resolves_and_closes_at_once():
    proposed = a_case(Status.RESOLUTION_PROPOSED, plan=a_plan())
    at = T0 + 5 * HOUR
    t = confirm(proposed, at=at, configs=CONFIGS)
    case = t.case
    assert case.status == Status.CLOSED and case.resolved_at == at and case.plan.state == "accepted"
    assert [e.status.value for e in t.entries if e.kind == TimelineKind.STATUS_CHANGED] == ["resolved", "closed"]
    assert clock(case, "resolution").stopped_at == at and case.next_check_at is None


@pytest.mark.parametrize("case", [a_case(), a_case(Status.RESOLUTION_PROPOSED, plan=a_plan("pending_approval")),
                                  a_case(Status.CLOSED)])
def test_nothing_to_confirm_or_dispute(case):
    with pytest.raises(ClosureRefused) as refused:
        confirm(case, at=T0, configs=CONFIGS)
    assert refused.value.code == "nothing_to_confirm" and refused.value.status == 409
    with pytest.raises(ClosureRefused) as refused:
        dispute(case, reason="no", at=T0, configs=CONFIGS)
    assert refused.value.code == "nothing_to_confirm"


# -- dispute ------------------------------------------------------------------------------------------
def test_dispute_reopens_escalated_with_the_clocks_running_again():
    resolved = resolved_case(at=T0 + 3 * HOUR, plan=a_plan())
    at = T0 + timedelta(days=2)
    t = dispute(resolved, reason="  The refund never arrived.  ", at=at, configs=CONFIGS)
    case = t.case
    assert case.status == Status.IN_PROGRESS and case.reopened_count == 1 and case.escalated
    assert case.escalation_level == 1 and case.plan.state == "disputed"
    assert case.resolved_at is None and case.confirmation_due_at is None
    resolution = clock(case, "resolution")
    assert resolution.running_since == at and resolution.met is None and resolution.stopped_at is None
    # 3 h of 24 were used before the resolution: 21 h remain from the dispute
    assert resolution.due_at == at + 21 * HOUR
    assert clock(case, "first_response").stopped_at is not None  # answered once: stays met/missed
    assert case.next_check_at == at + 9 * HOUR  # the 50 % warning (12 h of 24) comes first
    disputed = t.entries[0]
    assert disputed.kind == TimelineKind.DISPUTED and disputed.visibility == Visibility.PUBLIC
    assert disputed.text == "The refund never arrived." and disputed.actor == "customer"
    assert kinds(t.entries) == ["disputed", "status_changed", "clock_resumed"]
    [event] = t.events
    assert event.kind == "disputed" and event.recipients == ["staff-alice", LEAD] and event.urgent  # P1
    assert event.data == {"reopened": True, "level": 1, "plan_id": "plan-1"}
    assert "never arrived" not in event.model_dump_json()  # free text stays out of events


def test_disputing_a_proposed_plan_is_not_a_reopen():
    proposed = a_case(Status.RESOLUTION_PROPOSED, plan=a_plan(), escalation_level=2)
    t = dispute(proposed, reason="Not enough.", at=T0 + HOUR, configs=CONFIGS)
    assert t.case.status == Status.IN_PROGRESS and t.case.reopened_count == 0
    assert t.case.escalation_level == 2 and t.case.plan.state == "disputed"
    assert t.events[0].data["reopened"] is False


@pytest.mark.parametrize("reason, code", [("", "reason_required"), ("   ", "reason_required"),
                                          ("x" * 2001, "reason_too_long")])
def test_a_dispute_needs_a_reason(reason, code):
    with pytest.raises(ClosureRefused) as refused:
        dispute(resolved_case(), reason=reason, at=T0 + timedelta(days=1), configs=CONFIGS)
    assert (refused.value.code, refused.value.status) == (code, 422)


# -- auto close ---------------------------------------------------------------------------------------
def test_auto_close_only_when_the_window_is_over():
    resolved = resolved_case(at=T0)
    with pytest.raises(ClosureRefused) as refused:
        auto_close(resolved, at=T0 + timedelta(days=7) - timedelta(seconds=1))
    assert refused.value.code == "not_due"
    t = auto_close(resolved, at=T0 + timedelta(days=7))
    assert t.case.status == Status.CLOSED and t.case.closure == "resolved_without_confirmation"
    assert t.case.next_check_at is None and t.case.closed_at == T0 + timedelta(days=7)
    [event] = t.events
    assert (event.kind, event.actor, event.data["closure"], event.data["survey"]) == (
        "closed", "system", "resolved_without_confirmation", True)
    with pytest.raises(ClosureRefused) as refused:
        auto_close(t.case, at=T0 + timedelta(days=8))
    assert refused.value.code == "not_resolved"


# -- reopen -------------------------------------------------------------------------------------------
def test_staff_reopen_a_closed_case_with_an_internal_reason():
    closed = confirm(resolved_case(), at=T0 + timedelta(days=1), configs=CONFIGS).case
    at = T0 + timedelta(days=3)
    t = reopen(closed, actor="staff-bob", reason="the customer called: still sour", at=at, configs=CONFIGS,
               escalate=True)
    case = t.case
    assert case.status == Status.IN_PROGRESS and case.reopened_count == 1 and case.closure is None
    assert case.closed_at is None and case.escalated and case.escalation_level == 1
    assert clock(case, "resolution").running_since == at
    reopened = t.entries[0]
    assert reopened.kind == TimelineKind.REOPENED and reopened.visibility == Visibility.INTERNAL
    assert reopened.text == "the customer called: still sour" and reopened.actor == "staff:staff-bob"
    [event] = t.events
    assert event.kind == "reopened" and event.recipients == ["staff-alice", LEAD] and event.urgent
    with pytest.raises(ClosureRefused) as refused:
        reopen(case, actor="staff-bob", reason="again", at=at, configs=CONFIGS)
    assert refused.value.code == "not_resolved"
    with pytest.raises(ClosureRefused) as refused:
        reopen(closed, actor="staff-bob", reason=" ", at=at, configs=CONFIGS)
    assert refused.value.code == "reason_required"


def test_a_case_resolved_again_gets_a_new_confirmation_window():
    first = resolved_case(at=T0 + 3 * HOUR)
    back = dispute(first, reason="no", at=T0 + timedelta(days=2), configs=CONFIGS).case
    again = resolve(back, actor="staff-alice", text="Refund sent again.", at=T0 + timedelta(days=3),
                    configs=CONFIGS, workflow=WORKFLOW).case
    assert again.confirmation_due_at == T0 + timedelta(days=10) and again.next_check_at == again.confirmation_due_at
    # the resolution clock ran 3 h, then 1 day: missed its 24 h target
    assert clock(again, "resolution").met is False


# -- the handlers' load -------------------------------------------------------------------------------
class Directory:
    def release_op(self, handler_id):
        return ("release", handler_id)

    def assign_op(self, handler_id, *, cap, at, require_on_duty):
        return ("assign", handler_id, cap, at, require_on_duty)


def test_load_follows_the_case_in_and_out_of_the_open_states():
    directory = Directory()
    working = a_case()
    resolved = resolved_case()
    assert load_ops(working, resolved, directory) == [("release", "staff-alice")]
    disputed = dispute(resolved, reason="no", at=T0 + timedelta(days=1), configs=CONFIGS).case
    assert load_ops(resolved, disputed, directory) == [
        ("assign", "staff-alice", None, T0 + timedelta(days=1), False)]
    closed = auto_close(resolved, at=T0 + timedelta(days=8)).case
    assert load_ops(resolved, closed, directory) == []  # released at the resolution already
    assert load_ops(working, working.model_copy(update={"assignee": "staff-bob"}), directory) == [
        ("release", "staff-alice"), ("assign", "staff-bob", None, T0, False)]
    assert load_ops(working, working.model_copy(update={"version": 6}), directory) == []
    unassigned = a_case(Status.RESOLVED, assignee=None)
    assert load_ops(unassigned, unassigned.model_copy(update={"status": Status.IN_PROGRESS}), directory) == []


# -- sla.restart --------------------------------------------------------------------------------------
def test_restart_runs_the_stopped_clocks_again_keeping_what_they_consumed():
    clocks = start_clocks(department="quality", priority="P1", category="food_safety", region="GB",
                          received_at=T0, config=CONFIGS.current("sla").config, calendars=CALENDARS)
    stopped = stop(clocks, "resolution", T0 + 30 * HOUR, CALENDARS)  # 30 h of 24: missed
    again = {c.name: c for c in restart(stopped, "resolution", T0 + 40 * HOUR, CALENDARS)}
    resolution = again["resolution"]
    assert resolution.state == "running" and resolution.met is None
    assert resolution.consumed_seconds == 30 * 3600 and resolution.due_at == T0 + 40 * HOUR  # overdue already
    assert again["first_response"].stopped_at is None and again["first_response"].running_since == T0  # untouched
    assert again["uk_fca.final_response"].running_since == T0 + 40 * HOUR  # a regulator's clock too
    assert restart(clocks, "resolution", T0 + HOUR, CALENDARS) == clocks  # nothing stopped: nothing changes

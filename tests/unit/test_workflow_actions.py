"""The handler's workflow as plain Python (shared/workflow.py, shared/resolution.py, shared/ledger.py):
each action's transition and refusals, approval rules, merge/split and the ledger's reversals.

Cases are P3 quality cases in progress, assigned to staff-alice, received at ``T0``; the configs are
the bundled defaults with a lead and a manager for quality and a manager for the default department
(customer_service). Approval limits: CNY 500, USD 80, EUR 75; priority P1 always needs approval.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.config_store import VersionedConfig, bundled
from shared.identifiers import new_complaint_number
from shared.ledger import line_keys, reversal_of, totals
from shared.lifecycle import InvalidTransition, Status
from shared.models import Complaint, InvestigationTask, PlanComponent, Product, TimelineKind, Visibility
from shared.resolution import evaluate
from shared.sla import Calendars, start_clocks
from shared.workflow import ActionRefused, Context, apply, close_task, merge, parse_command, split
from shared.workflow_config import ApprovalRules

T0 = datetime(2025, 3, 5, 2, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
LEAD, MANAGER, DEFAULT_MANAGER = "staff-qa-lead", "staff-qa-manager", "staff-cs-manager"


class Configs:
    def __init__(self, quality_manager: str | None = MANAGER) -> None:
        routing = bundled("routing")
        people = {"quality": {"lead": LEAD, "manager": quality_manager},
                  "customer_service": {"manager": DEFAULT_MANAGER}}
        departments = [d.model_copy(update=people.get(d.department_id, {})) for d in routing.config.departments]
        self._docs = {"routing": VersionedConfig("routing", 1, routing.config.model_copy(
            update={"departments": departments})), "sla": bundled("sla"), "workflow": bundled("workflow")}

    def current(self, kind: str) -> VersionedConfig:
        return self._docs[kind]


CONFIGS = Configs()
CALENDARS = Calendars.of(CONFIGS.current("routing").config, CONFIGS.current("sla").config)
HANDLERS = {"staff-bob": ["logistics"], "staff-alice": ["quality"]}


IDS = itertools.count(1)


def ctx(actor: str = "staff-alice", at: datetime = T0 + HOUR, configs=CONFIGS) -> Context:
    return Context(actor_id=actor, at=at, configs=configs, handler_departments=HANDLERS.get,
                   new_id=lambda prefix: f"{prefix}_{next(IDS)}")


def a_case(status: Status = Status.IN_PROGRESS, priority: str = "P3", region: str | None = None,
           **changes) -> Complaint:
    clocks = start_clocks(department="quality", priority=priority, category="product_quality", region=region,
                          received_at=T0, config=CONFIGS.current("sla").config, calendars=CALENDARS)
    case = Complaint(complaint_id=new_complaint_number(T0), version=4, status=status, channel="web", language="en",
                     description="torn bag", received_at=T0, updated_at=T0, tracking_token_hashes=["h"],
                     category="product_quality", department="quality", priority=priority, assignee="staff-alice",
                     clocks=clocks, next_check_at=T0 + 4 * HOUR, contact_hashes={"email": "hash-1"},
                     product=Product(sku="DUMP-1KG", batch="B2411"))
    return case.model_copy(update=changes)


def command(**body):
    return parse_command({"version": 4, **body})


def act(case, context=None, **body):
    return apply(case, command(**body), context or ctx())


def refused(code: str, case, context=None, **body) -> ActionRefused:
    with pytest.raises(ActionRefused) as caught:
        act(case, context, **body)
    assert caught.value.code == code, caught.value
    return caught.value


def refund(amount: str, currency: str = "CNY") -> dict:
    return {"type": "refund", "amount": amount, "currency": currency}


def kinds(entries) -> list[str]:
    return [e.kind.value for e in entries]


def clock_states(case) -> dict[str, str]:
    return {c.name: c.state for c in case.clocks}


# -- the commands --------------------------------------------------------------------------------------------
def test_commands_are_validated_by_their_action():
    with pytest.raises(ValidationError):
        command(action="dance")
    with pytest.raises(ValidationError):
        command(action="note", text="x", reason="extra field")
    with pytest.raises(ValidationError):
        command(action="note", text="   ")
    with pytest.raises(ValidationError) as twice:
        command(action="propose_resolution", explanation="x", components=[refund("1"), refund("2")])
    assert "at most one component of each type" in str(twice.value)
    with pytest.raises(ValidationError):
        command(action="propose_resolution", explanation="x", components=[{"type": "refund"}])  # no amount
    with pytest.raises(ValidationError):
        command(action="propose_resolution", explanation="x", components=[{"type": "apology"}] * 7)
    with pytest.raises(ValidationError):
        command(action="merge", into="not-a-number")
    assert command(action="merge", into=new_complaint_number(T0).lower()).into.startswith("C")


# -- approval rules ----------------------------------------------------------------------------------------------
def test_approval_sums_refund_and_compensation_per_currency_against_its_limit():
    rules = bundled("workflow").config.approval
    components = [PlanComponent(type="refund", amount=Decimal("300"), currency="CNY"),
                  PlanComponent(type="compensation", amount=Decimal("200"), currency="CNY")]
    assert evaluate(components, "P3", rules).required is False  # 500 is not above 500
    components[1] = PlanComponent(type="compensation", amount=Decimal("200.01"), currency="CNY")
    approval = evaluate(components, "P3", rules)
    assert approval.required and approval.reasons == ["500.01 CNY above the limit of 500 CNY"]
    # each currency against its own limit: 300 CNY and 60 USD are both within
    mixed = [PlanComponent(type="refund", amount=Decimal("300"), currency="CNY"),
             PlanComponent(type="compensation", amount=Decimal("60"), currency="USD")]
    assert evaluate(mixed, "P3", rules).required is False


def test_approval_for_a_currency_without_limit_a_listed_type_or_priority():
    rules = ApprovalRules(limits=[{"currency": "CNY", "amount": "500"}], types=["replacement"], priorities=["P1"])
    jpy = evaluate([PlanComponent(type="compensation", amount=Decimal("1"), currency="JPY")], "P3", rules)
    assert jpy.required and "no limit is set for JPY" in jpy.reasons[0]
    replacement = evaluate([PlanComponent(type="replacement"), PlanComponent(type="apology")], "P3", rules)
    assert replacement.reasons == ["a replacement always needs approval"]
    urgent = evaluate([PlanComponent(type="apology")], "P1", rules)
    assert urgent.reasons == ["priority P1 cases need approval"]
    assert evaluate([PlanComponent(type="apology")], "P2", rules).required is False


# -- writing to the customer, escalation ------------------------------------------------------------------------
def test_reply_and_request_information_owe_customer_events():
    case = a_case()
    replied = act(case, action="reply", text="We are on it.")
    assert [e.kind for e in replied.events] == ["staff_replied"] and replied.case.version == 5
    assert replied.events[0].event_id == f"{case.complaint_id}:staff_replied:v5"
    assert clock_states(replied.case)["first_response"] == "met"
    asked = act(case, action="request_information", text="A photo, please?")
    assert asked.case.status == Status.WAITING_ON_CUSTOMER and [e.kind for e in asked.events] == ["information_requested"]
    assert clock_states(asked.case)["resolution"] == "paused"
    refused("not_in_progress", a_case(Status.ASSIGNED), action="reply", text="hi")


def test_escalation_tells_the_lead_then_the_manager_and_stops_at_level_two():
    first = act(a_case(), action="escalate", reason="customer threatens to go to the press")
    assert first.case.escalated and first.case.escalation_level == 1
    assert first.events[0].kind == "escalated" and first.events[0].recipients == [LEAD]
    assert first.entries[0].kind == TimelineKind.ESCALATED and first.entries[0].visibility == Visibility.INTERNAL
    assert first.entries[0].text == "customer threatens to go to the press"
    second = act(first.case.model_copy(update={"version": 4}), action="escalate", reason="still angry")
    assert second.case.escalation_level == 2 and second.events[0].recipients == [LEAD, MANAGER]
    third = act(second.case.model_copy(update={"version": 4}), action="escalate", reason="again")
    assert third.case.escalation_level == 2
    # an SLA breach already escalated to level 1 without the flag: a handler's escalation keeps the level
    assert act(a_case(escalation_level=1), action="escalate", reason="x").case.escalation_level == 1
    refused("not_open", a_case(Status.RESOLVED), action="escalate", reason="x")


# -- tasks -------------------------------------------------------------------------------------------------------
def test_open_task_for_another_department_with_a_due_date():
    opened = act(a_case(), action="open_task", department="logistics", title="Check the courier's scan log")
    task = opened.case.tasks[0]
    assert task.state == "open" and task.department == "logistics" and opened.opened_tasks == [task]
    assert task.due_at == T0 + HOUR + timedelta(days=3)  # workflow.task_due_days
    assert opened.entries[0].kind == TimelineKind.TASK_OPENED and opened.entries[0].visibility == Visibility.INTERNAL
    event = opened.events[0]
    assert event.kind == "task_assigned" and event.data["task_id"] == task.task_id
    assert event.recipients == []  # logistics has no lead configured: nobody named (the board lists it)
    named = act(a_case(), action="open_task", department="logistics", title="t", assignee="staff-bob",
                due_at="2025-03-20T10:00:00Z")
    assert named.events[0].recipients == ["staff-bob"]
    assert named.case.tasks[0].due_at == datetime(2025, 3, 20, 10, tzinfo=timezone.utc)
    quality = act(a_case(), action="open_task", department="quality", title="Test the batch")
    assert quality.events[0].recipients == [LEAD]
    assert refused("unknown_department", a_case(), action="open_task", department="marketing", title="t").status == 422
    assert refused("unknown_handler", a_case(), action="open_task", department="quality", title="t",
                   assignee="staff-bob").status == 422
    refused("due_in_past", a_case(), action="open_task", department="quality", title="t", due_at="2025-03-01T00:00:00Z")


def with_task(department: str = "logistics", **changes) -> Complaint:
    task = InvestigationTask(task_id="tsk_1", department=department, title="scan log", due_at=T0 + 72 * HOUR,
                             opened_by="staff-alice", opened_at=T0)
    return a_case(tasks=[task], **changes)


def test_a_task_is_closed_by_its_department_or_cancelled_by_the_handler():
    done = close_task(with_task(), "tsk_1", "done", "scanned at the depot on 3 March", ctx("staff-bob"))
    assert done.case.tasks[0].state == "done" and done.case.tasks[0].closed_by == "staff-bob"
    assert done.closed_tasks[0].task_id == "tsk_1" and done.case.open_tasks() == []
    assert done.events[0].kind == "task_closed" and done.events[0].recipients == ["staff-alice"]
    assert done.entries[0].kind == TimelineKind.TASK_CLOSED and done.entries[0].text == "scanned at the depot on 3 March"
    with pytest.raises(ActionRefused) as again:
        close_task(done.case, "tsk_1", "done", "again", ctx("staff-bob"))
    assert again.value.code == "task_closed"
    with pytest.raises(ActionRefused) as unknown:
        close_task(with_task(), "tsk_9", "done", "x", ctx("staff-bob"))
    assert unknown.value.status == 404
    cancelled = act(with_task(assignee="staff-alice"), action="cancel_task", task_id="tsk_1", reason="not needed")
    assert cancelled.case.tasks[0].state == "cancelled" and cancelled.case.tasks[0].outcome == "not needed"


def test_resolve_waits_for_open_tasks_and_pending_plans():
    refused("open_tasks", with_task(), action="resolve", text="done")
    done = close_task(with_task(), "tsk_1", "done", "ok", ctx("staff-bob")).case.model_copy(update={"version": 4})
    resolved = act(done, action="resolve", text="We replaced the bag.")
    assert resolved.case.status == Status.RESOLVED and [e.kind for e in resolved.events] == ["resolved"]
    pending = act(a_case(), action="propose_resolution", explanation="Refund",
                  components=[refund("900")]).case.model_copy(update={"version": 4})
    refused("plan_pending_approval", pending, action="resolve")


# -- resolution plans -------------------------------------------------------------------------------------------
def test_a_plan_within_the_limits_is_shown_to_the_customer_and_booked():
    case = a_case()
    proposed = act(case, action="propose_resolution", explanation="We refund the bag and add a voucher.",
                   components=[refund("59.00"), {"type": "compensation", "amount": "20", "currency": "CNY"},
                               {"type": "apology"}], internal_note="goodwill")
    plan = proposed.case.plan
    assert proposed.case.status == Status.RESOLUTION_PROPOSED and plan.state == "proposed"
    assert plan.proposed_by == "staff-alice" and not plan.approval.required
    shown = [e for e in proposed.entries if e.kind == TimelineKind.PLAN_PROPOSED]
    assert shown[0].visibility == Visibility.PUBLIC and shown[0].text == "We refund the bag and add a voucher."
    assert [c["type"] for c in shown[0].details["components"]] == ["refund", "compensation", "apology"]
    assert "goodwill" not in str(shown[0].details)
    note = [e for e in proposed.entries if e.kind == TimelineKind.INTERNAL_NOTE]
    assert note[0].text == "goodwill" and note[0].visibility == Visibility.INTERNAL
    assert [e.kind for e in proposed.events] == ["resolution_proposed"]
    assert clock_states(proposed.case)["first_response"] == "met"  # the plan answers the customer
    assert [(line.type, line.amount, line.currency, line.department, line.sku, line.handler)
            for line in proposed.ledger] == [("refund", Decimal("59.00"), "CNY", "quality", "DUMP-1KG", "staff-alice"),
                                             ("compensation", Decimal("20"), "CNY", "quality", "DUMP-1KG", "staff-alice")]
    assert [line.sk for line in proposed.ledger] == [
        f"2025-03-05T03:00:00.000Z#{case.complaint_id}#{plan.plan_id}#1",
        f"2025-03-05T03:00:00.000Z#{case.complaint_id}#{plan.plan_id}#2"]
    refused("not_in_progress", a_case(Status.ASSIGNED), action="propose_resolution", explanation="x",
            components=[{"type": "apology"}])


def test_a_plan_above_the_limits_waits_for_a_manager_who_approves_it():
    proposed = act(a_case(), action="propose_resolution", explanation="Full refund",
                   components=[refund("800")])
    plan = proposed.case.plan
    assert plan.state == "pending_approval" and plan.approval.reasons == ["800 CNY above the limit of 500 CNY"]
    assert proposed.case.status == Status.RESOLUTION_PROPOSED and proposed.ledger == []
    assert all(e.visibility == Visibility.INTERNAL for e in proposed.entries)
    assert [(e.kind, e.recipients, e.data) for e in proposed.events] == [
        ("approval_needed", [MANAGER], {"plan_id": plan.plan_id})]
    assert clock_states(proposed.case)["first_response"] == "running"  # the customer has seen nothing yet

    waiting = proposed.case.model_copy(update={"version": 4})
    refused("own_plan", waiting, ctx("staff-alice"), action="approve")
    approved = act(waiting, ctx(MANAGER, at=T0 + 2 * HOUR), action="approve", comment="fine")
    assert approved.case.plan.state == "proposed" and approved.case.plan.approval.decided_by == MANAGER
    assert [(e.kind.value, e.visibility.value) for e in approved.entries][:2] == [
        ("plan_approved", "internal"), ("plan_proposed", "public")]
    assert [(e.kind, e.recipients, e.data.get("approved")) for e in approved.events] == [
        ("plan_decided", ["staff-alice"], True), ("resolution_proposed", [], None)]
    assert [line.at for line in approved.ledger] == [T0 + 2 * HOUR]  # booked when the customer sees it
    refused("nothing_to_approve", approved.case.model_copy(update={"version": 4}), ctx(MANAGER), action="approve")


def test_a_rejected_plan_sends_the_case_back_to_work():
    waiting = act(a_case(), action="propose_resolution", explanation="x",
                  components=[refund("800")]).case.model_copy(update={"version": 4})
    rejected = act(waiting, ctx(MANAGER), action="reject_plan", comment="offer a replacement instead")
    assert rejected.case.plan.state == "rejected" and rejected.case.status == Status.IN_PROGRESS
    assert kinds(rejected.entries) == ["plan_rejected", "status_changed"]
    assert all(e.visibility == Visibility.INTERNAL for e in rejected.entries)
    assert rejected.entries[0].text == "offer a replacement instead"
    assert rejected.events[0].kind == "plan_decided" and rejected.events[0].data["approved"] is False
    with pytest.raises(ValidationError):
        command(action="reject_plan")  # a comment is required


def test_priority_approval_goes_to_the_default_departments_manager_without_one_in_the_department():
    proposed = act(a_case(priority="P1"), ctx(configs=Configs(quality_manager=None)),
                   action="propose_resolution", explanation="Sorry", components=[{"type": "apology"}])
    assert proposed.case.plan.approval.reasons == ["priority P1 cases need approval"]
    assert proposed.events[0].recipients == [DEFAULT_MANAGER] and proposed.events[0].urgent


def test_a_new_plan_supersedes_the_old_and_reverses_what_the_customer_had_seen():
    first = act(a_case(), action="propose_resolution", explanation="refund", components=[refund("100")])
    second = act(first.case.model_copy(update={"version": 4}), ctx(at=T0 + 5 * HOUR),
                 action="propose_resolution", explanation="refund more", components=[refund("150")])
    assert second.case.plan.plan_id != first.case.plan.plan_id
    assert second.reversing == [("LEDGER#2025-03", first.ledger[0].sk)]
    assert [e.details.get("supersedes") for e in second.entries if e.kind == TimelineKind.PLAN_PROPOSED] == [
        first.case.plan.plan_id]
    # a plan never shown to the customer is not in the ledger: nothing to reverse
    pending = act(a_case(), action="propose_resolution", explanation="x", components=[refund("900")])
    again = act(pending.case.model_copy(update={"version": 4}), action="propose_resolution", explanation="y",
                components=[refund("100")])
    assert again.reversing == [] and len(again.ledger) == 1


# -- the ledger ----------------------------------------------------------------------------------------------------
def test_ledger_reversal_cancels_the_original_in_the_month_of_the_change():
    proposed = act(a_case(), action="propose_resolution", explanation="x",
                   components=[refund("100.50"), {"type": "compensation", "amount": "20", "currency": "USD"}])
    assert [sk for _, sk in line_keys(proposed.case.complaint_id, proposed.case.plan)] == [
        line.sk for line in proposed.ledger]
    later = datetime(2025, 4, 2, tzinfo=timezone.utc)
    reversals = [reversal_of(line, later) for line in proposed.ledger]
    assert [(r.month, r.amount, r.reverses) for r in reversals] == [
        ("2025-04", Decimal("-100.50"), proposed.ledger[0].sk), ("2025-04", Decimal("-20"), proposed.ledger[1].sk)]
    assert reversals[0].sk.endswith("#r1") and reversals[0].department == "quality"
    assert totals(proposed.ledger) == {"CNY": {"refund": "100.50", "total": "100.50"},
                                       "USD": {"compensation": "20.00", "total": "20.00"}}
    assert totals([*proposed.ledger, *reversals]) == {"CNY": {"refund": "0.00", "total": "0.00"},
                                                      "USD": {"compensation": "0.00", "total": "0.00"}}


# -- endings -------------------------------------------------------------------------------------------------------
def test_reject_and_withdraw_end_the_case_with_the_reason_told_to_the_customer():
    shown = act(a_case(), action="propose_resolution", explanation="x", components=[refund("10")])
    rejected = act(shown.case.model_copy(update={"version": 4}), action="reject", reason="Not our product.")
    case = rejected.case
    assert case.status == Status.REJECTED and case.closure == "rejected" and case.closed_at == T0 + HOUR
    assert case.next_check_at is None and all(c.stopped_at is not None for c in case.clocks)
    assert rejected.entries[0].visibility == Visibility.PUBLIC and rejected.entries[0].text == "Not our product."
    assert [(e.kind, e.data) for e in rejected.events] == [("closed", {"closure": "rejected", "survey": False})]
    assert case.plan.state == "superseded" and rejected.reversing == line_keys(case.complaint_id, shown.case.plan)
    withdrawn = act(a_case(Status.WAITING_ON_CUSTOMER), action="withdraw", reason="solved it myself")
    assert withdrawn.case.status == Status.WITHDRAWN and withdrawn.case.closure == "withdrawn"
    refused("open_tasks", with_task(), action="withdraw", reason="x")
    with pytest.raises(InvalidTransition):
        act(a_case(Status.RESOLVED), action="reject", reason="x")


# -- merge and split -----------------------------------------------------------------------------------------------
def test_merge_holds_the_duplicate_and_tells_its_customer_only_what_is_theirs():
    duplicate = a_case(Status.IN_PROGRESS, contact_hashes={"email": "other-customer"})
    target = a_case(Status.ASSIGNED, complaint_id=new_complaint_number(T0), version=7)
    merged, handling = merge(duplicate, target, ctx())
    case = merged.case
    assert case.status == Status.MERGED and case.merged_into == target.complaint_id
    assert case.status_before_merge == Status.IN_PROGRESS and case.closure == "merged" and case.next_check_at is None
    assert all(c.paused_at is not None for c in case.clocks)  # the regulatory clock too (it never pauses waiting)
    public = [e for e in merged.entries if e.visibility == Visibility.PUBLIC]
    assert [e.kind for e in public] == [TimelineKind.MERGED]
    assert target.complaint_id not in str(public[0].model_dump()) and "another case" in public[0].text
    assert handling.case.merged_cases == [duplicate.complaint_id] and handling.case.version == 8
    assert handling.entries[0].visibility == Visibility.INTERNAL and duplicate.complaint_id in handling.entries[0].text
    assert [(e.kind, e.data["closure"]) for e in merged.events] == [("closed", "merged")]

    same_customer = merge(a_case(), target, ctx())[0]
    assert target.complaint_id in same_customer.entries[0].text


def test_merge_refusals():
    target = a_case(complaint_id=new_complaint_number(T0))
    case = a_case()
    with pytest.raises(ActionRefused) as self_merge:
        merge(case, case, ctx())
    assert self_merge.value.code == "self_merge"
    for duplicate, into, code in [
        (a_case(merged_cases=[new_complaint_number(T0)]), target, "merge_chain"),
        (a_case(Status.MERGED, merged_into=new_complaint_number(T0)), target, "already_merged"),
        (case, target.model_copy(update={"status": Status.MERGED}), "already_merged"),
        (case, target.model_copy(update={"status": Status.CLOSED}), "not_open"),
        (with_task(), target, "open_tasks"),
    ]:
        with pytest.raises(ActionRefused) as caught:
            merge(duplicate, into, ctx())
        assert caught.value.code == code


def test_split_puts_the_duplicate_back_with_its_clocks_running_again():
    target = a_case(complaint_id=new_complaint_number(T0))
    duplicate = a_case()
    merged, handling = merge(duplicate, target, ctx(at=T0 + HOUR))
    back_target, back = split(handling.case, merged.case, ctx(at=T0 + 3 * HOUR))
    assert back.case.status == Status.IN_PROGRESS and back.case.merged_into is None and back.case.closure is None
    assert back_target.case.merged_cases == []
    assert all(c.paused_at is None for c in back.case.clocks)
    resolution = next(c for c in back.case.clocks if c.name == "resolution")
    assert resolution.paused_seconds == 2 * 3600 and back.case.next_check_at is not None
    assert [e.kind for e in back.entries][:1] == [TimelineKind.SPLIT] and back.entries[0].visibility == Visibility.PUBLIC
    assert back_target.entries[0].visibility == Visibility.INTERNAL
    assert [(e.kind, e.recipients) for e in back.events] == [("reopened", [])]  # alice split it herself
    with pytest.raises(ActionRefused) as caught:
        split(back_target.case, back.case, ctx())
    assert caught.value.code == "not_merged_here"


def test_a_case_merged_while_waiting_on_the_customer_keeps_waiting_after_the_split():
    waiting = act(a_case(region="US"), action="request_information", text="photo?").case
    assert clock_states(waiting)["us_cfpb.final_response"] == "running"  # a deadline that never pauses
    target = a_case(complaint_id=new_complaint_number(T0))
    merged, handling = merge(waiting, target, ctx(at=T0 + 2 * HOUR))
    assert clock_states(merged.case)["us_cfpb.final_response"] == "paused"  # held while merged
    _, back = split(handling.case, merged.case, ctx(at=T0 + 3 * HOUR))
    assert back.case.status == Status.WAITING_ON_CUSTOMER
    states = clock_states(back.case)
    assert states["resolution"] == "paused"  # still waiting on the customer
    assert states["us_cfpb.final_response"] == "running"
    assert states["cn_consumer.reply"] == "met"  # stopped by the question (a reply) before the merge

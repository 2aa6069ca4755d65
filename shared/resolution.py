"""Resolution plans: what the company offers the customer, and a manager's approval above the limits.

    in_progress | waiting_on_customer | resolution_proposed --propose_resolution--> resolution_proposed
        approval needed: plan pending_approval (internal; the managers are told)
            --approve--> plan proposed (the customer sees it)      --reject_plan--> plan rejected, in_progress
        no approval needed: plan proposed (the customer sees it at once)

A plan needs a manager (:func:`evaluate`, ``WorkflowConfig.approval``) when its refund plus
compensation in one currency is above that currency's limit (a currency without a limit always
needs one), when it contains a type listed in ``types``, or when the case's priority is listed in
``priorities``; the reasons are kept with the plan. A manager never approves their own plan.

A new plan supersedes the previous one. When a plan becomes visible to the customer its refund and
compensation go to the ledger (:mod:`shared.ledger`), in the same transaction; a visible plan that
is superseded is reversed there. Showing a plan to the customer answers them: it meets the
first-response clocks like a reply. Proposing from ``waiting_on_customer`` ends the wait: the paused
clocks run again (a plan waiting for a manager is the company's time, not the customer's).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from shared.events import CaseEvent
from shared.lifecycle import Status, check_transition
from shared.models import Complaint, PlanApproval, PlanComponent, ResolutionPlan, TimelineEntry, TimelineKind, Visibility
from shared.workflow import (ActionRefused, Approve, Change, Context, ProposeResolution, RejectPlan, changed,
                             retire_plan, status_entry)

PROPOSABLE = (Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER, Status.RESOLUTION_PROPOSED)
MONEY_TYPES = ("refund", "compensation")


def evaluate(components: Iterable[PlanComponent], priority: str | None, rules: Any) -> PlanApproval:
    """Does a plan of ``components`` for a case of ``priority`` need a manager under ``rules``
    (:class:`shared.workflow_config.ApprovalRules`)? With the reasons why."""
    components = list(components)
    reasons: list[str] = []
    sums: dict[str, Decimal] = {}
    for c in components:
        if c.type in MONEY_TYPES:
            sums[c.currency] = sums.get(c.currency, Decimal("0")) + c.amount
    for currency, total in sorted(sums.items()):
        limit = rules.limit_for(currency)
        if limit is None:
            reasons.append(f"{total} {currency}: no limit is set for {currency}")
        elif total > limit:
            reasons.append(f"{total} {currency} above the limit of {limit} {currency}")
    for c in components:
        if c.type in rules.types:
            reasons.append(f"a {c.type} always needs approval")
    if priority and priority in rules.priorities:
        reasons.append(f"priority {priority} cases need approval")
    return PlanApproval(required=bool(reasons), reasons=reasons)


def propose(case: Complaint, command: ProposeResolution, ctx: Context) -> Change:
    if case.status not in PROPOSABLE:
        hint = ": accept it first" if case.status == Status.ASSIGNED else ""
        raise ActionRefused("not_in_progress", f"a {case.status.value} complaint cannot get a resolution plan{hint}")
    check_transition(case.status, Status.RESOLUTION_PROPOSED)
    approval = evaluate(command.components, case.priority, ctx.workflow.approval)
    previous, reversing = retire_plan(case)
    plan = ResolutionPlan(plan_id=ctx.new_id("pln"), components=command.components, explanation=command.explanation,
                          internal_note=command.internal_note or None, proposed_by=ctx.actor_id,
                          proposed_at=ctx.at, state="pending_approval" if approval.required else "proposed",
                          approval=approval)
    visible = not approval.required
    changes: dict[str, Any] = {"plan": plan, "status": Status.RESOLUTION_PROPOSED}
    entries: list[TimelineEntry] = []
    if case.status != Status.RESOLUTION_PROPOSED:
        entries.append(status_entry(case, Status.RESOLUTION_PROPOSED, ctx,
                                    visibility=Visibility.PUBLIC if visible else Visibility.INTERNAL))
    resumed, clock_entries = _stop_waiting(case, ctx)
    changes.update(resumed)
    entries += clock_entries
    details = {"plan_id": plan.plan_id, "components": _components(plan),
               **({"supersedes": previous.plan_id} if previous and previous.state == "superseded" else {})}
    if visible:
        shown, shown_entries = _shown(case.model_copy(update=changes), ctx)
        changes.update(shown)
        entries.append(TimelineEntry(at=ctx.at, kind=TimelineKind.PLAN_PROPOSED, actor=ctx.actor,
                                     text=plan.explanation, details=details))
        entries += shown_entries
    else:
        entries.append(TimelineEntry(at=ctx.at, kind=TimelineKind.PLAN_PROPOSED, visibility=Visibility.INTERNAL,
                                     actor=ctx.actor, text=plan.explanation,
                                     details={**details, "approval_reasons": approval.reasons}))
    if plan.internal_note:
        entries.append(TimelineEntry(at=ctx.at, kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL,
                                     actor=ctx.actor, text=plan.internal_note, details={"plan_id": plan.plan_id}))
    after = changed(case, ctx, **changes)
    if visible:
        events = [CaseEvent.of(after, "resolution_proposed", actor=ctx.actor, at=ctx.at,
                               data={"plan_id": plan.plan_id})]
        ledger = _ledger(after, plan, ctx)
    else:
        events = [CaseEvent.of(after, "approval_needed", actor=ctx.actor, at=ctx.at, recipients=_managers(case, ctx),
                               urgent=case.priority == "P1", data={"plan_id": plan.plan_id})]
        ledger = []
    return Change(case, after, entries, events, ledger=ledger, reversing=reversing)


def approve(case: Complaint, command: Approve, ctx: Context) -> Change:
    plan = _pending(case)
    if _subject(plan.proposed_by) == ctx.actor_id:
        raise ActionRefused("own_plan", "a manager cannot approve their own plan: another manager decides")
    decided = plan.model_copy(update={"state": "proposed", "approval": plan.approval.model_copy(update={
        "decided_by": ctx.actor_id, "decided_at": ctx.at, "approved": True, "comment": command.comment or None})})
    changes: dict[str, Any] = {"plan": decided}
    entries = [TimelineEntry(at=ctx.at, kind=TimelineKind.PLAN_APPROVED, visibility=Visibility.INTERNAL,
                             actor=ctx.actor, text=command.comment or None,
                             details={"plan_id": plan.plan_id, "approval_reasons": plan.approval.reasons})]
    if case.status != Status.RESOLUTION_PROPOSED:  # a question to the customer was asked meanwhile
        check_transition(case.status, Status.RESOLUTION_PROPOSED)
        changes["status"] = Status.RESOLUTION_PROPOSED
        entries.append(status_entry(case, Status.RESOLUTION_PROPOSED, ctx))
        resumed, clock_entries = _stop_waiting(case, ctx)
        changes.update(resumed)
        entries += clock_entries
    entries.append(TimelineEntry(at=ctx.at, kind=TimelineKind.PLAN_PROPOSED, actor=_staff(plan.proposed_by),
                                 text=plan.explanation,
                                 details={"plan_id": plan.plan_id, "components": _components(plan)}))
    shown, shown_entries = _shown(case.model_copy(update=changes), ctx)
    changes.update(shown)
    entries += shown_entries
    after = changed(case, ctx, **changes)
    events = [
        CaseEvent.of(after, "plan_decided", actor=ctx.actor, at=ctx.at, recipients=ctx.people(_subject(plan.proposed_by)),
                     data={"plan_id": plan.plan_id, "approved": True}),
        CaseEvent.of(after, "resolution_proposed", actor=ctx.actor, at=ctx.at, data={"plan_id": plan.plan_id}),
    ]
    return Change(case, after, entries, events, ledger=_ledger(after, decided, ctx))


def reject_plan(case: Complaint, command: RejectPlan, ctx: Context) -> Change:
    plan = _pending(case)
    decided = plan.model_copy(update={"state": "rejected", "approval": plan.approval.model_copy(update={
        "decided_by": ctx.actor_id, "decided_at": ctx.at, "approved": False, "comment": command.comment})})
    changes: dict[str, Any] = {"plan": decided}
    entries = [TimelineEntry(at=ctx.at, kind=TimelineKind.PLAN_REJECTED, visibility=Visibility.INTERNAL,
                             actor=ctx.actor, text=command.comment, details={"plan_id": plan.plan_id})]
    if case.status == Status.RESOLUTION_PROPOSED:  # the customer never saw the plan: back to work
        check_transition(case.status, Status.IN_PROGRESS)
        changes["status"] = Status.IN_PROGRESS
        entries.append(status_entry(case, Status.IN_PROGRESS, ctx, visibility=Visibility.INTERNAL,
                                    because="plan_rejected"))
    after = changed(case, ctx, **changes)
    event = CaseEvent.of(after, "plan_decided", actor=ctx.actor, at=ctx.at, recipients=ctx.people(_subject(plan.proposed_by)),
                         data={"plan_id": plan.plan_id, "approved": False})
    return Change(case, after, entries, [event])


def _pending(case: Complaint) -> ResolutionPlan:
    if case.plan is None or case.plan.state != "pending_approval":
        raise ActionRefused("nothing_to_approve", "the case has no plan waiting for approval")
    return case.plan


def _stop_waiting(case: Complaint, ctx: Context) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """A plan for a case that waited on the customer: the wait is over, the paused clocks run again."""
    from shared.clock_changes import resume_clocks

    if case.status != Status.WAITING_ON_CUSTOMER:
        return {}, []
    resumed, entries = resume_clocks(case, ctx.at, ctx.configs, actor=ctx.actor)
    return resumed, [e.model_copy(update={"text": "resolution proposed: the case no longer waits on the customer"})
                     for e in entries]


def _shown(case: Complaint, ctx: Context) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """The customer sees the plan: it answers them (the first-response clocks stop)."""
    from shared.clock_changes import stop_clocks

    return stop_clocks(case, "first_response", ctx.at, ctx.configs, actor=ctx.actor)


def _ledger(case: Complaint, plan: ResolutionPlan, ctx: Context) -> list[Any]:
    from shared.ledger import lines_for

    return lines_for(case, plan, ctx.at)


def _managers(case: Complaint, ctx: Context) -> list[str]:
    """Who approves: the case department's manager, else the default department's."""
    routing = ctx.routing
    own = routing.department(case.department)
    manager = (own.manager if own else None) or getattr(routing.department(routing.default_department), "manager", None)
    return [manager] if manager else []


def _components(plan: ResolutionPlan) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", exclude_none=True) for c in plan.components]


def _subject(actor: str) -> str:
    return actor.removeprefix("staff:")


def _staff(subject: str) -> str:
    return subject if subject.startswith("staff:") else f"staff:{subject}"

"""Staff-facing case events: who hears of them, and what their messages say.

Recipients are the staff the transition named (``event.recipients``); when it named none, the
people the kind concerns:

    assigned                             the new assignee
    customer_replied, task_closed,       the case's assignee
    reopened
    approval_needed                      the department's manager (else its lead)
    plan_decided                         the handler who proposed the plan
    task_assigned                        the task's assignee, else the lead of the task's department
    escalated                            the department's lead (and its manager from level 2 on)
    disputed                             the assignee and the department's lead

Nobody is told of their own action (``actor = staff:<id>``). Plain Python: the caller reads the case
and the routing configuration.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.notifier.customer_content import PLAN_LABELS
from functions.notifier.messages import format_money
from shared.events import CaseEvent
from shared.models import Complaint, InvestigationTask

STAFF_TEMPLATE_PREFIX = "staff_"  # staff_assigned, staff_customer_replied ...


def staff_id_of(actor: str | None) -> str | None:
    """``staff:<id>`` -> ``<id>``; None for the customer and the system."""
    return actor.split(":", 1)[1] if actor and actor.startswith("staff:") else None


def plain_id(who: str | None) -> str | None:
    """A staff id however it was written (``staff:<id>`` or ``<id>``)."""
    if not who or who in ("system", "customer"):
        return None
    return staff_id_of(who) or who


def task_of(event: CaseEvent, case: Complaint) -> InvestigationTask | None:
    task_id = event.data.get("task_id")
    return next((t for t in case.tasks if t.task_id == task_id), None) if task_id else None


def recipients_of(event: CaseEvent, case: Complaint, departments: Any) -> list[str]:
    """Who hears of ``event`` (see the module docstring), the actor left out, each once.
    ``departments``: the routing configuration (``department(id)`` -> lead, manager)."""
    dept = departments.department(event.department or case.department) if departments else None
    lead = (dept.lead or dept.manager) if dept else None
    manager = (dept.manager or dept.lead) if dept else None
    assignee = event.assignee or case.assignee
    kind = event.kind
    named: list[str | None] = list(event.recipients)
    if not named:
        if kind == "assigned":
            named = [event.assignee]
        elif kind in ("customer_replied", "task_closed", "reopened"):
            named = [assignee]
        elif kind == "approval_needed":
            named = [manager]
        elif kind == "plan_decided":
            named = [plain_id(case.plan.proposed_by) if case.plan else None]
        elif kind == "task_assigned":
            task = task_of(event, case)
            task_dept = departments.department(task.department) if task and departments else None
            named = [task.assignee if task and task.assignee else
                     (task_dept.lead or task_dept.manager) if task_dept else None]
        elif kind == "escalated":
            named = [lead] + ([manager] if int(event.data.get("level") or 1) >= 2 else [])
        elif kind == "disputed":
            named = [assignee, lead]
    actor = staff_id_of(event.actor)
    return [r for r in dict.fromkeys(plain_id(n) for n in named) if r and r != actor]


def nearest_due(case: Complaint) -> datetime | None:
    """The earliest deadline of a clock still running (None when none runs)."""
    dues = [c.due_at for c in case.clocks if c.stopped_at is None and c.due_at is not None]
    return min(dues) if dues else None


def due_of(event: CaseEvent, case: Complaint) -> datetime | None:
    """The deadline a message about ``event`` shows: the task's for task kinds, else the case's nearest."""
    if event.kind in ("task_assigned", "task_closed"):
        task = task_of(event, case)
        if task is not None:
            return task.due_at
    return nearest_due(case)


def staff_facts(event: CaseEvent, case: Complaint, language: str) -> dict[str, Any]:
    """The kind-specific variables of the ``staff_<kind>`` templates. Staff messages name the case's
    facts, never the customer's contact data or their words (those are read in the console)."""
    task = task_of(event, case)
    plan = case.plan
    approval = plan.approval if plan else None
    return {
        "category": case.category,
        "level": event.data.get("level"),
        "closure": event.data.get("closure"),
        "via": event.data.get("channel"),  # how the customer wrote: email, web ...
        "task": {"title": task.title, "department": task.department, "state": task.state,
                 "outcome": task.outcome} if task else None,
        "plan": {"components": [{"label": PLAN_LABELS[c.type][language],
                                 "amount": format_money(c.amount, c.currency) if c.amount is not None else None}
                                for c in plan.components],
                 "reasons": list(approval.reasons) if approval else []} if plan else None,
        "approved": event.data.get("approved", approval.approved if approval else None),
        "comment": approval.comment if approval and event.kind == "plan_decided" else None,
    }

"""Closing a case: the resolution, the customer's confirmation or dispute, the silent close, a reopen.

Every function takes the case as read and returns a :class:`Transition` - the case changed (its
version raised), the timeline entries, the :class:`~shared.events.CaseEvent` s it owes and raw
transaction operations (``also``) - and leaves the write, conditional on the version read, to the
caller (``repository.save(t.case, t.entries, expected_version=..., also=t.also, events=t.events)``,
then ``shared.case_events.announce``)::

    in_progress | waiting_on_customer | resolution_proposed --resolve--> resolved
    resolved --confirm--> closed (confirmed)          resolution_proposed --confirm--> resolved -> closed
    resolved --dispute--> in_progress (escalated, reopened)      resolution_proposed --dispute--> in_progress
    resolved --auto_close (confirmation window over)--> closed (resolved_without_confirmation)
    resolved | closed --reopen (staff)--> in_progress

A resolved case waits ``WorkflowConfig.confirmation_days`` for the customer: its ``next_check_at`` is
the end of that window, so the SLA sweep (``ByDue`` index) finds it and closes it then.

Handlers' load: the staff directory counts each handler's open cases. A transition that takes a case
with an assignee out of the open states gives the slot back, one that brings it back takes it again;
the caller adds :func:`load_ops` (``load_ops(before, t.case, directory)``) to ``also``.

Plain Python, no AWS: ``configs`` is the config store (its ``current(kind)``: the SLA clocks'
calendars, the departments' leads), ``workflow`` a :class:`shared.workflow_config.WorkflowConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.events import CaseEvent
from shared.lifecycle import OPEN_STATES, Status, can_transition
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility

REASON_MAX = 2_000
TEXT_MAX = 20_000
CONFIRMED, WITHOUT_CONFIRMATION = "confirmed", "resolved_without_confirmation"


class ClosureRefused(Exception):
    """The transition is not allowed now: ``code`` and a message for the answer (``status``: 409 for a
    case in the wrong state, 422 for a missing or invalid input)."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Transition:
    case: Complaint  # as it must be saved (version raised)
    entries: list[TimelineEntry]
    events: list[CaseEvent]
    also: list[dict[str, Any]] = field(default_factory=list)  # raw transaction operations


# -- staff: resolve and reopen --------------------------------------------------------------------------
def resolve(case: Complaint, *, actor: str, text: str | None, at: datetime, configs: Any, workflow: Any) -> Transition:
    """The handler resolved the case; ``text`` tells the customer how (shown on the tracking page).
    The first-response and resolution clocks stop (the resolution answers the customer), and the
    customer has ``workflow.confirmation_days`` to confirm or dispute."""
    actor = _staff(actor)
    _allowed(case, Status.RESOLVED, "resolve")
    if case.open_tasks():
        raise ClosureRefused("tasks_open", f"{len(case.open_tasks())} investigation task(s) are still open: "
                                           "close or cancel them before resolving")
    if case.plan is not None and case.plan.state == "pending_approval":
        raise ClosureRefused("plan_pending_approval", "the resolution plan waits for a manager's approval")
    text = _text(text, TEXT_MAX, "text", required=False)
    due = at + timedelta(days=workflow.confirmation_days)
    changes, entries = _stop(case, at, configs, actor)
    changes.update({"status": Status.RESOLVED, "resolved_at": at, "confirmation_due_at": due, "next_check_at": due,
                    "closed_at": None, "closure": None, "queued_at": None})
    entries.insert(0, TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor=actor, status=Status.RESOLVED,
                                    text=text, details={"from": case.status.value, "confirmation_due_at": _iso(due)}))
    resolved = _changed(case, at, changes)
    data = {"confirmation_due_at": _iso(due), **({"plan_id": case.plan.plan_id} if case.plan else {})}
    return Transition(resolved, entries, [CaseEvent.of(resolved, "resolved", actor=actor, at=at, data=data)])


def reopen(case: Complaint, *, actor: str, reason: str, at: datetime, configs: Any,
           escalate: bool = False) -> Transition:
    """A handler reopens a resolved or closed case (with the reason, internal); its resolution
    clocks run again from where they stopped. ``escalate`` marks it escalated (level 1 at least)."""
    actor = _staff(actor)
    if case.status not in (Status.RESOLVED, Status.CLOSED):
        raise ClosureRefused("not_resolved", f"only a resolved or closed case can be reopened (it is {case.status.value})")
    reason = _text(reason, REASON_MAX, "reason")
    changes, clock_entries = _restart(case, at, configs, actor)
    changes.update(_reopened(case))
    if escalate:
        changes.update({"escalated": True, "escalation_level": max(1, case.escalation_level)})
    entries = [
        TimelineEntry(at=at, kind=TimelineKind.REOPENED, visibility=Visibility.INTERNAL, actor=actor, text=reason,
                      details={"from": case.status.value, "escalated": escalate,
                               "reopened_count": case.reopened_count + 1}),
        TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor=actor, status=Status.IN_PROGRESS,
                      details={"from": case.status.value, "because": "reopened"}),
        *clock_entries,
    ]
    reopened = _changed(case, at, changes)
    recipients = [case.assignee] + (_leads(case, configs) if escalate else [])
    event = CaseEvent.of(reopened, "reopened", actor=actor, at=at, recipients=_people(recipients, but=actor),
                         urgent=escalate, data={"escalated": escalate, "reopened_count": reopened.reopened_count})
    return Transition(reopened, entries, [event])


# -- the customer: confirm or dispute -------------------------------------------------------------------
def confirm(case: Complaint, *, at: datetime, configs: Any) -> Transition:
    """The customer accepts the resolution: the case closes (``closure = confirmed``) and the survey is
    offered. A proposed plan may be accepted directly: the case is then resolved and closed at once."""
    entries: list[TimelineEntry] = []
    changes: dict[str, Any] = {}
    status = case.status
    if _plan_proposed(case):
        changes, entries = _stop(case, at, configs, "customer")
        entries.insert(0, TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor="customer",
                                        status=Status.RESOLVED, details={"from": status.value,
                                                                         "because": "plan_accepted"}))
        changes["resolved_at"] = at
        status = Status.RESOLVED
    elif case.status != Status.RESOLVED:
        raise _nothing_to_confirm(case)
    plan = case.plan.model_copy(update={"state": "accepted"}) if case.plan and case.plan.state == "proposed" \
        else case.plan
    changes.update({"status": Status.CLOSED, "closed_at": at, "closure": CONFIRMED, "next_check_at": None,
                    "plan": plan})
    entries += [
        TimelineEntry(at=at, kind=TimelineKind.CONFIRMED, actor="customer",
                      details={"plan_id": plan.plan_id if plan else None}),
        TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor="customer", status=Status.CLOSED,
                      details={"from": status.value, "closure": CONFIRMED}),
    ]
    closed = _changed(case, at, changes)
    return Transition(closed, entries, [CaseEvent.of(closed, "closed", actor="customer", at=at,
                                                     data={"closure": CONFIRMED, "survey": True})])


def dispute(case: Complaint, *, reason: str, at: datetime, configs: Any) -> Transition:
    """The customer does not accept the resolution (or the proposed plan), with their reason: the case
    goes back to work, escalated; a resolved case counts as reopened and its resolution clocks run
    again. The assignee and the department lead are told."""
    if not (case.status == Status.RESOLVED or _plan_proposed(case)):
        raise _nothing_to_confirm(case)
    reason = _text(reason, REASON_MAX, "reason")
    was_resolved = case.status == Status.RESOLVED
    changes, clock_entries = _restart(case, at, configs, "customer")
    if was_resolved:
        changes.update(_reopened(case))
    else:
        changes["status"] = Status.IN_PROGRESS
    plan = case.plan.model_copy(update={"state": "disputed"}) if case.plan and case.plan.state in (
        "proposed", "accepted") else case.plan
    level = max(1, case.escalation_level)
    changes.update({"escalated": True, "escalation_level": level, "plan": plan})
    entries = [
        TimelineEntry(at=at, kind=TimelineKind.DISPUTED, actor="customer", text=reason,
                      details={"from": case.status.value, "plan_id": plan.plan_id if plan else None}),
        TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor="customer", status=Status.IN_PROGRESS,
                      details={"from": case.status.value, "because": "disputed"}),
        *clock_entries,
    ]
    disputed = _changed(case, at, changes)
    event = CaseEvent.of(disputed, "disputed", actor="customer", at=at, urgent=case.priority == "P1",
                         recipients=_people([case.assignee, *_leads(case, configs)]),
                         data={"reopened": was_resolved, "level": level,
                               **({"plan_id": plan.plan_id} if plan else {})})
    return Transition(disputed, entries, [event])


# -- the sweep: the confirmation window is over -------------------------------------------------------------
def auto_close(case: Complaint, *, at: datetime) -> Transition:
    """The customer said nothing within the confirmation window: the case closes as resolved without
    confirmation (and the survey is still offered)."""
    if case.status != Status.RESOLVED:
        raise ClosureRefused("not_resolved", f"only a resolved case closes by itself (it is {case.status.value})")
    if case.confirmation_due_at is None or case.confirmation_due_at > at:
        raise ClosureRefused("not_due", "the customer may still confirm or dispute the resolution")
    changes = {"status": Status.CLOSED, "closed_at": at, "closure": WITHOUT_CONFIRMATION, "next_check_at": None}
    entries = [TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, status=Status.CLOSED,
                             details={"from": case.status.value, "closure": WITHOUT_CONFIRMATION,
                                      "confirmation_due_at": _iso(case.confirmation_due_at)})]
    closed = _changed(case, at, changes)
    return Transition(closed, entries, [CaseEvent.of(closed, "closed", actor="system", at=at,
                                                     data={"closure": WITHOUT_CONFIRMATION, "survey": True})])


# -- the handlers' load -----------------------------------------------------------------------------------
def load_ops(before: Complaint, after: Complaint, directory: Any) -> list[dict[str, Any]]:
    """The staff directory operations that keep open-case counts exact across a transition: the slot of
    an assignee whose case left the open states is given back, one whose case came back takes it
    again (never refused: the handler had the case already); a change of assignee moves the slot."""
    held = before.assignee if before.status in OPEN_STATES else None
    holds = after.assignee if after.status in OPEN_STATES else None
    if held == holds:
        return []
    ops = []
    if held:
        ops.append(directory.release_op(held))
    if holds:
        ops.append(directory.assign_op(holds, cap=None, at=after.updated_at, require_on_duty=False))
    return ops


# -- helpers --------------------------------------------------------------------------------------------
def _changed(case: Complaint, at: datetime, changes: dict[str, Any]) -> Complaint:
    return case.model_copy(update={**changes, "version": case.version + 1, "updated_at": at})


def _allowed(case: Complaint, target: Status, verb: str) -> None:
    if not can_transition(case.status, target):
        raise ClosureRefused("invalid_transition", f"a {case.status.value} complaint cannot be {verb}d")


def _plan_proposed(case: Complaint) -> bool:
    return case.status == Status.RESOLUTION_PROPOSED and case.plan is not None and case.plan.state == "proposed"


def _nothing_to_confirm(case: Complaint) -> ClosureRefused:
    return ClosureRefused("nothing_to_confirm", "there is no resolution waiting for your answer "
                                                f"(the complaint is {case.status.value})")


def _reopened(case: Complaint) -> dict[str, Any]:
    return {"status": Status.IN_PROGRESS, "reopened_count": case.reopened_count + 1, "resolved_at": None,
            "confirmation_due_at": None, "closed_at": None, "closure": None}


def _stop(case: Complaint, at: datetime, configs: Any, actor: str) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """Stop the first-response and resolution clocks (the resolution answers the customer)."""
    from shared.clock_changes import stop_clocks

    changes: dict[str, Any] = {}
    entries: list[TimelineEntry] = []
    current = case
    for event in ("first_response", "resolution"):
        update, more = stop_clocks(current, event, at, configs, actor=actor)
        changes.update(update)
        entries += more
        current = current.model_copy(update=update)
    return changes, entries


def _restart(case: Complaint, at: datetime, configs: Any, actor: str) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """Run the resolution clocks again; the next check is their next warning or deadline."""
    from shared.sla import Calendars, next_point, restart

    if not case.clocks:
        return {"next_check_at": None}, []
    routing, sla = configs.current("routing"), configs.current("sla")
    calendars = Calendars.of(routing.config, sla.config)
    clocks = restart(case.clocks, "resolution", at, calendars)
    again = [c for b, c in zip(case.clocks, clocks) if b.stopped_at is not None and c.stopped_at is None]
    changes = {"clocks": clocks, "next_check_at": next_point(clocks, sla.config, calendars)}
    if not again:
        return changes, []
    entry = TimelineEntry(at=at, kind=TimelineKind.CLOCK_RESUMED, visibility=Visibility.INTERNAL, actor=actor,
                          text="reopened: running again " + ", ".join(f"{c.name} (now due {_iso(c.due_at)})"
                                                                      for c in again),
                          details={"restarted": True, "clocks": [{"name": c.name, "due_at": _iso(c.due_at)}
                                                                 for c in again]})
    return changes, [entry]


def _leads(case: Complaint, configs: Any) -> list[str]:
    department = configs.current("routing").config.department(case.department)
    return [w for w in ((department.lead or department.manager) if department else None,) if w]


def _people(ids: list[str | None], but: str | None = None) -> list[str]:
    skip = but.removeprefix("staff:") if but else None
    return list(dict.fromkeys(i for i in ids if i and i != skip))


def _staff(actor: str) -> str:
    """Timeline actor of a staff member: ``staff:<subject>`` (a bare subject is accepted)."""
    return actor if actor.startswith("staff:") or actor == "system" else f"staff:{actor}"


def _text(value: str | None, limit: int, name: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ClosureRefused(f"{name}_required", f"give a {name}", 422)
        return None
    if len(value) > limit:
        raise ClosureRefused(f"{name}_too_long", f"the {name} is longer than {limit} characters", 422)
    return value


def _iso(at: datetime | None) -> str | None:
    from shared.repository import iso

    return iso(at) if at else None

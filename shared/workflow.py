"""A handler's work on a case, as transitions of the one state machine (:mod:`shared.lifecycle`).

Every action is a command (``{"action": ..., "version": n, ...}``, the body of
``POST /staff/complaints/{id}/actions``) applied to the case as read. It returns a :class:`Change`:
the case as it must be saved (version raised), the timeline entries and :class:`~shared.events.CaseEvent` s
to write with it, and what else the same transaction must do (tasks to put on / take off the task
board, compensation ledger lines, raw operations from :mod:`shared.closure`). :func:`save` writes it -
conditional on the version read - and the handler then publishes the events.

* ``accept`` (the assignee starts work), ``note`` (internal), ``reply`` (to the customer; the first
  meets the first-response clocks), ``request_information`` (the case waits on the customer, clocks
  that pause stop running);
* ``escalate`` with a reason (level 1: the department lead is told; again: level 2, the manager too);
* ``open_task`` / ``cancel_task``: investigation tasks for a department, with a due date; a case
  cannot be resolved (nor rejected, withdrawn or merged) while one is open. The task's department
  closes it through ``POST /staff/complaints/{id}/tasks/{task_id}`` (:func:`close_task`);
* ``propose_resolution``, ``approve``, ``reject_plan``: resolution plans (:mod:`shared.resolution`);
* ``resolve`` and ``reopen``: :mod:`shared.closure`;
* ``reject`` (not a complaint we handle) and ``withdraw`` (the customer withdrew it): the case ends;
* ``merge`` (this case is a duplicate handled in another) and ``split`` (take a merged duplicate out
  again): two cases change in one transaction (:func:`merge`, :func:`split`).

Plain Python: no AWS here but in :func:`save`, which only talks to the repository and gateways it is
given. The configuration comes from the config store the caller passes (``Context.configs``).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator

from shared.events import CaseEvent
from shared.lifecycle import OPEN_STATES, Status, check_transition
from shared.models import (VERSION_MAX, Complaint, InvestigationTask, PlanComponent, TimelineEntry, TimelineKind,
                           Visibility)

TEXT_MAX, REASON_MAX, TITLE_MAX = 20_000, 2_000, 200
MAX_OPEN_TASKS = 10
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX)]
PLAN_DECISIONS = ("approve", "reject_plan")  # a manager's (policy ``plan.decide``); the rest: ``case.work``


# -- the commands -----------------------------------------------------------------------------------------
class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    version: int = Field(ge=1, le=VERSION_MAX, description="the case's version as read; 409 stale_version when it changed")


class Accept(_Command):
    action: Literal["accept"]


class Note(_Command):
    action: Literal["note"]
    text: Text


class Reply(_Command):
    action: Literal["reply"]
    text: Text


class RequestInformation(_Command):
    action: Literal["request_information"]
    text: Text


class Escalate(_Command):
    action: Literal["escalate"]
    reason: Reason


class OpenTask(_Command):
    action: Literal["open_task"]
    department: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
    details: Annotated[str, StringConstraints(max_length=REASON_MAX)] | None = None
    due_at: datetime | None = None  # default: now + WorkflowConfig.task_due_days
    assignee: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None

    @field_validator("due_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class CancelTask(_Command):
    action: Literal["cancel_task"]
    task_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Reason


class ProposeResolution(_Command):
    action: Literal["propose_resolution"]
    components: Annotated[list[PlanComponent], Field(min_length=1, max_length=6)]
    explanation: Text  # what the customer reads
    internal_note: Annotated[str, StringConstraints(max_length=REASON_MAX)] | None = None

    @field_validator("components")
    @classmethod
    def _one_of_each(cls, components: list[PlanComponent]) -> list[PlanComponent]:
        types = [c.type for c in components]
        twice = sorted({t for t in types if types.count(t) > 1})
        if twice:
            raise ValueError(f"at most one component of each type ({', '.join(twice)} given twice)")
        return components


class Approve(_Command):
    action: Literal["approve"]
    comment: Annotated[str, StringConstraints(max_length=REASON_MAX)] | None = None


class RejectPlan(_Command):
    action: Literal["reject_plan"]
    comment: Reason


class Resolve(_Command):
    action: Literal["resolve"]
    text: Annotated[str, StringConstraints(max_length=TEXT_MAX)] | None = None  # told to the customer


class Reopen(_Command):
    action: Literal["reopen"]
    reason: Reason
    escalate: bool = False


class Reject(_Command):
    action: Literal["reject"]
    reason: Reason  # told to the customer


class Withdraw(_Command):
    action: Literal["withdraw"]
    reason: Reason


def _number(value: str) -> str:
    from shared.identifiers import normalize_complaint_number

    return normalize_complaint_number(value)


Number = Annotated[str, StringConstraints(max_length=40), AfterValidator(_number)]  # a complaint number, normalised


class Merge(_Command):
    action: Literal["merge"]
    into: Number  # the case that handles this one


class Split(_Command):
    action: Literal["split"]
    case: Number  # the duplicate merged into this case


Command = Annotated[Union[Accept, Note, Reply, RequestInformation, Escalate, OpenTask, CancelTask, ProposeResolution,
                          Approve, RejectPlan, Resolve, Reopen, Reject, Withdraw, Merge, Split],
                    Field(discriminator="action")]
ACTIONS: tuple[str, ...] = ("accept", "note", "reply", "request_information", "escalate", "open_task", "cancel_task",
                            "propose_resolution", "approve", "reject_plan", "resolve", "reopen", "reject", "withdraw",
                            "merge", "split")
_COMMAND = TypeAdapter(Command)


def parse_command(body: dict[str, Any]) -> Any:
    """The command in a request body (``pydantic.ValidationError``: a 422 naming each field)."""
    return _COMMAND.validate_python(body)


# -- what a transition is given and what it returns ----------------------------------------------------------
class ActionRefused(Exception):
    """The action is not possible now: ``code`` and a message for the answer (409 by default)."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass
class Context:
    actor_id: str  # the staff subject acting
    at: datetime
    configs: Any  # the config store: current("routing" | "sla" | "workflow")
    handler_departments: Callable[[str], list[str] | None] = lambda handler_id: None  # None: not in the directory
    new_id: Callable[[str], str] = _new_id

    @property
    def actor(self) -> str:
        return f"staff:{self.actor_id}"

    @property
    def routing(self) -> Any:
        return self.configs.current("routing").config

    @property
    def workflow(self) -> Any:
        return self.configs.current("workflow").config

    def department(self, department_id: str | None) -> Any:
        """The department's configuration (its lead and manager); the default department's for one
        that is not configured (any more)."""
        routing = self.routing
        return routing.department(department_id) or routing.department(routing.default_department)

    def calendars(self) -> Any:
        from shared.sla import Calendars

        return Calendars.of(self.routing, self.configs.current("sla").config)

    def people(self, *ids: str | None) -> list[str]:
        """Recipients: each once, never the one acting."""
        return list(dict.fromkeys(i for i in ids if i and i != self.actor_id))


@dataclass
class Change:
    before: Complaint
    case: Complaint  # as it must be saved (version raised)
    entries: list[TimelineEntry]
    events: list[CaseEvent] = field(default_factory=list)
    opened_tasks: list[InvestigationTask] = field(default_factory=list)  # onto the task board
    closed_tasks: list[InvestigationTask] = field(default_factory=list)  # off the task board
    ledger: list[Any] = field(default_factory=list)  # shared.ledger.LedgerLine: the plan now visible
    reversing: list[tuple[str, str]] = field(default_factory=list)  # keys of ledger lines to reverse
    also: list[dict[str, Any]] = field(default_factory=list)  # raw transaction operations (shared.closure)


def changed(case: Complaint, ctx: Context, **changes: Any) -> Complaint:
    return case.model_copy(update={**changes, "version": case.version + 1, "updated_at": ctx.at})


def status_entry(case: Complaint, target: Status, ctx: Context, *, visibility: Visibility = Visibility.PUBLIC,
                 text: str | None = None, **details: Any) -> TimelineEntry:
    return TimelineEntry(at=ctx.at, kind=TimelineKind.STATUS_CHANGED, visibility=visibility, actor=ctx.actor,
                         status=target, text=text, details={"from": case.status.value, **details})


# -- one case, one action ------------------------------------------------------------------------------------
def apply(case: Complaint, command: Any, ctx: Context) -> Change:
    """``command`` on ``case`` (merge and split change two cases: :func:`merge`, :func:`split`)."""
    from shared import resolution

    handlers: dict[str, Callable[[Complaint, Any, Context], Change]] = {
        "accept": accept, "note": note, "reply": write_to_customer, "request_information": write_to_customer,
        "escalate": escalate, "open_task": open_task, "cancel_task": cancel_task,
        "propose_resolution": resolution.propose, "approve": resolution.approve,
        "reject_plan": resolution.reject_plan, "resolve": resolve, "reopen": reopen, "reject": end, "withdraw": end,
    }
    if command.action not in handlers:
        raise ValueError(f"{command.action} changes two cases: use merge() or split()")
    return handlers[command.action](case, command, ctx)


def accept(case: Complaint, command: Accept, ctx: Context) -> Change:
    if case.assignee != ctx.actor_id:
        raise ActionRefused("not_assignee", "only the case's assignee can accept it")
    check_transition(case.status, Status.IN_PROGRESS)
    return Change(case, changed(case, ctx, status=Status.IN_PROGRESS), [status_entry(case, Status.IN_PROGRESS, ctx)])


def note(case: Complaint, command: Note, ctx: Context) -> Change:
    entry = TimelineEntry(at=ctx.at, kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL, actor=ctx.actor,
                          text=command.text)
    return Change(case, changed(case, ctx), [entry])


WRITABLE = (Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER, Status.RESOLUTION_PROPOSED)


def write_to_customer(case: Complaint, command: Reply | RequestInformation, ctx: Context) -> Change:
    """A reply, or a question the case then waits on. The first reply meets the first-response clocks."""
    from shared.clock_changes import pause_clocks, stop_clocks

    if case.status not in WRITABLE:
        raise ActionRefused("not_in_progress", "accept the case before writing to the customer")
    asks = command.action == "request_information"
    entries = [TimelineEntry(at=ctx.at, kind=TimelineKind.STAFF_REPLY, actor=ctx.actor, text=command.text,
                             details={"requests_information": asks})]
    changes, stopped = stop_clocks(case, "first_response", ctx.at, ctx.configs, actor=ctx.actor)
    entries += stopped
    if asks and case.status != Status.WAITING_ON_CUSTOMER:
        check_transition(case.status, Status.WAITING_ON_CUSTOMER)
        paused, paused_entries = pause_clocks(case.model_copy(update=changes), ctx.at, ctx.configs, actor=ctx.actor)
        changes.update(paused)
        changes["status"] = Status.WAITING_ON_CUSTOMER
        entries += [status_entry(case, Status.WAITING_ON_CUSTOMER, ctx), *paused_entries]
    after = changed(case, ctx, **changes)
    kind = "information_requested" if asks else "staff_replied"
    return Change(case, after, entries, [CaseEvent.of(after, kind, actor=ctx.actor, at=ctx.at)])


def escalate(case: Complaint, command: Escalate, ctx: Context) -> Change:
    """Level 1: the department lead is told; escalating an escalated case raises it to level 2 (the
    department manager too), the highest."""
    _open(case, "escalated")
    level = min(2, case.escalation_level + 1) if case.escalated else max(case.escalation_level, 1)
    department = ctx.department(case.department)
    lead = (department.lead or department.manager) if department else None
    recipients = ctx.people(lead, department.manager if department and level >= 2 else None)
    after = changed(case, ctx, escalated=True, escalation_level=level)
    entry = TimelineEntry(at=ctx.at, kind=TimelineKind.ESCALATED, visibility=Visibility.INTERNAL, actor=ctx.actor,
                          text=command.reason, details={"level": level, "from_level": case.escalation_level,
                                                        "told": recipients})
    event = CaseEvent.of(after, "escalated", actor=ctx.actor, at=ctx.at, recipients=recipients, urgent=True,
                         data={"level": level})
    return Change(case, after, [entry], [event])


# -- investigation tasks -------------------------------------------------------------------------------------
def open_task(case: Complaint, command: OpenTask, ctx: Context) -> Change:
    _open(case, "given tasks")
    department = ctx.routing.department(command.department)
    if department is None:
        raise ActionRefused("unknown_department", f"{command.department} is not a department", 422)
    if command.assignee is not None and command.department not in (ctx.handler_departments(command.assignee) or []):
        raise ActionRefused("unknown_handler", f"{command.assignee} is not a handler of {command.department}", 422)
    if len(case.open_tasks()) >= MAX_OPEN_TASKS:
        raise ActionRefused("too_many_tasks", f"a case has at most {MAX_OPEN_TASKS} open tasks")
    due = command.due_at or ctx.at + timedelta(days=ctx.workflow.task_due_days)
    if due <= ctx.at:
        raise ActionRefused("due_in_past", "a task's due date must be in the future", 422)
    task = InvestigationTask(task_id=ctx.new_id("tsk"), department=department.department_id, title=command.title,
                             details=command.details, assignee=command.assignee, due_at=due,
                             opened_by=ctx.actor_id, opened_at=ctx.at)
    after = changed(case, ctx, tasks=[*case.tasks, task])
    recipients = ctx.people(command.assignee or department.lead or department.manager)
    entry = TimelineEntry(at=ctx.at, kind=TimelineKind.TASK_OPENED, visibility=Visibility.INTERNAL, actor=ctx.actor,
                          text=task.title, details={"task_id": task.task_id, "department": task.department,
                                                    "assignee": task.assignee, "due_at": _iso(due),
                                                    "details": task.details, "told": recipients})
    event = CaseEvent.of(after, "task_assigned", actor=ctx.actor, at=ctx.at, recipients=recipients,
                         data={"task_id": task.task_id, "task_department": task.department, "due_at": _iso(due)})
    return Change(case, after, [entry], [event], opened_tasks=[task])


def cancel_task(case: Complaint, command: CancelTask, ctx: Context) -> Change:
    """The case's handler cancels a task (no longer needed); the department working on it is told."""
    task = _task(case, command.task_id)
    department = ctx.routing.department(task.department)
    lead = (department.lead or department.manager) if department else None
    return _close(case, task, "cancelled", command.reason, ctx, recipients=ctx.people(task.assignee or lead))


def close_task(case: Complaint, task_id: str, state: Literal["done", "cancelled"], outcome: str,
               ctx: Context) -> Change:
    """The task's department reports it done (with its outcome) or cancels it; the case's assignee is told."""
    return _close(case, _task(case, task_id), state, outcome, ctx, recipients=ctx.people(case.assignee))


def _task(case: Complaint, task_id: str) -> InvestigationTask:
    task = next((t for t in case.tasks if t.task_id == task_id), None)
    if task is None:
        raise ActionRefused("task_not_found", "the case has no task with this id", 404)
    return task


def _close(case: Complaint, task: InvestigationTask, state: str, outcome: str, ctx: Context, *,
           recipients: list[str]) -> Change:
    if task.state != "open":
        raise ActionRefused("task_closed", f"the task is {task.state} already")
    closed = task.model_copy(update={"state": state, "closed_by": ctx.actor_id, "closed_at": ctx.at,
                                     "outcome": outcome})
    after = changed(case, ctx, tasks=[closed if t.task_id == task.task_id else t for t in case.tasks])
    entry = TimelineEntry(at=ctx.at, kind=TimelineKind.TASK_CLOSED, visibility=Visibility.INTERNAL, actor=ctx.actor,
                          text=outcome, details={"task_id": task.task_id, "department": task.department,
                                                 "state": state, "open_tasks": len(after.open_tasks())})
    event = CaseEvent.of(after, "task_closed", actor=ctx.actor, at=ctx.at, recipients=recipients,
                         suffix=task.task_id, data={"task_id": task.task_id, "task_department": task.department,
                                                    "state": state})
    return Change(case, after, [entry], [event], closed_tasks=[closed])


def _no_open_tasks(case: Complaint, verb: str) -> None:
    if case.open_tasks():
        raise ActionRefused("open_tasks", f"{len(case.open_tasks())} investigation task(s) are still open: close or "
                                          f"cancel them before the case is {verb}")


# -- resolve, reopen (shared.closure) ------------------------------------------------------------------------
def resolve(case: Complaint, command: Resolve, ctx: Context) -> Change:
    from shared.closure import ClosureRefused, resolve as closure_resolve

    _no_open_tasks(case, "resolved")
    if case.plan is not None and case.plan.state == "pending_approval":
        raise ActionRefused("plan_pending_approval", "the resolution plan waits for a manager's approval")
    try:
        t = closure_resolve(case, actor=ctx.actor, text=command.text, at=ctx.at, configs=ctx.configs,
                            workflow=ctx.workflow)
    except ClosureRefused as exc:
        raise ActionRefused(exc.code, exc.message, exc.status) from None
    return Change(case, t.case, t.entries, t.events, also=t.also)


def reopen(case: Complaint, command: Reopen, ctx: Context) -> Change:
    from shared.closure import ClosureRefused, reopen as closure_reopen

    try:
        t = closure_reopen(case, actor=ctx.actor, reason=command.reason, at=ctx.at, configs=ctx.configs,
                           escalate=command.escalate)
    except ClosureRefused as exc:
        raise ActionRefused(exc.code, exc.message, exc.status) from None
    return Change(case, t.case, t.entries, t.events, also=t.also)


# -- endings: rejected, withdrawn -----------------------------------------------------------------------------
def end(case: Complaint, command: Reject | Withdraw, ctx: Context) -> Change:
    """Not a complaint we handle (``reject``), or the customer withdrew it (``withdraw``): the case
    ends with the reason told to the customer; its clocks stop, its handler's slot is free again and
    a plan still on offer is withdrawn (reversed in the ledger if the customer had seen it)."""
    target = Status.REJECTED if command.action == "reject" else Status.WITHDRAWN
    check_transition(case.status, target)
    _no_open_tasks(case, target.value)
    changes, entries = _stop_all(case, ctx)
    plan, reversing = retire_plan(case)
    changes.update(status=target, closure=target.value, closed_at=ctx.at, next_check_at=None, queued_at=None,
                   plan=plan)
    entries.insert(0, status_entry(case, target, ctx, text=command.reason, closure=target.value))
    after = changed(case, ctx, **changes)
    event = CaseEvent.of(after, "closed", actor=ctx.actor, at=ctx.at, data={"closure": target.value, "survey": False})
    return Change(case, after, entries, [event], reversing=reversing)


def retire_plan(case: Complaint) -> tuple[Any, list[tuple[str, str]]]:
    """The case's plan, superseded if it was still in play (pending, on offer, disputed or accepted),
    and the keys of its ledger lines to reverse (if the customer had seen it)."""
    from shared.ledger import line_keys

    plan = case.plan
    if plan is None or plan.state in ("rejected", "superseded"):
        return plan, []
    return plan.model_copy(update={"state": "superseded"}), line_keys(case.complaint_id, plan)


def _stop_all(case: Complaint, ctx: Context) -> tuple[dict[str, Any], list[TimelineEntry]]:
    from shared.clock_changes import stop_clocks

    changes: dict[str, Any] = {}
    entries: list[TimelineEntry] = []
    current = case
    for event in ("first_response", "resolution"):
        update, more = stop_clocks(current, event, ctx.at, ctx.configs, actor=ctx.actor)
        changes.update(update)
        entries += more
        current = current.model_copy(update=update)
    return changes, entries


def _open(case: Complaint, verb: str) -> None:
    if case.status not in OPEN_STATES:
        raise ActionRefused("not_open", f"a {case.status.value} complaint cannot be {verb}")


# -- merge and split: two cases in one transaction ---------------------------------------------------------------
_MERGED_TEXT = {"en": "Your complaint is handled together with another case.",
                "zh": "您的投诉将与另一宗投诉合并处理。"}
_MERGED_SAME_TEXT = {"en": "Your complaint is handled together with your case {number}.",
                     "zh": "您的投诉将与您的投诉 {number} 合并处理。"}
_SPLIT_TEXT = {"en": "Your complaint is handled on its own again.", "zh": "您的投诉已恢复单独处理。"}


def merge(duplicate: Complaint, target: Complaint, ctx: Context) -> list[Change]:
    """``duplicate`` is handled in ``target``. The duplicate's clocks are *held* - every running clock
    paused, whether or not it pauses while waiting on the customer: the target's clocks measure the
    work now, and a split lets them run again with the time merged not counted. Its handler's slot is
    freed and a plan it had on offer withdrawn. Its customer learns that it is handled together with
    another case - which one only if it is their own (a contact hash in common)."""
    if duplicate.complaint_id == target.complaint_id:
        raise ActionRefused("self_merge", "a case cannot be merged into itself", 422)
    for case in (duplicate, target):
        if case.status == Status.MERGED:
            raise ActionRefused("already_merged", f"{case.complaint_id} is merged into {case.merged_into} already")
        if case.status not in OPEN_STATES:
            raise ActionRefused("not_open", f"{case.complaint_id} is {case.status.value}: only open cases merge")
    if duplicate.merged_cases:
        raise ActionRefused("merge_chain", "other cases are merged into this one: merge the other way round, or "
                                           "split them first")
    _no_open_tasks(duplicate, "merged")
    check_transition(duplicate.status, Status.MERGED)
    same_customer = bool(set(duplicate.contact_hashes.values()) & set(target.contact_hashes.values()))
    clocks, clock_entries = _hold_clocks(duplicate, ctx)
    plan, reversing = retire_plan(duplicate)
    merged = changed(duplicate, ctx, status=Status.MERGED, merged_into=target.complaint_id,
                     status_before_merge=duplicate.status, closure="merged", clocks=clocks, next_check_at=None,
                     plan=plan)
    language = duplicate.language if duplicate.language in _MERGED_TEXT else "en"
    text = (_MERGED_SAME_TEXT[language].format(number=target.complaint_id) if same_customer
            else _MERGED_TEXT[language])
    duplicate_entries = [
        TimelineEntry(at=ctx.at, kind=TimelineKind.MERGED, actor=ctx.actor, status=Status.MERGED, text=text,
                      details={"from": duplicate.status.value, "same_customer": same_customer,
                               **({"into": target.complaint_id} if same_customer else {})}),
        *clock_entries]
    handling = changed(target, ctx, merged_cases=[*target.merged_cases, duplicate.complaint_id])
    target_entries = [TimelineEntry(
        at=ctx.at, kind=TimelineKind.MERGED, visibility=Visibility.INTERNAL, actor=ctx.actor,
        text=f"{duplicate.complaint_id} merged into this case", details={
            "duplicate": duplicate.complaint_id, "same_customer": same_customer,
            "duplicate_status": duplicate.status.value})]
    event = CaseEvent.of(merged, "closed", actor=ctx.actor, at=ctx.at,
                         data={"closure": "merged", "survey": False, "same_customer": same_customer})
    return [Change(duplicate, merged, duplicate_entries, [event], reversing=reversing),
            Change(target, handling, target_entries)]


def split(target: Complaint, duplicate: Complaint, ctx: Context) -> list[Change]:
    """Take a wrongly merged ``duplicate`` out of ``target``: it goes back where it was, its held clocks
    run again (those that were paused because it waited on the customer stay paused), and its
    handler has it again."""
    if (duplicate.complaint_id not in target.merged_cases or duplicate.status != Status.MERGED
            or duplicate.merged_into != target.complaint_id):
        raise ActionRefused("not_merged_here", f"{duplicate.complaint_id} is not merged into this case")
    back = duplicate.status_before_merge or (Status.ASSIGNED if duplicate.assignee else Status.CLASSIFIED)
    check_transition(duplicate.status, back)
    clocks, next_check, clock_entries = _release_clocks(duplicate, back, ctx)
    restored = changed(duplicate, ctx, status=back, merged_into=None, status_before_merge=None, closure=None,
                       clocks=clocks, next_check_at=next_check)
    language = duplicate.language if duplicate.language in _SPLIT_TEXT else "en"
    duplicate_entries = [
        TimelineEntry(at=ctx.at, kind=TimelineKind.SPLIT, actor=ctx.actor, status=back, text=_SPLIT_TEXT[language],
                      details={"from": Status.MERGED.value}),
        *clock_entries]
    remaining = changed(target, ctx, merged_cases=[c for c in target.merged_cases if c != duplicate.complaint_id])
    target_entries = [TimelineEntry(at=ctx.at, kind=TimelineKind.SPLIT, visibility=Visibility.INTERNAL,
                                    actor=ctx.actor, text=f"{duplicate.complaint_id} taken out: handled on its own",
                                    details={"duplicate": duplicate.complaint_id, "back_to": back.value})]
    events = [CaseEvent.of(restored, "reopened", actor=ctx.actor, at=ctx.at, recipients=ctx.people(restored.assignee),
                           data={"split_from": target.complaint_id})] if restored.assignee else []
    return [Change(target, remaining, target_entries),
            Change(duplicate, restored, duplicate_entries, events)]


def _hold_clocks(case: Complaint, ctx: Context) -> tuple[list[Any], list[TimelineEntry]]:
    from shared.sla import pause

    if not case.clocks:
        return case.clocks, []
    # sla.pause pauses the clocks that pause while waiting; a merged case holds every running clock
    flagged = [c.model_copy(update={"pauses_when_waiting": True}) for c in case.clocks]
    held = [h.model_copy(update={"pauses_when_waiting": c.pauses_when_waiting})
            for c, h in zip(case.clocks, pause(flagged, ctx.at, ctx.calendars()))]
    names = [h.name for c, h in zip(case.clocks, held) if c.paused_at is None and h.paused_at is not None]
    if not names:
        return held, []
    return held, [TimelineEntry(at=ctx.at, kind=TimelineKind.CLOCK_PAUSED, visibility=Visibility.INTERNAL,
                                actor=ctx.actor, text=f"merged into another case: held {', '.join(names)}",
                                details={"clocks": names, "merged": True})]


def _release_clocks(case: Complaint, back: Status, ctx: Context) -> tuple[list[Any], Any, list[TimelineEntry]]:
    from shared.assignment import earliest
    from shared.sla import next_point, resume

    calendars, sla = ctx.calendars(), ctx.configs.current("sla").config
    waiting = back == Status.WAITING_ON_CUSTOMER
    clocks, names = [], []
    for c in case.clocks:
        if c.paused_at is not None and c.stopped_at is None and not (waiting and c.pauses_when_waiting):
            c = resume([c], ctx.at, calendars)[0]
            names.append(c.name)
        clocks.append(c)
    queued_retry = ctx.at if case.assignee is None and case.queued_at else None  # the sweep offers it again
    next_check = earliest(next_point(clocks, sla, calendars), queued_retry)
    entries = [TimelineEntry(at=ctx.at, kind=TimelineKind.CLOCK_RESUMED, visibility=Visibility.INTERNAL,
                             actor=ctx.actor, text="split from the case it was merged into: running again "
                                                   + ", ".join(names),
                             details={"clocks": [{"name": c.name, "due_at": _iso(c.due_at)}
                                                 for c in clocks if c.name in names], "split": True})] if names else []
    return clocks, next_check, entries


def _iso(at: datetime | None) -> str | None:
    from shared.repository import iso

    return iso(at) if at else None


# -- the write ------------------------------------------------------------------------------------------------
def save(changes: list[Change], *, repository: Any, directory: Any, board: Any, ledger: Any) -> list[CaseEvent]:
    """Write ``changes`` in one transaction, each case conditional on the version it was read at, with
    the task board's items, the ledger's lines (reversals read from the lines they cancel) and the
    handlers' load counters (:func:`shared.closure.load_ops`). Returns the events to publish.

    A load counter out of step with the cases (a handler removed from the directory, a counter at 0)
    must not block the case: the write is repeated without the counters and the drift logged."""
    from shared.closure import load_ops
    from shared.ledger import reversal_of
    from shared.repository import ConditionFailed, StaleVersion

    also: list[dict[str, Any]] = []
    events: list[CaseEvent] = []
    for change in changes:
        also += change.also
        also += board.ops(change.case.complaint_id, change.opened_tasks, change.closed_tasks)
        lines = [*change.ledger, *(reversal_of(line, change.case.updated_at) for line in ledger.lines(change.reversing))]
        also += ledger.put_ops(lines)
        events += change.events
    load = [op for change in changes for op in load_ops(change.before, change.case, directory)]
    cases = [(change.case, change.entries, change.before.version, change.before) for change in changes]
    try:
        repository.save_many(cases, also=[*also, *load], events=events)
    except ConditionFailed as exc:
        if not load or any(i < len(also) for i in exc.indexes):
            raise StaleVersion(changes[0].case.complaint_id) from None
        from shared.observability import logger

        logger().warning("handler load counter out of step; case saved without it",
                         extra={"complaint_id": changes[0].case.complaint_id})
        repository.save_many(cases, also=also, events=events)
    return events

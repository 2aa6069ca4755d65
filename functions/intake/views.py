"""What a customer sees of their case: the tracking view.

The answer of ``GET /complaints/{id}`` (with the tracking token) and of the customer's own actions
(``POST /complaints/{id}/messages``, ``/confirmation``, ``/feedback``, in ``customer.py``), so the
tracking page can show the case again after each of them. It holds:

* the case's status as the customer may know it, classification once known, dates;
* the public timeline: the conversation (our replies and requests for information, the customer's
  messages with their attachments' names), status changes, the plan proposed, the customer's
  confirmation, dispute and survey answer. Internal entries never leave - nor do entry kinds that
  are internal by nature (notes, tasks, approvals, clocks, routing), even if one were written public;
* the current resolution plan once the customer may see it (``proposed``, ``accepted``,
  ``disputed``): a plan waiting for a manager's approval, or rejected, is not there - and while one
  waits, a ``resolution_proposed`` case reads ``in_progress`` and its proposal is left out of the
  timeline;
* ``actions``: what the customer can do now (``reply``, ``confirm``, ``feedback``) with what the page
  needs for each (limits, the confirmation deadline, the survey's aspects in both languages);
* how the case ended (``closure``), the survey answer given, and ``merged`` when the case is handled
  together with another one.
"""
from __future__ import annotations

from typing import Any

from shared.closure import REASON_MAX
from shared.lifecycle import OPEN_STATES, Status
from shared.models import (
    DESCRIPTION_MAX,
    MAX_ATTACHMENTS,
    Complaint,
    ResolutionPlan,
    TimelineEntry,
    TimelineKind,
    Visibility,
)
from shared.repository import iso

K = TimelineKind
# kinds a customer may see when written public; every other kind is internal by nature
PUBLIC_KINDS = frozenset({K.RECEIVED, K.ACKNOWLEDGED, K.STATUS_CHANGED, K.CUSTOMER_MESSAGE, K.STAFF_REPLY,
                          K.PLAN_PROPOSED, K.CONFIRMED, K.DISPUTED, K.FEEDBACK, K.REOPENED, K.MERGED, K.SPLIT})
# entries whose text is written for (or by) the customer; the others are told by kind and status
_TEXT_FOR_CUSTOMER = frozenset({K.STAFF_REPLY, K.CUSTOMER_MESSAGE, K.PLAN_PROPOSED, K.DISPUTED, K.FEEDBACK})
# status changes whose text is told to the customer: how it was resolved, why it was rejected or withdrawn
_STATUS_TEXT_FOR_CUSTOMER = frozenset({Status.RESOLVED, Status.REJECTED, Status.WITHDRAWN})
VISIBLE_PLAN_STATES = frozenset({"proposed", "accepted", "disputed"})
SURVEY_CLOSURES = frozenset({"confirmed", "resolved_without_confirmation"})  # closures that ask for feedback
RATING_MIN, RATING_MAX = 1, 5
FEEDBACK_COMMENT_MAX = 2_000


def customer_view(complaint: Complaint, timeline: list[TimelineEntry], *, workflow: Any = None) -> dict[str, Any]:
    """The tracking view. ``workflow`` (a ``WorkflowConfig``, for the survey's aspects) is read from the
    configuration in force when not given, and only when the survey is open."""
    c = complaint
    plan = visible_plan(c)
    return {
        "complaint_id": c.complaint_id,
        "status": public_status(c),
        "title": c.title,
        "description": c.description,
        "channel": c.channel.value,
        "language": c.language,
        "category": c.category,
        "department": c.department,
        "received_at": iso(c.received_at),
        "updated_at": iso(c.updated_at),
        "resolved_at": iso(c.resolved_at) if c.resolved_at else None,
        "closed_at": iso(c.closed_at) if c.closed_at else None,
        "closure": c.closure,
        "merged": c.merged_into is not None or c.status == Status.MERGED,
        "plan": plan_view(plan) if plan else None,
        "feedback": feedback_view(c),
        "actions": customer_actions(c, workflow),
        "timeline": [entry_view(e, c) for e in sorted(timeline, key=lambda e: e.at) if shown(e, c)],
    }


# -- what may be seen ----------------------------------------------------------------------------------


def visible_plan(c: Complaint) -> ResolutionPlan | None:
    return c.plan if c.plan is not None and c.plan.state in VISIBLE_PLAN_STATES else None


def public_status(c: Complaint) -> str:
    """A proposal the customer may not see yet (waiting for approval, rejected) is still work in progress."""
    if c.status == Status.RESOLUTION_PROPOSED and visible_plan(c) is None:
        return Status.IN_PROGRESS.value
    return c.status.value


def shown(e: TimelineEntry, c: Complaint) -> bool:
    if e.visibility != Visibility.PUBLIC or e.kind not in PUBLIC_KINDS:
        return False
    hidden_plan = c.plan if c.plan is not None and visible_plan(c) is None else None
    if hidden_plan is not None and e.at >= hidden_plan.proposed_at:
        # the proposal of a plan the customer may not see yet, however its entries were written
        if e.kind == K.PLAN_PROPOSED or (e.kind == K.STATUS_CHANGED and e.status == Status.RESOLUTION_PROPOSED):
            return False
    if hidden_plan is not None and e.kind == K.PLAN_PROPOSED and e.details.get("plan_id") == hidden_plan.plan_id:
        return False
    return True


def entry_view(e: TimelineEntry, c: Complaint) -> dict[str, Any]:
    told = e.kind in _TEXT_FOR_CUSTOMER or (e.kind == K.STATUS_CHANGED and e.status in _STATUS_TEXT_FOR_CUSTOMER)
    text = e.text if told else None
    view: dict[str, Any] = {"at": iso(e.at), "kind": e.kind.value, "status": e.status.value if e.status else None,
                            "text": text, "from": _source(e.actor)}
    if e.kind == K.STAFF_REPLY:
        view["requests_information"] = bool(e.details.get("requests_information"))
    if e.kind == K.CUSTOMER_MESSAGE:
        view["attachments"] = _attachment_names(e, c)
    return view


def _source(actor: str) -> str:
    """Who wrote an entry, as the customer may know it: never a staff member's id."""
    if actor == "customer":
        return "customer"
    return "staff" if actor.startswith("staff:") else "system"


def _attachment_names(e: TimelineEntry, c: Complaint) -> list[dict[str, str]]:
    names = {a.attachment_id: a.filename for a in c.attachments}
    found = []
    for ref in e.details.get("attachments") or []:
        attachment_id = ref.get("attachment_id") if isinstance(ref, dict) else ref
        if attachment_id in names:
            found.append({"filename": names[attachment_id]})
    return found


def plan_view(plan: ResolutionPlan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "state": plan.state,
        "components": [
            {"type": x.type, "amount": f"{x.amount:.2f}" if x.amount is not None else None,
             "currency": x.currency, "description": x.description}
            for x in plan.components
        ],
        "explanation": plan.explanation,
        "proposed_at": iso(plan.proposed_at),
    }


def feedback_view(c: Complaint) -> dict[str, Any] | None:
    f = c.feedback
    if f is None:
        return None
    return {"rating": f.rating, "aspects": dict(f.aspects), "comment": f.comment, "at": iso(f.at)}


# -- what the customer can do --------------------------------------------------------------------------


def may_reply(c: Complaint) -> bool:
    return c.merged_into is None and (c.status in OPEN_STATES or c.status == Status.RESOLVED)


def may_confirm(c: Complaint) -> bool:
    """A resolved case, or a proposed plan, waits for the customer's yes or no."""
    plan = c.plan
    return c.status == Status.RESOLVED or (
        c.status == Status.RESOLUTION_PROPOSED and plan is not None and plan.state == "proposed")


def may_give_feedback(c: Complaint) -> bool:
    return c.status == Status.CLOSED and c.closure in SURVEY_CLOSURES and c.feedback is None


def customer_actions(c: Complaint, workflow: Any = None) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    if may_reply(c):
        actions["reply"] = {"max_length": DESCRIPTION_MAX, "max_attachments": MAX_ATTACHMENTS}
    if may_confirm(c):
        actions["confirm"] = {
            "subject": "resolution" if c.status == Status.RESOLVED else "plan",
            "confirmation_due_at": iso(c.confirmation_due_at) if c.confirmation_due_at else None,
            "reason_max_length": REASON_MAX,
        }
    if may_give_feedback(c):
        workflow = workflow if workflow is not None else _workflow()
        actions["feedback"] = {
            "rating_min": RATING_MIN, "rating_max": RATING_MAX, "comment_max_length": FEEDBACK_COMMENT_MAX,
            "aspects": [{"aspect_id": a.aspect_id, "label": a.label.get(c.language) or a.label.get("en") or a.aspect_id,
                         "labels": dict(a.label)} for a in workflow.survey_aspects],
        }
    return actions


def _workflow() -> Any:
    from shared.config_store import config_store

    return config_store().current("workflow").config

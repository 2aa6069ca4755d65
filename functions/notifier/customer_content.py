"""What a customer-facing case event tells the customer: the facts its templates show, taken from the
case and its timeline as read (the event itself carries ids and small facts only).

    staff_replied, information_requested   the handler's text (the public ``staff_reply`` entry the
                                           transition wrote at the event's time)
    resolution_proposed                    the plan: each component (refunds and compensation with
                                           their amounts) and the customer-facing explanation
    resolved                               the resolution note, the plan, and the date by which the
                                           customer is asked to confirm (``confirmation_due_at``)
    closed                                 how it closed (confirmed, without confirmation, rejected,
                                           withdrawn, merged) and, when ``data.survey``, the survey

Plain Python: no AWS calls; the links (with a freshly minted token) are added by the service.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from functions.notifier.messages import format_deadline, format_money
from shared.events import CaseEvent
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared.repository import iso

PLAN_LABELS = {
    "refund": {"en": "Refund", "zh": "退款"},
    "replacement": {"en": "Replacement", "zh": "换货"},
    "compensation": {"en": "Compensation", "zh": "补偿"},
    "repair": {"en": "Repair", "zh": "维修"},
    "apology": {"en": "Apology", "zh": "致歉"},
    "explanation": {"en": "Explanation", "zh": "情况说明"},
}
NO_SURVEY = ("rejected", "withdrawn", "merged")  # a closing message, but nothing to rate


class NothingToSay(Exception):
    """The event is out of date (e.g. its plan was replaced since): the newer event speaks instead."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def event_time(event: CaseEvent) -> datetime:
    from shared.inbox import parse_time

    return parse_time(event.at)


def public_entry_at(timeline: Iterable[TimelineEntry], at: datetime, kinds: tuple[TimelineKind, ...],
                    *, or_earlier: bool = True) -> TimelineEntry | None:
    """The public entry of one of ``kinds`` with a text that the transition at ``at`` wrote (same
    instant, to the millisecond the event keeps); else, with ``or_earlier``, the latest before it."""
    candidates = [e for e in timeline if e.kind in kinds and e.visibility == Visibility.PUBLIC and e.text]
    same = [e for e in candidates if iso(e.at) == iso(at)]
    if same:
        return same[-1]
    earlier = [e for e in candidates if e.at <= at] if or_earlier else []
    return max(earlier, key=lambda e: e.at) if earlier else None


def plan_facts(case: Complaint, language: str) -> dict[str, Any] | None:
    plan = case.plan
    if plan is None:
        return None
    return {
        "plan_id": plan.plan_id,
        "components": [{"type": c.type, "label": PLAN_LABELS[c.type][language],
                        "amount": format_money(c.amount, c.currency) if c.amount is not None else None,
                        "description": c.description} for c in plan.components],
        "explanation": plan.explanation,
    }


def facts(event: CaseEvent, case: Complaint, timeline: list[TimelineEntry], language: str) -> dict[str, Any]:
    """The kind-specific template variables of a customer-facing event (raises :class:`NothingToSay`)."""
    at = event_time(event)
    kind = event.kind
    if kind in ("staff_replied", "information_requested"):
        entry = public_entry_at(timeline, at, (TimelineKind.STAFF_REPLY,))
        return {"reply": entry.text if entry else None}
    if kind == "resolution_proposed":
        plan = plan_facts(case, language)
        wanted = event.data.get("plan_id")
        if plan is None or (wanted and plan["plan_id"] != wanted) or case.plan.state in ("superseded", "rejected"):
            raise NothingToSay("plan_superseded")
        return {"plan": plan}
    if kind == "resolved":
        note = public_entry_at(timeline, at, (TimelineKind.STAFF_REPLY, TimelineKind.STATUS_CHANGED), or_earlier=False)
        due = case.confirmation_due_at
        return {"resolution": note.text if note else None, "plan": plan_facts(case, language),
                "confirm_by": format_deadline(due, language) if due else None}
    if kind == "closed":
        closure = event.data.get("closure") or case.closure or "confirmed"
        note = public_entry_at(timeline, at, (TimelineKind.STAFF_REPLY, TimelineKind.STATUS_CHANGED),
                               or_earlier=False) if closure in ("rejected", "withdrawn") else None  # the reason
        return {"closure": closure, "survey": bool(event.data.get("survey")) and closure not in NO_SURVEY,
                "merged_into": case.merged_into, "note": note.text if note else None}
    raise ValueError(f"{kind!r} is not a customer-facing case event")

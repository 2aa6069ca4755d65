"""Case views for staff: a summary for lists, the full case with contact data and timeline."""
from __future__ import annotations

from typing import Any

from shared.models import Complaint, TimelineEntry
from shared.repository import iso


def staff_summary(c: Complaint) -> dict[str, Any]:
    return {
        "complaint_id": c.complaint_id, "status": c.status.value, "channel": c.channel.value,
        "language": c.language, "title": c.title, "category": c.category, "department": c.department,
        "priority": c.priority, "assignee": c.assignee, "escalated": c.escalated,
        "attachment_count": len(c.attachments), "received_at": iso(c.received_at), "updated_at": iso(c.updated_at),
        "version": c.version,
        "needs_triage": c.needs_triage, "repeat_of": c.repeat_of, "repeat_count": c.repeat_count,
        "cluster_id": c.cluster_id, "escalation_level": c.escalation_level,
        "due_at": _nearest(c), "queued_at": iso(c.queued_at) if c.queued_at else None,
    }


def _nearest(c: Complaint) -> str | None:
    from shared.sla import nearest_deadline

    due = nearest_deadline(c.clocks)
    return iso(due) if due else None


def staff_detail(c: Complaint, timeline: list[TimelineEntry]) -> dict[str, Any]:
    from shared.attachments import attachment_store

    store = attachment_store()
    return {
        **staff_summary(c),
        "description": c.description,
        "expected_resolution": c.expected_resolution,
        "occurred_at": c.occurred_at.isoformat() if c.occurred_at else None,
        "customer": c.customer.model_dump(mode="json") if c.customer else None,
        "product": c.product.model_dump(mode="json", exclude_none=True) if c.product else None,
        "attachments": [
            {**a.model_dump(exclude={"key"}), "download_url": store.presign_download(a.key, a.filename)}
            for a in c.attachments
        ],
        "reopened_count": c.reopened_count,
        "classification": c.classification,
        "routing": c.routing,
        "clocks": _clocks(c),
        "region": c.region,
        **workflow_fields(c),
        "timeline": [
            {"at": iso(e.at), "kind": e.kind.value, "visibility": e.visibility.value, "actor": e.actor,
             "status": e.status.value if e.status else None, "text": e.text, "details": e.details}
            for e in sorted(timeline, key=lambda e: e.at)
        ],
    }


def _clocks(c: Complaint) -> list[dict[str, Any]]:
    """Every clock that applies (internal and regulatory), not only the nearest."""
    from shared.clock import now
    from shared.sla import clock_view

    at = now()
    return [clock_view(k, at) for k in c.clocks]


def workflow_fields(c: Complaint) -> dict[str, Any]:
    """The workflow's state of a case: its plan, investigation tasks, merges, closure and survey answer."""
    return {
        "plan": plan_view(c.plan) if c.plan else None,
        "tasks": [task_view(t) for t in c.tasks],
        "open_tasks": len(c.open_tasks()),
        "merged_into": c.merged_into, "merged_cases": c.merged_cases,
        "status_before_merge": c.status_before_merge.value if c.status_before_merge else None,
        "resolved_at": _iso(c.resolved_at), "confirmation_due_at": _iso(c.confirmation_due_at),
        "closed_at": _iso(c.closed_at), "closure": c.closure,
        "feedback": ({**c.feedback.model_dump(mode="json", exclude_none=True), "at": iso(c.feedback.at)}
                     if c.feedback else None),
    }


def plan_view(plan: Any) -> dict[str, Any]:
    data = plan.model_dump(mode="json", exclude_none=True)
    data["proposed_at"] = iso(plan.proposed_at)
    if plan.approval.decided_at:
        data["approval"]["decided_at"] = iso(plan.approval.decided_at)
    return data


def task_view(task: Any) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    for key in ("due_at", "opened_at", "closed_at"):
        data[key] = _iso(getattr(task, key))
    return data


def _iso(at: Any) -> str | None:
    return iso(at) if at else None

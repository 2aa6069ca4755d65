"""The customer writes about their case from the tracking page (``POST /complaints/{id}/messages``).

The message goes on the timeline (public, the customer's own words) with the files they attached;
a case waiting on the customer goes back to work and its paused SLA clocks run again, deadlines moved
by the time paused; the assignee is told (``customer_replied``). A resolved case takes messages too
(the handler reads them; only a dispute reopens it). A closed or otherwise ended case takes none: the
customer disputes the resolution, or opens a new complaint.

Plain Python, like :mod:`shared.closure`: returns a :class:`~shared.closure.Transition` for the caller
to save (with the attachments' operations) conditional on the version read.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.closure import ClosureRefused, Transition
from shared.events import CaseEvent
from shared.lifecycle import Status, check_transition
from shared.models import MAX_ATTACHMENTS, Attachment, Complaint, TimelineEntry, TimelineKind

ENDED = frozenset({Status.CLOSED, Status.REJECTED, Status.WITHDRAWN, Status.MERGED})
CASE_ATTACHMENTS_MAX = MAX_ATTACHMENTS * 5  # the form's ten, and more with the customer's answers


def customer_message(case: Complaint, *, text: str, attachments: list[Attachment], at: datetime,
                     configs: Any, channel: str = "tracking_page") -> Transition:
    from shared.clock_changes import resume_clocks

    if case.status in ENDED:
        raise ClosureRefused("case_closed", _ended(case))
    if len(case.attachments) + len(attachments) > CASE_ATTACHMENTS_MAX:
        raise ClosureRefused("too_many_attachments", f"a complaint holds at most {CASE_ATTACHMENTS_MAX} files", 422)
    ids = [a.attachment_id for a in attachments]
    entries = [TimelineEntry(at=at, kind=TimelineKind.CUSTOMER_MESSAGE, actor="customer", text=text,
                             details={"channel": channel, "attachments": ids})]
    changes: dict[str, Any] = {"version": case.version + 1, "updated_at": at,
                               "attachments": [*case.attachments, *attachments]}
    resumed = False
    if case.status == Status.WAITING_ON_CUSTOMER:
        check_transition(case.status, Status.IN_PROGRESS)
        changes["status"] = Status.IN_PROGRESS
        entries.append(TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, status=Status.IN_PROGRESS,
                                     details={"from": case.status.value, "because": "customer_replied"}))
        clock_changes, clock_entries = resume_clocks(case, at, configs)
        changes.update(clock_changes)
        entries += clock_entries
        resumed = bool(clock_entries)
    saved = case.model_copy(update=changes)
    event = CaseEvent.of(saved, "customer_replied", actor="customer", at=at,
                         recipients=[case.assignee] if case.assignee else [],
                         data={"channel": channel, "attachments": len(ids), "clocks_resumed": resumed,
                               "status": saved.status.value})
    return Transition(saved, entries, [event])


def _ended(case: Complaint) -> str:
    if case.status == Status.CLOSED:
        return ("this complaint is closed. If the problem is not solved, open a new complaint "
                "(a resolved complaint can be disputed while it waits for your confirmation). / "
                "此投诉已结案。如问题仍未解决，请提交新的投诉。")
    return (f"this complaint is {case.status.value} and takes no more messages; open a new complaint. / "
            "此投诉已结束，不再接收消息，请提交新的投诉。")

"""Domain events on the application's event bus (a custom EventBridge bus).

Events carry identifiers and facts needed for routing, never personal data; consumers read the
case from the store. Every event has a stable ``event_id`` so consumers can drop repeats.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel

SOURCE = "complaints.intake"


class ComplaintReceived(BaseModel):
    event_id: str
    complaint_id: str
    received_at: str
    channel: str
    language: str
    has_attachments: bool = False

    detail_type: str = "ComplaintReceived"

    @classmethod
    def of(cls, complaint: Any) -> "ComplaintReceived":
        received_at = complaint.received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(
            event_id=f"{complaint.complaint_id}:received",
            complaint_id=complaint.complaint_id,
            received_at=received_at,
            channel=complaint.channel.value if hasattr(complaint.channel, "value") else complaint.channel,
            language=complaint.language,
            has_attachments=bool(complaint.attachments),
        )


class CustomerReplied(BaseModel):
    """The customer wrote again about a case (an email threaded onto it by the email intake)."""

    event_id: str
    complaint_id: str
    message_id: str | None = None  # the customer's Message-ID header, so our answer can thread under it
    received_at: str

    detail_type: str = "CustomerReplied"


ROUTER_SOURCE = "complaints.router"


class ComplaintClassified(BaseModel):
    """The router decided what a case is about, how urgent it is and whether it repeats another."""

    source: ClassVar[str] = ROUTER_SOURCE

    event_id: str  # "<complaint_id>:classified"
    complaint_id: str
    category: str
    confidence: float
    priority: str
    needs_triage: bool = False
    repeat_of: str | None = None
    cluster_id: str | None = None
    model_version: str
    rules_version: str | None = None

    detail_type: str = "ComplaintClassified"


SLA_SOURCE = "complaints.sla"


class StaffAlertRaised(BaseModel):
    """Staff must look at a case: an SLA warning, a breach/escalation, a case waiting in a department
    queue with nobody to take it, or a case stuck before routing. ``alert_id`` is stable for the one
    step it reports (e.g. ``C2K7...:first_response:warn:0.8``), so a sweep that runs twice or overlaps
    raises the same alert and the notifier delivers it once per recipient."""

    source: ClassVar[str] = SLA_SOURCE

    event_id: str  # == alert_id
    alert_id: str
    kind: str  # sla_warning | sla_breach | escalation | queue_waiting | stuck
    complaint_id: str
    recipients: list[str]  # staff subjects (handler ids in the staff directory)
    department: str | None = None
    clock: str | None = None  # the clock's name, e.g. "first_response", "cn_consumer_reply"
    clock_label: dict[str, str] = {}  # {"en": "First response", "zh": "首次回复"}
    due_at: str | None = None  # ISO 8601 UTC
    share: float | None = None  # the share of the target reached (warnings)
    level: int | None = None  # escalation level (1: department lead, 2: manager)
    priority: str | None = None
    reason: str | None = None  # a short explanation (English, for logs and the inbox's detail)
    raised_at: str

    detail_type: str = "StaffAlertRaised"


WORKFLOW_SOURCE = "complaints.workflow"

# What a CaseEvent reports (``kind``) and who must hear of it (the notifier's job):
CUSTOMER_KINDS = (
    "staff_replied",  # a handler answered the customer
    "information_requested",  # a handler asked the customer something; the case waits on them
    "resolution_proposed",  # the customer may now see the plan (no approval needed, or approved)
    "resolved",  # the case is resolved: the customer is asked to confirm (or dispute)
    "closed",  # closed (confirmed, or silent past the confirmation window): with the survey link
)
STAFF_KINDS = (
    "assigned",  # a handler got a case (automatically, claimed, assigned by a lead, transferred)
    "customer_replied",  # the customer wrote (email, tracking page): to the assignee
    "approval_needed",  # a plan above the limits: to the managers
    "plan_decided",  # approved or rejected: to the handler who proposed it
    "task_assigned",  # an investigation task for a department: to its lead (or the named assignee)
    "task_closed",  # a task was done or cancelled: to the case's assignee
    "escalated",  # a handler escalated the case: to the department lead (and the manager at level 2)
    "disputed",  # the customer did not accept the resolution: to the assignee and the lead
    "reopened",  # a handler reopened a resolved or closed case
)
CASE_EVENT_KINDS = CUSTOMER_KINDS + STAFF_KINDS


class CaseEvent(BaseModel):
    """Something happened to a case that someone must hear of. Written with the transition (an
    outbox item in the same transaction, :meth:`shared.repository.ComplaintRepository.save`),
    published right after it, and by the outbox schedule if that publish failed. ``event_id`` is
    stable for the transition (``<id>:<kind>:v<version>``), so a repeat is dropped by consumers.
    Carries ids and facts, never personal data or free text: consumers read the case."""

    source: ClassVar[str] = WORKFLOW_SOURCE

    event_id: str
    complaint_id: str
    kind: str  # one of CASE_EVENT_KINDS
    version: int  # the case's version after the transition
    at: str  # ISO 8601 UTC
    actor: str  # "system", "customer" or "staff:<subject>"
    department: str | None = None
    assignee: str | None = None
    priority: str | None = None
    recipients: list[str] = []  # staff subjects named by the transition (e.g. the proposer of a plan)
    urgent: bool = False  # staff messages: delivered even in quiet hours
    data: dict[str, Any] = {}  # ids and small facts: task_id, plan_id, level, approved, closure ...

    detail_type: str = "CaseEvent"

    @classmethod
    def of(cls, case: Any, kind: str, *, actor: str, at: Any, **fields: Any) -> "CaseEvent":
        """The event of ``kind`` for ``case`` as saved (its version already raised)."""
        from shared.repository import iso

        if kind not in CASE_EVENT_KINDS:
            raise ValueError(f"unknown case event kind {kind!r}")
        suffix = fields.pop("suffix", None)  # two events of one kind in one transition
        return cls(event_id=f"{case.complaint_id}:{kind}:v{case.version}" + (f":{suffix}" if suffix else ""),
                   complaint_id=case.complaint_id, kind=kind, version=case.version, at=iso(at), actor=actor,
                   department=case.department, assignee=case.assignee, priority=case.priority, **fields)


class EventPublishFailed(Exception):
    pass


class EventPublisher:
    def __init__(self, events_client: Any, bus_name: str):
        self._events, self._bus = events_client, bus_name

    def publish(self, event: BaseModel) -> None:
        detail = event.model_dump(exclude={"detail_type"})
        out = self._events.put_events(Entries=[{
            "Source": getattr(event, "source", SOURCE),
            "DetailType": event.detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False),
            "EventBusName": self._bus,
        }])
        if out.get("FailedEntryCount"):
            entry = (out.get("Entries") or [{}])[0]
            raise EventPublishFailed(entry.get("ErrorCode") or "event was not accepted")

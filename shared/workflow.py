"""A handler's work on a case, as transitions of the one state machine (:mod:`shared.lifecycle`).

Each action takes the case as read (its version), returns the changed case and the timeline entries
to write with it, and leaves the write - conditional on that version - to the caller:

* ``accept``: the assignee starts work (``assigned -> in_progress``);
* ``note``: an internal note, never shown to the customer;
* ``reply``: a reply to the customer (shown on the tracking page); the first one meets the
  first-response clocks;
* ``request_information``: a question to the customer; the case waits on them and the clocks that
  pause stop running until they answer (``in_progress -> waiting_on_customer``).

Plain Python: the clocks' calendars come from the configuration the caller passes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.lifecycle import Status, check_transition
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility

Action = Literal["accept", "note", "reply", "request_information"]
ACTIONS: tuple[str, ...] = ("accept", "note", "reply", "request_information")


class ActionRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Outcome:
    case: Complaint
    entries: list[TimelineEntry]
    event: str | None  # what the customer must be told: "staff_replied", "information_requested"


def apply(case: Complaint, action: str, *, actor_id: str, text: str | None, at: datetime, configs: Any) -> Outcome:
    """``configs``: the config store (the clocks' calendars)."""
    from shared.clock_changes import pause_clocks, stop_clocks

    actor = f"staff:{actor_id}"
    changes: dict[str, Any] = {"version": case.version + 1, "updated_at": at}
    entries: list[TimelineEntry] = []
    event = None
    if action == "accept":
        if case.assignee != actor_id:
            raise ActionRefused("not_assignee", "only the case's assignee can accept it")
        check_transition(case.status, Status.IN_PROGRESS)
        changes["status"] = Status.IN_PROGRESS
        entries.append(TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor=actor, status=Status.IN_PROGRESS,
                                     details={"from": case.status.value}))
    elif action == "note":
        entries.append(TimelineEntry(at=at, kind=TimelineKind.INTERNAL_NOTE, visibility=Visibility.INTERNAL,
                                     actor=actor, text=_required(text)))
    elif action in ("reply", "request_information"):
        if case.status not in (Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER):
            raise ActionRefused("not_in_progress", "accept the case before writing to the customer")
        entries.append(TimelineEntry(at=at, kind=TimelineKind.STAFF_REPLY, actor=actor, text=_required(text),
                                     details={"requests_information": action == "request_information"}))
        first = stop_clocks(case, "first_response", at, configs, actor=actor)
        changes.update(first[0])
        entries += first[1]
        event = "staff_replied"
        if action == "request_information" and case.status != Status.WAITING_ON_CUSTOMER:
            check_transition(case.status, Status.WAITING_ON_CUSTOMER)
            waiting = case.model_copy(update=changes)
            paused, paused_entries = pause_clocks(waiting, at, configs, actor=actor)
            changes.update(paused)
            changes["status"] = Status.WAITING_ON_CUSTOMER
            entries.append(TimelineEntry(at=at, kind=TimelineKind.STATUS_CHANGED, actor=actor,
                                         status=Status.WAITING_ON_CUSTOMER, details={"from": case.status.value}))
            entries += paused_entries
            event = "information_requested"
    else:
        raise ActionRefused("unknown_action", f"action must be one of {', '.join(ACTIONS)}")
    return Outcome(case.model_copy(update=changes), entries, event)


def _required(text: str | None) -> str:
    if not text or not text.strip():
        raise ActionRefused("text_required", "this action needs a text")
    return text.strip()

"""The complaint lifecycle: one explicit state machine, every allowed transition in one table.

    received -> classified -> assigned -> in_progress <-> waiting_on_customer
                  ^------ transfer to a queue ---|
                                             |  -> resolution_proposed -> resolved -> closed
    any open state -> rejected | withdrawn;   resolved/closed -> in_progress (reopen)
    any open state -> merged (a duplicate handled in another case) -> back where it was (split)

``escalated`` and ``reopened`` are flags on the case, not states: a case is escalated *while*
in progress, and a reopened case is simply in progress again with its reopen count raised.
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    CLASSIFIED = "classified"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


S = Status
_ENDINGS = {S.REJECTED, S.WITHDRAWN, S.MERGED}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.RECEIVED: frozenset({S.CLASSIFIED, S.ASSIGNED, *_ENDINGS}),
    S.CLASSIFIED: frozenset({S.ASSIGNED, S.CLASSIFIED, *_ENDINGS}),
    # back to classified: transferred to a department where it waits for a handler
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.ASSIGNED, S.CLASSIFIED, *_ENDINGS}),
    S.IN_PROGRESS: frozenset({S.WAITING_ON_CUSTOMER, S.RESOLUTION_PROPOSED, S.RESOLVED, S.ASSIGNED, S.CLASSIFIED,
                              *_ENDINGS}),
    # waiting -> waiting: transferred while the customer has yet to answer (the clocks stay paused)
    S.WAITING_ON_CUSTOMER: frozenset({S.IN_PROGRESS, S.WAITING_ON_CUSTOMER, S.RESOLUTION_PROPOSED, S.RESOLVED,
                                      *_ENDINGS}),
    # proposed -> proposed: a revised plan; -> waiting: a question about the plan
    S.RESOLUTION_PROPOSED: frozenset({S.RESOLVED, S.IN_PROGRESS, S.RESOLUTION_PROPOSED, S.WAITING_ON_CUSTOMER,
                                      *_ENDINGS}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset({S.IN_PROGRESS}),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    # split: back to where the case was before it was merged
    S.MERGED: frozenset({S.CLASSIFIED, S.ASSIGNED, S.IN_PROGRESS, S.WAITING_ON_CUSTOMER, S.RESOLUTION_PROPOSED}),
}

OPEN_STATES = frozenset(s for s in Status if s not in {S.CLOSED, S.REJECTED, S.WITHDRAWN, S.RESOLVED, S.MERGED})
# Moving out of these back to in_progress is a reopen: the case's reopen count goes up.
REOPENING_FROM = frozenset({S.RESOLVED, S.CLOSED})


class InvalidTransition(ValueError):
    def __init__(self, current: Status, target: Status):
        super().__init__(f"a complaint cannot go from {current.value} to {target.value}")
        self.current, self.target = current, target


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current, target)

"""Getting a case to a responsible person: the department by the routing rules, its SLA clocks,
and a handler by the department's strategy - automatically on ``ComplaintClassified``, and by
staff (claim, assign, transfer).

Every change is one transaction: the case (conditional on the version read), the handlers' load
counters (``assign_op`` refuses a handler at their cap or off duty; ``release_op`` gives the
previous handler's slot back) and, for round robin, the department's turn (conditional on the turn
read). So two routers handling the same event, or two handlers claiming the same case, leave one
owner and exact counters: the loser re-reads and finds the work done, or gets a clear 409.

When nobody can take a case it waits in the department queue (``ByQueue``, most urgent first), the
department lead is told once, and the sweep offers it again every ``QUEUE_RETRY_MINUTES``; a
handler coming on duty is offered the queue at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from shared.config_store import ConfigStore
from shared.case_events import announce
from shared.events import CaseEvent, EventPublisher, StaffAlertRaised
from shared.lifecycle import OPEN_STATES, Status, check_transition
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared.observability import logger
from shared.repository import ComplaintRepository, ConditionFailed, StaleVersion, iso
from shared.routing_rules import CaseFacts, Department, choose_department, choose_handler
from shared.sla import Calendars, SlaConfig, clock_view, next_point, rebase, start_clocks
from shared.staff_directory import HandlerProfile, StaffDirectory

MAX_ATTEMPTS = 6


class CaseNotFound(Exception):
    pass


class NotRoutable(Exception):
    """The case cannot be routed now (not classified yet): the delivery is retried."""


class AssignmentRefused(Exception):
    """A staff action that cannot be done: ``code`` and a message for a 409/422 answer."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class Outcome:
    state: str  # assigned | queued | skipped | already_routed
    case: Complaint | None = None


def _now() -> datetime:
    from shared.clock import now

    return now()


def earliest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


class Assigner:
    def __init__(self, repository: ComplaintRepository, directory: StaffDirectory, configs: ConfigStore,
                 publisher: EventPublisher, settings: Any, clock: Callable[[], datetime] | None = None):
        self._repo, self._directory, self._configs = repository, directory, configs
        self._publisher, self._settings = publisher, settings
        self._now = clock or _now

    # -- configuration ------------------------------------------------------------------------------
    def configs(self) -> tuple[Any, Any, Calendars]:
        routing, sla = self._configs.current("routing"), self._configs.current("sla")
        return routing, sla, Calendars.of(routing.config, sla.config)

    def case(self, complaint_id: str) -> Complaint:
        case = self._repo.get_many([complaint_id]).get(complaint_id)
        if case is None:
            raise CaseNotFound(complaint_id)
        return case

    # -- automatic routing ----------------------------------------------------------------------------
    def route(self, complaint_id: str) -> Outcome:
        """Route a classified case (``ComplaintClassified``, or the sweep re-driving it). Idempotent: a
        case already routed is left alone (a waiting one has its lead alert raised again, which the
        notifier delivers once)."""
        exclude: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            case = self.case(complaint_id)
            if case.status == Status.RECEIVED:
                raise NotRoutable(f"{complaint_id} is not classified yet")
            if case.needs_triage or case.repeat_of or case.status not in OPEN_STATES:
                return Outcome("skipped", case)
            if case.assignee:
                return Outcome("already_routed", case)
            if case.department and case.queued_at:
                self._alert_queued(case)
                return Outcome("already_routed", case)
            routing, sla, calendars = self.configs()
            now = self._now()
            facts = CaseFacts.of(case)
            department_choice = choose_department(routing.config, facts)
            department = routing.config.department(department_choice.department)
            clocks = case.clocks or start_clocks(
                department=department.department_id, priority=case.priority, category=case.category,
                region=case.region, received_at=case.received_at, config=sla.config, calendars=calendars)
            decision = {"department": department.department_id, "rule": department_choice.rule_id,
                        "explanation": department_choice.explanation(), "config_version": routing.version,
                        "sla_version": sla.version, "strategy": department.strategy, "routed_at": iso(now)}
            routed = case.model_copy(update={"department": department.department_id, "routing": decision,
                                             "clocks": clocks, "redrives": 0})
            entries = [
                TimelineEntry(at=now, kind=TimelineKind.ROUTED, visibility=Visibility.INTERNAL,
                              text=f"to {department.department_id}: {department_choice.explanation()}",
                              details={k: v for k, v in decision.items() if k != "routed_at"}),
            ]
            if not case.clocks:
                entries.append(_clocks_entry(clocks, now))
            try:
                return self._assign_in(routed, case.version, department, entries, sla.config, calendars, now,
                                       exclude=exclude, actor="system")
            except _HandlerUnavailable as exc:
                exclude.add(exc.handler_id)
            except StaleVersion:
                continue
        raise StaleVersion(complaint_id)

    def offer(self, complaint_id: str) -> Outcome:
        """Offer a case waiting in its department queue to the department's handlers again."""
        exclude: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            case = self.case(complaint_id)
            if case.assignee or not case.department or case.status not in OPEN_STATES or case.repeat_of:
                return Outcome("already_routed", case)
            routing, sla, calendars = self.configs()
            department = routing.config.department(case.department) or routing.config.department(
                routing.config.default_department)
            try:
                return self._assign_in(case, case.version, department, [], sla.config, calendars, self._now(),
                                       exclude=exclude, actor="system", quiet_queue=True)
            except _HandlerUnavailable as exc:
                exclude.add(exc.handler_id)
            except StaleVersion:
                continue
        raise StaleVersion(complaint_id)

    def offer_queue(self, department: str, *, limit: int = 25) -> list[str]:
        """A handler came on duty: hand out the department's waiting cases, most urgent first, until
        nobody can take more. Returns the numbers assigned."""
        assigned = []
        page = self._repo.queue(f"QUEUE#{department}", limit=limit)
        for case in page.complaints:
            outcome = self.offer(case.complaint_id)
            if outcome.state == "assigned":
                assigned.append(case.complaint_id)
            elif outcome.state == "queued":
                break
        return assigned

    def _assign_in(self, case: Complaint, expected_version: int, department: Department,
                   entries: list[TimelineEntry], sla: SlaConfig, calendars: Calendars, now: datetime, *,
                   exclude: set[str], actor: str, quiet_queue: bool = False) -> Outcome:
        roster = self._directory.roster(department.department_id)
        last, turn = (self._directory.rotation(department.department_id) if department.strategy == "round_robin"
                      else (None, 0))
        pick = choose_handler(department, roster, CaseFacts.of(case), last_handler=last, exclude=frozenset(exclude))
        if pick.handler_id is None:
            if quiet_queue:  # still nobody: look again later
                retry = now + timedelta(minutes=self._settings.queue_retry_minutes)
                waiting = case.model_copy(update={
                    "version": expected_version + 1, "updated_at": now,
                    "next_check_at": earliest(next_point(case.clocks, sla, calendars), retry)})
                self._repo.save(waiting, [], expected_version=expected_version)
                return Outcome("queued", waiting)
            return self._queue(case, expected_version, department, entries, pick.reason, sla, calendars, now)
        handler = next(h for h in roster if h.handler_id == pick.handler_id)
        check_transition(case.status, Status.ASSIGNED)
        assigned = case.model_copy(update={
            "status": Status.ASSIGNED, "assignee": handler.handler_id, "queued_at": None,
            "version": expected_version + 1, "updated_at": now,
            "next_check_at": next_point(case.clocks, sla, calendars)})
        entries = [*entries, *_assigned_entries(case, handler, pick.reason, actor, now, new_status=Status.ASSIGNED)]
        ops = [self._directory.assign_op(handler.handler_id, cap=handler.cap(department.max_open_per_handler),
                                         at=now, require_on_duty=True)]
        if department.strategy == "round_robin":
            ops.append(self._directory.rotation_op(department.department_id, handler.handler_id, turn))
        events = [CaseEvent.of(assigned, "assigned", actor=actor, at=now, recipients=[handler.handler_id])]
        try:
            self._repo.save(assigned, entries, expected_version=expected_version, also=ops, events=events)
        except ConditionFailed as exc:
            if 0 in exc.indexes:
                raise _HandlerUnavailable(handler.handler_id) from None
            raise StaleVersion(case.complaint_id) from None  # the turn moved on: read again
        announce(self._repo, self._publisher, events)
        logger().info("complaint assigned", extra={"complaint_id": case.complaint_id, "department":
                                                   department.department_id, "strategy": department.strategy})
        return Outcome("assigned", assigned)

    def _queue(self, case: Complaint, expected_version: int, department: Department, entries: list[TimelineEntry],
               reason: str, sla: SlaConfig, calendars: Calendars, now: datetime) -> Outcome:
        retry = now + timedelta(minutes=self._settings.queue_retry_minutes)
        queued = case.model_copy(update={
            "queued_at": now, "version": expected_version + 1, "updated_at": now,
            "next_check_at": earliest(next_point(case.clocks, sla, calendars), retry)})
        recipients = [r for r in (department.lead or department.manager,) if r]
        entries = [*entries, TimelineEntry(
            at=now, kind=TimelineKind.QUEUED, visibility=Visibility.INTERNAL,
            text=f"waiting in the {department.department_id} queue: {reason}"
                 + ("" if recipients else " (no lead or manager configured to tell)"),
            details={"department": department.department_id, "reason": reason, "told": recipients})]
        self._repo.save(queued, entries, expected_version=expected_version)
        logger().info("complaint queued", extra={"complaint_id": case.complaint_id,
                                                 "department": department.department_id, "reason": reason})
        self._alert_queued(queued, reason=reason, department=department)
        return Outcome("queued", queued)

    def _alert_queued(self, case: Complaint, *, reason: str | None = None, department: Department | None = None) -> None:
        if department is None:
            routing, _, _ = self.configs()
            department = routing.config.department(case.department)
        recipients = [r for r in ((department.lead or department.manager) if department else None,) if r]
        if not recipients or case.queued_at is None:
            return
        self._publisher.publish(StaffAlertRaised(
            event_id=f"{case.complaint_id}:queued:{iso(case.queued_at)}",
            alert_id=f"{case.complaint_id}:queued:{iso(case.queued_at)}", kind="queue_waiting",
            complaint_id=case.complaint_id, recipients=recipients, department=case.department,
            priority=case.priority, due_at=_nearest(case), raised_at=iso(self._now()),
            reason=reason or "nobody on duty below their cap can take it"))

    # -- staff actions ------------------------------------------------------------------------------------
    def claim(self, complaint_id: str, handler_id: str, *, expected_version: int | None = None) -> Complaint:
        """A handler takes a waiting case of their department: one wins; the others learn who has it
        (409 ``already_assigned``) - a claim that lost the race reads the case again to say so."""
        profile = self._directory.profile(handler_id)
        if profile is None:
            raise AssignmentRefused("not_a_handler", "you are not in the staff directory: ask an admin", 403)
        for _ in range(MAX_ATTEMPTS):
            case = self.case(complaint_id)
            if case.assignee == handler_id:
                return case
            if case.assignee:
                raise AssignmentRefused("already_assigned", f"the case is already assigned to {case.assignee}")
            if not case.department or case.repeat_of or case.needs_triage:
                raise AssignmentRefused("not_routed", "the case has not been routed to a department yet")
            if case.department not in profile.departments:
                raise AssignmentRefused("other_department", f"the case belongs to {case.department}", 403)
            try:
                return self._manual(case, profile, expected_version, actor=f"staff:{handler_id}", reason="claimed",
                                    override_cap=False, kind=TimelineKind.ASSIGNED)
            except StaleVersion:
                if expected_version is not None:
                    raise
        raise StaleVersion(complaint_id)

    def assign(self, complaint_id: str, handler_id: str, *, actor: str, reason: str,
               expected_version: int | None, override_cap: bool = False) -> Complaint:
        """A lead (manager, admin) gives a case to a handler of its department."""
        case = self.case(complaint_id)
        profile = self._directory.profile(handler_id)
        if profile is None:
            raise AssignmentRefused("unknown_handler", f"{handler_id} is not in the staff directory", 422)
        if not case.department:
            raise AssignmentRefused("not_routed", "the case has no department yet: transfer it to one")
        if case.department not in profile.departments:
            raise AssignmentRefused("other_department",
                                    f"{handler_id} does not work in {case.department}: transfer the case instead", 422)
        if case.assignee == handler_id:
            return case
        return self._manual(case, profile, expected_version, actor=actor, reason=reason, override_cap=override_cap,
                            kind=TimelineKind.ASSIGNED)

    def transfer(self, complaint_id: str, *, actor: str, reason: str, expected_version: int | None,
                 department: str | None = None, handler_id: str | None = None) -> Complaint:
        """Move a case to another department (its strategy picks the handler, or it waits in the
        queue) or to a named handler (of the case's department, or of ``department``)."""
        case = self.case(complaint_id)
        if expected_version is not None and case.version != expected_version:
            raise StaleVersion(complaint_id)
        if case.status not in OPEN_STATES or case.repeat_of:
            raise AssignmentRefused("not_open", "only open cases can be transferred")
        if case.status == Status.RECEIVED or not case.priority:
            raise AssignmentRefused("not_classified", "the router has not classified this case yet")
        routing, sla, calendars = self.configs()
        target = routing.config.department(department or case.department)
        if target is None:
            raise AssignmentRefused("unknown_department", f"{department} is not a department", 422)
        now = self._now()
        moved = case
        entries: list[TimelineEntry] = []
        if target.department_id != case.department:
            clocks = rebase(case.clocks, target.department_id, now, calendars) if case.clocks else start_clocks(
                department=target.department_id, priority=case.priority, category=case.category, region=case.region,
                received_at=case.received_at, config=sla.config, calendars=calendars)
            moved = case.model_copy(update={"department": target.department_id, "clocks": clocks, "assignee": None,
                                            "needs_triage": False})
            entries.append(TimelineEntry(
                at=now, kind=TimelineKind.TRANSFERRED, visibility=Visibility.INTERNAL, actor=actor, text=reason,
                details={"from_department": case.department, "to_department": target.department_id,
                         "from_handler": case.assignee}))
            if not case.clocks:
                entries.append(_clocks_entry(clocks, now))
        release = [self._directory.release_op(case.assignee)] if case.assignee and moved.assignee is None else []
        if handler_id:
            profile = self._directory.profile(handler_id)
            if profile is None or target.department_id not in profile.departments:
                raise AssignmentRefused("unknown_handler", f"{handler_id} does not work in {target.department_id}", 422)
            if handler_id == case.assignee and target.department_id == case.department:
                return case
            return self._manual(moved, profile, case.version, actor=actor, reason=reason, override_cap=False,
                                kind=TimelineKind.TRANSFERRED, entries=entries, previous=case.assignee)
        if target.department_id == case.department:
            raise AssignmentRefused("nothing_to_do", "name another department or a handler", 422)
        status = case.status if case.status == Status.WAITING_ON_CUSTOMER else Status.CLASSIFIED
        check_transition(case.status, status)
        retry = now + timedelta(minutes=self._settings.queue_retry_minutes)
        waiting = moved.model_copy(update={
            "status": status, "queued_at": now, "version": case.version + 1, "updated_at": now,
            "next_check_at": earliest(next_point(moved.clocks, sla.config, calendars), retry)})
        try:
            self._repo.save(waiting, entries, expected_version=case.version, also=release)
        except ConditionFailed:
            raise StaleVersion(complaint_id) from None
        # now let the new department's strategy pick (or queue it and tell the lead)
        outcome = self.offer(complaint_id)
        if outcome.state == "queued" and outcome.case is not None:
            self._alert_queued(outcome.case, reason="transferred; nobody can take it now", department=target)
        return outcome.case or waiting

    def _manual(self, case: Complaint, profile: HandlerProfile, expected_version: int | None, *, actor: str,
                reason: str, override_cap: bool, kind: TimelineKind, entries: list[TimelineEntry] | None = None,
                previous: str | None = None) -> Complaint:
        read_version = case.version if expected_version is None else expected_version
        if expected_version is not None and expected_version != case.version:
            raise StaleVersion(case.complaint_id)
        routing, sla, calendars = self.configs()
        department = routing.config.department(case.department) or routing.config.department(
            routing.config.default_department)
        now = self._now()
        previous = previous if previous is not None else case.assignee
        # a case waiting on the customer keeps waiting (its clocks stay paused); otherwise the new
        # handler has it to accept
        status = Status.WAITING_ON_CUSTOMER if case.status == Status.WAITING_ON_CUSTOMER else Status.ASSIGNED
        check_transition(case.status, status)
        assigned = case.model_copy(update={
            "status": status, "assignee": profile.handler_id, "queued_at": None, "version": read_version + 1,
            "updated_at": now, "next_check_at": next_point(case.clocks, sla.config, calendars)})
        all_entries = [*(entries or []), *_assigned_entries(case, profile, reason, actor, now, kind=kind,
                                                            previous=previous, new_status=status)]
        cap = None if override_cap else profile.cap(department.max_open_per_handler if department else 25)
        ops = [self._directory.assign_op(profile.handler_id, cap=cap, at=now, require_on_duty=False)]
        if previous:
            ops.append(self._directory.release_op(previous))
        events = [CaseEvent.of(assigned, "assigned", actor=actor, at=now, recipients=[profile.handler_id])]
        try:
            self._repo.save(assigned, all_entries, expected_version=read_version, also=ops, events=events)
        except ConditionFailed as exc:
            if 0 in exc.indexes:
                raise AssignmentRefused("at_capacity", f"{profile.handler_id} is at their cap of {cap} open cases "
                                                       "(a lead can override it)") from None
            raise StaleVersion(case.complaint_id) from None
        announce(self._repo, self._publisher, events)
        return assigned


class _HandlerUnavailable(Exception):
    def __init__(self, handler_id: str):
        super().__init__(handler_id)
        self.handler_id = handler_id


def _nearest(case: Complaint) -> str | None:
    from shared.sla import nearest_deadline

    due = nearest_deadline(case.clocks)
    return iso(due) if due else None


def _clocks_entry(clocks: list, now: datetime) -> TimelineEntry:
    views = [clock_view(c, now) for c in clocks]
    text = "; ".join(f"{v['label'].get('en', v['name'])}: {v['target_text']}, due {v['due_at']}" for v in views)
    return TimelineEntry(at=now, kind=TimelineKind.CLOCKS_STARTED, visibility=Visibility.INTERNAL, text=text,
                         details={"clocks": [{k: v[k] for k in ("name", "kind", "source", "target_text", "due_at")}
                                             for v in views]})


def _assigned_entries(case: Complaint, handler: HandlerProfile, reason: str, actor: str, now: datetime, *,
                      new_status: Status, kind: TimelineKind = TimelineKind.ASSIGNED,
                      previous: str | None = None) -> list[TimelineEntry]:
    entries = [TimelineEntry(at=now, kind=kind, visibility=Visibility.INTERNAL, actor=actor,
                             text=f"to {handler.handler_id}: {reason}",
                             details={"handler": handler.handler_id, "department": case.department,
                                      "previous_handler": previous, "reason": reason})]
    if new_status != case.status:
        entries.append(TimelineEntry(at=now, kind=TimelineKind.STATUS_CHANGED, status=new_status,
                                     details={"from": case.status.value}))
    return entries


def assigner() -> Assigner:
    from shared.config import settings
    from shared.config_store import config_store
    from shared.staff_directory import staff_directory
    from shared.store import complaint_repository, event_publisher

    return Assigner(complaint_repository(), staff_directory(), config_store(), event_publisher(), settings())

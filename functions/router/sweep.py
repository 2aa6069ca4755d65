"""The SLA sweep (EventBridge schedule, every 5 minutes): nothing runs past its deadline unseen.

It reads only the cases whose next check has come - one Query per shard of the sparse ``ByDue``
index (``due_key <= now``), never a Scan - so its cost follows the cases due, not the cases open.
For each case (read again, consistently):

* a case still ``received`` is sent through the router again (``ComplaintReceived`` re-published;
  the router is idempotent); after ``REDRIVE_ATTEMPTS`` a person is told, then it backs off;
* a resolved case whose confirmation window is over closes as "resolved without confirmation"
  (:func:`shared.closure.auto_close`; its ``closed`` event written with it and announced); other
  cases no longer open leave the work list;
* a classified case without a department is routed again (the assigner, in-process); one waiting in
  triage too long is brought to the default department's lead, once;
* a routed case fires the warning points and escalation levels its clocks reached
  (:func:`shared.sla.fire_due`): 50 %/80 % warnings to the assignee, the breach to the department
  lead (and the assignee), a further level to the manager - each recorded on the timeline and on the
  clock, so it is announced once; a case waiting in its department queue is offered again.

Alerts are published (``StaffAlertRaised``, stable ids) before the case is written: a sweep that
crashes in between, runs twice or overlaps another raises the same alert ids again, and the notifier
delivers each once. The case write is conditional on the version read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from shared import metrics
from shared.assignment import Assigner, earliest
from shared.events import ComplaintReceived, EventPublisher, StaffAlertRaised
from shared.lifecycle import OPEN_STATES, Status
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared.observability import logger
from shared.repository import DUE_SHARDS, ComplaintRepository, StaleVersion, iso
from shared.sla import Checkpoint, SlaClock, fire_due, next_point

SLA_METRICS = {"sla_warning": metrics.SLA_WARNINGS, "sla_breach": metrics.SLA_BREACHES}

MAX_ATTEMPTS = 5
MAX_BACKOFF = 6  # a stuck case is looked at after 2**6 = 64 intervals at the latest


@dataclass
class SweepReport:
    started_at: str
    shards: int = 0
    index_items_read: int = 0  # what the ByDue queries read (the sweep's cost)
    cases_read: int = 0
    alerts: int = 0
    redriven: int = 0
    offered: int = 0
    errors: int = 0
    actions: dict[str, int] = field(default_factory=dict)

    def count(self, action: str) -> None:
        self.actions[action] = self.actions.get(action, 0) + 1


class SlaSweep:
    def __init__(self, repository: ComplaintRepository, assigner: Assigner, publisher: EventPublisher,
                 settings: Any, clock: Callable[[], datetime] | None = None):
        self._repo, self._assigner, self._publisher, self._settings = repository, assigner, publisher, settings
        from shared.clock import now

        self._now = clock or now

    def run(self) -> SweepReport:
        now = self._now()
        report = SweepReport(started_at=iso(now))
        for shard in range(DUE_SHARDS):
            ids, read = self._repo.due(f"DUE#{shard}", now, limit=self._settings.sweep_batch)
            report.shards += 1
            report.index_items_read += read
            for complaint_id in ids:
                try:
                    self.check(complaint_id, now, report)
                except Exception as exc:  # noqa: BLE001 - one bad case must not stop the sweep
                    report.errors += 1
                    logger().exception("sweep could not check a case; it stays due for the next sweep",
                                       extra={"complaint_id": complaint_id, "error": type(exc).__name__})
        logger().info("sla sweep done", extra={k: v for k, v in report.__dict__.items()})
        return report

    # -- one case ---------------------------------------------------------------------------------------
    def check(self, complaint_id: str, now: datetime, report: SweepReport) -> None:
        for _ in range(MAX_ATTEMPTS):
            case = self._repo.get_many([complaint_id]).get(complaint_id)
            report.cases_read += 1
            if case is None or case.next_check_at is None or case.next_check_at > now:
                report.count("not_due")
                return
            try:
                self._check(case, now, report)
                return
            except StaleVersion:
                continue
        raise StaleVersion(complaint_id)

    def _check(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        if case.status == Status.RESOLVED and case.confirmation_due_at is not None:
            self._confirmation_window(case, now, report)
        elif case.status not in OPEN_STATES or case.repeat_of:
            self._save(case, [], next_check=None, now=now)
            report.count("cleared")
        elif case.status == Status.RECEIVED:
            self._unclassified(case, now, report)
        elif not case.department and case.needs_triage:
            self._in_triage(case, now, report)
        elif not case.department:
            self._unrouted(case, now, report)
        else:
            self._clocks(case, now, report)

    def _confirmation_window(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        """A resolved case waits for the customer's confirmation until ``confirmation_due_at``; then it
        closes as resolved without confirmation (``closed`` announced: the survey goes out)."""
        from shared.case_events import announce
        from shared.closure import auto_close

        if case.confirmation_due_at > now:  # looked at early: come back when the window ends
            self._save(case, [], next_check=case.confirmation_due_at, now=now)
            report.count("awaiting_confirmation")
            return
        closing = auto_close(case, at=now)
        self._repo.save(closing.case, closing.entries, expected_version=case.version, also=closing.also,
                        events=closing.events)
        announce(self._repo, self._publisher, closing.events)
        logger().info("closed without confirmation", extra={"complaint_id": case.complaint_id})
        report.count("auto_closed")

    def _save(self, case: Complaint, entries: list[TimelineEntry], *, next_check: datetime | None, now: datetime,
              **changes: Any) -> Complaint:
        saved = case.model_copy(update={**changes, "next_check_at": next_check, "version": case.version + 1,
                                        "updated_at": now})
        self._repo.save(saved, entries, expected_version=case.version)
        return saved

    def _backoff(self, minutes: int, redrives: int) -> timedelta:
        return timedelta(minutes=minutes * 2 ** max(0, min(redrives - self._settings.redrive_attempts, MAX_BACKOFF)))

    def _stuck_recipients(self) -> tuple[list[str], str | None]:
        routing, _, _ = self._assigner.configs()
        dept = routing.config.department(routing.config.default_department)
        who = [r for r in ((dept.lead or dept.manager) if dept else None,) if r]
        return who, dept.department_id if dept else None

    def _stuck_alert(self, case: Complaint, what: str, reason: str, now: datetime) -> list[str]:
        recipients, department = self._stuck_recipients()
        if recipients:
            self._publisher.publish(StaffAlertRaised(
                event_id=f"{case.complaint_id}:stuck:{what}", alert_id=f"{case.complaint_id}:stuck:{what}",
                kind="stuck", complaint_id=case.complaint_id, recipients=recipients, department=department,
                priority=case.priority, reason=reason, raised_at=iso(now)))
        return recipients

    def _unclassified(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        redrives = case.redrives + 1
        self._publisher.publish(ComplaintReceived.of(case))  # the router drops it if the work is done
        entries = [TimelineEntry(at=now, kind=TimelineKind.REDRIVEN, visibility=Visibility.INTERNAL,
                                 text=f"not classified after {_age(case, now)}: sent to the router again "
                                      f"(attempt {redrives})", details={"step": "router", "attempt": redrives})]
        if redrives == self._settings.redrive_attempts:
            told = self._stuck_alert(case, "unclassified", f"not classified after {redrives} attempts", now)
            entries.append(_stuck_entry("unclassified", told, now))
            report.alerts += bool(told)
        minutes = self._settings.unclassified_alert_minutes
        self._save(case, entries, next_check=now + self._backoff(minutes, redrives), now=now, redrives=redrives)
        report.redriven += 1
        report.count("redriven_to_router")

    def _in_triage(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        told = self._stuck_alert(case, "triage", f"waiting in triage for {_age(case, now)}", now)
        self._save(case, [_stuck_entry("triage", told, now)], next_check=None, now=now)
        report.alerts += bool(told)
        report.count("triage_reported")

    def _unrouted(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        try:
            outcome = self._assigner.route(case.complaint_id)
            report.redriven += 1
            report.count(f"rerouted_{outcome.state}")
            return
        except StaleVersion:
            raise
        except Exception as exc:  # noqa: BLE001 - a routing failure is what the sweep is here to surface
            logger().warning("re-routing failed", extra={"complaint_id": case.complaint_id,
                                                         "error": type(exc).__name__})
        redrives = case.redrives + 1
        entries = [TimelineEntry(at=now, kind=TimelineKind.REDRIVEN, visibility=Visibility.INTERNAL,
                                 text=f"routing failed (attempt {redrives})", details={"step": "assignment",
                                                                                        "attempt": redrives})]
        if redrives == self._settings.redrive_attempts:
            told = self._stuck_alert(case, "unassigned", f"could not be routed after {redrives} attempts", now)
            entries.append(_stuck_entry("unassigned", told, now))
            report.alerts += bool(told)
        minutes = self._settings.unassigned_alert_minutes
        self._save(case, entries, next_check=now + self._backoff(minutes, redrives), now=now, redrives=redrives)
        report.count("reroute_failed")

    def _clocks(self, case: Complaint, now: datetime, report: SweepReport) -> None:
        routing, sla, calendars = self._assigner.configs()
        department = routing.config.department(case.department)
        clocks, fired = fire_due(case.clocks, sla.config, calendars, now)
        entries = []
        for point in fired:
            clock = next(c for c in clocks if c.name == point.clock)
            recipients = _recipients(point, case, department)
            alert = _alert(case, clock, point, recipients, now)
            if recipients:
                self._publisher.publish(alert)
                report.alerts += 1
            entries.append(_point_entry(point, clock, alert, recipients, now))
        levels = [c.level for c in clocks]
        waiting = case.assignee is None
        retry = now + timedelta(minutes=self._settings.queue_retry_minutes) if waiting else None
        saved = self._save(case, entries, next_check=earliest(next_point(clocks, sla.config, calendars), retry),
                           now=now, clocks=clocks, escalated=case.escalated or max(levels, default=0) > 0,
                           escalation_level=max([case.escalation_level, *levels]))
        report.count("clock_points" if fired else "checked")
        for point in fired:  # counted once saved: a lost write fires them again at the next sweep
            if point.kind in SLA_METRICS:
                metrics.count(SLA_METRICS[point.kind])
        if waiting:
            outcome = self._assigner.offer(saved.complaint_id)
            report.offered += 1
            report.count(f"offered_{outcome.state}")


def _recipients(point: Checkpoint, case: Complaint, department: Any) -> list[str]:
    lead = (department.lead or department.manager) if department else None
    manager = (department.manager or department.lead) if department else None
    if point.kind == "sla_warning":
        who = [case.assignee or lead]
    elif point.level == 1:
        who = [lead, case.assignee]
    else:
        who = [manager]
    return list(dict.fromkeys(w for w in who if w))


def _alert(case: Complaint, clock: SlaClock, point: Checkpoint, recipients: list[str], now: datetime) -> StaffAlertRaised:
    suffix = f"warn:{point.share}" if point.kind == "sla_warning" else f"level:{point.level}"
    alert_id = f"{case.complaint_id}:{clock.name}:{int(clock.started_at.timestamp())}:{suffix}"
    if point.kind == "sla_warning":
        reason = f"{point.share:.0%} of {clock.target.describe()} used"
    elif point.level == 1:
        reason = f"deadline passed ({clock.target.describe()})"
    else:
        reason = f"escalation level {point.level}: {point.share:.0%} of {clock.target.describe()} used"
    return StaffAlertRaised(
        event_id=alert_id, alert_id=alert_id, kind=point.kind, complaint_id=case.complaint_id, recipients=recipients,
        department=case.department, clock=clock.name, clock_label=clock.label,
        due_at=iso(clock.due_at) if clock.due_at else None, share=point.share, level=point.level,
        priority=case.priority, reason=reason, raised_at=iso(now))


def _point_entry(point: Checkpoint, clock: SlaClock, alert: StaffAlertRaised, recipients: list[str],
                 now: datetime) -> TimelineEntry:
    kind = {"sla_warning": TimelineKind.SLA_WARNING, "sla_breach": TimelineKind.SLA_BREACHED}.get(
        point.kind, TimelineKind.ESCALATED)
    text = f"{clock.label.get('en', clock.name)}: {alert.reason}" + (
        f"; told {', '.join(recipients)}" if recipients else "; nobody to tell (no assignee, lead or manager)")
    return TimelineEntry(at=now, kind=kind, visibility=Visibility.INTERNAL, text=text, details={
        "clock": clock.name, "share": point.share, "level": point.level, "reached_at": iso(point.at),
        "due_at": alert.due_at, "recipients": recipients, "alert_id": alert.alert_id})


def _stuck_entry(what: str, told: list[str], now: datetime) -> TimelineEntry:
    return TimelineEntry(at=now, kind=TimelineKind.STUCK, visibility=Visibility.INTERNAL,
                         text=f"stuck ({what}): " + (f"told {', '.join(told)}" if told
                                                     else "nobody to tell (no lead or manager configured)"),
                         details={"stuck": what, "recipients": told})


def _age(case: Complaint, now: datetime) -> str:
    minutes = int((now - case.received_at).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def sla_sweep(clock: Callable[[], datetime] | None = None) -> SlaSweep:
    from shared.assignment import assigner
    from shared.config import settings
    from shared.store import complaint_repository, event_publisher

    return SlaSweep(complaint_repository(), assigner(), event_publisher(), settings(), clock)


def handle(event: Any) -> dict[str, Any]:
    """The scheduled event's handler: one sweep; returns its report (what it read and did)."""
    return sla_sweep().run().__dict__

"""What a case transition does to its SLA clocks, as changes to merge into the case and timeline
entries to write with it (in the transition's own conditional write).

* waiting on the customer: clocks that pause stop running (``clock_paused``);
* the customer answered: they run again, deadlines moved by the time paused (``clock_resumed``,
  with how long it was paused);
* the first reply to the customer / the resolution: the clocks waiting for it stop, met or missed
  (``clock_stopped``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.config_store import ConfigStore
from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared.sla import Calendars, next_point, pause, resume, stop


def _calendars(configs: ConfigStore) -> tuple[Any, Calendars]:
    routing, sla = configs.current("routing"), configs.current("sla")
    return sla.config, Calendars.of(routing.config, sla.config)


def _next_check(case: Complaint, clocks: list, sla: Any, calendars: Calendars) -> datetime | None:
    from shared.assignment import earliest

    later = case.next_check_at if case.assignee is None and case.queued_at else None  # a queue retry stays
    return earliest(next_point(clocks, sla, calendars), later)


def pause_clocks(case: Complaint, at: datetime, configs: ConfigStore, actor: str = "system") -> tuple[dict, list]:
    if not case.clocks:
        return {}, []
    sla, calendars = _calendars(configs)
    clocks = pause(case.clocks, at, calendars)
    paused = [c.name for before, c in zip(case.clocks, clocks) if before.paused_at is None and c.paused_at]
    if not paused:
        return {}, []
    entry = TimelineEntry(at=at, kind=TimelineKind.CLOCK_PAUSED, visibility=Visibility.INTERNAL, actor=actor,
                          text=f"waiting on the customer: paused {', '.join(paused)}", details={"clocks": paused})
    return {"clocks": clocks, "next_check_at": _next_check(case, clocks, sla, calendars)}, [entry]


def resume_clocks(case: Complaint, at: datetime, configs: ConfigStore, actor: str = "customer") -> tuple[dict, list]:
    if not case.clocks:
        return {}, []
    sla, calendars = _calendars(configs)
    clocks = resume(case.clocks, at, calendars)
    resumed = [(b, c) for b, c in zip(case.clocks, clocks) if b.paused_at is not None and c.paused_at is None]
    if not resumed:
        return {}, []
    from shared.repository import iso

    paused_for = max((at - b.paused_at).total_seconds() for b, _ in resumed)
    entry = TimelineEntry(
        at=at, kind=TimelineKind.CLOCK_RESUMED, visibility=Visibility.INTERNAL, actor=actor,
        text=f"the customer answered after {_duration(paused_for)}: resumed "
             + ", ".join(f"{c.name} (now due {iso(c.due_at)})" for _, c in resumed),
        details={"paused_seconds": round(paused_for),
                 "clocks": [{"name": c.name, "due_at": iso(c.due_at), "paused_seconds_total": round(c.paused_seconds)}
                            for _, c in resumed]})
    return {"clocks": clocks, "next_check_at": _next_check(case, clocks, sla, calendars)}, [entry]


def stop_clocks(case: Complaint, event: str, at: datetime, configs: ConfigStore, actor: str = "system") -> tuple[dict, list]:
    """``event``: ``first_response`` or ``resolution``."""
    if not case.clocks:
        return {}, []
    sla, calendars = _calendars(configs)
    clocks = stop(case.clocks, event, at, calendars)
    stopped = [c for b, c in zip(case.clocks, clocks) if b.stopped_at is None and c.stopped_at is not None]
    if not stopped:
        return {}, []
    entry = TimelineEntry(at=at, kind=TimelineKind.CLOCK_STOPPED, visibility=Visibility.INTERNAL, actor=actor,
                          text=f"{event.replace('_', ' ')}: " + ", ".join(
                              f"{c.name} {'met' if c.met else 'missed'}" for c in stopped),
                          details={"event": event, "clocks": [{"name": c.name, "met": c.met} for c in stopped]})
    return {"clocks": clocks, "next_check_at": _next_check(case, clocks, sla, calendars)}, [entry]


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return " ".join(part for part in (f"{days} d" if days else "", f"{hours} h" if hours else "",
                                      f"{mins} min" if mins or not (days or hours) else "") if part)

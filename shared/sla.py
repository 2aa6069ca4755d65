"""SLA clocks: targets per priority (and category), regulatory deadlines per jurisdiction, pauses
while the case waits on the customer, warning points and escalation levels. Plain Python.

A clock measures time in its own calendar: wall time for ``hours``/``days``/``weeks`` targets, the
department's working time for ``business_hours``/``business_days`` (a regulatory clock: its
jurisdiction's working time). It holds a *budget* (the measured time from its start to its first
deadline) and the time *consumed*; while it runs, its deadline is ``add(running_since, budget -
consumed)``. A pause adds what ran to ``consumed``; the resume starts a new run, so the deadline
moves by exactly the working time spent paused. A share ``s`` of the target is reached at
``add(running_since, s * budget - consumed)``: warnings at ``warning_shares`` (default 50 % and
80 %), escalation levels at ``escalation_shares`` (default 100 %: breach, the department lead;
150 %: the manager). The sweep (:mod:`functions.router.sweep`) fires each point once.

The configuration (``GET/PUT /staff/config/sla``; defaults in ``shared/sla_config.json``) is
versioned like the routing rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Iterable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from shared.calendars import CalendarConfig, WallClock, calendar_of

Unit = Literal["hours", "days", "weeks", "business_hours", "business_days"]
Event = Literal["first_response", "resolution"]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
Label = dict[Literal["en", "zh"], Annotated[str, StringConstraints(min_length=1, max_length=100)]]
_WALL_SECONDS = {"hours": 3600, "days": 86400, "weeks": 7 * 86400}


class Timekeeper(Protocol):
    def seconds_between(self, start: datetime, end: datetime) -> float: ...
    def add(self, start: datetime, seconds: float) -> datetime: ...
    def close_of_working_day(self, start: datetime, n: int) -> datetime: ...


class _Config(BaseModel):
    # built on first validation: functions that never load this configuration do not pay for it on a cold start
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Target(_Config):
    amount: float = Field(gt=0, le=10_000)
    unit: Unit

    @model_validator(mode="after")
    def _whole_days(self) -> "Target":
        if self.unit == "business_days" and self.amount != int(self.amount):
            raise ValueError("business_days must be a whole number (the deadline is the close of that working day)")
        return self

    @property
    def business(self) -> bool:
        return self.unit.startswith("business_")

    def describe(self) -> str:
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{amount} {self.unit.replace('_', ' ')}"


class ClockSpec(_Config):
    name: Name
    label: Label
    target: Target
    stops_on: Event
    pauses_when_waiting: bool = False


class SlaPolicy(_Config):
    policy_id: Name
    priorities: list[Literal["P1", "P2", "P3", "P4"]] | None = None
    categories: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] | None = None
    first_response: Target
    resolution: Target

    def matches(self, priority: str | None, category: str | None) -> bool:
        return ((self.priorities is None or priority in self.priorities)
                and (self.categories is None or category in self.categories))


class Regime(_Config):
    """A regulator's deadlines, applied to cases of its jurisdiction."""

    regime_id: Name
    jurisdiction: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    label: Label
    calendar: CalendarConfig
    clocks: Annotated[list[ClockSpec], Field(min_length=1, max_length=10)]
    categories: list[str] | None = None  # None: every category


class SlaConfig(_Config):
    policies: Annotated[list[SlaPolicy], Field(min_length=1, max_length=200)]
    warning_shares: Annotated[list[float], Field(max_length=5)] = [0.5, 0.8]
    escalation_shares: Annotated[list[float], Field(min_length=1, max_length=3)] = [1.0, 1.5]
    business_jurisdictions: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]] = []
    customer_jurisdiction: bool = True  # the case's region (its country) adds that regime too
    regulatory: list[Regime] = []
    description: str | None = None

    @field_validator("warning_shares")
    @classmethod
    def _warnings(cls, shares: list[float]) -> list[float]:
        if any(not 0 < s < 1 for s in shares) or sorted(set(shares)) != shares:
            raise ValueError("warning shares must be increasing, each between 0 and 1 (e.g. [0.5, 0.8])")
        return shares

    @field_validator("escalation_shares")
    @classmethod
    def _escalations(cls, shares: list[float]) -> list[float]:
        if shares[0] != 1.0 or sorted(set(shares)) != shares or shares[-1] > 10:
            raise ValueError("escalation shares start at 1.0 (the breach) and increase, e.g. [1.0, 1.5]")
        return shares

    @model_validator(mode="after")
    def _consistent(self) -> "SlaConfig":
        for level in ("P1", "P2", "P3", "P4"):  # a catch-all per level: every case finds its policy
            if not any(p.categories is None and (p.priorities is None or level in p.priorities)
                       for p in self.policies):
                raise ValueError(f"no policy without a 'categories' filter applies to {level}")
        ids = [r.regime_id for r in self.regulatory]
        if len(ids) != len(set(ids)):
            raise ValueError("regime ids must be unique")
        for r in self.regulatory:
            names = [c.name for c in r.clocks]
            if len(names) != len(set(names)):
                raise ValueError(f"clock names must be unique within {r.regime_id}")
        return self

    def policy_for(self, priority: str | None, category: str | None) -> SlaPolicy:
        for p in self.policies:
            if p.matches(priority, category):
                return p
        raise LookupError(f"no SLA policy for {priority}")  # the validator rules this out

    def regimes_for(self, region: str | None, category: str | None) -> list[Regime]:
        wanted = list(self.business_jurisdictions)
        if self.customer_jurisdiction and region:
            wanted.append(region[:2].upper())
        return [r for r in self.regulatory
                if r.jurisdiction in wanted and (r.categories is None or category in r.categories)]

    def regime(self, regime_id: str) -> Regime | None:
        return next((r for r in self.regulatory if r.regime_id == regime_id), None)


# -- the clocks on a case -------------------------------------------------------------------------------
class SlaClock(BaseModel):
    name: str  # "first_response", "resolution", or a regime's clock "cn_consumer.reply"
    kind: Literal["internal", "regulatory"]
    label: dict[str, str]
    source: str  # the policy or regime id
    stops_on: Event
    target: Target
    calendar: str  # "department:<id>", "regime:<id>" or "wall"
    started_at: datetime
    budget_seconds: float
    consumed_seconds: float = 0.0
    running_since: datetime | None = None
    due_at: datetime | None = None  # the deadline while it runs (None while paused)
    pauses_when_waiting: bool = False
    paused_at: datetime | None = None
    paused_seconds: float = 0.0  # wall time spent paused, all pauses together
    pauses: int = 0
    stopped_at: datetime | None = None
    met: bool | None = None  # stopped within the target?
    breached_at: datetime | None = None
    warned: list[float] = []  # warning shares already fired
    level: int = 0  # escalation levels already fired

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return "met" if self.met else "missed"
        if self.paused_at is not None:
            return "paused"
        return "breached" if self.breached_at is not None else "running"


class Calendars:
    """Which timekeeper measures a clock: a department's calendar, a regime's, or wall time."""

    def __init__(self, departments: dict[str, CalendarConfig], default_department: str | None, sla: SlaConfig):
        self._departments, self._default, self._sla = departments, default_department, sla

    @classmethod
    def of(cls, routing: Any, sla: SlaConfig) -> "Calendars":
        return cls({d.department_id: d.calendar for d in routing.departments}, routing.default_department, sla)

    def for_ref(self, ref: str) -> Timekeeper:
        kind, _, key = ref.partition(":")
        if kind == "department":
            config = self._departments.get(key) or self._departments.get(self._default or "")
            return calendar_of(config)
        if kind == "regime":
            regime = self._sla.regime(key)
            return calendar_of(regime.calendar) if regime else WallClock()
        return WallClock()

    def for_clock(self, clock: SlaClock) -> Timekeeper:
        return self.for_ref(clock.calendar) if clock.target.business else WallClock()


def _start(name: str, kind: str, label: dict[str, str], source: str, spec_target: Target, stops_on: str,
           pauses: bool, calendar_ref: str, started_at: datetime, calendars: Calendars) -> SlaClock:
    keeper = calendars.for_ref(calendar_ref) if spec_target.business else WallClock()
    if spec_target.unit == "business_days":
        due = keeper.close_of_working_day(started_at, int(spec_target.amount))
        budget = keeper.seconds_between(started_at, due)
    elif spec_target.unit == "business_hours":
        budget = spec_target.amount * 3600
        due = keeper.add(started_at, budget)
    else:
        budget = spec_target.amount * _WALL_SECONDS[spec_target.unit]
        due = started_at + timedelta(seconds=budget)
    return SlaClock(name=name, kind=kind, label=label, source=source, stops_on=stops_on, target=spec_target,
                    calendar=calendar_ref, started_at=started_at, budget_seconds=budget, running_since=started_at,
                    due_at=due, pauses_when_waiting=pauses)


INTERNAL_LABELS = {"first_response": {"en": "First response", "zh": "首次回复"},
                   "resolution": {"en": "Resolution", "zh": "解决"}}


def start_clocks(*, department: str, priority: str | None, category: str | None, region: str | None,
                 received_at: datetime, config: SlaConfig, calendars: Calendars) -> list[SlaClock]:
    """Every clock that applies to a case: the internal first-response and resolution targets of
    its policy, and each regulatory deadline of the jurisdictions involved. They start at receipt."""
    policy = config.policy_for(priority, category)
    clocks = [
        _start(name, "internal", INTERNAL_LABELS[name], policy.policy_id, getattr(policy, name), name, True,
               f"department:{department}", received_at, calendars)
        for name in ("first_response", "resolution")
    ]
    for regime in config.regimes_for(region, category):
        for spec in regime.clocks:
            clocks.append(_start(f"{regime.regime_id}.{spec.name}", "regulatory", spec.label, regime.regime_id,
                                 spec.target, spec.stops_on, spec.pauses_when_waiting, f"regime:{regime.regime_id}",
                                 received_at, calendars))
    return clocks


# -- pauses, stops, and moving to another department -------------------------------------------------------
def pause(clocks: Iterable[SlaClock], at: datetime, calendars: Calendars) -> list[SlaClock]:
    """The case waits on the customer: clocks that pause stop running (the others go on)."""
    out = []
    for c in clocks:
        if c.running_since is not None and c.pauses_when_waiting:
            ran = calendars.for_clock(c).seconds_between(c.running_since, at)
            consumed = c.consumed_seconds + ran
            # a deadline already passed stays where it was: pausing cannot undo a breach
            due = c.due_at if consumed >= c.budget_seconds else None
            c = c.model_copy(update={"consumed_seconds": consumed, "running_since": None,
                                     "due_at": due, "paused_at": at, "pauses": c.pauses + 1})
        out.append(c)
    return out


def resume(clocks: Iterable[SlaClock], at: datetime, calendars: Calendars) -> list[SlaClock]:
    """The customer answered: paused clocks run again; their deadlines move by the time paused."""
    out = []
    for c in clocks:
        if c.paused_at is not None and c.stopped_at is None:
            paused = max(0.0, (at - c.paused_at).total_seconds())
            c = c.model_copy(update={"paused_at": None, "paused_seconds": c.paused_seconds + paused,
                                     "running_since": at})
            if c.consumed_seconds < c.budget_seconds or c.due_at is None:
                c = c.model_copy(update={"due_at": _point(c, 1.0, calendars)})
        out.append(c)
    return out


def stop(clocks: Iterable[SlaClock], event: str, at: datetime, calendars: Calendars) -> list[SlaClock]:
    """``first_response`` (the first reply to the customer) or ``resolution`` meets the clocks that wait for it."""
    out = []
    for c in clocks:
        if c.stops_on == event and c.stopped_at is None:
            consumed = c.consumed_seconds
            if c.running_since is not None:
                consumed += calendars.for_clock(c).seconds_between(c.running_since, at)
            # FIX: a clock stopped while paused ends its pause too: count that pause in paused_seconds
            paused = max(0.0, (at - c.paused_at).total_seconds()) if c.paused_at is not None else 0.0
            c = c.model_copy(update={"consumed_seconds": consumed, "running_since": None, "paused_at": None,
                                     "paused_seconds": c.paused_seconds + paused,
                                     "stopped_at": at, "met": consumed <= c.budget_seconds + 1e-6})
        out.append(c)
    return out


def restart(clocks: Iterable[SlaClock], event: str, at: datetime, calendars: Calendars) -> list[SlaClock]:
    """The case was reopened (a dispute, a handler's reopen): the clocks ``event`` stopped run again
    from ``at``. What they consumed before is kept (the time between the stop and the restart does
    not count), the stop is forgotten (``met``/``stopped_at`` cleared) and the deadline recomputed;
    warnings and escalation levels already fired stay fired."""
    out = []
    for c in clocks:
        if c.stops_on == event and c.stopped_at is not None:
            c = c.model_copy(update={"stopped_at": None, "met": None, "paused_at": None, "running_since": at})
            c = c.model_copy(update={"due_at": _point(c, 1.0, calendars)})
        out.append(c)
    return out


def rebase(clocks: Iterable[SlaClock], department: str, at: datetime, calendars: Calendars) -> list[SlaClock]:
    """The case moved to another department: its internal clocks keep what they consumed and go on in
    the new department's working time."""
    out = []
    for c in clocks:
        if c.kind == "internal" and c.calendar != f"department:{department}":
            if c.running_since is not None and c.target.business:
                ran = calendars.for_clock(c).seconds_between(c.running_since, at)
                c = c.model_copy(update={"consumed_seconds": c.consumed_seconds + ran, "running_since": at,
                                         "calendar": f"department:{department}"})
                c = _rescale_days(c, calendars)
                c = c.model_copy(update={"due_at": _point(c, 1.0, calendars)})
            else:
                c = _rescale_days(c.model_copy(update={"calendar": f"department:{department}"}), calendars)
        out.append(c)
    return out


def _rescale_days(c: SlaClock, calendars: Calendars) -> SlaClock:
    """FIX (rebase of ``business_days`` targets): such a budget is the *old* calendar's working time to
    the close of the n-th working day (5 days x 14 h in customer_service's 08-22 week = 70 h+), which the
    new calendar would spend as ~9 of quality's 8-hour days. Re-measure the budget in the new calendar
    from the clock's start and keep the share already consumed. ``business_hours`` budgets are hours
    everywhere and are kept as they are."""
    if c.target.unit != "business_days" or c.stopped_at is not None or c.budget_seconds <= 0:
        return c
    keeper = calendars.for_clock(c)
    budget = keeper.seconds_between(c.started_at, keeper.close_of_working_day(c.started_at, int(c.target.amount)))
    return c.model_copy(update={"budget_seconds": budget,
                                "consumed_seconds": c.consumed_seconds * budget / c.budget_seconds})


# -- warning points and escalation levels ---------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    clock: str
    kind: str  # sla_warning | sla_breach | escalation
    share: float
    level: int | None
    at: datetime
    due_at: datetime | None


def _point(c: SlaClock, share: float, calendars: Calendars) -> datetime:
    """When a running clock reaches ``share`` of its target."""
    assert c.running_since is not None
    remaining = share * c.budget_seconds - c.consumed_seconds
    if remaining <= 0:
        return c.running_since
    return calendars.for_clock(c).add(c.running_since, remaining)


def pending_points(c: SlaClock, config: SlaConfig, calendars: Calendars) -> list[Checkpoint]:
    """The points a running clock has not fired yet, earliest first."""
    if c.running_since is None:
        return []
    points = [Checkpoint(c.name, "sla_warning", s, None, _point(c, s, calendars), c.due_at)
              for s in config.warning_shares if s not in c.warned and c.level == 0]
    for level, share in enumerate(config.escalation_shares, start=1):
        if level > c.level:
            points.append(Checkpoint(c.name, "sla_breach" if level == 1 else "escalation", share, level,
                                     _point(c, share, calendars), c.due_at))
    return sorted(points, key=lambda p: (p.at, p.share))


def next_point(clocks: Iterable[SlaClock], config: SlaConfig, calendars: Calendars) -> datetime | None:
    times = [p.at for c in clocks for p in pending_points(c, config, calendars)[:1]]
    return min(times) if times else None


def fire_due(clocks: Iterable[SlaClock], config: SlaConfig, calendars: Calendars,
             now: datetime) -> tuple[list[SlaClock], list[Checkpoint]]:
    """Mark every point reached by ``now`` as fired and return the ones to announce: per clock the
    highest warning reached (lower ones reached together are not announced), and every escalation
    level reached (each goes to someone else). Once a clock breaches, its warnings are moot."""
    out, fired = [], []
    for c in clocks:
        due = [p for p in pending_points(c, config, calendars) if p.at <= now]
        if not due:
            out.append(c)
            continue
        warnings = [p for p in due if p.kind == "sla_warning"]
        levels = [p for p in due if p.level is not None]
        update: dict[str, Any] = {"warned": sorted({*c.warned, *(p.share for p in warnings)})}
        if levels:
            update["level"] = max(p.level for p in levels)
            update["warned"] = sorted({*c.warned, *config.warning_shares})
            if c.breached_at is None:  # when the deadline passed (not when a late sweep noticed)
                update["breached_at"] = min([p.at for p in levels] + ([c.due_at] if c.due_at else []))
            fired.extend(levels)
        elif warnings:
            fired.append(warnings[-1])
        out.append(c.model_copy(update=update))
    return out, fired


def nearest_deadline(clocks: Iterable[SlaClock]) -> datetime | None:
    """The earliest deadline of the clocks still running (orders a queue by urgency)."""
    dues = [c.due_at for c in clocks if c.due_at is not None and c.stopped_at is None]
    return min(dues) if dues else None


def clock_view(c: SlaClock, now: datetime) -> dict[str, Any]:
    """A clock as staff see it: state, deadline, time left (negative: overdue), paused time."""
    left = (c.due_at - now).total_seconds() if c.due_at is not None and c.stopped_at is None else None
    return {
        "name": c.name, "kind": c.kind, "label": c.label, "source": c.source, "state": c.state,
        "target": c.target.model_dump(), "target_text": c.target.describe(), "started_at": _iso(c.started_at),
        "due_at": _iso(c.due_at), "seconds_left": round(left) if left is not None else None,
        "stops_on": c.stops_on, "paused_since": _iso(c.paused_at), "paused_seconds": round(c.paused_seconds),
        "pauses": c.pauses, "stopped_at": _iso(c.stopped_at), "met": c.met, "breached_at": _iso(c.breached_at),
        "warnings_sent": c.warned, "escalation_level": c.level,
    }


def _iso(at: datetime | None) -> str | None:
    from shared.repository import iso

    return iso(at) if at else None

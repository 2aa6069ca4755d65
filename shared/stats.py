"""Figures kept as the work happens: what one transition of a case adds to the report counters.

Pure Python, no AWS. :func:`increments` looks at a transition - the case before (``None``: it is being
created), the case after and the timeline entries written with it - and returns the
:class:`Increment` s that :mod:`shared.stats_store` turns into ``Update ... ADD`` operations of the
same DynamoDB transaction (so a transition counts exactly once: a write refused for a stale version
counts nothing, and its retry counts once).

Where a figure goes (docs/reports.md, "Counters"):

* ``key``: the UTC day (``yyyy-mm-dd``) of the thing counted - the case's received day for
  ``received`` and ``repeats``, the transition's day for everything else - or :data:`OPEN` for the
  open-backlog gauge (``open``: +1 entering an open state, -1 leaving it);
* ``dimension`` / ``value``: ``all`` (``-``), ``category``, ``department``, ``handler`` (the assignee),
  ``channel``, ``priority``, ``product`` (SKU, else product name) and ``batch``, as the case has them
  after the transition (a dimension the case has no value for is left out);
* ``shard``: 0..3 from the complaint number (:func:`shard_of`), so a hot item's writes spread; a
  reader sums the shards.

``received`` counts under ``all`` and ``channel`` at intake, and under ``category``, ``priority``,
``department``, ``product`` and ``batch`` once the case has a category (its first classification;
the department once routed). A later change of one of these values (a handler's correction, a
transfer, a cluster's priority floor) moves the case: -1 under the old value, +1 under the new one,
on its received day.
"""
from __future__ import annotations

import re
import zlib
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

from shared.closure import CONFIRMED, WITHOUT_CONFIRMATION
from shared.lifecycle import OPEN_STATES, Status
from shared.models import (Complaint, PlanApproval, PlanComponent, ResolutionPlan, TimelineEntry, TimelineKind,
                           Visibility)

SHARDS = 4
OPEN = "OPEN"  # the key of the open-backlog gauge (``PK = STATS#OPEN``)
ALL = "-"  # the value of the ``all`` dimension
DIMENSIONS = ("all", "category", "department", "handler", "channel", "priority", "product", "batch")
# counted as received once the case has a category (moved when the value changes)
CLASSIFIED_DIMENSIONS = ("category", "department", "priority", "product", "batch")
VALUE_MAX = 200

COUNTS = ("received", "resolved", "closed", "closed_unconfirmed", "reopened", "disputed", "escalations", "repeats",
          "rejected", "withdrawn", "merged")
DURATIONS = ("first_response", "resolution")
SATISFACTION = ("feedback_count", "feedback_sum", "feedback_4_5", "surveys_sent")
# Upper bounds (seconds) of the duration histograms' buckets: 1 minute x sqrt(2)^i, i = 0..35 (1 min to
# about 129 days). Bucket i holds durations in (B[i-1], B[i]]; bucket len(B) everything longer.
DURATION_BUCKETS_S: tuple[int, ...] = tuple(round(60 * 2 ** (i / 2)) for i in range(36))

SURVEY_CLOSURES = (CONFIRMED, WITHOUT_CONFIRMATION)  # the closures that offer the survey (shared.closure)
K = TimelineKind


@dataclass(frozen=True)
class Increment:
    key: str  # "yyyy-mm-dd", or OPEN
    dimension: str
    value: str
    shard: int
    measure: str
    amount: int


# -- names and buckets ------------------------------------------------------------------------------------
def shard_of(complaint_id: str) -> int:
    return zlib.crc32(complaint_id.encode()) % SHARDS


def day(at: datetime) -> str:
    return at.astimezone(timezone.utc).date().isoformat()


def clock_measure(name: str) -> str:
    """A clock's name as it appears in ``sla_<clock>_met``: lower case, ``[a-z0-9_]`` only
    (``cn_consumer.reply`` -> ``cn_consumer_reply``)."""
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "clock"


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration (see :data:`DURATION_BUCKETS_S`)."""
    return bisect_left(DURATION_BUCKETS_S, max(0.0, seconds))


def cents(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def histogram(measures: Mapping[str, Any], duration: str) -> dict[int, int]:
    """The ``<duration>_h<i>`` counts of a measures dict as ``{i: count}``."""
    prefix = f"{duration}_h"
    return {int(name[len(prefix):]): int(n) for name, n in measures.items()
            if name.startswith(prefix) and name[len(prefix):].isdigit() and n}


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a duration histogram ``{bucket: count}``, in seconds, interpolated
    geometrically inside its bucket (linearly in the first); None for an empty histogram. The error is
    at most the bucket's width (a factor of sqrt(2))."""
    total = sum(n for n in counts.values() if n > 0)
    if total <= 0:
        return None
    target = q * total
    seen = 0.0
    for i in sorted(counts):
        n = counts[i]
        if n <= 0:
            continue
        if seen + n >= target:
            share = (target - seen) / n
            if i >= len(DURATION_BUCKETS_S):
                return float(DURATION_BUCKETS_S[-1])
            upper = DURATION_BUCKETS_S[i]
            if i == 0:
                return upper * share
            lower = DURATION_BUCKETS_S[i - 1]
            return lower * (upper / lower) ** share
        seen += n
    return float(DURATION_BUCKETS_S[-1])


# -- a case's dimensions ------------------------------------------------------------------------------------
def _clean(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:VALUE_MAX] or None


def dimensions(c: Complaint) -> dict[str, str]:
    """The case's value of each dimension it has one for."""
    product = c.product
    values = {
        "all": ALL, "category": _clean(c.category), "department": _clean(c.department),
        "handler": _clean(c.assignee), "channel": _clean(c.channel.value),
        "priority": _clean(c.priority),
        "product": (_clean(product.sku) or _clean(product.name)) if product else None,
        "batch": _clean(product.batch) if product else None,
    }
    return {d: v for d, v in values.items() if v}


def received_dimensions(c: Complaint | None) -> dict[str, str]:
    """Where the case counts as received besides ``all``/``channel``: nowhere until it has a category."""
    if c is None or not c.category:
        return {}
    dims = dimensions(c)
    return {d: dims[d] for d in CLASSIFIED_DIMENSIONS if d in dims}


def is_open(c: Complaint | None) -> bool:
    """In the open backlog: an open state, and not a repeat (a repeat is no work item of its own)."""
    return c is not None and c.status in OPEN_STATES and not c.repeat_of


# -- one transition -----------------------------------------------------------------------------------------
class _Out:
    def __init__(self, shard: int):
        self.shard, self.items = shard, []

    def add(self, key: str, dims: Mapping[str, str], measure: str, amount: int) -> None:
        if amount:
            self.items += [Increment(key, d, v, self.shard, measure, amount) for d, v in dims.items()]

    def move(self, key: str, old: Mapping[str, str], new: Mapping[str, str], measure: str) -> None:
        """-1 under each value that changed or went, +1 under each new one."""
        for d in dict.fromkeys([*old, *new]):
            if old.get(d) == new.get(d):
                continue
            if old.get(d):
                self.items.append(Increment(key, d, old[d], self.shard, measure, -1))
            if new.get(d):
                self.items.append(Increment(key, d, new[d], self.shard, measure, 1))


def increments(before: Complaint | None, after: Complaint, entries: Iterable[TimelineEntry]) -> list[Increment]:
    """What the transition ``before`` -> ``after`` (with ``entries``) adds to the counters. ``before``
    None: the case is created. Zero amounts are left out."""
    entries = list(entries)
    out = _Out(shard_of(after.complaint_id))
    received_day, today = day(after.received_at), day(after.updated_at)
    dims = dimensions(after)
    if before is None:
        out.add(received_day, {d: dims[d] for d in ("all", "channel") if d in dims}, "received", 1)
    out.move(received_day, received_dimensions(before), received_dimensions(after), "received")
    if after.repeat_of and not (before is not None and before.repeat_of):
        out.add(received_day, dims, "repeats", 1)
    for measure, amount in sorted(transition_measures(before, after, entries).items()):
        out.add(today, dims, measure, amount)
    out.move(OPEN, dimensions(before) if is_open(before) else {}, dims if is_open(after) else {}, "open")
    return out.items


def transition_measures(before: Complaint | None, after: Complaint, entries: list[TimelineEntry]) -> Counter:
    """The transition-day measures (every one but ``received``, ``repeats`` and ``open``)."""
    m: Counter = Counter()
    resolves = any(e.kind == K.STATUS_CHANGED and e.status == Status.RESOLVED for e in entries)
    timed: set[str] = set()
    for e in entries:
        d = e.details or {}
        if e.kind == K.STATUS_CHANGED:
            if e.status == Status.RESOLVED:
                m["resolved"] += 1
            elif e.status == Status.CLOSED:
                m["closed"] += 1
                m["closed_unconfirmed"] += d.get("closure") == WITHOUT_CONFIRMATION
                m["surveys_sent"] += d.get("closure") in SURVEY_CLOSURES
            elif e.status == Status.REJECTED:
                m["rejected"] += 1
            elif e.status == Status.WITHDRAWN:
                m["withdrawn"] += 1
        elif e.kind == K.MERGED and e.status == Status.MERGED:
            m["merged"] += 1
        elif e.kind == K.REOPENED:
            m["reopened"] += 1
            m["escalations"] += bool(d.get("escalated"))
        elif e.kind == K.DISPUTED:
            m["disputed"] += 1
            m["reopened"] += d.get("from") == Status.RESOLVED.value  # a resolved case back to work
        elif e.kind in (K.ESCALATED, K.SLA_BREACHED):
            m["escalations"] += 1
        elif e.kind == K.FEEDBACK and isinstance(d.get("rating"), int):
            m["feedback_count"] += 1
            m["feedback_sum"] += d["rating"]
            m["feedback_4_5"] += d["rating"] >= 4
        elif e.kind == K.CLOCK_STOPPED:
            stopped = [c for c in d.get("clocks") or [] if isinstance(c, dict) and c.get("name")]
            for c in stopped:
                m[f"sla_{clock_measure(c['name'])}_{'met' if c.get('met') is True else 'missed'}"] += 1
            event = d.get("event")
            # the first response once per write; a resolution's time only when the write resolves
            # (a rejection or withdrawal stops the clocks too, but resolves nothing)
            if event in DURATIONS and event not in timed and (event == "first_response" or resolves):
                timed.add(event)
                _duration(m, event, e.at, after, [c["name"] for c in stopped])
    m.update(compensation(before, after))
    return Counter({k: int(v) for k, v in m.items() if v})


def _duration(m: Counter, event: str, at: datetime, after: Complaint, stopped: list[str]) -> None:
    """Calendar time from receipt; business time is the clock's own consumed time (its calendar's
    working time, pauses while waiting on the customer left out)."""
    seconds = max(0.0, (at - after.received_at).total_seconds())
    clocks = {c.name: c for c in after.clocks}
    clock = clocks.get(event) if event in stopped else None
    clock = clock or next((clocks[n] for n in stopped if n in clocks), None)
    m[f"{event}_count"] += 1
    m[f"{event}_sum_s"] += round(seconds)
    if clock is not None:
        m[f"{event}_bus_sum_s"] += round(clock.consumed_seconds)
    m[f"{event}_h{bucket(seconds)}"] += 1


def in_force(plan: ResolutionPlan | None) -> bool:
    """The customer can see ``plan`` and it still stands (the ledger's rule: :func:`shared.ledger.visible_since`)."""
    from shared.ledger import visible_since

    return plan is not None and plan.state != "superseded" and visible_since(plan) is not None


def compensation(before: Complaint | None, after: Complaint) -> Counter:
    """``comp_<CUR>_cents``: refund + compensation of a plan the customer now sees, negative for a
    plan they had seen and that no longer stands - the lines :mod:`shared.ledger` books and reverses."""
    from shared.ledger import lines_for

    m: Counter = Counter()
    old = before.plan if before is not None else None
    new = after.plan
    same = in_force(old) and in_force(new) and old.plan_id == new.plan_id
    if in_force(new) and not same:
        for line in lines_for(after, new, after.updated_at):
            m[f"comp_{line.currency}_cents"] += cents(line.amount)
    if in_force(old) and not same:
        for line in lines_for(before, old, after.updated_at):
            m[f"comp_{line.currency}_cents"] -= cents(line.amount)
    return m


# -- the case before, when the caller did not give it ---------------------------------------------------------
_FROM_KINDS = (K.STATUS_CHANGED, K.MERGED, K.SPLIT, K.REOPENED, K.DISPUTED)


def previous(after: Complaint, entries: Iterable[TimelineEntry]) -> Complaint:
    """The case as it was before the write of ``after`` with ``entries``, as far as the counters need
    it, read from what the entries say changed: the status (``from``), the classification (a first
    classification, a correction, a cluster's priority floor), the department and handler (routing,
    assignment, transfer), the plan (shown, approved, superseded by an ending). A plan superseded by a
    new proposal cannot be told from the entries: pass the case before (``save(before=...)``)."""
    entries = list(entries)
    kinds = {e.kind for e in entries}
    changes: dict[str, Any] = {"version": max(1, after.version - 1), "status": _previous_status(after, entries)}
    if K.CLASSIFIED in kinds:
        changes.update(category=None, priority=None, repeat_of=None, needs_triage=False)
    if K.ROUTED in kinds:
        changes["department"] = None
    handler_known = False
    for e in entries:
        d = e.details or {}
        if e.kind == K.CLASSIFICATION_CORRECTED and isinstance(d.get("from"), dict):
            changes.update(category=d["from"].get("category"), priority=d["from"].get("priority"))
        elif e.kind == K.CLUSTER_LINKED and "priority_from" in d:
            changes["priority"] = d["priority_from"]
        elif e.kind == K.TRANSFERRED and "from_department" in d:
            changes["department"] = d["from_department"]
            if not handler_known:
                changes["assignee"], handler_known = d.get("from_handler"), True
        elif e.kind in (K.ASSIGNED, K.TRANSFERRED) and "previous_handler" in d and not handler_known:
            changes["assignee"], handler_known = d.get("previous_handler"), True
        elif e.kind == K.FEEDBACK:
            changes["feedback"] = None
    changes["plan"] = _previous_plan(after.plan, entries, kinds)
    return after.model_copy(update=changes)


def _previous_status(after: Complaint, entries: list[TimelineEntry]) -> Status:
    for e in entries:
        source = (e.details or {}).get("from")
        if e.kind in _FROM_KINDS and source in Status.__members__.values():
            return Status(source)
        if e.kind == K.CLASSIFIED:
            return Status.RECEIVED
    return after.status


def _previous_plan(plan: ResolutionPlan | None, entries: list[TimelineEntry], kinds: set) -> ResolutionPlan | None:
    if plan is None:
        return None
    if plan.state == "superseded":  # an ending withdrew it: it stood until now
        pending = plan.approval.required and plan.approval.decided_at is None
        return plan.model_copy(update={"state": "pending_approval" if pending else "proposed"})
    shown = any(e.kind == K.PLAN_PROPOSED and e.visibility == Visibility.PUBLIC
                and (e.details or {}).get("plan_id") == plan.plan_id for e in entries)
    if shown:  # shown now: approved (it waited), or proposed (the plan before it is not in the entries)
        return plan.model_copy(update={"state": "pending_approval"}) if K.PLAN_APPROVED in kinds else None
    return plan


# -- replaying a case's timeline (the rebuild) -------------------------------------------------------------------
def replay(case: Complaint, creation: list[TimelineEntry], writes: list[list[TimelineEntry]]) -> list[Increment]:
    """Every increment of a case's life, from its timeline: ``creation`` (the entries written with the
    case) and ``writes`` (each later write's entries, oldest first). The case is walked from an
    intake-time copy of ``case`` through each write, tracking what the entries say (status, category
    and priority, department, handler, the plan shown), and each step goes through :func:`increments`
    like the live write did. What cannot be read from the timeline comes from ``case`` as it is now:
    channel, product, received time, the SLA clocks (a resolution's business time is that of the
    latest stop), a value an entry does not name. A write with no entries changes nothing here."""
    state = case.model_copy(update={
        "version": 1, "status": Status.RECEIVED, "category": None, "priority": None, "department": None,
        "assignee": None, "repeat_of": None, "plan": None, "feedback": None, "updated_at": case.received_at})
    created = advance(state, creation, case) if creation else state
    out = increments(None, created, creation)
    state = created
    for entries in writes:
        if not entries:
            continue
        after = advance(state, entries, case)
        if not all(e.kind in (K.REPEAT_RECEIVED, K.ACKNOWLEDGED) for e in entries):
            # a repeat's priority raise of its original is written beside the repeat's own write:
            # the live counters never see it (the case's later writes carry the raised priority)
            out += increments(state, after, entries)
        state = after
    return out


def advance(state: Complaint, entries: list[TimelineEntry], final: Complaint) -> Complaint:
    """``state`` after a write of ``entries`` (see :func:`replay`)."""
    c: dict[str, Any] = {"version": state.version + 1, "updated_at": max(e.at for e in entries)}
    plan = state.plan
    for e in entries:
        d = e.details or {}
        if e.kind == K.CLASSIFIED:
            level = d.get("priority")
            level = level.get("level") if isinstance(level, dict) else level
            repeat = d.get("repeat") if isinstance(d.get("repeat"), dict) else None
            c.update(status=e.status or Status.CLASSIFIED, category=d.get("category") or final.category,
                     priority=level or final.priority,
                     repeat_of=(repeat.get("repeat_of") or final.repeat_of) if repeat else None)
        elif e.kind in (K.STATUS_CHANGED, K.MERGED, K.SPLIT) and e.status is not None:
            c["status"] = e.status
        elif e.kind == K.CLASSIFICATION_CORRECTED and isinstance(d.get("to"), dict):
            c.update(category=d["to"].get("category"), priority=d["to"].get("priority"))
        elif e.kind in (K.CLUSTER_LINKED, K.REPEAT_RECEIVED) and d.get("priority_to"):
            c["priority"] = d["priority_to"]
        elif e.kind == K.ROUTED:
            c["department"] = d.get("department") or final.department
        elif e.kind == K.TRANSFERRED and "to_department" in d:
            c.update(department=d["to_department"], assignee=None)
        elif e.kind in (K.ASSIGNED, K.TRANSFERRED) and d.get("handler"):
            c["assignee"] = d["handler"]
        elif e.kind == K.PLAN_PROPOSED and d.get("plan_id"):
            plan = _replayed_plan(e, final)
        elif e.kind == K.PLAN_REJECTED and plan is not None:
            plan = plan.model_copy(update={"state": "rejected"})
        elif e.kind == K.CONFIRMED and plan is not None and plan.state == "proposed":
            plan = plan.model_copy(update={"state": "accepted"})
        elif e.kind == K.DISPUTED and plan is not None and plan.state in ("proposed", "accepted"):
            plan = plan.model_copy(update={"state": "disputed"})
    if c.get("status") in (Status.REJECTED, Status.WITHDRAWN, Status.MERGED) and plan is not None \
            and plan.state not in ("rejected", "superseded"):
        plan = plan.model_copy(update={"state": "superseded"})  # shared.workflow.retire_plan
    c["plan"] = plan
    return state.model_copy(update=c)


def _replayed_plan(e: TimelineEntry, final: Complaint) -> ResolutionPlan:
    d = e.details or {}
    shown = e.visibility == Visibility.PUBLIC
    if final.plan is not None and final.plan.plan_id == d["plan_id"]:
        components = final.plan.components
    else:
        components = [PlanComponent.model_validate(c) for c in d.get("components") or []]
    return ResolutionPlan(plan_id=d["plan_id"], components=components, explanation=e.text or "",
                          proposed_by=e.actor, proposed_at=e.at, state="proposed" if shown else "pending_approval",
                          approval=PlanApproval(required=not shown))

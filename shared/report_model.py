"""The report: every figure of a period, computed from the daily counters (pure Python, no AWS calls).

Input: what ``shared.stats_store.StatsStore.read_period(first_day, last_day)`` returns for the period and
for the previous one - ``{day: {(dimension, value): {measure: number}}}``, shards already summed, where a
month's roll-up stands for its days as one entry (keyed by its first day, with the days' own figures for
the daily rows in ``series``). A month's report therefore reads dimension values items (plus the days
since the last roll-up), whatever the number of complaints.

:func:`build_report` gives a :class:`Report`; ``Report.as_json()`` is the body of ``GET /staff/reports``
(docs/reports.md), and the HTML email, the CSV and the XLSX files are rendered from the same object.

How each figure is made (the counters are documented in shared/stats.py and docs/reports.md):

* counts (``received``, ``resolved``, ``closed``, ``closed_unconfirmed``, ``reopened``,
  ``escalations``, ``repeats``): sums over the period's days;
* ``open_backlog``: the ``open_eod`` snapshot of the latest day of the period that has one;
* ``first_response_median_h`` / ``_p90_h`` (and ``resolution_...``): quantiles of the calendar-time
  histograms (``<name>_h<i>``: bucket i holds durations in (B[i-1], B[i]] of
  ``shared.stats.DURATION_BUCKETS_S``, 1 minute x sqrt(2)^i), interpolated geometrically within the
  bucket that holds the quantile (``shared.stats.quantile``). The true quantile lies in that bucket, so
  it is at most a factor sqrt(2) away - under 41 % (:func:`histogram_error_bound`); a quantile in the
  open last bucket (beyond about 129 days) is reported as that bucket's lower bound;
* ``..._business_avg_h``: ``<name>_bus_sum_s / <name>_count`` (business time: the seconds the SLA
  clock consumed, i.e. working time of the department's calendar);
* ``sla_compliance``: met / (met + missed) over the internal clocks (``first_response``,
  ``resolution``) stopped in the period; every clock, regulatory ones included, is in ``sla``;
* ``satisfaction_avg`` = feedback_sum / feedback_count, ``satisfaction_4_5_share`` = feedback_4_5 /
  feedback_count, ``survey_response_rate`` = feedback_count / surveys_sent (answers and surveys of
  the same period; an answer to last period's survey counts in this one);
* ``compensation``: per currency, ``comp_<CUR>_cents`` summed, as a decimal string;
* ``change`` = value - previous (in the measure's own unit; None when either is unknown).

Scope: the company (the ``all`` items; every dimension can be broken down) or one or more departments
(a lead's). The counters are kept per single dimension, so a department's totals, days, SLA clocks
and compensation are exact (its ``department#<id>`` items), but its split by category, handler, channel
... is not counted anywhere: a scoped report answers ``by.department`` only and lists the other
requested dimensions under ``unavailable_dimensions`` rather than guessing.
"""
from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterable, Literal, Mapping, Sequence

from pydantic import BaseModel, Field

DIMENSIONS = ("category", "department", "handler", "channel", "priority", "product", "batch")
COUNTS = ("received", "resolved", "closed", "closed_unconfirmed", "reopened", "escalations", "repeats")
MEASURES = (*COUNTS, "open_backlog",
            "first_response_median_h", "first_response_p90_h", "first_response_business_avg_h",
            "resolution_median_h", "resolution_p90_h", "resolution_business_avg_h",
            "sla_compliance", "satisfaction_avg", "satisfaction_4_5_share", "survey_response_rate")
# how each measure reads in the report (HTML, CSV, XLSX); zh and en
MEASURE_LABELS: dict[str, dict[str, str]] = {
    "received": {"en": "Received", "zh": "新收投诉"},
    "resolved": {"en": "Resolved", "zh": "已解决"},
    "closed": {"en": "Closed", "zh": "已结案"},
    "closed_unconfirmed": {"en": "Closed without confirmation", "zh": "未经确认结案"},
    "reopened": {"en": "Reopened", "zh": "重新打开"},
    "escalations": {"en": "Escalations", "zh": "升级次数"},
    "repeats": {"en": "Repeat complaints", "zh": "重复投诉"},
    "open_backlog": {"en": "Open backlog", "zh": "未结积压"},
    "first_response_median_h": {"en": "First response, median (h)", "zh": "首次响应中位数（小时）"},
    "first_response_p90_h": {"en": "First response, p90 (h)", "zh": "首次响应 P90（小时）"},
    "first_response_business_avg_h": {"en": "First response, business avg (h)", "zh": "首次响应工作时间均值（小时）"},
    "resolution_median_h": {"en": "Resolution, median (h)", "zh": "解决时长中位数（小时）"},
    "resolution_p90_h": {"en": "Resolution, p90 (h)", "zh": "解决时长 P90（小时）"},
    "resolution_business_avg_h": {"en": "Resolution, business avg (h)", "zh": "解决工作时间均值（小时）"},
    "sla_compliance": {"en": "SLA compliance", "zh": "SLA 达标率"},
    "satisfaction_avg": {"en": "Satisfaction (1-5)", "zh": "满意度（1-5）"},
    "satisfaction_4_5_share": {"en": "Rated 4-5", "zh": "4-5 分占比"},
    "survey_response_rate": {"en": "Survey response rate", "zh": "问卷回复率"},
}
SHARES = ("sla_compliance", "satisfaction_4_5_share", "survey_response_rate")
HOURS = tuple(m for m in MEASURES if m.endswith("_h"))
INTERNAL_CLOCKS = ("first_response", "resolution")
OVERALL = ("all", "-")
MAX_PERIOD_DAYS = 366
_SLA = re.compile(r"^sla_(?P<clock>[a-z0-9_]+)_(?P<outcome>met|missed)$")
_COMP = re.compile(r"^comp_(?P<currency>[A-Z]{3})_cents$")

Counters = Mapping[Any, Mapping[tuple[str, str], Mapping[str, Any]]]
Number = int | float


class PeriodError(ValueError):
    """A period the API cannot read (400)."""


# -- periods -----------------------------------------------------------------------------------------
class Period(BaseModel):
    first: date
    last: date
    label: str
    kind: Literal["month", "month_to_date", "week", "day", "range"] = "range"

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def previous(self) -> "Period":
        """The period to compare with: the previous calendar month for a month (its first days for a
        month so far), the previous ISO week for a week, else the same number of days just before."""
        if self.kind in ("month", "month_to_date"):
            end_of_previous = self.first - timedelta(days=1)
            first = end_of_previous.replace(day=1)
            if self.kind == "month":
                return Period(first=first, last=end_of_previous, label=first.strftime("%Y-%m"), kind="month")
            last = min(first + (self.last - self.first), end_of_previous)
            return Period(first=first, last=last, label=f"{first.isoformat()}..{last.isoformat()}")
        length = (self.last - self.first).days + 1
        first, last = self.first - timedelta(days=length), self.first - timedelta(days=1)
        if self.kind == "week":
            year, week, _ = first.isocalendar()
            return Period(first=first, last=last, label=f"{year}-W{week:02d}", kind="week")
        if self.kind == "day":
            return Period(first=first, last=last, label=first.isoformat(), kind="day")
        return Period(first=first, last=last, label=f"{first.isoformat()}..{last.isoformat()}")

    def as_json(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "label": self.label}


def month_period(year: int, month: int) -> Period:
    last = calendar.monthrange(year, month)[1]
    return Period(first=date(year, month, 1), last=date(year, month, last), label=f"{year}-{month:02d}",
                  kind="month")


def week_period(day: date) -> Period:
    """The ISO week (Monday to Sunday) holding ``day``."""
    year, week, weekday = day.isocalendar()
    first = day - timedelta(days=weekday - 1)
    return Period(first=first, last=first + timedelta(days=6), label=f"{year}-W{week:02d}", kind="week")


def day_period(day: date) -> Period:
    return Period(first=day, last=day, label=day.isoformat(), kind="day")


def parse_period(text: str | None, today: date) -> Period:
    """``2026-11`` (a month), ``2026-W47`` (an ISO week), ``2026-11-22`` (a day),
    ``2026-11-01..2026-11-30`` (a range); None or empty: the current month so far."""
    if not text or not text.strip():
        return Period(first=today.replace(day=1), last=today, label=today.strftime("%Y-%m"), kind="month_to_date")
    text = text.strip()
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            return month_period(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-W(\d{2})", text):
            return week_period(date.fromisocalendar(int(m[1]), int(m[2]), 1))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return day_period(date.fromisoformat(text))
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if last < first:
                raise PeriodError(f"the period {text!r} ends before it starts")
            if (last - first).days + 1 > MAX_PERIOD_DAYS:
                raise PeriodError(f"a period is at most {MAX_PERIOD_DAYS} days long")
            return Period(first=first, last=last, label=text, kind="range")
    except PeriodError:
        raise
    except ValueError:
        raise PeriodError(f"{text!r} is not a date this calendar has") from None
    raise PeriodError(f"{text!r} is not a period: use 2026-11, 2026-W47, 2026-11-22 or 2026-11-01..2026-11-30")


# -- the report ------------------------------------------------------------------------------------
class Scope(BaseModel):
    """The company (``departments`` None) or some departments (a lead's report)."""

    departments: list[str] | None = None

    @property
    def department(self) -> str | None:
        return self.departments[0] if self.departments and len(self.departments) == 1 else None

    def as_json(self) -> dict[str, Any]:
        return {"department": self.department, "departments": self.departments}


class Measure(BaseModel):
    value: Number | None = None
    previous: Number | None = None
    change: Number | None = None


class SlaRow(BaseModel):
    clock: str
    kind: Literal["internal", "regulatory"]
    met: int
    missed: int
    compliance: float | None


class DayRow(BaseModel):
    day: date
    received: int = 0
    resolved: int = 0
    closed: int = 0


class Report(BaseModel):
    period: Period
    previous: Period
    scope: Scope
    totals: dict[str, Measure]
    by: dict[str, list[dict[str, Any]]] = {}
    daily: list[DayRow] = []
    sla: list[SlaRow] = []
    compensation: dict[str, str] = {}
    scoped_dimensions: list[str] = []
    unavailable_dimensions: list[str] = []
    items_read: int = 0
    histogram_error: dict[str, str] = Field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The body of ``GET /staff/reports`` (docs/reports.md)."""
        return {
            "period": self.period.as_json(),
            "previous": {"from": self.previous.first.isoformat(), "to": self.previous.last.isoformat()},
            "scope": self.scope.as_json(),
            "totals": {m: self.totals[m].model_dump() for m in MEASURES},
            "by": self.by,
            "daily": [{"day": d.day.isoformat(), "received": d.received, "resolved": d.resolved, "closed": d.closed}
                      for d in self.daily],
            "sla": [s.model_dump() for s in self.sla],
            "compensation": self.compensation,
            "scoped_dimensions": self.scoped_dimensions,
            "unavailable_dimensions": self.unavailable_dimensions,
            "items_read": self.items_read,
        }


def build_report(counters: Counters, period: Period, previous_counters: Counters, scope: Scope | None = None,
                 dimensions: Sequence[str] | None = None, *, previous: Period | None = None) -> Report:
    """The report of ``period`` for ``scope`` (default: the company), breaking down ``dimensions``
    (default: all of them). ``counters`` and ``previous_counters`` are ``StatsStore.read`` answers for
    the period and for ``previous`` (default ``period.previous()``)."""
    scope = scope or Scope()
    previous = previous or period.previous()
    wanted = [d for d in DIMENSIONS if dimensions is None or d in dimensions]
    current_days, previous_days = _by_day(counters, period), _by_day(previous_counters, previous)
    keys = _scope_keys(scope)

    now_cell = _sum(current_days, keys)
    before_cell = _sum(previous_days, keys)
    now_values = measures_of(now_cell, _open_backlog(current_days, keys))
    before_values = measures_of(before_cell, _open_backlog(previous_days, keys))
    totals = {m: Measure(value=now_values[m], previous=before_values[m],
                         change=_change(now_values[m], before_values[m], m)) for m in MEASURES}

    if scope.departments is None:
        answered, unavailable = wanted, []
    else:
        answered = [d for d in wanted if d == "department"]
        unavailable = [d for d in wanted if d != "department"]
    by: dict[str, list[dict[str, Any]]] = {}
    for dimension in answered:
        values = sorted({v for items in current_days.values() for (d, v) in items if d == dimension})
        if scope.departments is not None:
            values = [v for v in values if v in scope.departments]
        rows = []
        for value in values:
            key = [(dimension, value)]
            row = measures_of(_sum(current_days, key), _open_backlog(current_days, key))
            rows.append({"value": value, **row})
        by[dimension] = sorted(rows, key=lambda r: (-(r["received"] or 0), r["value"]))

    series, spanned = _series(counters)
    daily = []
    for day in period.days():
        if day in spanned:  # inside a month roll-up: the day's own figures are its series
            cell = _sum({day: series.get(day, {})}, keys)
        else:
            cell = _sum({day: current_days.get(day, {})}, keys)
        daily.append(DayRow(day=day, received=_int(cell.get("received")), resolved=_int(cell.get("resolved")),
                            closed=_int(cell.get("closed"))))
    return Report(period=period, previous=previous, scope=scope, totals=totals, by=by, daily=daily,
                  sla=sla_rows(now_cell), compensation=compensation_of(now_cell), scoped_dimensions=answered,
                  unavailable_dimensions=unavailable, histogram_error=histogram_error_bound())


# -- one cell: the measures of summed counters -------------------------------------------------------
def measures_of(cell: Mapping[str, Any], open_backlog: int | None) -> dict[str, Number | None]:
    """Every measure of one cell (a scope or a dimension value, its days summed)."""
    from shared.stats import histogram, quantile

    out: dict[str, Number | None] = {m: _int(cell.get(m)) for m in COUNTS}
    out["open_backlog"] = open_backlog
    for name in ("first_response", "resolution"):
        counts = histogram(cell, name)
        out[f"{name}_median_h"] = _hours(quantile(counts, 0.5))
        out[f"{name}_p90_h"] = _hours(quantile(counts, 0.9))
        count = _num(cell.get(f"{name}_count"))
        out[f"{name}_business_avg_h"] = (_hours(_num(cell.get(f"{name}_bus_sum_s")) / count) if count else None)
    met = sum(_num(cell.get(f"sla_{c}_met")) for c in INTERNAL_CLOCKS)
    missed = sum(_num(cell.get(f"sla_{c}_missed")) for c in INTERNAL_CLOCKS)
    out["sla_compliance"] = _share(met, met + missed)
    answers = _num(cell.get("feedback_count"))
    out["satisfaction_avg"] = round(_num(cell.get("feedback_sum")) / answers, 2) if answers else None
    out["satisfaction_4_5_share"] = _share(_num(cell.get("feedback_4_5")), answers)
    out["survey_response_rate"] = _share(answers, _num(cell.get("surveys_sent")))
    return out


def histogram_error_bound() -> dict[str, str]:
    """How far an interpolated quantile can be from the true one: the true value lies in the same bucket,
    whose bounds differ by a factor of sqrt(2) (``shared.stats.DURATION_BUCKETS_S``), so about 41 % off at most."""
    from shared.stats import DURATION_BUCKETS_S as bounds

    worst = max(bounds[i] / bounds[i - 1] for i in range(1, len(bounds)))
    return {"rule": "the true quantile lies in the same bucket as the interpolated one",
            "max_relative_error": f"{worst - 1:.2f}", "open_bucket_from_h": f"{bounds[-1] / 3600:g}"}


def sla_rows(cell: Mapping[str, Any]) -> list[SlaRow]:
    """Met/missed per clock (internal first, then the regulatory ones by name)."""
    found: dict[str, dict[str, int]] = {}
    for key, value in cell.items():
        if m := _SLA.match(key):
            found.setdefault(m["clock"], {"met": 0, "missed": 0})[m["outcome"]] += _int(value)
    order = [c for c in INTERNAL_CLOCKS if c in found] + sorted(c for c in found if c not in INTERNAL_CLOCKS)
    return [SlaRow(clock=c, kind="internal" if c in INTERNAL_CLOCKS else "regulatory", met=found[c]["met"],
                   missed=found[c]["missed"], compliance=_share(found[c]["met"], found[c]["met"] + found[c]["missed"]))
            for c in order]


def compensation_of(cell: Mapping[str, Any]) -> dict[str, str]:
    """``{"CNY": "1234.50"}``: refunds and compensation the customers were offered, reversals netted."""
    out = {}
    for key, value in sorted(cell.items()):
        if m := _COMP.match(key):
            out[m["currency"]] = str((Decimal(str(value)) / 100).quantize(Decimal("0.01")))
    return out


# -- helpers -----------------------------------------------------------------------------------------
def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _by_day(counters: Counters, period: Period) -> dict[date, Mapping[tuple[str, str], Mapping[str, Any]]]:
    """The counters of the period's days only, keyed by date."""
    out = {}
    for day, items in (counters or {}).items():
        d = _day(day)
        if period.first <= d <= period.last:
            out[d] = items
    return out


def _series(counters: Counters) -> tuple[dict[date, Mapping[tuple[str, str], Mapping[str, Any]]], set[date]]:
    """The daily figures of the days a roll-up stands for (``StatsStore.read_period``), and those days."""
    series = {_day(d): cells for d, cells in (getattr(counters, "series", None) or {}).items()}
    spanned: set[date] = set()
    for first, last in getattr(counters, "spans", None) or []:
        day, end = _day(first), _day(last)
        while day <= end:
            spanned.add(day)
            day += timedelta(days=1)
    return series, spanned


def _scope_keys(scope: Scope) -> list[tuple[str, str]]:
    if scope.departments is None:
        return [OVERALL]
    return [("department", d) for d in scope.departments]


def _sum(days: Mapping[date, Mapping[tuple[str, str], Mapping[str, Any]]],
         keys: Iterable[tuple[str, str]]) -> dict[str, Number]:
    keys = list(keys)
    out: dict[str, Number] = {}
    for items in days.values():
        for key in keys:
            for measure, value in (items.get(key) or {}).items():
                if measure == "open_eod":
                    continue
                out[measure] = out.get(measure, 0) + _num(value)
    return out


def _open_backlog(days: Mapping[date, Mapping[tuple[str, str], Mapping[str, Any]]],
                  keys: Iterable[tuple[str, str]]) -> int | None:
    """The open cases at the end of the latest day with a snapshot (``open_eod``), summed over ``keys``."""
    snapshot_days = [d for d, items in days.items() if any("open_eod" in m for m in items.values())]
    if not snapshot_days:
        return None
    items = days[max(snapshot_days)]
    return sum(_int((items.get(k) or {}).get("open_eod")) for k in keys)


def _num(value: Any) -> Number:
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return value
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d)


def _int(value: Any) -> int:
    return int(_num(value))


def _share(part: Number, whole: Number) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _change(value: Number | None, previous: Number | None, measure: str) -> Number | None:
    if value is None or previous is None:
        return None
    diff = value - previous
    return round(diff, 4 if measure in SHARES else 2) if isinstance(diff, float) else diff

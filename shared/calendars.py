"""Business time for SLA clocks: working seconds between instants, and instants N working seconds on.

Model
-----
A :class:`BusinessCalendar` describes working time in one place:

* an IANA time zone;
* weekly working hours: per weekday (``mon`` .. ``sun``) a list of local ``"HH:MM-HH:MM"``
  intervals, sorted and non-overlapping, ``"24:00"`` allowed as an end (no interval crosses midnight);
* public holidays. For mainland China (``"CN"``) the ``chinese_calendar`` package gives the official
  holidays *and* the make-up working days (调休); for years it has no data for, the ``holidays``
  library is used instead (see :meth:`BusinessCalendar.source_for`). Every other country uses the
  ``holidays`` library (holidays, and the weekend working days it knows, if any);
* company overrides: ``extra_holidays`` (closed) and ``extra_working_days`` (open).

A local date is a working day by the first rule that applies: an extra working day (yes); an extra
holiday (no); a public holiday (no); an official make-up working day (yes); otherwise, yes when its
weekday has hours. A working day whose weekday has no hours (a make-up Saturday) uses Monday's hours,
or those of the first day of the week that has hours.

Working intervals are built per local date with ``datetime.combine(day, t, tzinfo=zone)`` and
converted to UTC, so hours are local wall-clock hours across DST changes. A local time that does not
exist (spring-forward gap) or occurs twice (fall-back) is resolved by zoneinfo's ``fold=0`` rule: the
UTC offset in force *before* the transition. An interval that this empties or makes overlap the
previous one is clipped.

:class:`WallClock` has the same interface over plain elapsed (24/7) time, for calendar-time policies.

All datetimes in and out are timezone-aware (naive input raises ``ValueError``); outputs are UTC.
``holidays`` and ``chinese_calendar`` are imported lazily, only for calendars that name a country.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GUARD_DAYS = 3 * 366  # consecutive days without working time before giving up
_DAY = timedelta(days=1)
_INTERVAL = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")

Interval: TypeAlias = tuple[datetime, datetime]


def _parse_interval(text: str) -> tuple[int, int]:
    """``"09:00-18:00"`` -> ``(540, 1080)``: minutes after local midnight; the end may be 24:00 (1440)."""
    match = _INTERVAL.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not of the form HH:MM-HH:MM")
    sh, sm, eh, em = map(int, match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em):
        raise ValueError(f"{text!r} has an invalid time (00:00 to 23:59, or 24:00 as an end)")
    start, end = sh * 60 + sm, eh * 60 + em
    if start >= end:
        raise ValueError(f"{text!r} does not end after it starts (intervals cannot cross midnight)")
    return start, end


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: calendars need timezone-aware datetimes")
    return moment.astimezone(timezone.utc)


def _duration(seconds: float) -> timedelta:
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be finite and >= 0, got {seconds!r}")
    return timedelta(seconds=seconds)


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")


class CalendarConfig(BaseModel):
    """A department's working time: time zone, weekly hours, holidays and overrides. Built on first
    validation: functions that never read calendars do not pay for it on a cold start."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    time_zone: str = "UTC"
    working_hours: dict[str, list[str]] = Field(
        default_factory=lambda: {day: ["09:00-18:00"] for day in DAYS[:5]})
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    extra_holidays: list[date] = []
    extra_working_days: list[date] = []

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/London'") from None
        return name

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, hours: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, intervals in hours.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}: use {', '.join(DAYS)}")
            previous = (-1, -1)
            for text in intervals:
                try:
                    current = _parse_interval(text)
                except ValueError as exc:
                    raise ValueError(f"{day}: {exc}") from None
                if current[0] < previous[0]:
                    raise ValueError(f"{day}: {text!r} comes before the previous interval; sort the intervals")
                if current[0] < previous[1]:
                    raise ValueError(f"{day}: {text!r} overlaps the previous interval")
                previous = current
        if not any(hours.values()):
            raise ValueError("no working hours in the week: at least one day needs an interval")
        return hours

    @field_validator("holidays_country")
    @classmethod
    def _country_code(cls, code: str | None) -> str | None:
        return (code.strip().upper() or None) if code is not None else None

    @field_validator("holidays_subdivision")
    @classmethod
    def _subdivision_code(cls, code: str | None) -> str | None:
        return (code.strip() or None) if code is not None else None

    @model_validator(mode="after")
    def _known_holidays(self) -> CalendarConfig:
        if self.holidays_subdivision and not self.holidays_country:
            raise ValueError("holidays_subdivision needs holidays_country")
        if self.holidays_country:
            import holidays

            try:
                holidays.country_holidays(self.holidays_country, subdiv=self.holidays_subdivision)
            except NotImplementedError as exc:
                raise ValueError(f"holidays_country/holidays_subdivision unknown to the holidays "
                                 f"library: {exc}") from None
        both = sorted(set(self.extra_holidays) & set(self.extra_working_days))
        if both:
            raise ValueError(f"dates in both extra_holidays and extra_working_days: "
                             f"{', '.join(map(str, both))}")
        return self


class BusinessCalendar:
    """Working time in one place: time zone, weekly hours, holidays and make-up working days."""

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.time_zone)
        self._hours = {DAYS.index(day): tuple(map(_parse_interval, texts))
                       for day, texts in config.working_hours.items() if texts}
        self._fallback_hours = self._hours.get(0) or self._hours[min(self._hours)]
        self._extra_holidays = frozenset(config.extra_holidays)
        self._extra_working = frozenset(config.extra_working_days)
        self._public: dict[int, Any] = {}  # year -> holidays.HolidayBase
        self._sources: dict[int, str | None] = {}
        self._working = lru_cache(maxsize=8192)(self._compute_working)
        self._intervals = lru_cache(maxsize=8192)(self._compute_intervals)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.config!r})"

    # -- days ----------------------------------------------------------------------------------

    def source_for(self, year: int) -> str | None:
        """Where public holidays of ``year`` come from: "chinese_calendar", "holidays" or None (no country)."""
        if year not in self._sources:
            source = None
            if self.config.holidays_country == "CN":
                try:
                    import chinese_calendar

                    chinese_calendar.is_workday(date(year, 1, 1))
                    source = "chinese_calendar"
                except (ImportError, NotImplementedError):  # no data for that year (or not installed)
                    source = "holidays"
            elif self.config.holidays_country:
                source = "holidays"
            self._sources[year] = source
        return self._sources[year]

    def _official(self, day: date) -> bool | None:
        """True: official (make-up) working day; False: public holiday; None: an ordinary day."""
        source = self.source_for(day.year)
        if source == "chinese_calendar":
            import chinese_calendar

            closed, name = chinese_calendar.get_holiday_detail(day)
            return None if name is None else not closed
        if source == "holidays":
            public = self._public.get(day.year)
            if public is None:
                import holidays

                public = self._public[day.year] = holidays.country_holidays(
                    self.config.holidays_country, subdiv=self.config.holidays_subdivision, years=day.year)
            if day in public:
                return False
            if day in getattr(public, "weekend_workdays", ()):
                return True
        return None

    def _compute_working(self, day: date) -> bool:
        if day in self._extra_working:
            return True
        if day in self._extra_holidays:
            return False
        official = self._official(day)
        return bool(self._hours.get(day.weekday())) if official is None else official

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("is_working_day takes a local date, not a datetime")
        return self._working(day)

    def _instant(self, day: date, minutes: int) -> datetime:
        local = datetime.combine(day + timedelta(days=minutes // 1440),
                                 time(minutes % 1440 // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(timezone.utc)

    def _compute_intervals(self, day: date) -> tuple[Interval, ...]:
        if not self._working(day):
            return ()
        intervals: list[Interval] = []
        for start, end in self._hours.get(day.weekday()) or self._fallback_hours:
            a, b = self._instant(day, start), self._instant(day, end)
            if intervals:
                a = max(a, intervals[-1][1])
            if a < b:
                intervals.append((a, b))
        return tuple(intervals)

    def working_intervals(self, day: date) -> list[Interval]:
        """UTC start and end of each working interval of the local date ``day`` ([] if not working)."""
        if isinstance(day, datetime):
            raise TypeError("working_intervals takes a local date, not a datetime")
        return list(self._intervals(day))

    def _walk(self, start: datetime, until: date | None = None) -> Iterator[Interval]:
        """Working intervals in time order from the local date before ``start``'s (to ``until``)."""
        day = start.astimezone(self.zone).date() - _DAY
        idle = 0
        last = datetime.min.replace(tzinfo=timezone.utc)
        while until is None or day <= until:
            intervals = self._intervals(day)
            idle = 0 if intervals else idle + 1
            if until is None and idle > GUARD_DAYS:
                raise ValueError("no working time within 3 years")
            for a, b in intervals:
                a = max(a, last)
                if a < b:
                    yield a, b
                    last = b
            day += _DAY

    # -- arithmetic ----------------------------------------------------------------------------

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); 0 if end <= start."""
        start, end = _utc(start), _utc(end)
        total = timedelta()
        if end > start:
            for a, b in self._walk(start, until=end.astimezone(self.zone).date() + _DAY):
                if a >= end:
                    break
                if b > start:
                    total += min(b, end) - max(a, start)
        return total.total_seconds()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` working seconds have elapsed after ``start``.

        ``seconds == 0`` gives ``start`` itself, even outside working hours. The result lies in a
        working interval or at its end (never at the start of the next one). Microsecond precision:
        a positive ``seconds`` under half a microsecond gives the instant working time (re)starts.
        """
        start, remaining = _utc(start), _duration(seconds)
        if seconds == 0:
            return start
        for a, b in self._walk(start):
            if b <= start:
                continue
            a = max(a, start)
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable: _walk is endless")

    def close_of_working_day(self, start: datetime, n: int) -> datetime:
        """End of the last working interval of the n-th working day after ``start``'s local date."""
        _check_n(n)
        day = _utc(start).astimezone(self.zone).date()
        idle = 0
        while n:
            day += _DAY
            if self._intervals(day):
                n, idle = n - 1, 0
            else:
                idle += 1
                if idle > GUARD_DAYS:
                    raise ValueError("no working time within 3 years")
        return self._intervals(day)[-1][1]


class WallClock:
    """Calendar time (24/7): the same three methods over plain elapsed time, for calendar-time policies."""

    def __init__(self, time_zone: str = "UTC") -> None:
        self.zone = ZoneInfo(time_zone)

    def __repr__(self) -> str:
        return f"WallClock({self.zone.key!r})"

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(timezone.utc)

    def is_working_day(self, day: date) -> bool:
        return True

    def working_intervals(self, day: date) -> list[Interval]:
        """The whole local day, midnight to midnight, in UTC (23 or 25 hours on DST days)."""
        return [(self._midnight(day), self._midnight(day + _DAY))]

    def seconds_between(self, start: datetime, end: datetime) -> float:
        return max(0.0, (_utc(end) - _utc(start)).total_seconds())

    def add(self, start: datetime, seconds: float) -> datetime:
        return _utc(start) + _duration(seconds)

    def close_of_working_day(self, start: datetime, n: int) -> datetime:
        """The next local midnight after the n-th calendar day following ``start``'s local date."""
        _check_n(n)
        return self._midnight(_utc(start).astimezone(self.zone).date() + timedelta(days=n + 1))


Calendar: TypeAlias = BusinessCalendar | WallClock
_UTC_WALL_CLOCK = WallClock("UTC")


@lru_cache(maxsize=128)
def _calendar_from_json(text: str) -> BusinessCalendar:
    return BusinessCalendar(CalendarConfig.model_validate_json(text))


def calendar_of(config: CalendarConfig | None) -> Calendar:
    """The calendar for a config (cached per config); None means calendar time in UTC."""
    return _UTC_WALL_CLOCK if config is None else _calendar_from_json(config.model_dump_json())

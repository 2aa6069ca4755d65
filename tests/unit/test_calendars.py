"""Business-time arithmetic (shared.calendars): examples per country and DST, then properties."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.calendars import DAYS, BusinessCalendar, CalendarConfig, WallClock, calendar_of

SHANGHAI, LONDON, NEW_YORK = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
HOUR = 3600.0


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def hours(spec: list[str], days: tuple[str, ...] = DAYS[:5]) -> dict[str, list[str]]:
    return {day: spec for day in days}


PLAIN_SHANGHAI = calendar_of(CalendarConfig(time_zone="Asia/Shanghai"))
CN = calendar_of(CalendarConfig(time_zone="Asia/Shanghai", holidays_country="CN"))
GB = calendar_of(CalendarConfig(time_zone="Europe/London", working_hours=hours(["09:00-17:00"]),
                                holidays_country="GB", holidays_subdivision="ENG"))
US = calendar_of(CalendarConfig(time_zone="America/New_York", working_hours=hours(["09:00-12:00", "13:00-17:30"]),
                                holidays_country="US"))
# Saturday hours, adjacent intervals, a 24:00 end, and Sunday hours across Berlin's spring-forward gap (02:00-03:00)
DE = calendar_of(CalendarConfig(
    time_zone="Europe/Berlin", holidays_country="DE", holidays_subdivision="BE",
    working_hours={**hours(["08:00-12:00", "12:00-16:30"]), "sat": ["10:00-14:00", "20:00-24:00"],
                   "sun": ["00:00-02:30"]}))
LONDON_WALL = WallClock("Europe/London")


# -- weekly hours ---------------------------------------------------------------------------------

def test_weekend_is_skipped():
    friday_17 = at(SHANGHAI, 2026, 11, 20, 17)
    monday_10 = at(SHANGHAI, 2026, 11, 23, 10)
    assert PLAIN_SHANGHAI.add(friday_17, 2 * HOUR) == monday_10
    assert PLAIN_SHANGHAI.add(at(SHANGHAI, 2026, 11, 21, 12), HOUR) == monday_10
    assert PLAIN_SHANGHAI.seconds_between(friday_17, monday_10) == 2 * HOUR
    assert PLAIN_SHANGHAI.seconds_between(monday_10, friday_17) == 0
    assert PLAIN_SHANGHAI.source_for(2026) is None


def test_outputs_are_utc_and_zero_means_start():
    saturday = at(SHANGHAI, 2026, 11, 21, 12)
    assert PLAIN_SHANGHAI.add(saturday, 0) == saturday
    assert PLAIN_SHANGHAI.add(saturday, 0).tzinfo is timezone.utc
    assert PLAIN_SHANGHAI.add(saturday, 1).tzinfo is timezone.utc
    # the end of a day's hours, not the start of the next day's
    assert PLAIN_SHANGHAI.add(at(SHANGHAI, 2026, 11, 20, 17), HOUR) == at(SHANGHAI, 2026, 11, 20, 18)
    assert PLAIN_SHANGHAI.working_intervals(date(2026, 11, 20)) == [
        (datetime(2026, 11, 20, 1, tzinfo=timezone.utc), datetime(2026, 11, 20, 10, tzinfo=timezone.utc))]
    assert PLAIN_SHANGHAI.working_intervals(date(2026, 11, 21)) == []


def test_naive_datetimes_and_bad_arguments_are_refused():
    naive = datetime(2026, 11, 20, 17)
    for call in (lambda: CN.add(naive, 1), lambda: CN.seconds_between(naive, naive),
                 lambda: CN.close_of_working_day(naive, 1), lambda: LONDON_WALL.add(naive, 1),
                 lambda: LONDON_WALL.seconds_between(naive, naive)):
        with pytest.raises(ValueError, match="naive"):
            call()
    start = at(SHANGHAI, 2026, 11, 20, 17)
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds"):
            CN.add(start, bad)
    with pytest.raises(ValueError, match="n must be"):
        CN.close_of_working_day(start, 0)


def test_company_closures_and_extra_working_days():
    cal = BusinessCalendar(CalendarConfig(
        time_zone="Asia/Shanghai", working_hours={"mon": ["09:00-12:00"], "tue": ["10:00-18:00"]},
        extra_holidays=[date(2026, 11, 24)], extra_working_days=[date(2026, 11, 22)]))
    assert not cal.is_working_day(date(2026, 11, 24))  # a Tuesday closure
    assert cal.is_working_day(date(2026, 11, 22))  # a Sunday opened: Monday's hours
    assert cal.working_intervals(date(2026, 11, 22)) == [
        (at(SHANGHAI, 2026, 11, 22, 9), at(SHANGHAI, 2026, 11, 22, 12))]
    assert cal.add(at(SHANGHAI, 2026, 11, 21, 23), 4 * HOUR) == at(SHANGHAI, 2026, 11, 23, 10)
    # an extra working day beats a public holiday
    cn = BusinessCalendar(CalendarConfig(time_zone="Asia/Shanghai", holidays_country="CN",
                                         extra_working_days=[date(2026, 10, 1)]))
    assert cn.is_working_day(date(2026, 10, 1)) and not cn.is_working_day(date(2026, 10, 2))


def test_no_working_time_within_three_years_is_an_error():
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(52 * 4)]
    cal = BusinessCalendar(CalendarConfig(working_hours={"mon": ["09:00-10:00"]}, extra_holidays=mondays))
    start = at(timezone.utc, 2026, 1, 1)
    with pytest.raises(ValueError, match="no working time within 3 years"):
        cal.add(start, 1)
    with pytest.raises(ValueError, match="no working time within 3 years"):
        cal.close_of_working_day(start, 1)
    assert cal.seconds_between(start, at(timezone.utc, 2029, 1, 1)) == 0


# -- mainland China: holidays and make-up working days (调休) -------------------------------------------

def test_china_2026_holidays_and_make_up_days():
    assert CN.source_for(2026) == "chinese_calendar"
    assert not any(CN.is_working_day(date(2026, 10, d)) for d in range(1, 8))  # National Day
    assert not any(CN.is_working_day(date(2026, 2, d)) for d in range(15, 24))  # Spring Festival
    for make_up in (date(2026, 9, 20), date(2026, 10, 10), date(2026, 2, 14), date(2026, 2, 28)):
        assert make_up.weekday() >= 5 and CN.is_working_day(make_up), make_up
    assert not CN.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    # a make-up Saturday takes Monday's hours
    assert CN.working_intervals(date(2026, 10, 10)) == [
        (at(SHANGHAI, 2026, 10, 10, 9), at(SHANGHAI, 2026, 10, 10, 18))]


def test_china_add_across_holidays():
    assert CN.add(at(SHANGHAI, 2026, 9, 30, 17), 2 * HOUR) == at(SHANGHAI, 2026, 10, 8, 10)
    assert CN.add(at(SHANGHAI, 2026, 2, 13, 17), 2 * HOUR) == at(SHANGHAI, 2026, 2, 14, 10)  # make-up Saturday
    assert CN.add(at(SHANGHAI, 2026, 2, 14, 17), 2 * HOUR) == at(SHANGHAI, 2026, 2, 24, 10)
    assert CN.seconds_between(at(SHANGHAI, 2026, 9, 30, 17), at(SHANGHAI, 2026, 10, 8, 10)) == 2 * HOUR
    # 7 working days from Monday 28 Sep: 29, 30 Sep, 8, 9, 10 (Saturday), 12, 13 Oct
    assert CN.close_of_working_day(at(SHANGHAI, 2026, 9, 28, 10), 7) == at(SHANGHAI, 2026, 10, 13, 18)


def test_china_falls_back_to_holidays_library_without_chinese_calendar_data():
    assert CN.source_for(2027) == "holidays"
    assert not any(CN.is_working_day(date(2027, 10, d)) for d in range(1, 6))
    assert CN.is_working_day(date(2027, 10, 11))


# -- other countries -----------------------------------------------------------------------------------

def test_england_christmas_and_boxing_day():
    assert not GB.is_working_day(date(2026, 12, 25))
    assert not GB.is_working_day(date(2026, 12, 28))  # Boxing Day (26th, a Saturday) observed
    assert GB.is_working_day(date(2026, 12, 24)) and GB.is_working_day(date(2026, 12, 29))
    assert GB.add(at(LONDON, 2026, 12, 24, 16), 2 * HOUR) == at(LONDON, 2026, 12, 29, 10)
    assert GB.close_of_working_day(at(LONDON, 2026, 12, 23, 12), 2) == at(LONDON, 2026, 12, 29, 17)
    assert GB.source_for(2026) == "holidays"


def test_us_thanksgiving_with_split_hours():
    assert not US.is_working_day(date(2026, 11, 26))
    assert US.is_working_day(date(2026, 11, 27))
    # half an hour left on Wednesday, then Friday (the lunch hour does not count)
    assert US.add(at(NEW_YORK, 2026, 11, 25, 17), HOUR) == at(NEW_YORK, 2026, 11, 27, 9, 30)
    assert US.add(at(NEW_YORK, 2026, 11, 27, 11), 2 * HOUR) == at(NEW_YORK, 2026, 11, 27, 14)
    assert US.seconds_between(at(NEW_YORK, 2026, 11, 27), at(NEW_YORK, 2026, 11, 28)) == 7.5 * HOUR


def test_close_of_working_day_in_london():
    # received Friday 15:00: Mon 23, Tue 24, Wed 25
    assert GB.close_of_working_day(at(LONDON, 2026, 11, 20, 15), 3) == at(LONDON, 2026, 11, 25, 17)
    assert GB.close_of_working_day(at(LONDON, 2026, 11, 21, 15), 1) == at(LONDON, 2026, 11, 23, 17)


# -- DST -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cal,zone,change", [(GB, LONDON, date(2026, 3, 29)), (GB, LONDON, date(2026, 10, 25)),
                                              (US, NEW_YORK, date(2026, 3, 8)), (US, NEW_YORK, date(2026, 11, 1))])
def test_working_days_keep_their_length_across_dst(cal, zone, change):
    day_after = change + timedelta(days=1)
    expected = 8 * HOUR if cal is GB else 7.5 * HOUR
    whole = cal.seconds_between(datetime.combine(day_after, time(0), zone),
                                datetime.combine(day_after + timedelta(days=1), time(0), zone))
    assert whole == expected
    assert cal.working_intervals(day_after)[0][0] == datetime.combine(day_after, time(9), zone)
    # a week across the change is five normal days
    assert cal.seconds_between(datetime.combine(change - timedelta(days=3), time(0), zone),
                               datetime.combine(change + timedelta(days=4), time(0), zone)) == 5 * expected


def test_wall_clock_measures_local_days():
    start, end = at(LONDON, 2026, 3, 29), at(LONDON, 2026, 3, 30)
    assert LONDON_WALL.seconds_between(start, end) == 23 * HOUR
    [(a, b)] = LONDON_WALL.working_intervals(date(2026, 3, 29))
    assert (a, b) == (start, end) and (b - a) == timedelta(hours=23)
    assert LONDON_WALL.working_intervals(date(2026, 10, 25))[0][1] - at(LONDON, 2026, 10, 25) == timedelta(hours=25)
    assert LONDON_WALL.add(start, 23 * HOUR) == end
    assert LONDON_WALL.close_of_working_day(at(LONDON, 2026, 3, 28, 12), 1) == end
    assert LONDON_WALL.close_of_working_day(at(LONDON, 2026, 11, 20, 15), 3) == at(LONDON, 2026, 11, 24)
    assert LONDON_WALL.is_working_day(date(2026, 12, 25))
    assert LONDON_WALL.seconds_between(end, start) == 0


def test_round_the_clock_hours_match_the_wall_clock():
    cal = BusinessCalendar(CalendarConfig(time_zone="Europe/London", working_hours=hours(["00:00-24:00"], DAYS)))
    start, end = at(LONDON, 2026, 3, 25, 7, 30), at(LONDON, 2026, 11, 2, 18)
    assert cal.seconds_between(start, end) == LONDON_WALL.seconds_between(start, end)
    assert cal.add(start, 1e6) == LONDON_WALL.add(start, 1e6)


def test_nonexistent_local_times_use_fold_0():
    # Sunday 29 Mar 2026 in Berlin: 02:30 does not exist; fold=0 reads it with the old offset (CET)
    assert DE.working_intervals(date(2026, 3, 29)) == [
        (datetime(2026, 3, 28, 23, tzinfo=timezone.utc), datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc))]


# -- configuration -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields,message", [
    ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
    ({"time_zone": ""}, "unknown time zone"),
    ({"working_hours": {"mon": ["18:00-09:00"]}}, "mon: '18:00-09:00' does not end after it starts"),
    ({"working_hours": {"tue": ["09:00-12:00", "11:00-13:00"]}}, "tue: '11:00-13:00' overlaps"),
    ({"working_hours": {"wed": ["13:00-17:00", "09:00-12:00"]}}, "wed: '09:00-12:00' comes before"),
    ({"working_hours": {"thu": ["9:00-17:00"]}}, "thu: '9:00-17:00' is not of the form HH:MM-HH:MM"),
    ({"working_hours": {"fri": ["09:00-24:30"]}}, "fri: '09:00-24:30' has an invalid time"),
    ({"working_hours": {"monday": ["09:00-17:00"]}}, "unknown day 'monday'"),
    ({"working_hours": {}}, "no working hours in the week"),
    ({"working_hours": {"mon": [], "sat": []}}, "no working hours in the week"),
    ({"holidays_country": "XX"}, "Country XX not available"),
    ({"holidays_country": "GB", "holidays_subdivision": "XYZ"}, "does not have subdivision"),
    ({"holidays_subdivision": "ENG"}, "holidays_subdivision needs holidays_country"),
    ({"extra_holidays": ["2026-12-24"], "extra_working_days": ["2026-12-24"]}, "both"),
    ({"timezone": "UTC"}, "Extra inputs are not permitted"),
])
def test_config_errors_name_the_problem(fields, message):
    with pytest.raises(ValidationError, match=message):
        CalendarConfig(**fields)


def test_config_defaults_and_normalisation():
    config = CalendarConfig(holidays_country=" cn ")
    assert config.holidays_country == "CN" and config.time_zone == "UTC"
    assert config.working_hours == {day: ["09:00-18:00"] for day in DAYS[:5]}


def test_calendar_of_is_cached_per_config():
    config = CalendarConfig(time_zone="Europe/London", holidays_country="GB")
    assert calendar_of(config) is calendar_of(config.model_copy(deep=True))
    assert calendar_of(config) is not calendar_of(config.model_copy(update={"time_zone": "Europe/Dublin"}))
    assert isinstance(calendar_of(None), WallClock) and calendar_of(None) is calendar_of(None)


def test_import_is_light():
    code = ("import sys, shared.calendars; "
            "assert not {'holidays', 'chinese_calendar'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- properties ----------------------------------------------------------------------------------------

CALENDARS = pytest.mark.parametrize("cal", [CN, GB, US, DE, LONDON_WALL], ids=["CN", "GB", "US", "DE", "wall"])
PROPERTIES = settings(max_examples=200, deadline=None)
MAX_SECONDS = 30 * 9 * HOUR  # about 30 working days
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                      timezones=st.just(timezone.utc))
any_seconds = st.floats(min_value=0, max_value=MAX_SECONDS, exclude_min=True, allow_nan=False)
ms_seconds = st.integers(min_value=0, max_value=int(MAX_SECONDS * 1000)).map(lambda ms: ms / 1000)
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))


def in_working_time(cal, moment: datetime, at_start_too: bool = False) -> bool:
    """In a working interval or at its end (or at its start, if ``at_start_too``)."""
    day = moment.astimezone(cal.zone).date()
    return any(a < moment <= b or (at_start_too and a == moment)
               for d in (day - timedelta(days=1), day, day + timedelta(days=1)) for a, b in cal.working_intervals(d))


@CALENDARS
@PROPERTIES
@given(start=starts, seconds=any_seconds)
def test_add_then_measure_round_trips(cal, start, seconds):
    end = cal.add(start, seconds)
    assert end.tzinfo is timezone.utc and end >= start
    elapsed = cal.seconds_between(start, end)
    assert elapsed == pytest.approx(seconds, abs=1e-6)
    # under half a microsecond rounds to none: add() then gives the instant work (re)starts
    assert in_working_time(cal, end, at_start_too=elapsed == 0)


@CALENDARS
@PROPERTIES
@given(start=starts, a=ms_seconds, b=ms_seconds)
def test_add_is_monotonic_and_additive(cal, start, a, b):
    low, high = sorted((a, b))
    assert cal.add(start, low) <= cal.add(start, high)
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@CALENDARS
@PROPERTIES
@given(start=starts, gaps=st.lists(spans, min_size=3, max_size=3))
def test_measure_is_additive_and_bounded(cal, start, gaps):
    p0 = start + gaps[0]
    p1 = p0 + gaps[1]
    end = p1 + gaps[2]
    whole, pause = cal.seconds_between(start, end), cal.seconds_between(p0, p1)
    assert cal.seconds_between(start, p1) == pytest.approx(
        cal.seconds_between(start, p0) + cal.seconds_between(p0, p1), abs=1e-6)
    assert whole - pause == pytest.approx(cal.seconds_between(start, p0) + cal.seconds_between(p1, end), abs=1e-6)
    assert 0 <= whole <= (end - start).total_seconds()

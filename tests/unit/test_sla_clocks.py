"""SLA clocks (shared.sla): default targets in the department's calendar, regulatory deadlines,
pauses, warning and escalation points, moving departments, config validation, then properties.

Expected instants are worked out by hand from the bundled calendars: the ``quality`` department
works 09:00-12:00 and 13:00-18:00 Shanghai time (8 h a day) on CN working days, including the
make-up days (2026: Sunday 20 Sep and Saturday 10 Oct are working days; 1-7 Oct are closed);
``customer_service`` works 08:00-22:00 every day (14 h), no holidays.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.config_store import bundled
from shared.sla import (Calendars, SlaClock, SlaConfig, clock_view, fire_due, nearest_deadline, next_point,
                        pause, pending_points, rebase, resume, start_clocks, stop)

ROUTING = bundled("routing").config
SLA = bundled("sla").config
CALENDARS = Calendars.of(ROUTING, SLA)
SH, LONDON, UTC = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/London"), timezone.utc
HOUR, MINUTE = 3600.0, 60.0
INTERNAL = ["first_response", "resolution"]


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def start(priority: str = "P3", received: datetime = sh(2026, 11, 20, 15), *, department: str = "quality",
          region: str | None = None, category: str = "product_quality", config: SlaConfig = SLA) -> list[SlaClock]:
    calendars = CALENDARS if config is SLA else Calendars.of(ROUTING, config)
    return start_clocks(department=department, priority=priority, category=category, region=region,
                        received_at=received, config=config, calendars=calendars)


def named(clocks: list[SlaClock]) -> dict[str, SlaClock]:
    return {c.name: c for c in clocks}


def dues(clocks: list[SlaClock]) -> dict[str, datetime | None]:
    return {c.name: c.due_at for c in clocks}


def sla_with(**changes) -> dict:
    """The bundled SLA config as a document, with some top-level fields replaced."""
    return {**SLA.model_dump(mode="json"), **changes}


# -- default targets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("priority, received, first_response, resolution", [
    # wall time, weekend or not
    ("P1", sh(2026, 11, 20, 15), sh(2026, 11, 20, 16), sh(2026, 11, 21, 15)),
    ("P1", sh(2026, 11, 21, 3), sh(2026, 11, 21, 4), sh(2026, 11, 22, 3)),  # Saturday night
    ("P2", sh(2026, 11, 20, 15), sh(2026, 11, 20, 19), sh(2026, 11, 22, 15)),
    # Friday 15:00 + 8 working hours: 3 h Friday, Monday 09-12 and 13-15; 5th working day: Friday 27th
    ("P3", sh(2026, 11, 20, 15), sh(2026, 11, 23, 15), sh(2026, 11, 27, 18)),
    # lunch is not working time: 11:00 + 8 h = 12:00 (1 h), 13-18 (6 h), Tuesday 09-11
    ("P3", sh(2026, 11, 23, 11), sh(2026, 11, 24, 11), sh(2026, 11, 30, 18)),
    # close of the 2nd / 10th working day after Friday 20th
    ("P4", sh(2026, 11, 20, 15), sh(2026, 11, 24, 18), sh(2026, 12, 4, 18)),
    # National Day 2026: 30 Sep 16-18 (2 h), then 8 Oct 09-12, 13-16; days: 8, 9, 10 (make-up Sat), 12, 13
    ("P3", sh(2026, 9, 30, 16), sh(2026, 10, 8, 16), sh(2026, 10, 13, 18)),
    ("P4", sh(2026, 9, 30, 16), sh(2026, 10, 9, 18), sh(2026, 10, 20, 18)),
    # the make-up Saturday 10 Oct works (Monday's hours): Friday 15-18, Saturday 09-12, 13-15;
    # working days after Friday 9 Oct: 10 (Saturday), 12, 13, 14, 15
    ("P3", sh(2026, 10, 9, 15), sh(2026, 10, 10, 15), sh(2026, 10, 15, 18)),
    # received on Saturday 19 Sep: the make-up Sunday 20 Sep is the first working day; the 5th is
    # Thursday 24 Sep (Friday 25 Sep is the Mid-Autumn Festival)
    ("P3", sh(2026, 9, 19, 10), sh(2026, 9, 20, 18), sh(2026, 9, 24, 18)),
])
def test_default_targets_in_the_quality_calendar(priority, received, first_response, resolution):
    clocks = named(start(priority, received))
    assert clocks["first_response"].due_at == first_response
    assert clocks["resolution"].due_at == resolution
    assert clocks["first_response"].calendar == "department:quality"
    assert {c.state for c in clocks.values()} == {"running"}


def test_policy_and_target_are_recorded():
    fr = named(start("P3"))["first_response"]
    assert (fr.kind, fr.source, fr.stops_on, fr.pauses_when_waiting) == ("internal", "p3", "first_response", True)
    assert fr.target.describe() == "8 business hours" and fr.budget_seconds == 8 * HOUR
    assert fr.label == {"en": "First response", "zh": "首次回复"}
    resolution = named(start("P4"))["resolution"]
    # the budget runs from receipt: the rest of Friday (15-18) and 10 working days of 8 h
    assert resolution.target.describe() == "10 business days" and resolution.budget_seconds == 83 * HOUR


def test_the_same_target_in_another_department_uses_its_hours():
    # customer_service: 08:00-22:00 every day - Friday 20:00 + 8 h = Saturday 14:00
    fr = named(start("P3", sh(2026, 11, 20, 20), department="customer_service"))["first_response"]
    assert fr.due_at == sh(2026, 11, 21, 14)


# -- regulatory deadlines --------------------------------------------------------------------------------------

def test_business_jurisdiction_cn_gives_every_case_the_seven_working_day_reply():
    clocks = start("P1")
    assert [c.name for c in clocks] == [*INTERNAL, "cn_consumer.reply"]
    reply = named(clocks)["cn_consumer.reply"]
    # close (18:00, 09-18 calendar) of the 7th CN working day after Fri 20 Nov: 23, 24, 25, 26, 27, 30 Nov, 1 Dec
    assert reply.due_at == sh(2026, 12, 1, 18)
    assert (reply.kind, reply.source, reply.calendar, reply.stops_on) == (
        "regulatory", "cn_consumer", "regime:cn_consumer", "first_response")
    assert reply.pauses_when_waiting is False
    # over National Day: 8, 9, 10 (make-up), 12, 13, 14, 15 Oct
    assert named(start("P3", sh(2026, 9, 30, 16)))["cn_consumer.reply"].due_at == sh(2026, 10, 15, 18)


def test_a_chinese_region_does_not_add_the_cn_regime_twice():
    assert [c.name for c in start(region="CN-31")] == [*INTERNAL, "cn_consumer.reply"]


def test_a_uk_customer_adds_the_fca_clocks():
    clocks = start("P3", region="GB-ENG")  # received Fri 20 Nov 15:00 Shanghai = 07:00 London
    assert [c.name for c in clocks] == [*INTERNAL, "cn_consumer.reply", "uk_fca.summary_resolution",
                                        "uk_fca.final_response"]
    by = named(clocks)
    # close of business on the 3rd business day after receipt: Mon 23, Tue 24, Wed 25 - 17:00 London
    assert by["uk_fca.summary_resolution"].due_at == datetime(2026, 11, 25, 17, tzinfo=LONDON)
    assert by["uk_fca.final_response"].due_at == datetime(2027, 1, 15, 7, tzinfo=UTC)  # 8 weeks
    assert by["uk_fca.summary_resolution"].stops_on == "resolution"
    # the nearest deadline is the earliest clock: the internal first response (Mon 23 15:00 Shanghai)
    assert nearest_deadline(clocks) == sh(2026, 11, 23, 15)
    # once replied to, the FCA summary resolution (Wed 17:00 London) is nearer than our resolution (Fri 27)
    replied = stop(clocks, "first_response", sh(2026, 11, 23, 10), CALENDARS)
    assert nearest_deadline(replied) == datetime(2026, 11, 25, 17, tzinfo=LONDON)


def test_a_us_customer_adds_the_cfpb_clocks():
    clocks = start("P2", region="US-CA")
    assert [c.name for c in clocks] == [*INTERNAL, "cn_consumer.reply", "us_cfpb.response",
                                        "us_cfpb.final_response"]
    by = named(clocks)
    assert by["us_cfpb.response"].due_at == datetime(2026, 12, 5, 7, tzinfo=UTC)  # 15 days
    assert by["us_cfpb.final_response"].due_at == datetime(2027, 1, 19, 7, tzinfo=UTC)  # 60 days
    assert nearest_deadline(clocks) == sh(2026, 11, 20, 19) == by["first_response"].due_at


def test_without_customer_jurisdiction_only_business_jurisdictions_apply():
    config = SlaConfig.model_validate(sla_with(customer_jurisdiction=False))
    assert [c.name for c in start(region="GB-ENG", config=config)] == [*INTERNAL, "cn_consumer.reply"]
    config = SlaConfig.model_validate(sla_with(business_jurisdictions=[]))
    assert [c.name for c in start(config=config)] == INTERNAL
    assert [c.name for c in start(region="US-NY", config=config)] == [
        *INTERNAL, "us_cfpb.response", "us_cfpb.final_response"]


# -- pause, resume, stop ----------------------------------------------------------------------------------

def test_business_clock_paused_over_the_weekend_moves_by_the_working_time_paused():
    clocks = start("P3", sh(2026, 11, 19, 10))  # Thursday 10:00
    before = dues(clocks)
    assert before == {"first_response": sh(2026, 11, 20, 10), "resolution": sh(2026, 11, 26, 18),
                      "cn_consumer.reply": sh(2026, 11, 30, 18)}
    paused = pause(clocks, sh(2026, 11, 20, 9, 30), CALENDARS)  # Friday 09:30 ...
    fr = named(paused)["first_response"]
    assert (fr.state, fr.due_at, fr.consumed_seconds, fr.pauses) == ("paused", None, 7.5 * HOUR, 1)
    assert clock_view(fr, sh(2026, 11, 21, 12))["paused_since"] is not None
    assert named(paused)["cn_consumer.reply"].state == "running"  # the regulator's clock does not wait
    assert nearest_deadline(paused) == before["cn_consumer.reply"]

    resumed = named(resume(paused, sh(2026, 11, 23, 11), CALENDARS))  # ... to Monday 11:00
    # working time paused: Fri 09:30-12:00 and 13-18 (7.5 h), Mon 09-11 (2 h) = 9.5 h
    assert resumed["first_response"].due_at == sh(2026, 11, 23, 11, 30)
    assert resumed["resolution"].due_at == sh(2026, 11, 30, 10, 30)  # Thu 26 18:00 + 9.5 working hours
    assert resumed["cn_consumer.reply"].due_at == before["cn_consumer.reply"]
    for name in INTERNAL:
        assert resumed[name].paused_seconds == (3 * 24 + 1.5) * HOUR  # wall time, Fri 09:30 - Mon 11:00
        assert (resumed[name].pauses, resumed[name].paused_at, resumed[name].state) == (1, None, "running")
    assert resumed["cn_consumer.reply"].pauses == 0 and resumed["cn_consumer.reply"].paused_seconds == 0


def test_wall_time_clock_paused_three_hours_moves_three_hours():
    clocks = start("P1")  # Friday 15:00: first response 16:00, resolution Saturday 15:00
    clocks = resume(pause(clocks, sh(2026, 11, 20, 15, 20), CALENDARS), sh(2026, 11, 20, 18, 20), CALENDARS)
    by = named(clocks)
    assert by["first_response"].due_at == sh(2026, 11, 20, 19)
    assert by["resolution"].due_at == sh(2026, 11, 21, 18)
    assert by["first_response"].paused_seconds == 3 * HOUR and by["first_response"].pauses == 1
    view = clock_view(by["first_response"], sh(2026, 11, 20, 18, 30))
    assert (view["state"], view["seconds_left"], view["paused_seconds"], view["pauses"]) == (
        "running", 30 * MINUTE, 3 * HOUR, 1)


def test_pausing_a_paused_clock_or_resuming_a_running_one_changes_nothing():
    clocks = start("P3")
    assert resume(clocks, sh(2026, 11, 20, 16), CALENDARS) == clocks
    paused = pause(clocks, sh(2026, 11, 20, 16), CALENDARS)
    assert pause(paused, sh(2026, 11, 20, 17), CALENDARS) == paused


def test_first_response_meets_only_first_response_clocks():
    clocks = start("P3", region="US-CA")
    replied = named(stop(clocks, "first_response", sh(2026, 11, 23, 10), CALENDARS))
    for name in ("first_response", "cn_consumer.reply", "us_cfpb.response"):
        assert (replied[name].state, replied[name].met) == ("met", True), name
        assert replied[name].stopped_at == sh(2026, 11, 23, 10)
    for name in ("resolution", "us_cfpb.final_response"):
        assert (replied[name].state, replied[name].met, replied[name].stopped_at) == ("running", None, None)
    assert replied["first_response"].consumed_seconds == 4 * HOUR  # Fri 15-18, Mon 09-10
    assert clock_view(replied["first_response"], sh(2026, 11, 24))["seconds_left"] is None


def test_a_clock_stopped_after_its_deadline_is_missed():
    late = named(stop(start("P3"), "first_response", sh(2026, 11, 23, 15, 1), CALENDARS))["first_response"]
    assert (late.met, late.state) == (False, "missed")
    on_time = named(stop(start("P3"), "first_response", sh(2026, 11, 23, 15), CALENDARS))["first_response"]
    assert (on_time.met, on_time.state) == (True, "met")


def test_a_stopped_clock_stays_stopped():
    clocks = pause(start("P3"), sh(2026, 11, 20, 16), CALENDARS)
    stopped = stop(clocks, "resolution", sh(2026, 11, 23, 10), CALENDARS)
    resolution = named(stopped)["resolution"]
    assert (resolution.met, resolution.consumed_seconds, resolution.paused_at) == (True, HOUR, None)
    assert (resolution.pauses, resolution.paused_seconds) == (1, (2 * 24 + 18) * HOUR)  # Fri 16:00 - Mon 10:00
    assert resume(stopped, sh(2026, 11, 24, 10), CALENDARS)[1] == resolution
    assert stop(stopped, "resolution", sh(2026, 12, 24), CALENDARS)[1] == resolution  # a second stop is ignored
    assert pending_points(resolution, SLA, CALENDARS) == []


# -- warning points and escalation levels -------------------------------------------------------------------------

T0 = sh(2026, 11, 20, 15)


def after(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def announced(fired) -> list[tuple[str, str, float, int | None, datetime]]:
    return [(p.clock, p.kind, p.share, p.level, p.at) for p in fired]


def test_p1_first_response_points():
    fr = named(start("P1"))["first_response"]
    assert [(p.kind, p.share, p.level, p.at) for p in pending_points(fr, SLA, CALENDARS)] == [
        ("sla_warning", 0.5, None, after(30)), ("sla_warning", 0.8, None, after(48)),
        ("sla_breach", 1.0, 1, after(60)), ("escalation", 1.5, 2, after(90))]


def test_fire_due_announces_the_highest_warning_once_then_the_levels():
    clocks = start("P1")
    assert next_point(clocks, SLA, CALENDARS) == after(30)
    assert fire_due(clocks, SLA, CALENDARS, after(29))[1] == []

    clocks, fired = fire_due(clocks, SLA, CALENDARS, after(49))
    assert announced(fired) == [("first_response", "sla_warning", 0.8, None, after(48))]
    fr = named(clocks)["first_response"]
    assert (fr.warned, fr.level, fr.breached_at) == ([0.5, 0.8], 0, None)  # the 50 % one is marked too
    assert next_point(clocks, SLA, CALENDARS) == after(60)

    again, fired = fire_due(clocks, SLA, CALENDARS, after(49))
    assert fired == [] and again == clocks  # idempotent

    # the sweep was down from 49 to 95 minutes: both levels are announced (each goes to someone else)
    clocks, fired = fire_due(clocks, SLA, CALENDARS, after(95))
    assert announced(fired) == [("first_response", "sla_breach", 1.0, 1, after(60)),
                                ("first_response", "escalation", 1.5, 2, after(90))]
    fr = named(clocks)["first_response"]
    assert (fr.level, fr.breached_at, fr.state) == (2, after(60), "breached")
    assert pending_points(fr, SLA, CALENDARS) == []
    assert next_point(clocks, SLA, CALENDARS) == T0 + timedelta(hours=12)  # the resolution clock's 50 %
    assert clock_view(fr, after(95))["seconds_left"] == -35 * MINUTE
    assert fire_due(clocks, SLA, CALENDARS, after(95))[1] == []


def test_after_a_breach_warnings_no_longer_fire():
    clocks, fired = fire_due(start("P1"), SLA, CALENDARS, after(61))
    assert announced(fired) == [("first_response", "sla_breach", 1.0, 1, after(60))]
    fr = named(clocks)["first_response"]
    assert fr.warned == [0.5, 0.8] and fr.level == 1
    assert [p.kind for p in pending_points(fr, SLA, CALENDARS)] == ["escalation"]


def test_a_paused_clock_has_no_pending_points():
    clocks = pause(start("P1"), after(10), CALENDARS)
    assert [pending_points(c, SLA, CALENDARS) for c in clocks[:2]] == [[], []]
    assert fire_due(clocks, SLA, CALENDARS, after(200))[1] == []  # long past the paused 1 h target
    # only the CN reply keeps running: its 50 % point (33 of 66 working hours, 09-18 days) is Thu 26 12:00
    assert next_point(clocks, SLA, CALENDARS) == sh(2026, 11, 26, 12)


def test_a_clock_paused_after_its_deadline_keeps_that_deadline():
    # P1 first response due at +60 min; the case waits on the customer from +120 to +300 min unseen
    clocks = pause(start("P1"), after(120), CALENDARS)
    fr = named(clocks)["first_response"]
    assert fr.state == "paused" and fr.due_at == after(60)  # a pause cannot undo a breach
    assert nearest_deadline(clocks) == after(60)  # still sorts as overdue in a queue
    clocks = resume(clocks, after(300), CALENDARS)
    fr = named(clocks)["first_response"]
    assert fr.due_at == after(60) and clock_view(fr, after(300))["seconds_left"] == -240 * MINUTE
    clocks, fired = fire_due(clocks, SLA, CALENDARS, after(301))
    assert [p.level for p in fired if p.clock == "first_response"] == [1, 2]
    assert named(clocks)["first_response"].breached_at == after(60)  # when it passed, not when noticed


def test_points_respect_pauses():
    fr = named(start("P3", sh(2026, 11, 23, 9)))["first_response"]  # Monday 09:00
    eighty = [p for p in pending_points(fr, SLA, CALENDARS) if p.share == 0.8][0]
    assert eighty.at == sh(2026, 11, 23, 16, 24)  # 6.4 working hours: 09-12, 13:00-16:24
    # paused Monday 10:00 to Tuesday 10:00: 8 working hours (10-12, 13-18, Tue 09-10)
    [fr] = resume(pause([fr], sh(2026, 11, 23, 10), CALENDARS), sh(2026, 11, 24, 10), CALENDARS)
    eighty = [p for p in pending_points(fr, SLA, CALENDARS) if p.share == 0.8][0]
    assert eighty.at == sh(2026, 11, 24, 16, 24)
    assert fr.due_at == sh(2026, 11, 24, 18)  # Monday 18:00 + 8 working hours


# -- moving to another department --------------------------------------------------------------------------

def test_rebase_keeps_consumed_time_and_uses_the_new_calendar():
    # received by customer_service (08-22 every day) Friday 20:00; moved to quality Saturday 09:00
    clocks = start("P3", sh(2026, 11, 20, 20), department="customer_service")
    assert dues(clocks)["first_response"] == sh(2026, 11, 21, 14)
    moved = named(rebase(clocks, "quality", sh(2026, 11, 21, 9), CALENDARS))
    fr = moved["first_response"]
    # 3 of 8 business hours used (Fri 20-22, Sat 08-09); 5 h left in quality's hours: Mon 09-12, 13-15
    assert (fr.consumed_seconds, fr.calendar, fr.running_since) == (
        3 * HOUR, "department:quality", sh(2026, 11, 21, 9))
    assert fr.due_at == sh(2026, 11, 23, 15)
    # "5 business days" keeps the share used (3 h of customer_service's 72 h = 1/24) of quality's
    # 5 working days (40 h): 38 h 20 min left from Saturday -> Mon-Thu (32 h), Fri 27 09-12, 13:00-16:20
    resolution = moved["resolution"]
    assert resolution.budget_seconds == 40 * HOUR and resolution.consumed_seconds == 40 * HOUR / 24
    assert resolution.due_at == sh(2026, 11, 27, 16, 20)
    assert moved["cn_consumer.reply"] == named(clocks)["cn_consumer.reply"]  # regulatory clocks stay


def test_rebase_of_wall_time_and_paused_clocks():
    wall = named(rebase(start("P1", department="customer_service"), "quality", after(10), CALENDARS))
    assert wall["first_response"].due_at == after(60)
    assert wall["first_response"].calendar == "department:quality"
    # a paused business-hours clock moves and, resumed, runs in the new calendar
    clocks = pause(start("P3", sh(2026, 11, 20, 20), department="customer_service"), sh(2026, 11, 20, 21),
                   CALENDARS)
    clocks = resume(rebase(clocks, "quality", sh(2026, 11, 21, 9), CALENDARS), sh(2026, 11, 23, 9), CALENDARS)
    assert named(clocks)["first_response"].due_at == sh(2026, 11, 23, 17)  # 1 h used, 7 h from Monday 09:00
    # resolution: 1 h of customer_service's 72 h used = 2000 s of quality's 40 h; 39 h 26 min 40 s from
    # Monday 09:00 -> Mon-Thu (32 h), Friday 09-12, 13:00-17:26:40
    assert named(clocks)["resolution"].due_at == sh(2026, 11, 27, 17, 26, 40)


# -- configuration ----------------------------------------------------------------------------------------

def test_bundled_config_validates():
    assert SlaConfig.model_validate(sla_with()) == SLA
    assert [r.regime_id for r in SLA.regulatory] == ["cn_consumer", "uk_fca", "us_cfpb"]


@pytest.mark.parametrize("changes, message", [
    ({"warning_shares": [0.8, 0.5]}, "warning shares must be increasing"),
    ({"warning_shares": [0.5, 0.5]}, "warning shares must be increasing"),
    ({"warning_shares": [0.5, 1.0]}, "between 0 and 1"),
    ({"warning_shares": [0.0, 0.5]}, "between 0 and 1"),
    ({"escalation_shares": [1.5, 2.0]}, "escalation shares start at 1.0"),
    ({"escalation_shares": [1.0, 0.9]}, "escalation shares start at 1.0"),
    ({"escalation_shares": []}, "escalation_shares"),
    ({"policies": [{"policy_id": "all_food", "categories": ["food_safety"],
                    "first_response": {"amount": 1, "unit": "hours"}, "resolution": {"amount": 1, "unit": "days"}},
                   {"policy_id": "urgent", "priorities": ["P1", "P2", "P3"],
                    "first_response": {"amount": 1, "unit": "hours"}, "resolution": {"amount": 1, "unit": "days"}}]},
     "no policy without a 'categories' filter applies to P4"),
    ({"policies": [{"policy_id": "p", "first_response": {"amount": 1.5, "unit": "business_days"},
                    "resolution": {"amount": 3, "unit": "business_days"}}]},
     "business_days must be a whole number"),
    ({"policies": [{"policy_id": "p", "first_response": {"amount": 1, "unit": "fortnights"},
                    "resolution": {"amount": 3, "unit": "business_days"}}]}, "unit"),
    ({"surprise": True}, "Extra inputs are not permitted"),
    ({"policies": [{"policy_id": "p", "first_response": {"amount": 1, "unit": "hours", "x": 1},
                    "resolution": {"amount": 3, "unit": "days"}}]}, "Extra inputs are not permitted"),
    ({"regulatory": [*SLA.model_dump(mode="json")["regulatory"], SLA.model_dump(mode="json")["regulatory"][0]]},
     "regime ids must be unique"),
    ({"business_jurisdictions": ["china"]}, "String should match pattern"),
])
def test_invalid_configs_are_rejected(changes, message):
    with pytest.raises(ValidationError, match=message):
        SlaConfig.model_validate(sla_with(**changes))


def test_a_catch_all_policy_is_enough():
    config = SlaConfig.model_validate({"policies": [
        {"policy_id": "food", "categories": ["food_safety"], "first_response": {"amount": 1, "unit": "hours"},
         "resolution": {"amount": 1, "unit": "days"}},
        {"policy_id": "rest", "first_response": {"amount": 2, "unit": "business_hours"},
         "resolution": {"amount": 3, "unit": "business_days"}}]})
    assert config.policy_for("P4", "food_safety").policy_id == "food"
    assert config.policy_for("P4", "other").policy_id == "rest"
    assert config.warning_shares == [0.5, 0.8] and config.escalation_shares == [1.0, 1.5]


# -- properties -----------------------------------------------------------------------------------------

RECEIVED = st.integers(0, 3 * 365 * 86400 - 1).map(lambda s: datetime(2025, 1, 1, tzinfo=SH) + timedelta(seconds=s))
PAUSES = st.lists(st.tuples(st.floats(0, 0.999), st.integers(0, 5 * 86400)), max_size=3)


@settings(max_examples=150, deadline=None)
@given(received=RECEIVED, priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
       department=st.sampled_from(["quality", "customer_service"]), pauses=PAUSES, probe=st.floats(0, 1))
def test_deadline_is_the_budget_of_working_time_outside_pauses(received, priority, department, pauses, probe):
    for clock in start(priority, received, department=department)[:2]:  # first response and resolution
        keeper = CALENDARS.for_clock(clock)
        paused_working = paused_wall = 0.0
        for share, length in pauses:
            assert clock.due_at is not None and clock.running_since is not None
            # while it runs, consumed + remaining is the budget, at any instant before the deadline
            now = clock.running_since + (clock.due_at - clock.running_since) * probe
            consumed = clock.consumed_seconds + keeper.seconds_between(clock.running_since, now)
            assert consumed + keeper.seconds_between(now, clock.due_at) == pytest.approx(clock.budget_seconds, abs=1e-3)
            # a pause inside the run
            paused_at = clock.running_since + (clock.due_at - clock.running_since) * share
            resumed_at = paused_at + timedelta(seconds=length)
            [clock] = resume(pause([clock], paused_at, CALENDARS), resumed_at, CALENDARS)
            paused_working += keeper.seconds_between(paused_at, resumed_at)
            paused_wall += length
        worked = keeper.seconds_between(clock.started_at, clock.due_at) - paused_working
        assert worked == pytest.approx(clock.budget_seconds, abs=1e-3)
        assert (clock.pauses, clock.paused_seconds) == (len(pauses), pytest.approx(paused_wall))
        # stopping exactly at the deadline meets the target
        assert stop([clock], clock.stops_on, clock.due_at, CALENDARS)[0].met is True

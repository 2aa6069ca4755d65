"""Month roll-ups of the report counters (``StatsStore.roll_up`` / ``read_period``): a report read from a
roll-up is the very report the days give - totals, breakdowns, daily rows, open backlog, the comparison
with the previous period - for a month, a month to date and a period across months, while it reads
dimension values items instead of days x values x shards; the hourly job keeps them (this month through
yesterday, last month complete and settled for its first days); a change counted after a roll-up shows
once it is rolled again, and ``complaints stats rebuild`` rolls the months it rebuilt again.
"""
from __future__ import annotations

import json
from datetime import date

import pytest

from shared.report_model import Period, Scope, build_report, month_period

from tests.integration.test_reports import put_counters


def rows_for(days: list[str], seed: int) -> list[tuple[str, str, str, str, int]]:
    rows = []
    for i, day in enumerate(days):
        n = (seed + i * 7) % 11 + 1
        dept = ("quality", "logistics")[i % 2]
        rows += [(day, "all", "-", "received", n), (day, "department", dept, "received", n),
                 (day, "category", f"cat{i % 3}", "received", n), (day, "handler", f"h{i % 4}", "resolved", n // 2),
                 (day, "all", "-", "resolved", n // 2), (day, "department", dept, "resolved", n // 2),
                 (day, "all", "-", "closed", n // 3), (day, "all", "-", f"first_response_h{10 + i % 5}", n),
                 (day, "all", "-", "first_response_count", n), (day, "all", "-", "sla_first_response_met", n - 1),
                 (day, "all", "-", "sla_first_response_missed", 1), (day, "all", "-", "comp_CNY_cents", 100 * n)]
    return rows


@pytest.fixture
def months(aws):
    from shared.aws import client
    from shared.stats_store import stats_store

    october = [f"2026-10-{d:02d}" for d in range(1, 32, 3)]
    november = [f"2026-11-{d:02d}" for d in range(1, 31, 2)]
    december = ["2026-12-01", "2026-12-02", "2026-12-03"]
    rows = rows_for(october, 3) + rows_for(november, 5) + rows_for(december, 8)
    put_counters(rows[::2], shard=0)
    put_counters(rows[1::2], shard=2)
    dynamodb = client("dynamodb")
    for day, n in (("2026-10-31", 40), ("2026-11-29", 33), ("2026-11-30", 31)):  # end-of-day open backlog
        for key, value in ((("all", "-"), n), (("department", "quality"), n - 10)):
            dynamodb.update_item(TableName=stats_store()._table, Key={"PK": {"S": f"STATS#{day}"},
                                 "SK": {"S": f"{key[0]}#{key[1]}#0"}}, UpdateExpression="SET open_eod = :n",
                                 ExpressionAttributeValues={":n": {"N": str(value)}})
    return rows


def from_days(period: Period, scope: Scope | None = None) -> dict:
    from shared.stats_store import stats_store

    store = stats_store()
    previous = period.previous()
    report = build_report(store.read(period.first, period.last), period,
                          store.read(previous.first, previous.last), scope, previous=previous)
    return report.as_json()


def from_rollups(period: Period, scope: Scope | None = None) -> tuple[dict, int]:
    from functions.reports.service import ReportService
    from shared.stats_store import stats_store

    report = ReportService(stats_store()).report(period, scope)
    return report.as_json(), report.items_read


def same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "items_read"} == {k: v for k, v in b.items() if k != "items_read"}


@pytest.mark.parametrize("period", [
    month_period(2026, 11),
    Period(first=date(2026, 11, 1), last=date(2026, 11, 20), label="2026-11-01..2026-11-20"),
    Period(first=date(2026, 10, 25), last=date(2026, 11, 30), label="2026-10-25..2026-11-30"),
    Period(first=date(2026, 11, 1), last=date(2026, 12, 3), label="2026-11-01..2026-12-03"),
])
@pytest.mark.parametrize("scope", [None, Scope(departments=["quality"])])
def test_a_report_from_roll_ups_is_the_report_of_the_days(months, period, scope):
    from shared.stats_store import stats_store

    expected = from_days(period, scope)
    before, days_read = from_rollups(period, scope)
    assert same(before, expected)  # no roll-up yet: the days
    store = stats_store()
    store.roll_up("2026-09")
    store.roll_up("2026-10")
    store.roll_up("2026-11", "2026-11-17")  # this month through some day: the rest from the days
    store.roll_up("2026-12", "2026-12-01")
    answer, items = from_rollups(period, scope)
    assert same(answer, expected)
    assert expected["totals"]["received"]["value"] > 0 and any(d["received"] for d in expected["daily"])
    assert items < days_read


def test_a_month_report_reads_one_item_per_dimension_value(months):
    from shared.stats_store import stats_store

    store = stats_store()
    days = store.read("2026-11-01", "2026-11-30")
    assert days.items_read > 30  # values x shards, every day with figures
    store.roll_up("2026-11")
    rolled = store.read_period("2026-11-01", "2026-11-30")
    values = {key for cells in days.values() for key in cells}
    assert rolled.items_read == len(values) + 2  # the pointer, read before and after its items
    assert rolled.spans == [("2026-11-01", "2026-11-30")]


def test_a_change_after_the_roll_up_shows_once_rolled_again_and_the_old_items_go(months, aws):
    import boto3

    from shared.stats_store import stats_store

    store = stats_store()
    period = month_period(2026, 11)
    store.roll_up("2026-11", "2026-11-20")
    put_counters([("2026-11-03", "all", "-", "received", 100), ("2026-11-25", "all", "-", "received", 1000)])
    answer, _ = from_rollups(period)
    # a late change to a rolled-up day waits for the next roll-up; the days after it are read live
    assert answer["totals"]["received"]["value"] == from_days(period)["totals"]["received"]["value"] - 100
    report = store.roll_up("2026-11", "2026-11-25")
    assert report.replaced == "STATS#ROLLUP#2026-11#2026-11-20"
    assert same(from_rollups(period)[0], from_days(period))
    table = boto3.resource("dynamodb").Table(store._table)
    old = table.query(KeyConditionExpression="PK = :pk",
                      ExpressionAttributeValues={":pk": "STATS#ROLLUP#2026-11#2026-11-20"})
    assert old["Items"] == []


def test_the_hourly_job_keeps_this_month_through_yesterday_and_settles_last_month(months):
    from datetime import datetime, timezone

    from shared.clock import set_clock
    from shared.stats_store import stats_store

    store = stats_store()

    def due(day: date) -> list[tuple[str, str]]:
        set_clock(lambda: datetime(day.year, day.month, day.day, 3, tzinfo=timezone.utc))
        try:
            return [(r.month, r.through) for r in store.roll_up_due(day)]
        finally:
            set_clock(None)

    assert due(date(2026, 12, 1)) == [("2026-11", "2026-11-30")]
    assert due(date(2026, 12, 1)) == []  # the same day again: nothing
    # last month settles (rolled again once a day for 3 days), this month through yesterday
    assert due(date(2026, 12, 2)) == [("2026-11", "2026-11-30"), ("2026-12", "2026-12-01")]
    assert due(date(2026, 12, 2)) == []
    assert due(date(2026, 12, 5)) == [("2026-12", "2026-12-04")]
    assert store.rollup_through("2026-12")[0] == "2026-12-04"


def test_the_scheduled_run_rolls_up_and_the_api_report_is_unchanged(client, make_token, months):
    from datetime import datetime, timezone

    from functions.reports import handlers
    from shared.clock import set_clock

    token = make_token(role="manager", name="report manager", departments=["quality"])
    before = client.http.get("/staff/reports?period=2026-11", headers={"Authorization": f"Bearer {token}"})
    set_clock(lambda: datetime(2026, 12, 2, 3, tzinfo=timezone.utc))
    try:
        result = handlers.send_scheduled({})
    finally:
        set_clock(None)
    assert result["rolled_up"] == ["2026-11..2026-11-30", "2026-12..2026-12-01"]
    after = client.http.get("/staff/reports?period=2026-11", headers={"Authorization": f"Bearer {token}"})
    a, b = json.loads(before.body), json.loads(after.body)
    assert same(a, b) and b["items_read"] < a["items_read"]


def test_a_rebuild_rolls_the_months_it_rebuilt_again(months):
    from shared.stats_store import stats_store

    store = stats_store()
    store.roll_up("2026-11")
    report = store.rebuild("2026-11-01", "2026-11-30", lookback_months=0)  # no cases here: the days empty
    assert report.rolled_up == ["2026-11"]
    rolled = store.read_period("2026-11-01", "2026-11-30")
    assert sum(m.get("received", 0) for m in rolled["2026-11-01"].values()) == 0


def test_the_rollup_command_rolls_a_month(months, capsys):
    from infra.cli import main
    from shared.stats_store import stats_store

    assert main(["stats", "rollup", "--month", "2026-11", "--through", "2026-11-20"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["month"] == "2026-11" and printed["through"] == "2026-11-20" and printed["items_written"] > 0
    assert stats_store().rollup_through("2026-11")[0] == "2026-11-20"

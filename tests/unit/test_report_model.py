"""The report's figures from known counters: periods, medians and p90 from the histograms, changes against
the previous period, compensation sums, SLA compliance per clock, satisfaction, the open backlog, a
lead's department scope; and the files made from a report (CSV, XLSX, CFPB mapping), formula injection
neutralised."""
from __future__ import annotations

import csv
import io
import math
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.report_model import (MEASURES, Period, PeriodError, Scope, build_report, parse_period)
from shared.stats import DURATION_BUCKETS_S, bucket

NOV = parse_period("2026-11", date(2026, 12, 1))
ALL = ("all", "-")


def durations(name: str, seconds: list[float]) -> dict[str, int]:
    """The histogram and sums the stats increments keep for these durations."""
    out: dict[str, int] = {f"{name}_count": len(seconds), f"{name}_sum_s": round(sum(seconds))}
    for s in seconds:
        key = f"{name}_h{bucket(s)}"
        out[key] = out.get(key, 0) + 1
    return out


# -- periods ------------------------------------------------------------------------------------------
def test_periods_and_the_period_they_are_compared_with():
    assert (NOV.first, NOV.last, NOV.label) == (date(2026, 11, 1), date(2026, 11, 30), "2026-11")
    assert (NOV.previous().first, NOV.previous().last) == (date(2026, 10, 1), date(2026, 10, 31))
    week = parse_period("2026-W47", date(2026, 12, 1))
    assert (week.first, week.last) == (date(2026, 11, 16), date(2026, 11, 22))
    assert (week.previous().first, week.previous().last, week.previous().label) == \
        (date(2026, 11, 9), date(2026, 11, 15), "2026-W46")
    span = parse_period("2026-11-10..2026-11-19", date(2026, 12, 1))
    assert (span.previous().first, span.previous().last) == (date(2026, 10, 31), date(2026, 11, 9))
    day = parse_period("2026-11-22", date(2026, 12, 1))
    assert (day.first, day.last, day.previous().first) == (date(2026, 11, 22), date(2026, 11, 22), date(2026, 11, 21))
    so_far = parse_period(None, date(2026, 3, 30))  # the current month so far; March 30 days vs February's 28
    assert (so_far.first, so_far.last, so_far.label) == (date(2026, 3, 1), date(2026, 3, 30), "2026-03")
    assert (so_far.previous().first, so_far.previous().last) == (date(2026, 2, 1), date(2026, 2, 28))
    january = parse_period("2027-01", date(2027, 2, 1))
    assert january.previous().label == "2026-12"


@pytest.mark.parametrize("text", ["2026-13", "2026-W54", "november", "2026-11-31", "2026-11-30..2026-11-01",
                                  "2025-01-01..2026-12-31", "2026-11-01..", "26-11"])
def test_a_period_that_is_not_one_is_refused(text):
    with pytest.raises(PeriodError):
        parse_period(text, date(2026, 12, 1))


# -- measures ---------------------------------------------------------------------------------------------
def test_median_and_p90_come_from_the_histogram_within_a_bucket_of_the_truth():
    first = [300, 900, 1800, 2400, 3600, 3600, 5400, 7200, 10800, 14400, 28800, 86400]
    resolution = [86400 * d for d in (0.5, 1, 1, 2, 2, 3, 4, 5, 9, 12)]
    counters = {"2026-11-03": {ALL: {**durations("first_response", first[:6]), **durations("resolution", resolution)}},
                "2026-11-20": {ALL: durations("first_response", first[6:])}}
    totals = build_report(counters, NOV, {}).totals
    ratio = DURATION_BUCKETS_S[1] / DURATION_BUCKETS_S[0]  # the widest bucket's bounds: about sqrt(2)
    for measure, values, q in (("first_response_median_h", first, 0.5), ("resolution_median_h", resolution, 0.5),
                               ("first_response_p90_h", first, 0.9), ("resolution_p90_h", resolution, 0.9)):
        truth = statistics.quantiles(values, n=10, method="inclusive")[8] if q == 0.9 else statistics.median(values)
        estimate = totals[measure].value * 3600
        assert abs(math.log(estimate / truth)) <= math.log(ratio) + 0.01, (measure, estimate, truth)
    # exact within one bucket: 10 first responses of 1 h lie in (2715 s, 3840 s]; the median is the bucket's
    # geometric middle, the p90 nine tenths of the way on a log scale
    single = build_report({"2026-11-03": {ALL: durations("first_response", [3600] * 10)}}, NOV, {}).totals
    low, high = DURATION_BUCKETS_S[bucket(3600) - 1], DURATION_BUCKETS_S[bucket(3600)]
    assert single["first_response_median_h"].value == round(math.sqrt(low * high) / 3600, 2)
    assert single["first_response_p90_h"].value == round(low * (high / low) ** 0.9 / 3600, 2)


def test_counts_and_averages_change_against_the_previous_period():
    now = {"2026-11-02": {ALL: {"received": 40, "resolved": 30, "closed": 25, "reopened": 2, "escalations": 3,
                                "repeats": 1, "closed_unconfirmed": 5, "first_response_count": 4,
                                "first_response_bus_sum_s": 4 * 2 * 3600, "feedback_count": 4, "feedback_sum": 17,
                                "feedback_4_5": 3, "surveys_sent": 20}},
           "2026-11-29": {ALL: {"received": 10, "resolved": 5}}}
    before = {"2026-10-15": {ALL: {"received": 45, "resolved": 40, "feedback_count": 2, "feedback_sum": 6,
                                   "feedback_4_5": 1, "surveys_sent": 4}},
              "2026-09-30": {ALL: {"received": 1000}}}  # outside the previous period: not counted
    report = build_report(now, NOV, before)
    t = report.totals
    assert (t["received"].value, t["received"].previous, t["received"].change) == (50, 45, 5)
    assert (t["resolved"].value, t["resolved"].previous, t["resolved"].change) == (35, 40, -5)
    assert (t["closed"].value, t["closed_unconfirmed"].value, t["reopened"].value) == (25, 5, 2)
    assert (t["escalations"].value, t["repeats"].value) == (3, 1)
    assert t["first_response_business_avg_h"].value == 2.0
    assert t["resolution_business_avg_h"].value is None  # nothing resolved with a clock: unknown, not 0
    assert (t["satisfaction_avg"].value, t["satisfaction_avg"].previous, t["satisfaction_avg"].change) == \
        (4.25, 3.0, 1.25)
    assert (t["satisfaction_4_5_share"].value, t["survey_response_rate"].value) == (0.75, 0.2)
    assert t["survey_response_rate"].change == round(0.2 - 0.5, 4)
    assert [d.received for d in report.daily][:2] == [0, 40] and len(report.daily) == 30
    assert report.daily[28].received == 10 and report.daily[28].resolved == 5
    assert set(report.as_json()["totals"]) == set(MEASURES)


def test_sla_compliance_per_clock_and_overall_over_the_internal_clocks():
    counters = {"2026-11-05": {ALL: {"sla_first_response_met": 18, "sla_first_response_missed": 2,
                                     "sla_resolution_met": 6, "sla_resolution_missed": 4,
                                     "sla_cn_consumer_reply_met": 9, "sla_us_cfpb_final_response_missed": 1}},
                "2026-11-06": {ALL: {"sla_first_response_met": 2}}}
    before = {"2026-10-05": {ALL: {"sla_first_response_met": 1, "sla_first_response_missed": 1}}}
    report = build_report(counters, NOV, before)
    rows = {r.clock: r for r in report.sla}
    assert [r.clock for r in report.sla] == ["first_response", "resolution", "cn_consumer_reply",
                                             "us_cfpb_final_response"]
    assert (rows["first_response"].met, rows["first_response"].missed, rows["first_response"].compliance) == \
        (20, 2, round(20 / 22, 4))
    assert rows["resolution"].compliance == 0.6 and rows["resolution"].kind == "internal"
    assert (rows["cn_consumer_reply"].kind, rows["cn_consumer_reply"].compliance) == ("regulatory", 1.0)
    assert rows["us_cfpb_final_response"].compliance == 0.0
    overall = report.totals["sla_compliance"]
    assert overall.value == round(26 / 32, 4) and overall.previous == 0.5
    assert overall.change == round(26 / 32 - 0.5, 4)


def test_compensation_sums_per_currency_with_reversals_as_decimal_strings():
    counters = {"2026-11-01": {ALL: {"comp_CNY_cents": 12050, "comp_USD_cents": 999}},
                "2026-11-09": {ALL: {"comp_CNY_cents": -2000}},
                "2026-11-30": {ALL: {"comp_CNY_cents": 5, "comp_EUR_cents": 0}}}
    compensation = build_report(counters, NOV, {}).compensation
    assert compensation == {"CNY": "100.55", "EUR": "0.00", "USD": "9.99"}
    assert sum(Decimal(v) for v in compensation.values()) == Decimal("110.54")


def test_open_backlog_is_the_latest_snapshot_of_the_period():
    counters = {"2026-11-10": {ALL: {"open_eod": 50}, ("category", "food_safety"): {"open_eod": 20}},
                "2026-11-11": {ALL: {"open_eod": 42, "received": 3}, ("category", "food_safety"): {"open_eod": 12},
                               ("category", "other"): {"received": 3}},
                "2026-11-12": {ALL: {"received": 7}}}  # no snapshot yet that day
    report = build_report(counters, NOV, {})
    assert report.totals["open_backlog"].value == 42 and report.totals["open_backlog"].previous is None
    rows = {r["value"]: r for r in report.by["category"]}
    assert rows["food_safety"]["open_backlog"] == 12 and rows["other"]["open_backlog"] == 0


def test_breakdowns_per_dimension_value_most_received_first():
    counters = {"2026-11-02": {ALL: {"received": 9},
                               ("category", "food_safety"): {"received": 2, "resolved": 1},
                               ("category", "delivery_logistics"): {"received": 7},
                               ("channel", "web"): {"received": 9},
                               ("batch", "=B2411"): {"received": 2}},
                "2026-11-03": {("category", "food_safety"): {"received": 6, **durations("resolution", [7200])}}}
    report = build_report(counters, NOV, {}, dimensions=["category", "batch"])
    assert list(report.by) == ["category", "batch"] and report.scoped_dimensions == ["category", "batch"]
    assert [r["value"] for r in report.by["category"]] == ["food_safety", "delivery_logistics"]
    food = report.by["category"][0]
    assert (food["received"], food["resolved"]) == (8, 1) and food["resolution_median_h"] is not None
    assert set(food) == {"value", *MEASURES}


def test_a_department_scope_reads_the_department_items_and_breaks_down_nothing_else():
    counters = {"2026-11-02": {ALL: {"received": 100, "comp_CNY_cents": 100000},
                               ("department", "quality"): {"received": 30, "resolved": 10, "sla_resolution_met": 4,
                                                           "comp_CNY_cents": 5000},
                               ("department", "finance"): {"received": 12, "resolved": 2},
                               ("department", "logistics"): {"received": 50},
                               ("category", "food_safety"): {"received": 30}}}
    quality = build_report(counters, NOV, {}, Scope(departments=["quality"]))
    assert quality.totals["received"].value == 30 and quality.compensation == {"CNY": "50.00"}
    assert [r.clock for r in quality.sla] == ["resolution"] and quality.daily[1].received == 30
    assert list(quality.by) == ["department"] and [r["value"] for r in quality.by["department"]] == ["quality"]
    assert "category" in quality.unavailable_dimensions and "department" not in quality.unavailable_dimensions
    assert quality.as_json()["scope"] == {"department": "quality", "departments": ["quality"]}
    lead = build_report(counters, NOV, {}, Scope(departments=["finance", "quality"]))
    assert lead.totals["received"].value == 42 and lead.totals["resolved"].value == 12
    assert lead.as_json()["scope"] == {"department": None, "departments": ["finance", "quality"]}
    assert [r["value"] for r in lead.by["department"]] == ["quality", "finance"]
    company = build_report(counters, NOV, {})
    assert company.totals["received"].value == 100 and company.unavailable_dimensions == []


def test_an_empty_period_has_zero_counts_and_unknown_rates():
    report = build_report({}, NOV, {})
    t = report.totals
    assert t["received"].value == 0 and t["received"].change == 0
    for m in ("first_response_median_h", "sla_compliance", "satisfaction_avg", "open_backlog"):
        assert t[m].value is None and t[m].change is None
    assert report.sla == [] and report.compensation == {} and len(report.daily) == 30


# -- files -------------------------------------------------------------------------------------------------
def a_report():
    counters = {"2026-11-02": {ALL: {"received": 3, "resolved": 1, "comp_CNY_cents": 1234, "sla_first_response_met": 1},
                               ("product", "=HYPERLINK(\"http://evil.example\",\"x\")"): {"received": 1},
                               ("batch", "@SUM(1+1)"): {"received": 1},
                               ("batch", "+B2411"): {"received": 1},
                               ("handler", "-2+3"): {"received": 1},
                               ("category", "food_safety"): {"received": 3}}}
    before = {"2026-10-02": {ALL: {"received": 5}}}
    return build_report(counters, NOV, before)


def test_csv_has_a_row_per_value_and_measure_and_no_formulas():
    from functions.reports.exports import CSV_COLUMNS, report_csv

    data = report_csv(a_report(), "en")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    total = next(r for r in rows if r["section"] == "total" and r["measure"] == "received")
    assert (total["figure"], total["previous"], total["change"]) == ("3", "5", "-2")  # numbers stay numbers
    products = {r["value"] for r in rows if r["section"] == "product"}
    assert products == {"'=HYPERLINK(\"http://evil.example\",\"x\")"}
    assert {r["value"] for r in rows if r["section"] == "batch"} == {"'@SUM(1+1)", "'+B2411"}
    assert {r["value"] for r in rows if r["section"] == "handler"} == {"'-2+3"}
    assert len([r for r in rows if r["section"] == "category"]) == len(MEASURES)
    assert next(r for r in rows if r["section"] == "compensation")["figure"] == "12.34"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and not _number(cell))


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_xlsx_has_a_sheet_per_dimension_and_no_formulas():
    from openpyxl import load_workbook

    from functions.reports.exports import report_xlsx

    book = load_workbook(io.BytesIO(report_xlsx(a_report(), "en")))
    assert book.sheetnames == ["Summary", "category", "department", "handler", "channel", "priority", "product", "batch",
                              "Daily", "SLA", "Compensation"]
    summary = {row[0]: row for row in book["Summary"].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert summary["received"][2:] == (3, 5, -2)
    batches = [row[0] for row in book["batch"].iter_rows(min_row=2, values_only=True)]
    assert sorted(batches) == ["'+B2411", "'@SUM(1+1)"]
    assert [row[0] for row in book["product"].iter_rows(min_row=2, values_only=True)] == \
        ["'=HYPERLINK(\"http://evil.example\",\"x\")"]
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    assert book["Compensation"]["A2"].value == "CNY" and book["Compensation"]["B2"].value == 12.34
    zh = load_workbook(io.BytesIO(report_xlsx(a_report(), "zh")))
    assert zh.sheetnames[0] == "汇总" and "类别" in zh.sheetnames


# -- the CFPB mapping ---------------------------------------------------------------------------------------
def facts(**overrides):
    from functions.reports.exports import CaseFacts

    received = datetime(2026, 11, 3, 2, 0, tzinfo=timezone.utc)
    data = {"complaint_id": "CK7M4QX9TR", "received_at": received, "channel": "web", "status": "closed",
            "category": "food_safety", "product": {"name": "Pork dumplings 1kg", "sku": "DUMP-1KG"},
            "region": "US-CA", "closure": "confirmed"}
    data.update(overrides)
    return CaseFacts.model_validate(data)


def plan(*types: str, state: str = "accepted"):
    components = [{"type": t, **({"amount": "20.00", "currency": "USD"} if t in ("refund", "compensation") else {})}
                  for t in types]
    return {"plan_id": "plan-1", "components": components, "explanation": "Sorry", "proposed_by": "staff:a",
            "proposed_at": "2026-11-04T00:00:00Z", "state": state}


def clock(met: bool | None, *, stopped: bool = True, due: datetime | None = None):
    started = datetime(2026, 11, 3, 2, 0, tzinfo=timezone.utc)
    return {"name": "first_response", "kind": "internal", "label": {"en": "First response"}, "source": "p3",
            "stops_on": "first_response", "target": {"amount": 8, "unit": "business_hours"},
            "calendar": "department:quality", "started_at": started, "budget_seconds": 28800,
            "stopped_at": started + timedelta(hours=3) if stopped else None, "met": met,
            "due_at": due or started + timedelta(hours=8)}


def test_cfpb_columns_and_mapping():
    from functions.reports.exports import CFPB_COLUMNS, cfpb_csv

    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    cases = [
        facts(plan=plan("refund", "apology"), clocks=[clock(True)]),
        facts(complaint_id="CK7M4QX9TS", channel="hotline", category="delivery_logistics", plan=plan("replacement"),
              clocks=[clock(False)], region="CN-31", disputed=True, status="resolved", closure=None),
        facts(complaint_id="CK7M4QX9TT", channel="email", category=None, plan=None, product=None, region=None),
        facts(complaint_id="CK7M4QX9TU", status="in_progress", closure=None,
              clocks=[clock(None, stopped=False, due=now - timedelta(hours=1))]),
        facts(complaint_id="CK7M4QX9TV", status="rejected", closure="rejected", channel="app",
              clocks=[clock(None, stopped=False, due=now + timedelta(hours=1))]),
        facts(complaint_id="CK7M4QX9TW", plan=plan("compensation", state="superseded")),
    ]
    rows = list(csv.DictReader(io.StringIO(cfpb_csv(cases, "Example Foods Co.", now).decode("utf-8"))))
    assert tuple(rows[0]) == CFPB_COLUMNS and len(rows) == 6
    first, second, third, fourth, fifth, sixth = rows
    assert (first["Date received"], first["Product"], first["Issue"], first["Sub-product"]) == \
        ("2026-11-03", "Food product", "Food safety concern", "DUMP-1KG")
    assert (first["State"], first["Submitted via"], first["Company"]) == ("CA", "Web", "Example Foods Co.")
    assert (first["Company response to consumer"], first["Timely response?"], first["Consumer disputed?"]) == \
        ("Closed with monetary relief", "Yes", "No")
    assert first["Consumer complaint narrative"] == "" and first["Consumer consent provided?"] == "N/A"
    assert first["Date sent to company"] == "2026-11-03" and first["Complaint ID"] == "CK7M4QX9TR"
    assert (second["Company response to consumer"], second["Timely response?"], second["Consumer disputed?"]) == \
        ("Closed with non-monetary relief", "No", "Yes")
    assert (second["Submitted via"], second["State"], second["Product"]) == ("Phone", "", "Delivery service")
    assert (third["Company response to consumer"], third["Product"], third["Submitted via"]) == \
        ("Closed with explanation", "Other", "Email")
    assert third["Timely response?"] == "" and third["Sub-product"] == ""
    assert (fourth["Company response to consumer"], fourth["Timely response?"]) == ("In progress", "No")
    assert (fifth["Company response to consumer"], fifth["Timely response?"], fifth["Submitted via"]) == \
        ("Closed", "", "Web")
    assert sixth["Company response to consumer"] == "Closed with explanation"  # a superseded plan offers nothing


def test_report_scope_and_period_objects_round_trip_as_json():
    report = a_report()
    body = report.as_json()
    assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30", "label": "2026-11"}
    assert body["previous"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert body["scope"] == {"department": None, "departments": None}
    assert body["compensation"] == {"CNY": "12.34"} and body["items_read"] == 0
    assert isinstance(Period.model_validate(report.period.model_dump()), Period)

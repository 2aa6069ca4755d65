"""Reports through their entry points: ``GET /staff/reports`` (200 with the figures of the counters, 400
for a bad query, 403 for a lead asking for another department, a lead's own departments by default),
``GET /staff/reports/export`` (CSV and XLSX inline and parseable, a large export as a presigned link
to the reports bucket, the CFPB layout read through the ByMonth index), and the hourly scheduled run
(``send_scheduled_reports``): each due report emailed once per recipient and period however often it
runs, HTML with its charts inline (Content-IDs the HTML refers to) and CSV/XLSX attached, or links when
too large; a lead's email covers their department only.

Counters are written with ``shared.stats_store.StatsStore.ops`` of ``shared.stats.Increment`` s (what
every transition writes); complaints submitted through the API count themselves.
"""
from __future__ import annotations

import csv
import email
import io
import json
import os
from datetime import datetime, timedelta, timezone
from email import policy

import boto3
import pytest

from tests.support import a_complaint, post_json

SENDER = "complaints@example.com"
DAYS_NOV = ("2026-11-02", "2026-11-16", "2026-11-22")


def put_counters(rows: list[tuple[str, str, str, str, int]], shard: int = 0) -> None:
    """(day, dimension, value, measure, amount) rows, ADDed as the transitions' increments are."""
    from shared.aws import client
    from shared.stats import Increment
    from shared.stats_store import stats_store

    dynamodb = client("dynamodb")
    for op in stats_store().ops([Increment(day, d, v, shard, m, n) for day, d, v, m, n in rows]):
        dynamodb.update_item(**op["Update"])


@pytest.fixture
def counters(aws):
    """November 2026: 30 received (quality 18, logistics 12), October: 20; spread over shards."""
    rows = []
    for day, n in zip(DAYS_NOV, (10, 12, 8)):
        rows += [(day, "all", "-", "received", n), (day, "channel", "web", "received", n),
                 (day, "all", "-", "resolved", n // 2), (day, "all", "-", "sla_first_response_met", n - 1),
                 (day, "all", "-", "sla_first_response_missed", 1), (day, "all", "-", "sla_cn_consumer_reply_met", 2),
                 (day, "all", "-", "comp_CNY_cents", 1050)]
    rows += [("2026-11-02", "department", "quality", "received", 10), ("2026-11-16", "department", "quality", "received", 8),
             ("2026-11-22", "department", "logistics", "received", 12),
             ("2026-11-02", "category", "food_safety", "received", 10),
             ("2026-11-16", "category", "product_quality", "received", 8),
             ("2026-11-22", "category", "delivery_logistics", "received", 12),
             ("2026-11-22", "department", "quality", "comp_CNY_cents", 500),
             ("2026-10-05", "all", "-", "received", 20), ("2026-10-05", "department", "quality", "received", 9)]
    put_counters(rows[: len(rows) // 2], shard=0)
    put_counters(rows[len(rows) // 2:], shard=3)
    return rows


def staff_get(client, make_token, path: str, role: str = "manager", departments=None, accept: str | None = None):
    token = make_token(role=role, name=f"report {role}", departments=departments or ["quality"])
    return client.http.get(path, headers={"Authorization": f"Bearer {token}", **({"Accept": accept} if accept else {})})


# -- GET /staff/reports -------------------------------------------------------------------------------------
def test_a_manager_reads_the_company_report_of_a_month(client, make_token, counters):
    answer = staff_get(client, make_token, "/staff/reports?period=2026-11")
    assert answer.status_code == 200, answer.body
    body = json.loads(answer.body)
    assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30", "label": "2026-11"}
    assert body["previous"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert body["scope"]["department"] is None
    assert body["totals"]["received"] == {"value": 30, "previous": 20, "change": 10}
    assert body["totals"]["resolved"]["value"] == 5 + 6 + 4
    assert body["totals"]["sla_compliance"]["value"] == round(27 / 30, 4)
    assert {r["value"]: r["received"] for r in body["by"]["department"]} == {"quality": 18, "logistics": 12}
    assert [r["value"] for r in body["by"]["category"]] == ["delivery_logistics", "food_safety", "product_quality"]
    assert body["by"]["channel"] == [{**body["by"]["channel"][0], "value": "web", "received": 30}]
    assert [(s["clock"], s["met"], s["missed"]) for s in body["sla"]] == [("first_response", 27, 3),
                                                                          ("cn_consumer_reply", 6, 0)]
    assert body["compensation"] == {"CNY": "31.50"}
    daily = {d["day"]: d["received"] for d in body["daily"]}
    assert len(daily) == 30 and daily["2026-11-16"] == 12 and daily["2026-11-01"] == 0
    # counter items, not complaints: shards 0 and 3 of the items of 3 + 1 days
    assert 0 < body["items_read"] <= 2 * 21


def test_a_lead_gets_their_department_and_nothing_else(client, make_token, counters):
    own = json.loads(staff_get(client, make_token, "/staff/reports?period=2026-11", "lead", ["quality"]).body)
    assert own["scope"] == {"department": "quality", "departments": ["quality"]}
    assert own["totals"]["received"] == {"value": 18, "previous": 9, "change": 9}
    assert list(own["by"]) == ["department"] and "category" in own["unavailable_dimensions"]
    assert own["compensation"] == {"CNY": "5.00"}
    asked = json.loads(staff_get(client, make_token, "/staff/reports?period=2026-11&department=quality", "lead",
                                 ["quality"]).body)
    assert asked["totals"] == own["totals"]
    other = staff_get(client, make_token, "/staff/reports?period=2026-11&department=logistics", "lead", ["quality"])
    assert other.status_code == 403 and json.loads(other.body)["error"] == "forbidden"
    for role in ("agent", "admin"):
        assert staff_get(client, make_token, "/staff/reports?period=2026-11", role).status_code == 403
    auditor = json.loads(staff_get(client, make_token, "/staff/reports?period=2026-11&department=logistics",
                                   "auditor").body)
    assert auditor["totals"]["received"]["value"] == 12
    assert client.http.get("/staff/reports").status_code == 401


@pytest.mark.parametrize("query, field", [("period=2026-13", "period"), ("period=last-month", "period"),
                                          ("period=2026-11-30..2026-11-01", "period"), ("dimension=colour", "dimension"),
                                          ("colour=red", "colour"), ("department=Quality!", "department")])
def test_a_bad_query_is_a_400_naming_the_field(client, make_token, aws, query, field):
    answer = staff_get(client, make_token, f"/staff/reports?{query}")
    assert answer.status_code == 400, answer.body
    body = json.loads(answer.body)
    assert body["error"] == "invalid_query" and field in [d["field"] for d in body["details"]]


def test_dimensions_can_be_chosen(client, make_token, counters):
    body = json.loads(staff_get(client, make_token,
                                "/staff/reports?period=2026-11&dimension=category&dimension=channel").body)
    assert list(body["by"]) == ["category", "channel"] and body["scoped_dimensions"] == ["category", "channel"]


def test_complaints_submitted_now_are_in_this_month_s_report(client, make_token, aws):
    for channel in ("web", "app"):
        assert post_json(client, "/complaints", a_complaint(channel=channel)).status_code == 201
    body = json.loads(staff_get(client, make_token, "/staff/reports?dimension=channel").body)
    today = datetime.now(timezone.utc).date()
    assert body["period"]["label"] == today.strftime("%Y-%m") and body["period"]["to"] == today.isoformat()
    assert body["totals"]["received"]["value"] == 2
    assert {r["value"]: r["received"] for r in body["by"]["channel"]} == {"web": 1, "app": 1}


# -- exports -------------------------------------------------------------------------------------------------
def test_csv_and_xlsx_exports_are_answered_inline(client, make_token, counters):
    from openpyxl import load_workbook

    answer = staff_get(client, make_token, "/staff/reports/export?period=2026-11&format=csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Content-Disposition"] == 'attachment; filename="complaints-report-2026-11-all.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.body.decode("utf-8-sig"))))
    received = next(r for r in rows if r["section"] == "total" and r["measure"] == "received")
    assert (received["figure"], received["previous"], received["change"]) == ("30", "20", "10")

    # binary: API Gateway (and Chalice) return it as bytes to a request that accepts application/octet-stream
    answer = staff_get(client, make_token, "/staff/reports/export?period=2026-11&format=xlsx&language=zh",
                       "lead", ["quality"], accept="application/octet-stream")
    assert answer.status_code == 200, answer.body
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"].endswith('complaints-report-2026-11-quality.xlsx"')
    book = load_workbook(io.BytesIO(answer.body))
    summary = {row[0]: row for row in book["汇总"].iter_rows(min_row=2, values_only=True) if row and row[0]}
    assert summary["received"][2:] == (18, 9, 9)

    bad = staff_get(client, make_token, "/staff/reports/export?period=2026-11&format=pdf")
    assert bad.status_code == 400 and json.loads(bad.body)["details"][0]["field"] == "format"
    other = staff_get(client, make_token, "/staff/reports/export?format=csv&department=logistics", "lead", ["quality"])
    assert other.status_code == 403


def test_a_large_export_goes_to_the_reports_bucket_behind_a_presigned_link(client, make_token, counters,
                                                                          monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("REPORT_INLINE_BYTES", "200")
    reset_settings()
    answer = staff_get(client, make_token, "/staff/reports/export?period=2026-11&format=csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    export = json.loads(answer.body)["export"]
    assert export["filename"] == "complaints-report-2026-11-all.csv" and export["bytes"] > 200
    assert "X-Amz-Signature=" in export["url"] and "X-Amz-Expires=604800" in export["url"]
    stored = boto3.client("s3").get_object(Bucket=os.environ["REPORTS_BUCKET"], Key=export["key"])
    assert export["key"].startswith("exports/2026-11/all/") and stored["ContentLength"] == export["bytes"]
    assert stored["Body"].read().decode("utf-8-sig").startswith("period_from,")


def test_the_cfpb_export_maps_the_cases_received_in_the_period(client, make_token, aws):
    from shared.lifecycle import Status
    from shared.models import ResolutionPlan, TimelineEntry, TimelineKind
    from shared.store import complaint_repository

    numbers = [json.loads(post_json(client, "/complaints", a_complaint(channel=c)).body)["complaint_id"]
               for c in ("web", "email", "hotline")]
    repo = complaint_repository()
    case, _ = repo.get(numbers[0])
    now = datetime.now(timezone.utc)
    plan = ResolutionPlan(plan_id="plan-1", components=[{"type": "refund", "amount": "30.00", "currency": "CNY"}],
                          explanation="Refunded", proposed_by="staff:x", proposed_at=now, state="disputed")
    closed = case.model_copy(update={"status": Status.IN_PROGRESS, "category": "food_safety", "department": "quality",
                                     "priority": "P2", "plan": plan, "escalated": True, "escalation_level": 1,
                                     "version": case.version + 1, "updated_at": now})
    repo.save(closed, [TimelineEntry(at=now, kind=TimelineKind.DISPUTED, actor="customer", text="no",
                                     details={"from": "resolution_proposed"})], expected_version=case.version)

    answer = staff_get(client, make_token, "/staff/reports/export?format=cfpb")
    assert answer.status_code == 200
    rows = {r["Complaint ID"]: r for r in csv.DictReader(io.StringIO(answer.body.decode("utf-8")))}
    assert set(rows) == set(numbers)
    first = rows[numbers[0]]
    assert (first["Product"], first["Issue"], first["Sub-product"]) == ("Food product", "Food safety concern", "DUMP-1KG")
    assert (first["Consumer disputed?"], first["Company response to consumer"]) == ("Yes", "In progress")
    assert first["Company"] == "Example Foods Co." and first["Date received"] == now.date().isoformat()
    assert [rows[n]["Submitted via"] for n in numbers] == ["Web", "Email", "Phone"]
    assert rows[numbers[1]]["Consumer disputed?"] == "No"
    lead = staff_get(client, make_token, "/staff/reports/export?format=cfpb", "lead", ["quality"])
    assert [r["Complaint ID"] for r in csv.DictReader(io.StringIO(lead.body.decode("utf-8")))] == [numbers[0]]


# -- scheduled emails ----------------------------------------------------------------------------------------
MONDAY_0930_SHANGHAI = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)


@pytest.fixture
def demo_staff(aws, counters):
    from infra import demo_staff
    from infra.local_outbox import verify_sender
    from shared.clock import set_clock

    verify_sender(boto3.client, SENDER)
    assert demo_staff.seed()  # handlers with emails, leads and the manager in the routing config
    yield
    set_clock(None)


def run_schedule(client, at: datetime) -> dict:
    from infra.event_pump import scheduled_event
    from shared.clock import set_clock

    set_clock(lambda: at)
    return client.lambda_.invoke("send_scheduled_reports",
                                 scheduled_event("send-scheduled-reports", "us-east-1", at)).payload


def sent_emails(to: str | None = None):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    found = [email.message_from_string(m.raw_data, policy=policy.default)
             for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]
    return [m for m in found if to is None or m["To"].addresses[0].addr_spec == to]


def test_due_reports_are_emailed_once_per_recipient_and_period(client, demo_staff):
    before = run_schedule(client, datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc))  # 07:00 Monday in Shanghai
    assert before["due"] == 0 and sent_emails() == []

    first = run_schedule(client, MONDAY_0930_SHANGHAI)
    # the manager's daily report, and a weekly one per department lead (Qian Lei leads finance and privacy)
    assert (first["due"], first["sent"], first["failed"]) == (6, 6, 0), first
    assert len(sent_emails("zhao-min@staff.example.com")) == 1
    assert len(sent_emails("qian-lei@staff.example.com")) == 2
    again = run_schedule(client, MONDAY_0930_SHANGHAI + timedelta(hours=1))
    assert (again["sent"], again["already"]) == (0, 6) and len(sent_emails()) == 6

    daily = sent_emails("zhao-min@staff.example.com")[0]
    assert "2026-11-22" in daily["Subject"] and daily["Content-Language"] == "zh-CN"
    assert daily["Auto-Submitted"] == "auto-generated" and daily["Reply-To"].addresses[0].username == "no-reply"
    weekly = sent_emails("wang-fang@staff.example.com")[0]
    assert "2026-W47" in weekly["Subject"]
    attached = {part.get_filename(): part for part in weekly.iter_attachments()}
    assert set(attached) == {"complaints-report-2026-W47-quality.csv", "complaints-report-2026-W47-quality.xlsx"}
    rows = list(csv.DictReader(io.StringIO(attached["complaints-report-2026-W47-quality.csv"].get_content()
                                           .lstrip("\ufeff"))))
    assert {r["scope"] for r in rows} == {"department:quality"}
    received = next(r for r in rows if r["section"] == "total" and r["measure"] == "received")
    assert received["figure"] == "8"  # the quality department's week (16-22 November), not the company's 20


def test_the_email_carries_its_charts_inline_and_its_files_attached(client, demo_staff):
    run_schedule(client, MONDAY_0930_SHANGHAI)
    message = sent_emails("zhao-min@staff.example.com")[0]
    assert message.get_content_type() == "multipart/mixed"
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = html_part.get_content()
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert len(images) >= 3  # daily, by category, SLA (no satisfaction answered)
    for image in images:
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html and image.get_content().startswith(b"\x89PNG")
        assert image.get_content_disposition() == "inline"
    text = text_part.get_content()
    assert text.startswith("投诉报告 2026-11-22") and "新收投诉: 8" in text  # the manager reads Chinese
    names = sorted(p.get_filename() for p in message.iter_attachments())
    assert names == ["complaints-report-2026-11-22-all.csv", "complaints-report-2026-11-22-all.xlsx"]


def test_an_overlapping_run_leaves_a_claimed_report_to_the_run_sending_it(client, demo_staff):
    from functions.reports.schedule import CLAIM_STALE_SECONDS, ReportDeliveries
    from shared.aws import client as aws_client
    from shared.config import settings

    deliveries = ReportDeliveries(aws_client("dynamodb"), settings().table_name)
    deliveries.claim("daily-manager", "2026-11-22", "dev-zhao-min", MONDAY_0930_SHANGHAI)  # another run, sending
    first = run_schedule(client, MONDAY_0930_SHANGHAI)
    assert first["already"] == 1 and sent_emails("zhao-min@staff.example.com") == []
    later = run_schedule(client, MONDAY_0930_SHANGHAI + timedelta(seconds=CLAIM_STALE_SECONDS + 60))
    assert later["sent"] == 1 and len(sent_emails("zhao-min@staff.example.com")) == 1  # that run died: taken over
    assert deliveries.state("daily-manager", "2026-11-22", "dev-zhao-min")["state"] == "sent"


def test_attachments_too_large_for_an_email_become_links(client, demo_staff, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("REPORT_INLINE_BYTES", "1000")
    reset_settings()
    run_schedule(client, MONDAY_0930_SHANGHAI)
    message = sent_emails("zhao-min@staff.example.com")[0]
    assert list(message.iter_attachments()) == []
    html = message.get_body(preferencelist=("html",)).get_content()
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=os.environ["REPORTS_BUCKET"],
                                                 Prefix="exports/2026-11-22/all/").get("Contents", [])]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["complaints-report-2026-11-22-all.csv",
                                                        "complaints-report-2026-11-22-all.xlsx"]
    assert html.count("X-Amz-Signature=") == 2


def test_the_run_snapshots_the_open_backlog_for_the_report(client, make_token, demo_staff):
    for _ in range(3):
        assert post_json(client, "/complaints", a_complaint()).status_code == 201
    run_schedule(client, MONDAY_0930_SHANGHAI)
    body = json.loads(staff_get(client, make_token, "/staff/reports?period=2026-11-23").body)
    assert body["totals"]["open_backlog"]["value"] == 3


# -- the command --------------------------------------------------------------------------------------------
def test_complaints_report_renders_the_same_report_to_files(aws, counters, tmp_path, capsys):
    from openpyxl import load_workbook

    from functions.reports.exports import CFPB_COLUMNS
    from infra.cli import main

    page = tmp_path / "nov.html"
    assert main(["report", "--period", "2026-11", "--format", "html", "--out", str(page), "--language", "zh"]) == 0
    html = page.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 3 and "投诉报告 2026-11" in html
    assert "30 received" in capsys.readouterr().err
    sheet = tmp_path / "quality.xlsx"
    assert main(["report", "--period", "2026-11", "--format", "xlsx", "--out", str(sheet),
                 "--department", "quality"]) == 0
    summary = {r[0]: r for r in load_workbook(sheet)["Summary"].iter_rows(min_row=2, values_only=True) if r and r[0]}
    assert summary["received"][2] == 18
    cfpb = tmp_path / "cfpb.csv"
    assert main(["report", "--period", "2026-11", "--format", "cfpb", "--out", str(cfpb)]) == 0
    assert list(csv.reader(io.StringIO(cfpb.read_text(encoding="utf-8")))) == [list(CFPB_COLUMNS)]  # no cases
    assert main(["report", "--period", "2026-13", "--format", "csv", "--out", str(tmp_path / "x.csv")]) == 2

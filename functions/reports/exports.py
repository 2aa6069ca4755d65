"""Files for spreadsheets and regulators: the report as CSV and XLSX, and a period's cases in the US CFPB
public complaint database layout.

CSV (UTF-8 with a byte-order mark, so Excel reads Chinese right): one row per (dimension value, measure),
long format - ``section`` is ``total`` (with ``previous`` and ``change``), a dimension (``category`` ...),
``day``, ``sla`` or ``compensation``.

XLSX (openpyxl, imported on first use): a summary sheet (every measure with previous and change), one
sheet per dimension (a row per value, a column per measure), and sheets for the days, the SLA clocks
and the compensation per currency.

Spreadsheet formula injection: a text cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or
carriage return) would be run as a formula by Excel or LibreOffice; product names, batches and ids come
from customers and staff, so such a cell is written with a leading ``'`` (:func:`neutralise`). Numbers
are written as numbers and never prefixed.

CFPB layout (:data:`CFPB_COLUMNS`): the cases received in the period, read month by month through the
``ByMonth`` index (a Query per month with the received-key range, only the fields the layout needs;
never a Scan), mapped as documented in docs/reports.md ("Exports").
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping

from pydantic import BaseModel

from shared.lifecycle import OPEN_STATES, Status
from shared.models import Product, ResolutionPlan
from shared.report_model import DIMENSIONS, MEASURE_LABELS, MEASURES, Period, Report
from shared.sla import SlaClock

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("period_from", "period_to", "scope", "section", "value", "measure", "measure_label", "figure",
               "previous", "change")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, made plain text with a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _scope_text(report: Report) -> str:
    return "all" if report.scope.departments is None else "department:" + "+".join(report.scope.departments)


# -- CSV ----------------------------------------------------------------------------------------------
def report_rows(report: Report, language: str = "en") -> Iterator[tuple[Any, ...]]:
    """The report in long format (see :data:`CSV_COLUMNS`), values as numbers where they are numbers."""
    head = (report.period.first.isoformat(), report.period.last.isoformat(), _scope_text(report))
    for m in MEASURES:
        t = report.totals[m]
        yield (*head, "total", "", m, MEASURE_LABELS[m][language], t.value, t.previous, t.change)
    for dimension, rows in report.by.items():
        for row in rows:
            for m in MEASURES:
                yield (*head, dimension, row["value"], m, MEASURE_LABELS[m][language], row[m], None, None)
    for d in report.daily:
        for m in ("received", "resolved", "closed"):
            yield (*head, "day", d.day.isoformat(), m, MEASURE_LABELS[m][language], getattr(d, m), None, None)
    for s in report.sla:
        for m in ("met", "missed", "compliance"):
            yield (*head, "sla", s.clock, m, f"{s.kind} {m}", getattr(s, m), None, None)
    for currency, amount in report.compensation.items():
        yield (*head, "compensation", currency, "amount", "refund + compensation", amount, None, None)


def report_csv(report: Report, language: str = "en") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report_rows(report, language):
        writer.writerow([neutralise("" if v is None else v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# -- XLSX -----------------------------------------------------------------------------------------------
SHEET_TITLES = {"en": {"summary": "Summary", "day": "Daily", "sla": "SLA", "compensation": "Compensation"},
                "zh": {"summary": "汇总", "day": "每日", "sla": "SLA", "compensation": "补偿"}}


def report_xlsx(report: Report, language: str = "en", names: Mapping[str, str] | None = None) -> bytes:
    """The workbook: summary, a sheet per dimension, days, SLA clocks, compensation."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from functions.reports.render import DIMENSION_LABELS, scope_label

    titles = SHEET_TITLES[language]
    book = Workbook()
    bold = Font(bold=True)

    def sheet(title: str, header: list[str], rows: Iterable[Iterable[Any]], first: bool = False) -> Any:
        ws = book.active if first else book.create_sheet()
        ws.title = _sheet_title(title)
        ws.append([neutralise(h) for h in header])
        for cell in ws[1]:
            cell.font = bold
        for row in rows:
            ws.append([neutralise(v) for v in row])
        ws.freeze_panes = "A2"
        return ws

    summary = sheet(titles["summary"], ["measure", "label", "value", "previous", "change"],
                    ([m, MEASURE_LABELS[m][language], report.totals[m].value, report.totals[m].previous,
                      report.totals[m].change] for m in MEASURES), first=True)
    summary.append([])
    summary.append(["period", report.period.label, report.period.first.isoformat(), report.period.last.isoformat()])
    summary.append(["previous", "", report.previous.first.isoformat(), report.previous.last.isoformat()])
    summary.append(["scope", neutralise(scope_label(report, language, names))])
    for dimension in DIMENSIONS:
        if dimension in report.by:
            sheet(DIMENSION_LABELS["en"][dimension].lower() if language == "en" else DIMENSION_LABELS["zh"][dimension],
                  ["value", *MEASURES], ([r["value"], *(r[m] for m in MEASURES)] for r in report.by[dimension]))
    sheet(titles["day"], ["day", "received", "resolved", "closed"],
          ([d.day.isoformat(), d.received, d.resolved, d.closed] for d in report.daily))
    sheet(titles["sla"], ["clock", "kind", "met", "missed", "compliance"],
          ([s.clock, s.kind, s.met, s.missed, s.compliance] for s in report.sla))
    money = sheet(titles["compensation"], ["currency", "amount"],
                  ([c, float(a)] for c, a in report.compensation.items()))
    for (cell,) in money.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "sheet"


# -- CFPB ------------------------------------------------------------------------------------------------
CFPB_COLUMNS = ("Date received", "Product", "Sub-product", "Issue", "Sub-issue", "Consumer complaint narrative",
                "Company public response", "Company", "State", "ZIP code", "Tags", "Consumer consent provided?",
                "Submitted via", "Date sent to company", "Company response to consumer", "Timely response?",
                "Consumer disputed?", "Complaint ID")
# our category -> (CFPB "Product", CFPB "Issue")
CFPB_PRODUCT_ISSUE = {
    "product_quality": ("Consumer product", "Product quality or defect"),
    "food_safety": ("Food product", "Food safety concern"),
    "delivery_logistics": ("Delivery service", "Delivery problem"),
    "service_attitude": ("Customer service", "Treatment by company staff"),
    "billing_price": ("Billing and pricing", "Billing or pricing problem"),
    "refund_after_sales": ("After-sales service", "Refund or return problem"),
    "privacy_security": ("Data privacy and security", "Privacy or data security concern"),
    "other": ("Other", "Other"),
}
CFPB_SUBMITTED_VIA = {"web": "Web", "app": "Web", "social": "Web", "hotline": "Phone", "email": "Email"}
MONETARY = ("refund", "compensation")
NON_MONETARY = ("replacement", "repair")
CASE_FIELDS = ("complaint_id", "received_at", "channel", "status", "category", "department", "product", "region",
               "plan", "clocks",
               "closure", "escalated", "escalation_level", "reopened_count", "resolved_at", "closed_at")


class CaseFacts(BaseModel):
    """What the CFPB layout needs of a case (read with a projection: no description, no contact data)."""

    complaint_id: str
    received_at: datetime
    channel: str
    status: Status
    category: str | None = None
    department: str | None = None
    product: Product | None = None
    region: str | None = None
    plan: ResolutionPlan | None = None
    clocks: list[SlaClock] = []
    closure: str | None = None
    escalated: bool = False
    escalation_level: int = 0
    reopened_count: int = 0
    disputed: bool = False  # a ``disputed`` entry on the timeline (read for escalated cases only)


class MonthlyCases:
    """The cases received in a period, month by month through the ``ByMonth`` index (one Query, paged,
    per month, bounded by the received key: never a Scan)."""

    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table, self._load = dynamodb, table, ItemCodec().load
        self.items_read = 0

    def received(self, first: date, last: date) -> Iterator[CaseFacts]:
        from shared.index_reads import fetch

        for month in _months(first, last):
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": "ByMonth",
                "KeyConditionExpression": "received_month = :m AND received_key BETWEEN :a AND :b",
                "ExpressionAttributeValues": {":m": {"S": f"MONTH#{month}"}, ":a": {"S": first.isoformat()},
                                              ":b": {"S": last.isoformat() + "~"}},
                "ProjectionExpression": "PK, SK"}
            while True:
                out = self._db.query(**kwargs)
                self.items_read += int(out.get("ScannedCount", len(out.get("Items", []))))
                # the index holds keys: the exported fields of the page's cases by key
                for raw in fetch(self._db, self._table, out.get("Items", []), attributes=CASE_FIELDS):
                    item = self._load(raw)
                    yield CaseFacts.model_validate({k: v for k, v in item.items() if k in CaseFacts.model_fields})
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def was_disputed(self, complaint_id: str) -> bool:
        """Whether the case's timeline has a ``disputed`` entry (the customer refused a resolution)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :tl)",
            "FilterExpression": "#k = :disputed", "ExpressionAttributeNames": {"#k": "kind"},
            "ExpressionAttributeValues": {":pk": {"S": f"CASE#{complaint_id}"}, ":tl": {"S": "TL#"},
                                          ":disputed": {"S": "disputed"}},
            "Select": "COUNT"}
        while True:
            out = self._db.query(**kwargs)
            self.items_read += int(out.get("ScannedCount", 0))
            if out.get("Count"):
                return True
            if "LastEvaluatedKey" not in out:
                return False
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _months(first: date, last: date) -> list[str]:
    months, cursor = [], first.replace(day=1)
    while cursor <= last:
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return months


def company_response(case: CaseFacts) -> str:
    """CFPB "Company response to consumer" from the case's state and the plan that closed it."""
    if case.status in OPEN_STATES:
        return "In progress"
    if case.closure in ("rejected", "withdrawn", "merged"):
        return "Closed"
    plan = case.plan if case.plan and case.plan.state in ("proposed", "accepted", "disputed") else None
    types = {c.type for c in plan.components} if plan else set()
    if any(c.type in MONETARY and c.amount for c in (plan.components if plan else [])):
        return "Closed with monetary relief"
    if types & set(NON_MONETARY):
        return "Closed with non-monetary relief"
    return "Closed with explanation"


def timely(case: CaseFacts, now: datetime) -> str:
    """"Yes" when the first-response clock was met, "No" when missed (or running past its deadline),
    empty while it still runs within its target."""
    clock = next((c for c in case.clocks if c.name == "first_response"), None)
    if clock is None:
        return ""
    if clock.stopped_at is not None:
        return "Yes" if clock.met else "No"
    if clock.breached_at is not None or (clock.due_at is not None and clock.due_at < now):
        return "No"
    return ""


def cfpb_row(case: CaseFacts, company: str, now: datetime) -> list[str]:
    product, issue = CFPB_PRODUCT_ISSUE.get(case.category or "other", CFPB_PRODUCT_ISSUE["other"])
    sub_product = (case.product.sku or case.product.name or "") if case.product else ""
    region = case.region or ""
    state = region[3:] if region.startswith("US-") else ""
    received = case.received_at.astimezone(timezone.utc).date().isoformat()
    return [received, product, sub_product, issue, "",
            "",  # narrative: published only with the consumer's consent, which we do not collect
            "", company, state, "", "", "N/A",
            CFPB_SUBMITTED_VIA.get(case.channel, "Web"), received, company_response(case), timely(case, now),
            "Yes" if case.disputed else "No", case.complaint_id]


def cfpb_csv(cases: Iterable[CaseFacts], company: str, now: datetime | None = None) -> bytes:
    now = now or datetime.now(timezone.utc)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CFPB_COLUMNS)
    for case in sorted(cases, key=lambda c: (c.received_at, c.complaint_id)):
        writer.writerow([neutralise(v) for v in cfpb_row(case, company, now)])
    return buffer.getvalue().encode("utf-8")


def cfpb_export(reader: MonthlyCases, period: Period, company: str, now: datetime | None = None,
                departments: list[str] | None = None) -> bytes:
    """The CFPB file of the cases received in ``period`` (of ``departments`` only, when given). A case
    marked escalated has its timeline checked for a dispute (every dispute escalates, so the others
    cannot have one)."""
    cases = []
    for case in reader.received(period.first, period.last):
        if departments is not None and case.department not in departments:
            continue
        if case.escalated or case.escalation_level:
            case = case.model_copy(update={"disputed": reader.was_disputed(case.complaint_id)})
        cases.append(case)
    return cfpb_csv(cases, company, now)


def filename(period: Period, fmt: str, departments: list[str] | None = None) -> str:
    scope = "all" if departments is None else "-".join(departments)
    extension = {"csv": "csv", "xlsx": "xlsx", "cfpb": "csv", "html": "html"}[fmt]
    kind = "cfpb" if fmt == "cfpb" else "report"
    return f"complaints-{kind}-{period.label.replace('..', '_')}-{scope}.{extension}"


def scope_slug(scope: Any) -> str:
    """``all`` or the departments joined with ``-`` (file names and S3 keys)."""
    return "all" if scope.departments is None else "-".join(scope.departments)

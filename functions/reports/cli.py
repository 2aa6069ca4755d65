"""``complaints report``: the same report as the emails and the API, rendered to a file on demand.

Reads the store the environment points at (``TABLE_NAME`` ...: AWS), or, when none is set, the running
local stack (``complaints run``, through its state file). ``html`` is one self-contained page (the
charts embedded as ``data:`` URIs), ``csv``/``xlsx`` the report's files, ``cfpb`` the period's cases in
the CFPB layout.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

FORMATS = ("html", "csv", "xlsx", "cfpb")


def run(period_text: str | None, fmt: str, out: str, *, department: str | None = None,
        language: str = "en") -> int:
    from functions.reports import exports, render
    from functions.reports.service import department_names, report_service
    from shared.clock import now
    from shared.report_model import PeriodError, Scope, parse_period

    try:
        period = parse_period(period_text, now().date())
    except PeriodError as exc:
        sys.stderr.write(f"report: {exc}\n")
        return 2
    scope = Scope(departments=[department]) if department else Scope()
    if fmt == "cfpb":
        from shared.aws import client
        from shared.config import settings
        from shared.config_store import config_store

        reader = exports.MonthlyCases(client("dynamodb"), settings().table_name)
        data = exports.cfpb_export(reader, period, config_store().current("reports").config.company_name,
                                   departments=scope.departments)
        rows = data.count(b"\n") - 1
        summary = f"{rows} case(s), {reader.items_read} item(s) read"
    else:
        report = report_service().report(period, scope)
        names = department_names(language)
        if fmt == "html":
            data = render.standalone_html(report, language, names).encode("utf-8")
        elif fmt == "csv":
            data = exports.report_csv(report, language)
        else:
            data = exports.report_xlsx(report, language, names)
        summary = (f"{report.totals['received'].value:,} received, {report.items_read} counter item(s) read "
                   f"(previous period {report.previous.first}..{report.previous.last})")
    write(out, data)
    where = "standard output" if out == "-" else out
    sys.stderr.write(f"report: {period.label} ({department or 'all departments'}), {fmt}: {summary}; "
                     f"written to {where}\n")
    return 0


def write(out: str, data: bytes) -> None:
    """``-``: standard output; else the file appears whole or not at all."""
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)

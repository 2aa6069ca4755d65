"""``GET /staff/reports`` (the figures as JSON) and ``GET /staff/reports/export`` (CSV, XLSX, CFPB).

Policy ``report.read``: managers and auditors for the company or any department, leads for their own
departments only - a lead without ``department`` gets their departments' report, never the company's;
another department is a 403. The policy is checked before the query is validated.
"""
from __future__ import annotations

import re
from typing import Any

from shared.auth import StaffPrincipal, Unauthorized, authenticate
from shared.http import SECURITY_HEADERS, ApiError, endpoint, header, json_response
from shared.observability import logger
from shared.policy import POLICY, require
from shared.report_model import DIMENSIONS, Period, PeriodError, Scope, parse_period
from shared.staff_directory import DEPARTMENT_ID

REPORT_PARAMS = {"period", "department", "dimension"}
EXPORT_PARAMS = {"period", "department", "format", "language"}
FORMATS = ("csv", "xlsx", "cfpb")


def _staff(request: Any) -> StaffPrincipal:
    try:
        principal = authenticate(header(request, "Authorization"))
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    logger().append_keys(staff_role=principal.role)
    return principal


def _params(request: Any) -> tuple[dict[str, str], dict[str, list[str]]]:
    query = request.query_params or {}
    single = {k: query[k] for k in query}
    many = {k: (query.getlist(k) if hasattr(query, "getlist") else [query[k]]) for k in query}
    return single, many


def scope_for(principal: StaffPrincipal, department: str | None) -> Scope:
    """Who sees what (see the module docstring); raises the 403 before anything is read."""
    require(principal, "report.read", departments=[department] if department else None)
    if department:
        return Scope(departments=[department])
    rule = POLICY["report.read"]
    if principal.role not in rule.anywhere:  # a lead: their departments only
        if not principal.departments:
            raise ApiError(403, "forbidden", "a lead's report covers their departments, and this token names none")
        return Scope(departments=sorted(set(principal.departments)))
    return Scope()


def _period(text: str | None, problems: list[dict[str, str]]) -> Period | None:
    from shared.clock import now

    try:
        return parse_period(text, now().date())
    except PeriodError as exc:
        problems.append({"field": "period", "problem": str(exc)})
        return None


def _department(params: dict[str, str], problems: list[dict[str, str]]) -> str | None:
    department = (params.get("department") or "").strip() or None
    if department and not re.match(DEPARTMENT_ID, department):
        problems.append({"field": "department", "problem": "is not a department id"})
    return department


@endpoint
def get_report(request: Any):
    """``?period=2026-11 | 2026-W47 | 2026-11-22 | 2026-11-01..2026-11-30`` (default: this month so far),
    ``&department=``, ``&dimension=`` (repeatable; default all)."""
    from functions.reports.service import report_service

    principal = _staff(request)
    params, many = _params(request)
    problems: list[dict[str, str]] = []
    department = _department(params, problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    scope = scope_for(principal, department)
    problems += [{"field": k, "problem": "unknown query parameter"} for k in params if k not in REPORT_PARAMS]
    dimensions = [d for value in many.get("dimension", []) for d in value.split(",") if d.strip()]
    problems += [{"field": "dimension", "problem": f"{d!r} is not one of {', '.join(DIMENSIONS)}"}
                 for d in dimensions if d not in DIMENSIONS]
    period = _period(params.get("period"), problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    report = report_service().report(period, scope, dimensions or None)
    logger().info("report read", extra={"period": period.label, "scoped": scope.departments is not None,
                                        "items_read": report.items_read})
    return json_response(report.as_json())


@endpoint
def export(request: Any):
    """``?period=&format=csv|xlsx|cfpb&department=&language=zh|en``: the file itself when it is at most
    ``REPORT_INLINE_BYTES``, else ``{"export": {url, expires_at, filename, bytes, content_type}}`` - a
    presigned link to it in the reports bucket."""
    from chalice import Response

    from functions.reports import exports
    from shared.config import settings

    principal = _staff(request)
    params, _ = _params(request)
    problems: list[dict[str, str]] = []
    department = _department(params, problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    scope = scope_for(principal, department)
    problems += [{"field": k, "problem": "unknown query parameter"} for k in params if k not in EXPORT_PARAMS]
    fmt = (params.get("format") or "").strip()
    if fmt not in FORMATS:
        problems.append({"field": "format", "problem": f"must be one of {', '.join(FORMATS)}"})
    language = (params.get("language") or settings().default_language).strip()
    if language not in ("zh", "en"):
        problems.append({"field": "language", "problem": "must be zh or en"})
    period = _period(params.get("period"), problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)

    data, content_type, name = render_export(fmt, period, scope, language)
    _audit_export(request, principal, fmt, period, scope, len(data))
    log = {"format": fmt, "period": period.label, "scoped": scope.departments is not None, "bytes": len(data)}
    if len(data) <= settings().report_inline_bytes:
        logger().info("report exported inline", extra=log)
        # XLSX travels as application/octet-stream: one of Chalice's binary types, so API Gateway returns it
        # as bytes (send Accept: application/octet-stream); CSV is text
        body: Any = data.decode("utf-8") if fmt != "xlsx" else data
        return Response(body=body, status_code=200, headers={
            **SECURITY_HEADERS, "Content-Type": content_type if fmt != "xlsx" else "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{name}"'})
    from functions.reports.storage import export_store

    stored = export_store().put(data, filename=name, content_type=content_type, period_label=period.label,
                                scope=exports.scope_slug(scope))
    logger().info("report exported to the reports bucket", extra=log)
    return json_response({"export": stored.as_json()})


def _audit_export(request: Any, principal: StaffPrincipal, fmt: str, period: Period, scope: Scope, size: int) -> None:
    """The audit record of an export, written before the file leaves (no record, no file: 503)."""
    from shared.audit import AuditUnavailable, audit_log

    context = getattr(request, "context", None) or {}
    try:
        audit_log().record(action="report.exported", actor=principal.subject, role=principal.role,
                           request_id=context.get("requestId"),
                           details={"format": fmt, "period": period.label, "bytes": size,
                                    "departments": list(scope.departments) if scope.departments is not None else None})
    except AuditUnavailable:
        logger().error("audit record not written: export withheld", extra={"action": "report.exported"})
        raise ApiError(503, "audit_unavailable", "the audit trail cannot be written just now; please retry") from None


def render_export(fmt: str, period: Period, scope: Scope, language: str) -> tuple[bytes, str, str]:
    """(bytes, content type, file name) of an export."""
    from functions.reports import exports

    name = exports.filename(period, fmt, scope.departments)
    if fmt == "cfpb":
        from shared.aws import client
        from shared.config import settings
        from shared.config_store import config_store

        reader = exports.MonthlyCases(client("dynamodb"), settings().table_name)
        company = config_store().current("reports").config.company_name
        return exports.cfpb_export(reader, period, company, departments=scope.departments), exports.CSV_TYPE, name
    from functions.reports.service import department_names, report_service

    report = report_service().report(period, scope)
    if fmt == "csv":
        return exports.report_csv(report, language), exports.CSV_TYPE, name
    return exports.report_xlsx(report, language, department_names(language)), exports.XLSX_TYPE, name

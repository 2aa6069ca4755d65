"""Staff case views: every request carries a verified bearer token; lists are served by indexes."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from functions.staff.views import staff_detail, staff_summary
from shared.auth import StaffPrincipal, Unauthorized, authenticate
from shared.http import ApiError, endpoint, header, json_response
from shared.identifiers import InvalidComplaintNumber, normalize_complaint_number
from shared.lifecycle import Status
from shared.models import Channel
from shared.observability import logger
from shared.policy import POLICY, require
from shared.repository import InvalidCursor
from shared.store import complaint_repository

LIMIT_DEFAULT, LIMIT_MAX = 25, 100
LIST_PARAMS = {"status", "channel", "since", "until", "limit", "cursor", "department", "category", "priority",
               "assignee", "product", "batch", "q"}
FILTER_MAX = 128  # characters of a filter value or search text
CUSTOMER_CASES_MAX = 50  # a customer's newest cases a contact search looks at


def staff(request: Any) -> StaffPrincipal:
    try:
        principal = authenticate(header(request, "Authorization"))
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    logger().append_keys(staff_role=principal.role)
    return principal


@endpoint
def list_complaints(request: Any):
    """Staff case list, newest first, with filters and search (``q``): a complaint number answers that
    case, an email address or phone number the customer's cases (by their look-up hash), any other
    text the cases whose title or description contains it. See docs/console.md."""
    principal = staff(request)
    params = dict(request.query_params or {})
    departments = [params["department"]] if params.get("department") else None
    require(principal, "case.list", departments=departments)
    if departments is None and principal.role in POLICY["case.list"].own - POLICY["case.list"].anywhere:
        departments = list(principal.departments)  # agents and leads see their departments' cases
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in LIST_PARAMS]
    status = _choice(params.get("status"), Status, "status", problems)
    channel = _choice(params.get("channel"), Channel, "channel", problems)
    since = _since(params.get("since"), problems)
    until = _until(params.get("until"), problems)
    if since and until and until < since:
        problems.append({"field": "until", "problem": "must not be before since"})
    limit = _limit(params.get("limit"), problems)
    filters = _filters(params, principal, problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    found = _search(params.get("q"), filters, status=status, channel=channel, since=since, until=until,
                    departments=departments)
    if found is not None:  # a number or a customer: their cases, at most one page
        return json_response({"complaints": [staff_summary(c) for c in found[:limit]], "next_cursor": None})
    try:
        page = complaint_repository().list(status=status, channel=channel.value if channel else None, since=since,
                                           until=until, limit=limit, cursor=params.get("cursor") or None,
                                           departments=departments, text=(params.get("q") or "").strip() or None,
                                           **filters)
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    return json_response({"complaints": [staff_summary(c) for c in page.complaints], "next_cursor": page.cursor})


def _filters(params: dict[str, str], principal: StaffPrincipal, problems: list) -> dict[str, str | None]:
    """category, priority, assignee (``me``: the caller), product, batch, and the search text's length."""
    from shared.routing_rules import CATEGORIES, PRIORITIES

    out: dict[str, str | None] = {}
    for name in ("category", "priority", "assignee", "product", "batch"):
        value = (params.get(name) or "").strip() or None
        if value and len(value) > FILTER_MAX:
            problems.append({"field": name, "problem": f"at most {FILTER_MAX} characters"})
        out[name] = value
    for name, allowed in (("category", CATEGORIES), ("priority", PRIORITIES)):
        if out[name] and out[name] not in allowed:
            problems.append({"field": name, "problem": "must be one of " + ", ".join(allowed)})
    if out["assignee"] == "me":
        out["assignee"] = principal.subject
    if len(params.get("q") or "") > FILTER_MAX:
        problems.append({"field": "q", "problem": f"at most {FILTER_MAX} characters"})
    return out


def _search(q: str | None, filters: dict[str, str | None], *, status: Any, channel: Any, since: datetime | None,
            until: datetime | None, departments: list[str] | None) -> list[Any] | None:
    """The cases a number or a customer's contact stands for, newest first, with the other filters
    applied; None when ``q`` is neither (a text search, or no search)."""
    q = (q or "").strip()
    if not q:
        return None
    repository = complaint_repository()
    try:
        number = normalize_complaint_number(q)
    except InvalidComplaintNumber:
        number = None
    if number is not None:
        ids = [number]
    elif kind := _contact_kind(q):
        ids = repository.cases_of_customer(kind, q, limit=CUSTOMER_CASES_MAX)
    else:
        return None
    cases = sorted(repository.get_many(ids).values(), key=lambda c: (c.received_at, c.complaint_id), reverse=True)
    if number is not None and not cases:
        return None  # a word that happens to read as a number: search the texts instead
    wanted = {**filters, "status": status, "channel": channel, "department": departments}
    return [c for c in cases if _keeps(c, wanted, since, until)]


def _contact_kind(q: str) -> str | None:
    import re

    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", q):
        return "email"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", q):  # a date is text, not a phone number
        return None
    if re.fullmatch(r"\+?[0-9][0-9 ()./-]{5,}[0-9]", q) and sum(ch.isdigit() for ch in q) >= 7:
        return "phone"
    return None


def _keeps(c: Any, wanted: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
    """The list's filters applied to one case (the number and customer searches read cases by key)."""
    product = c.product
    checks = [
        wanted["status"] is None or c.status == wanted["status"],
        wanted["channel"] is None or c.channel == wanted["channel"],
        wanted["department"] is None or c.department in wanted["department"],
        not wanted["category"] or c.category == wanted["category"],
        not wanted["priority"] or c.priority == wanted["priority"],
        not wanted["assignee"] or c.assignee == wanted["assignee"],
        not wanted["product"] or (product is not None and (product.sku or product.name) == wanted["product"]),
        not wanted["batch"] or (product is not None and product.batch == wanted["batch"]),
        since is None or c.received_at >= since,
        until is None or c.received_at <= until,
    ]
    return all(checks)


@endpoint
def get_complaint(request: Any, complaint_id: str):
    principal = staff(request)
    number = complaint_number(complaint_id)
    from shared.http import query

    query(request)
    # checked before any contact data is decrypted; a case in triage: whoever classifies may read it
    authorized_case(principal, number, "case.read", in_triage="triage.read")
    found = complaint_repository().get(number, with_contact=True)
    if found is None:
        raise ApiError(404, "not_found", "no complaint with this number")
    if found[0].customer is not None:
        record_contact_view(request, principal, found[0])
    return json_response(staff_detail(*found))


def record_contact_view(request: Any, principal: StaffPrincipal, case: Any) -> None:
    """The audit record of decrypted contact data shown to a staff member (shared/audit.py); without it
    the data is not shown: 503."""
    from shared.audit import AuditUnavailable, audit_log

    shown = [k for k in ("name", "email", "phone", "member_id") if getattr(case.customer, k, None)]
    try:
        audit_log().record(action="contact.viewed", actor=principal.subject, role=principal.role,
                           complaint_id=case.complaint_id, request_id=request_id(request),
                           details={"fields": shown})
    except AuditUnavailable:
        logger().error("audit record not written: contact data withheld", extra={"action": "contact.viewed"})
        raise ApiError(503, "audit_unavailable", "the audit trail cannot be written just now; "
                                                 "contact data is not shown without it - retry shortly") from None


def request_id(request: Any) -> str | None:
    """API Gateway's request id (Lambda's in the local server, which has none of its own)."""
    context = getattr(request, "context", None) or {}
    lambda_context = getattr(request, "lambda_context", None)
    return context.get("requestId") or getattr(lambda_context, "aws_request_id", None)


def complaint_number(complaint_id: str) -> str:
    """The number in a staff route, normalised; a mistyped one is a 400 before any look-up."""
    try:
        return normalize_complaint_number(complaint_id)
    except InvalidComplaintNumber as exc:
        raise ApiError(400, "invalid_complaint_number", str(exc),
                       [{"field": "complaint_id", "problem": str(exc)}]) from None


def authorized_case(principal: StaffPrincipal, number: str, action: str, *, in_triage: str | None = None) -> Any:
    """The case (without timeline or contact data) if the policy lets ``principal`` do ``action`` on
    it: 404 before 403, so a number that does not exist says so. ``in_triage``: the action checked
    instead for a case still in triage (no department yet)."""
    from shared.policy import require

    case = complaint_repository().get_many([number]).get(number)
    if case is None:
        raise ApiError(404, "not_found", "no complaint with this number")
    if in_triage and case.needs_triage and not case.department:
        require(principal, in_triage)
    else:
        require(principal, action, departments=[case.department] if case.department else [])
    return case


def _choice(value: str | None, enum: Any, field: str, problems: list) -> Any:
    if value in (None, ""):
        return None
    try:
        return enum(value)
    except ValueError:
        problems.append({"field": field, "problem": "must be one of " + ", ".join(m.value for m in enum)})
        return None


def _since(value: str | None, problems: list) -> datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except ValueError:
        problems.append({"field": "since", "problem": "must be an ISO 8601 date or date-time"})
        return None


def _until(value: str | None, problems: list) -> datetime | None:
    """The last moment listed, to the second: a date means through the end of that day (UTC), as the
    reports count days."""
    if not value:
        return None
    found = _since(value, [])
    if found is None:
        problems.append({"field": "until", "problem": "must be an ISO 8601 date or date-time"})
        return None
    return found + timedelta(days=1, microseconds=-1) if len(value) == 10 else found.replace(microsecond=999_999)


def _limit(value: str | None, problems: list) -> int:
    if value in (None, ""):
        return LIMIT_DEFAULT
    if not value.isdigit() or not 1 <= int(value) <= LIMIT_MAX:
        problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
        return LIMIT_DEFAULT
    return int(value)

"""``GET /staff/reports/alerts?since=&until=&kind=&department=&limit=&cursor=``: the root-cause alerts
(spikes and concentrations of complaints) with their evidence, newest first (by the episode's first day).

Policy ``report.read``: managers and auditors see every alert; a lead sees the alerts that concern
their departments' cases - the alert's ``departments`` (those of the cases found behind it) share one
with theirs - and, within each, only the case numbers and text samples of their departments; a lead
naming another department gets 403. ``department`` narrows the list for anyone. The answer:
``{"alerts": [...], "next_cursor": ...}``. Evidence holds customers' words (samples): staff-only
data, never logged.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from shared.http import ApiError, endpoint, header, json_response, query_day
from shared.policy import POLICY, require

PARAMS = {"since", "until", "kind", "department", "limit", "cursor"}
DEFAULT_DAYS, LIMIT_DEFAULT, LIMIT_MAX = 90, 25, 100
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _principal(request: Any) -> Any:
    from shared.auth import Unauthorized, authenticate

    try:
        return authenticate(header(request, "Authorization"))
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None



@endpoint
def list_alerts(request: Any):
    principal = _principal(request)
    params = dict(request.query_params or {})
    department = params.get("department") or None
    require(principal, "report.read", departments=[department] if department else None)
    from shared.alert_store import KINDS, InvalidAlertCursor, alert_store
    from shared.clock import now

    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in PARAMS]
    today = now().date()
    since = query_day(params.get("since"), "since", problems)
    until = query_day(params.get("until"), "until", problems) or today
    since = since or until - timedelta(days=DEFAULT_DAYS)
    if since > until:
        problems.append({"field": "since", "problem": "must not be after until"})
    kind = params.get("kind") or None
    if kind is not None and kind not in KINDS:
        problems.append({"field": "kind", "problem": f"must be one of {', '.join(KINDS)}"})
    if department is not None and not _DEPARTMENT.match(department):
        problems.append({"field": "department", "problem": "is not a department id"})
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)

    scoped = principal.role not in POLICY["report.read"].anywhere  # a lead: their departments only
    departments = [department] if department else (list(principal.departments) if scoped else None)
    try:
        page = alert_store().list(since=since, until=until, kind=kind, departments=departments,
                                  limit=int(limit), cursor=params.get("cursor") or None)
    except InvalidAlertCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    shown = departments if scoped else None
    return json_response({"alerts": [a.view(shown) for a in page.alerts], "next_cursor": page.cursor,
                          "since": since.isoformat(), "until": until.isoformat()})

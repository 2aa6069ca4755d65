"""``GET /staff/audit?case=&actor=&since=&until=&limit=&cursor=``: the audit trail for auditors.

Policy ``audit.read`` (auditors). Records newest first: a case's (``case``; ``actor`` then narrows
them), an actor's (``actor``: a staff id, ``customer`` or ``system:<function>``), or everybody's day
by day (neither). ``since`` / ``until`` are days (``YYYY-MM-DD``, UTC, inclusive; defaults: the last
7 days up to today; at most 366 days). The answer: ``{"records": [...], "next_cursor": ...}``; a record
holds ids, roles, times and non-personal facts only (shared/audit.py).
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from shared.http import ApiError, endpoint, header, json_response, query_day
from shared.policy import require

PARAMS = {"case", "actor", "since", "until", "limit", "cursor"}
DEFAULT_DAYS, MAX_DAYS, LIMIT_DEFAULT, LIMIT_MAX = 7, 366, 50, 100
_CASE = re.compile(r"^[A-Z0-9]{6,32}$")
_ACTOR = re.compile(r"^[A-Za-z0-9:@._-]{1,200}$")


@endpoint
def list_records(request: Any):
    from shared.auth import Unauthorized, authenticate

    try:
        principal = authenticate(header(request, "Authorization"))
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    require(principal, "audit.read")
    from shared.audit import InvalidAuditCursor, audit_log
    from shared.clock import now

    params = dict(request.query_params or {})
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in PARAMS]
    case, actor = params.get("case") or None, params.get("actor") or None
    if case is not None and not _CASE.match(case):
        problems.append({"field": "case", "problem": "must be a complaint number"})
    if actor is not None and not _ACTOR.match(actor):
        problems.append({"field": "actor", "problem": "must be a staff id, 'customer' or 'system:<function>'"})
    today = now().date()
    until = query_day(params.get("until"), "until", problems) or today
    since = query_day(params.get("since"), "since", problems) or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        problems.append({"field": "since", "problem": "must not be after until"})
    elif (until - since).days >= MAX_DAYS:
        problems.append({"field": "since", "problem": f"at most {MAX_DAYS} days at a time"})
    limit = LIMIT_DEFAULT
    if "limit" in params:
        try:
            limit = int(params["limit"])
            if not 1 <= limit <= LIMIT_MAX:
                raise ValueError
        except ValueError:
            problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    try:
        page = audit_log().search(complaint_id=case, actor=actor, since=since.isoformat(), until=until.isoformat(),
                                  limit=limit, cursor=params.get("cursor") or None)
    except InvalidAuditCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    return json_response({"records": [r.model_dump(exclude_none=True) for r in page.records],
                          "next_cursor": page.cursor, "since": since.isoformat(), "until": until.isoformat()})


"""Staff API for data-subject requests (shared/privacy.py; docs/privacy.md); the two scheduled jobs are in
functions/staff/privacy_jobs.py.

* ``POST /staff/privacy/export`` ``{"email" | "phone" | "member_id"}``: everything held about the person,
  as JSON and a readable page behind presigned links; 201 with the request, its summary and the links;
* ``POST /staff/privacy/erasure`` ``{"email" | "phone" | "member_id", "reason"}``: their cases erased -
  201 when done, 202 when legal holds keep some (the request stays ``pending`` with its holds);
* ``GET /staff/privacy/requests?status=&limit=&cursor=``: requests by status, earliest deadline first;
* ``GET /staff/privacy/requests/{request_id}``: one request.

Policy: ``privacy.export`` and ``privacy.erase`` (admins), ``privacy.read`` (admins and auditors),
checked before the body is read. Logs name the request, never the person.
"""
from __future__ import annotations

import re
from typing import Any

from functions.staff.api import LIMIT_DEFAULT, LIMIT_MAX, staff
from shared.http import ApiError, endpoint, json_response, parse_json_body
from shared.observability import logger
from shared.policy import require
from shared.privacy import REQUEST_ID, STATUSES, ErasureIn, ExportIn, PrivacyUnavailable

LIST_PARAMS = {"status", "limit", "cursor"}


def _body(request: Any) -> dict[str, Any]:
    from shared.config import settings

    return parse_json_body(request, settings().max_request_bytes)


def _now():
    from shared.clock import now

    return now()


@endpoint
def export(request: Any):
    from shared.privacy_store import privacy_desk
    from shared.repository import iso

    principal = staff(request)
    require(principal, "privacy.export")
    subject = ExportIn.model_validate(_body(request))
    try:
        result = privacy_desk().export(subject, actor=principal.subject)
    except PrivacyUnavailable as exc:
        raise ApiError(503, "unavailable", f"{exc}; nothing was exported - retry shortly") from None
    logger().info("privacy export made", extra={"request_id": result.request.request_id,
                                                "cases": len(result.request.cases)})
    files = {name: {"url": url, "expires_at": iso(expires)} for name, (url, expires) in result.links.items()}
    return json_response({**result.request.view(_now()), "files": files}, 201)


@endpoint
def erasure(request: Any):
    from shared.privacy_store import privacy_desk

    principal = staff(request)
    require(principal, "privacy.erase")
    body = ErasureIn.model_validate(_body(request))
    done = privacy_desk().erase(body, actor=principal.subject)
    logger().info("privacy erasure", extra={"request_id": done.request_id, "status": done.status,
                                            "cases": len(done.cases), "erased": len(done.erased),
                                            "held": len(done.holds)})
    return json_response(done.view(_now()), 201 if done.status == "completed" else 202)


@endpoint
def list_requests(request: Any):
    from shared.privacy_store import InvalidRequestCursor, privacy_store

    principal = staff(request)
    require(principal, "privacy.read")
    params = dict(request.query_params or {})
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in LIST_PARAMS]
    status = params.get("status") or None
    if status and status not in STATUSES:
        problems.append({"field": "status", "problem": "must be one of " + ", ".join(STATUSES)})
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    try:
        found, cursor = privacy_store().list_requests([status] if status else STATUSES, limit=int(limit),
                                                      cursor=params.get("cursor") or None)
    except InvalidRequestCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    now = _now()
    return json_response({"requests": [r.view(now) for r in found], "next_cursor": cursor})


@endpoint
def get_request(request: Any, request_id: str):
    from shared.privacy_store import privacy_store

    principal = staff(request)
    require(principal, "privacy.read")
    if not re.match(REQUEST_ID, request_id):
        raise ApiError(400, "invalid_request_id", "not a privacy request id (prv_ and 20 hex digits)",
                       [{"field": "request_id", "problem": "is not a privacy request id"}])
    found = privacy_store().get_request(request_id)
    if found is None:
        raise ApiError(404, "not_found", "no privacy request with this id")
    return json_response(found.view(_now()))

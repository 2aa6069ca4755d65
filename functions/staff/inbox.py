"""A staff member's inbox: the alerts the notifier delivered to them (SLA warnings, breaches,
escalations, cases waiting in a queue or stuck before routing), newest first.

``GET /staff/inbox?unread=true|false&limit=1..100&cursor=`` lists the caller's own inbox (the
token's subject; nobody reads another's) as ``{"items": [...], "next_cursor": ...}``.
``POST /staff/inbox/{item_id}/read`` marks one item read and answers it; 404 when the caller's
inbox has no such item.
"""
from __future__ import annotations

from typing import Any

from functions.staff.api import LIMIT_DEFAULT, LIMIT_MAX, staff
from shared.policy import require
from shared.clock import now
from shared.http import ApiError, endpoint, json_response

LIST_PARAMS = {"unread", "limit", "cursor"}
FLAGS = {"true": True, "false": False}


@endpoint
def list_inbox(request: Any):
    principal = staff(request)
    require(principal, "inbox.read")
    from shared.inbox import InvalidInboxCursor, staff_inbox

    params = dict(request.query_params or {})
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in LIST_PARAMS]
    unread = params.get("unread") or "false"
    if unread not in FLAGS:
        problems.append({"field": "unread", "problem": "must be true or false"})
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        problems.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    try:
        page = staff_inbox().list(principal.subject, unread_only=FLAGS[unread], limit=int(limit),
                                  cursor=params.get("cursor") or None)
    except InvalidInboxCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    return json_response({"items": page.items, "next_cursor": page.cursor})


@endpoint
def mark_read(request: Any, item_id: str):
    principal = staff(request)
    require(principal, "inbox.read")
    from shared.http import no_body
    from shared.inbox import staff_inbox

    no_body(request)
    item = staff_inbox().mark_read(principal.subject, item_id, now())
    if item is None:
        raise ApiError(404, "not_found", "no item with this id in your inbox")
    return json_response(item)

"""The audit trail's scope for each invocation of the app (registered as Chalice middleware in app.py).

* An API request opens an :class:`shared.audit.AuditScope` named after the view (``api.<view>``), with
  the request id and the case number of the path; the staff member is filled in when their token is
  verified (``shared.auth.authenticate``), the public API acts as ``customer``. A case write made while
  answering carries the request's record in its own transaction (``ComplaintRepository``). When a
  state-changing request (POST, PUT, PATCH, DELETE) succeeded (2xx) without any record yet - a change of
  configuration, of the directory, of preferences, an inbox item, a mail re-drive - the record is written
  here, once the handler has answered: every such request has exactly one record.
* An event or schedule opens a scope for the pipeline: ``system:<function>``; each case write it makes
  carries its own record (``case.<what happened>``).
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from shared import audit


def around_request(app: Any, request: Any, get_response: Callable[[Any], Any]) -> Any:
    context = getattr(request, "context", None) or {}
    method = (getattr(request, "method", None) or context.get("httpMethod") or "").upper()
    path = context.get("resourcePath") or ""
    view = _view_name(app, path, method)
    params = getattr(request, "uri_params", None) or {}
    public = not path.startswith("/staff")
    request_id = context.get("requestId") or f"local-{uuid.uuid4().hex}"  # chalice local gives none
    scope = audit.AuditScope(action=f"api.{view}", http=True, method=method, request_id=request_id,
                             complaint_id=params.get("complaint_id"),
                             actor="customer" if public else "anonymous", role="customer" if public else "none")
    token = audit.open_scope(scope)
    try:
        response = get_response(request)
        status = getattr(response, "status_code", 200)
        if scope.mutating and 200 <= status < 300 and scope.records == 0:
            _record_after(scope, status)
        return response
    finally:
        audit.close_scope(token)


def _record_after(scope: audit.AuditScope, status: int) -> None:
    from shared.audit import AuditUnavailable, audit_log
    from shared.observability import logger

    details = {**dict(list(scope.details.items())[:18]), "status": status}
    try:
        audit_log().record(action=scope.action, actor=scope.actor, role=scope.role, complaint_id=scope.complaint_id,
                           request_id=scope.request_id, details=details)
    except AuditUnavailable:  # the change is made: say so loudly (an alarm on this line), never silently
        logger().error("audit record not written after a change", extra={"action": scope.action,
                                                                          "request_id": scope.request_id})


def around_event(event: Any, get_response: Callable[[Any], Any]) -> Any:
    context = getattr(event, "context", None)
    name = str(getattr(context, "function_name", "") or "")
    short = name.split("-", 2)[-1] if name.count("-") >= 2 else (name or "pipeline")
    token = audit.open_scope(audit.AuditScope(action=f"system.{short.replace('-', '_')}", actor=f"system:{short}"))
    try:
        return get_response(event)
    finally:
        audit.close_scope(token)


def _view_name(app: Any, path: str, method: str) -> str:
    entry = (getattr(app, "routes", {}) or {}).get(path, {}).get(method)
    return getattr(entry, "view_name", None) or "request"

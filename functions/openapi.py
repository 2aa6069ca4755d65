"""``GET /openapi.json``: the API's OpenAPI 3.1 document, generated from the code (shared/openapi.py).

The table below says, for every route of ``app.routes``, what the handler accepts and answers. It
reads the handlers' own constants wherever they have one (query parameter sets, request models,
limits, enums, the policy's roles), so the document follows the code; a route added without an entry
here makes the document fail to build (and ``tests/integration/test_openapi.py`` with it). Answer
schemas are written next to each other below: the keys every answer always has, with their types.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from shared.openapi import (ANY_OBJ, BOOL, INT, NUM, STR, TIME, Answer, Operation, arr, build, enum, model_schema,
                            null, obj)

TITLE = "Complaints API"
VERSION = "1.0"


def _table() -> dict[tuple[str, str], Operation]:  # noqa: PLR0915 - one entry per route, on purpose
    from functions.console import pages as console_pages
    from functions.intake import pages as intake_pages
    from functions.intake.customer import ConfirmationIn, FeedbackIn, MessageIn
    from functions.reports import alerts as report_alerts
    from functions.reports import api as reports_api
    from functions.staff import api as staff_api
    from functions.staff import audit, inbox, suggestions
    from functions.staff.routing import Assignment, Availability, Claim, ConfigChange, Transfer
    from functions.staff.tasks import CloseTaskIn
    from functions.staff.triage import CorrectionIn
    from shared.alert_store import KINDS as ALERT_KINDS
    from shared.audit import AuditRecord
    from shared.config_store import KINDS as CONFIG_KINDS
    from shared.lifecycle import Status
    from shared.models import AttachmentUploadRequest, Channel, ComplaintSubmission, ResolutionPlan
    from shared.preferences import PreferencesIn
    from shared.privacy import STATUSES as PRIVACY_STATUSES, ErasureIn, ExportIn
    from shared.report_model import DIMENSIONS
    from shared.routing_rules import CATEGORIES, PRIORITIES
    from shared.staff_directory import HandlerProfile, HandlerProfileIn
    from shared.workflow import Command

    limit = {"type": "integer", "minimum": 1, "maximum": staff_api.LIMIT_MAX}
    cursor = {"type": "string", "maxLength": 512}
    day = {"type": "string", "format": "date"}
    page = {"limit": limit, "cursor": cursor}
    department = {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,39}$"}
    tracking = {"X-Tracking-Token": {"type": "string", "maxLength": 200}}
    idem = {"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 255}}
    statuses = enum(s.value for s in Status)

    # -- answers ------------------------------------------------------------------------------------------
    clock = obj({"name": STR, "kind": STR, "state": STR, "started_at": null(TIME), "due_at": null(TIME),
                 "seconds_left": null(INT), "paused_seconds": INT, "met": null(BOOL), "escalation_level": INT})
    summary = obj({
        "complaint_id": STR, "status": statuses, "channel": enum(c.value for c in Channel), "language": enum(("zh", "en")),
        "title": null(STR), "category": null(STR), "department": null(STR), "priority": null(STR),
        "assignee": null(STR), "escalated": BOOL, "attachment_count": INT, "received_at": TIME, "updated_at": TIME,
        "version": INT, "needs_triage": BOOL, "repeat_of": null(STR), "repeat_count": INT, "cluster_id": null(STR),
        "escalation_level": INT, "due_at": null(TIME), "queued_at": null(TIME)})
    task = obj({"task_id": STR, "department": STR, "title": STR, "state": enum(("open", "done", "cancelled")),
                "due_at": null(TIME), "opened_at": null(TIME), "closed_at": null(TIME), "outcome": null(STR)})
    plan = model_schema(ResolutionPlan)
    timeline_entry = obj({"at": TIME, "kind": STR, "visibility": STR, "actor": STR, "status": null(STR),
                          "text": null(STR), "details": ANY_OBJ})
    detail = {"allOf": [summary, obj({
        "description": STR, "expected_resolution": null(STR), "occurred_at": null(STR),
        "customer": null(obj({"name": STR})), "product": null(ANY_OBJ),
        "attachments": arr(obj({"attachment_id": STR, "filename": STR, "download_url": STR})),
        "reopened_count": INT, "classification": null(ANY_OBJ), "routing": null(ANY_OBJ), "clocks": arr(clock),
        "region": null(STR), "plan": null(plan), "tasks": arr(task), "open_tasks": INT, "merged_into": null(STR),
        "merged_cases": arr(STR), "status_before_merge": null(statuses), "resolved_at": null(TIME),
        "confirmation_due_at": null(TIME), "closed_at": null(TIME), "closure": null(STR),
        "feedback": null(obj({"rating": INT, "at": TIME})), "timeline": arr(timeline_entry)})]}
    case_answer = {"allOf": [summary, obj({"clocks": arr(clock), "routing": null(ANY_OBJ)})]}
    tracking_view = obj({
        "complaint_id": STR, "status": STR, "title": null(STR), "description": STR, "channel": STR,
        "language": STR, "category": null(STR), "department": null(STR), "received_at": TIME, "updated_at": TIME,
        "resolved_at": null(TIME), "closed_at": null(TIME), "closure": null(STR), "merged": BOOL,
        "plan": null(ANY_OBJ), "feedback": null(ANY_OBJ), "actions": ANY_OBJ,
        "timeline": arr(obj({"at": TIME, "kind": STR}))})
    receipt = obj({"complaint_id": STR, "tracking_token": STR, "status": STR, "received_at": TIME})
    upload = obj({"attachment_id": STR, "filename": STR, "content_type": STR, "max_bytes": INT, "expires_at": TIME,
                  "upload": obj({"method": enum(("POST",)), "url": STR, "fields": obj(values=STR),
                                 "file_field": STR})})
    quarantined = obj({k: null(STR) for k in ("quarantine_id", "state", "reason", "sender", "subject",
                                               "received_at", "quarantined_at", "redriven_at", "redriven_by")}
                      | {"size": null(INT), "defects": null(arr(STR))})
    config = obj({"kind": enum(CONFIG_KINDS), "version": INT, "updated_by": null(STR), "updated_at": null(STR),
                  "comment": null(STR), "config": ANY_OBJ})
    profile = model_schema(HandlerProfile)
    response = obj({"response_id": STR, "language": STR})
    privacy_request = obj({
        "request_id": STR, "kind": STR, "status": enum(PRIVACY_STATUSES), "subject_kind": STR, "received_at": TIME,
        "due_at": TIME, "overdue": BOOL, "completed_at": null(TIME), "requested_by": STR, "reason": null(STR),
        "summary": obj({"cases": INT, "erased": INT, "held": INT}), "cases": arr(STR),
        "holds": arr(obj({"complaint_id": STR, "hold": STR, "reason": null(STR), "until": null(TIME)})),
        "files_expire_at": null(TIME)})
    preferences = obj({"email": BOOL, "sms": BOOL, "phone": null(STR), "quiet_hours": null(ANY_OBJ),
                       "muted_kinds": arr(STR), "version": INT, "updated_at": null(TIME)})
    money = {"type": "string", "pattern": r"^-?\d+\.\d\d$"}
    report = obj({"period": obj({"from": STR, "to": STR, "label": STR}), "previous": obj({"from": STR, "to": STR}),
                  "scope": obj({"department": null(STR), "departments": null(arr(STR))}),
                  "totals": obj(values=obj({"value": null(NUM)})), "by": ANY_OBJ,
                  "daily": arr(obj({"day": STR, "received": INT, "resolved": INT, "closed": INT})),
                  "sla": arr(ANY_OBJ), "items_read": INT})
    stored_export = obj({"export": obj({"url": STR, "expires_at": TIME})})

    def ok(schema: dict[str, Any], status: int = 200, description: str = "done") -> dict[int, Answer]:
        return {status: Answer(schema, description)}

    pages = {200: Answer(None, "the page", {"text/html": {"type": "string"}})}
    assets = {200: Answer(None, "the file", {t.split(";")[0]: {"type": "string"}
                                            for t in intake_pages.ASSET_TYPES.values()})}
    # the dev sign-in answers the personas, or a token for one of them
    dev_sign_in = {"oneOf": [obj({"personas": arr(obj({"name": STR, "subject": STR, "role": STR}))}),
                             obj({"token": STR, "name": STR, "subject": STR, "role": STR, "departments": arr(STR),
                                  "expires_in": INT})]}
    console_assets = {200: Answer(dev_sign_in, "a file, or the dev sign-in (dev-token)", {
        t.split(";")[0]: {"type": "string"} for t in console_pages.ASSET_TYPES.values()})}
    public = (400, 404, 409, 429, 503)
    write_errors = (400, 404, 409, 503)
    lang = {"lang": enum(("zh", "en"))}

    return {
        ("GET", "/openapi.json"): Operation("this document", ok(obj({"openapi": STR, "paths": ANY_OBJ})),
                                            errors=()),
        ("GET", "/health"): Operation("can the API reach its dependencies", {
            200: Answer(obj({"status": enum(("ok",)), "checks": obj(values=enum(("ok",)))})),
            503: Answer(obj({"status": enum(("unavailable",)), "checks": obj(values=enum(("ok", "failed"))),
                             "error": STR, "message": STR, "details": arr(obj({"field": STR, "problem": STR}))}),
                        "some dependency is unreachable")}, errors=()),
        ("GET", "/"): Operation("the complaint form", pages, query=lang, errors=()),
        ("GET", "/track"): Operation("the tracking page", pages, query=lang, errors=()),
        ("GET", "/static/{name}"): Operation("a file of the public pages", assets, errors=(404,)),
        ("GET", "/console"): Operation("the staff console", pages, query=lang, errors=()),
        ("GET", "/console/{name}"): Operation("a file of the console; dev-token: the local sign-in",
                                              console_assets, query={"name": STR, "role": STR, "department": STR},
                                              errors=(400, 404)),
        # -- the public API ----------------------------------------------------------------------------------
        ("POST", "/complaints"): Operation("submit a complaint", ok(receipt, 201, "received (or replayed)"),
                                           body=ComplaintSubmission, headers=idem, errors=public),
        ("POST", "/complaints/attachments"): Operation("ask for an attachment upload", ok(upload, 201),
                                                       body=AttachmentUploadRequest, errors=(400, 429)),
        ("GET", "/complaints/{complaint_id}"): Operation("track a complaint (X-Tracking-Token)", ok(tracking_view),
                                                          headers=tracking, errors=(400, 404, 429)),
        ("POST", "/complaints/{complaint_id}/messages"): Operation(
            "the customer writes about the case", ok(tracking_view, 201), body=MessageIn,
            headers={**tracking, **idem}, errors=public),
        ("POST", "/complaints/{complaint_id}/confirmation"): Operation(
            "accept or dispute the resolution", ok(tracking_view), body=ConfirmationIn, headers=tracking,
            errors=public),
        ("POST", "/complaints/{complaint_id}/feedback"): Operation(
            "the satisfaction survey", {200: Answer(tracking_view, "answered already"), 201: Answer(tracking_view)},
            body=FeedbackIn, headers=tracking, errors=public),
        # -- staff: cases ------------------------------------------------------------------------------------
        ("GET", "/staff/complaints"): Operation(
            "list and search cases", ok(obj({"complaints": arr(summary), "next_cursor": null(STR)})),
            action="case.list", query={
                **page, "status": statuses, "channel": enum(c.value for c in Channel), "since": day, "until": day,
                "department": department, "category": enum(CATEGORIES), "priority": enum(PRIORITIES),
                "assignee": {"type": "string", "maxLength": staff_api.FILTER_MAX},
                "product": {"type": "string", "maxLength": staff_api.FILTER_MAX},
                "batch": {"type": "string", "maxLength": staff_api.FILTER_MAX},
                "q": {"type": "string", "maxLength": staff_api.FILTER_MAX}}),
        ("GET", "/staff/complaints/{complaint_id}"): Operation("a case with contact data and timeline", ok(detail),
                                                                action="case.read", errors=(400, 404, 503)),
        ("GET", "/staff/audit"): Operation(
            "the audit trail", ok(obj({"records": arr(model_schema(AuditRecord)), "next_cursor": null(STR),
                                       "since": STR, "until": STR})),
            action="audit.read", query={**page, "case": {"type": "string", "pattern": audit._CASE.pattern},
                                        "actor": {"type": "string", "pattern": audit._ACTOR.pattern},
                                        "since": day, "until": day}),
        ("GET", "/staff/quarantine"): Operation(
            "quarantined email", ok(obj({"messages": arr(quarantined), "next_cursor": null(STR)})),
            action="quarantine.read", query=page),
        ("GET", "/staff/quarantine/{quarantine_id}"): Operation(
            "one quarantined message", ok({"allOf": [quarantined, obj({"raw_message_url": STR})]}),
            action="quarantine.read"),
        ("POST", "/staff/quarantine/{quarantine_id}/redrive"): Operation(
            "send a quarantined message through the intake again",
            ok(obj({"quarantine_id": STR, "state": enum(("redriven",))}, closed=True), 202),
            no_body=True, action="quarantine.redrive", errors=write_errors),
        ("GET", "/staff/triage"): Operation(
            "cases waiting for a category", ok(obj({"cases": arr(obj({"complaint_id": STR})),
                                                     "next_cursor": null(STR)})),
            action="triage.read", query=page),
        ("POST", "/staff/complaints/{complaint_id}/classification"): Operation(
            "correct the classification", ok({"allOf": [summary, obj({"classification": ANY_OBJ})]}),
            body=CorrectionIn, action="case.classify", errors=write_errors),
        ("GET", "/staff/inbox"): Operation(
            "the caller's inbox", ok(obj({"items": arr(obj({"item_id": STR})), "next_cursor": null(STR)})),
            action="inbox.read", query={**page, "unread": {"type": "string", "enum": sorted(inbox.FLAGS)}}),
        ("POST", "/staff/inbox/{item_id}/read"): Operation(
            "mark an inbox item read", ok(obj({"item_id": STR})), no_body=True, action="inbox.read",
            errors=write_errors),
        # -- staff: configuration, directory, queues ---------------------------------------------------------
        ("GET", "/staff/config/{kind}"): Operation(
            "a configuration (current, or ?version=)", ok(config), action="config.read",
            query={"version": {"type": "integer", "minimum": 0}}),
        ("PUT", "/staff/config/{kind}"): Operation("change a configuration", ok(config), body=ConfigChange,
                                                   action="config.write", errors=write_errors),
        ("GET", "/staff/config/{kind}/history"): Operation(
            "a configuration's versions", ok(obj({"kind": enum(CONFIG_KINDS), "versions": arr(obj({"version": INT}))})),
            action="config.read"),
        ("GET", "/staff/handlers"): Operation(
            "a department's handlers", ok(obj({"department": STR, "handlers": arr(profile)})), action="staff.read",
            query={"department": department}),
        ("GET", "/staff/handlers/{handler_id}"): Operation("a handler", ok(profile), action="staff.read"),
        ("PUT", "/staff/handlers/{handler_id}"): Operation("create or edit a handler", ok(profile),
                                                           body=HandlerProfileIn, action="staff.write",
                                                           errors=write_errors),
        ("PUT", "/staff/handlers/{handler_id}/availability"): Operation(
            "on or off duty", ok({"allOf": [profile, obj({"assigned": arr(STR)})]}), body=Availability,
            action="availability.set", errors=write_errors),
        ("GET", "/staff/queue"): Operation(
            "a department's queue or a handler's cases", ok(obj({
                "queue": STR, "complaints": arr({"allOf": [summary, obj({"clocks": arr(clock)})]}),
                "next_cursor": null(STR)})),
            action="queue.read", query={**page, "department": department, "assignee": STR}),
        ("POST", "/staff/complaints/{complaint_id}/actions"): Operation(
            "a workflow action", ok(detail), body=Command, body_name="Command", action="case.work", errors=(400, 404, 409, 503)),
        ("GET", "/staff/complaints/{complaint_id}/suggestions"): Operation(
            "canned responses and similar cases", ok(obj({
                "complaint_id": STR, "category": null(STR), "language": STR, "responses": arr(response),
                "similar_cases": arr(obj({"complaint_id": STR}))})), action="suggestions.read"),
        ("GET", "/staff/responses"): Operation(
            "canned responses", ok(obj({"responses": arr(response), "config_version": INT})),
            action="responses.read", query={"category": enum(CATEGORIES), "language": enum(("zh", "en")),
                                            "purpose": enum(suggestions.PURPOSES)}),
        ("GET", "/staff/approvals"): Operation(
            "plans waiting for a manager", ok(obj({"approvals": arr({"allOf": [summary, obj({
                "plan": plan, "reasons": arr(STR), "proposed_by": STR, "proposed_at": TIME})]})})),
            action="approval.list"),
        ("GET", "/staff/compensation"): Operation(
            "the compensation ledger", ok(obj({
                "month": {"type": "string", "pattern": r"^\d{4}-\d\d$"}, "department": null(STR),
                "entries": arr(obj({"complaint_id": STR, "amount": money, "currency": STR, "type": STR})),
                "totals": obj(values=obj(values=money))})),
            action="ledger.read", query={"month": {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"},
                                        "department": department}),
        ("GET", "/staff/tasks"): Operation(
            "a department's open tasks", ok(obj({"tasks": arr({"allOf": [task, obj({"complaint": obj({
                "complaint_id": STR})})]}), "next_cursor": null(STR)})),
            action="task.read", query={**page, "department": department}),
        ("POST", "/staff/complaints/{complaint_id}/tasks/{task_id}"): Operation(
            "close an investigation task", ok(obj({"complaint_id": STR, "version": INT, "task": task,
                                                   "open_tasks": INT})),
            body=CloseTaskIn, action="task.work", errors=write_errors),
        ("GET", "/staff/me/preferences"): Operation("my notification preferences", ok(preferences),
                                                    action="preferences.set"),
        ("PUT", "/staff/me/preferences"): Operation("set my notification preferences", ok(preferences),
                                                    body=PreferencesIn, action="preferences.set"),
        ("POST", "/staff/complaints/{complaint_id}/claim"): Operation("take a queued case", ok(case_answer),
                                                                      body=Claim, action="case.claim",
                                                                      errors=write_errors),
        ("POST", "/staff/complaints/{complaint_id}/assignment"): Operation(
            "assign a case to a handler", ok(case_answer), body=Assignment, action="case.assign", errors=write_errors),
        ("POST", "/staff/complaints/{complaint_id}/transfer"): Operation(
            "transfer a case", ok(case_answer), body=Transfer, action="case.transfer", errors=write_errors),
        # -- reports -------------------------------------------------------------------------------------
        ("GET", "/staff/reports"): Operation(
            "the figures of a period", ok(report), action="report.read", query={
                "period": {"type": "string", "maxLength": 40}, "department": department,
                "dimension": enum(DIMENSIONS)}),
        ("GET", "/staff/reports/export"): Operation(
            "a report file (CSV, XLSX, CFPB), inline or behind a link", {200: Answer(stored_export, "the file", {
                "text/csv": {"type": "string"}, "application/octet-stream": {"type": "string"}})},
            action="report.read", query={
                "period": {"type": "string", "maxLength": 40}, "department": department,
                "format": enum(reports_api.FORMATS), "language": enum(("zh", "en"))}, errors=(400, 404, 503)),
        ("GET", "/staff/reports/alerts"): Operation(
            "root-cause alerts", ok(obj({"alerts": arr(obj({"alert_id": STR})), "next_cursor": null(STR),
                                         "since": STR, "until": STR})),
            action="report.read", query={**page, "since": day, "until": day, "kind": enum(ALERT_KINDS),
                                         "department": {"type": "string",
                                                        "pattern": report_alerts._DEPARTMENT.pattern}}),
        # -- privacy -------------------------------------------------------------------------------------
        ("POST", "/staff/privacy/export"): Operation(
            "export a person's data", ok({"allOf": [privacy_request, obj({"files": obj(values=obj({
                "url": STR, "expires_at": TIME}))})]}, 201), body=ExportIn, action="privacy.export",
            errors=write_errors),
        ("POST", "/staff/privacy/erasure"): Operation(
            "erase a person's data", {201: Answer(privacy_request, "erased"),
                                      202: Answer(privacy_request, "pending: legal holds keep some cases")},
            body=ErasureIn, action="privacy.erase", errors=write_errors),
        ("GET", "/staff/privacy/requests"): Operation(
            "data-subject requests", ok(obj({"requests": arr(privacy_request), "next_cursor": null(STR)})),
            action="privacy.read", query={**page, "status": enum(PRIVACY_STATUSES)}),
        ("GET", "/staff/privacy/requests/{request_id}"): Operation("one data-subject request", ok(privacy_request),
                                                                   action="privacy.read"),
    }


# The query parameters each GET handler reads from its own constants (checked against the table by
# tests/integration/test_openapi.py, which sends each documented one and an undocumented one).
def _query_constants() -> dict[str, set[str]]:
    from functions.reports import alerts as report_alerts
    from functions.reports import api as reports_api
    from functions.staff import api as staff_api
    from functions.staff import audit, inbox, privacy, suggestions

    return {"/staff/complaints": staff_api.LIST_PARAMS, "/staff/audit": audit.PARAMS, "/staff/inbox": inbox.LIST_PARAMS,
            "/staff/privacy/requests": privacy.LIST_PARAMS, "/staff/responses": suggestions.RESPONSE_PARAMS,
            "/staff/reports": reports_api.REPORT_PARAMS, "/staff/reports/export": reports_api.EXPORT_PARAMS,
            "/staff/reports/alerts": report_alerts.PARAMS}


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document for this deployment's routes (built once per container)."""
    from functions.app import app
    from shared.policy import POLICY

    table = _table()
    for path, names in _query_constants().items():
        documented = set(table[("GET", path)].query)
        if documented != set(names):
            raise ValueError(f"GET {path}: the handler takes {sorted(names)}, the table says {sorted(documented)}")
    roles = {action: sorted(rule.roles()) for action, rule in POLICY.items()}
    return build(app.routes, table, title=TITLE, version=VERSION, roles=roles)


@lru_cache(maxsize=1)
def _body() -> str:
    return json.dumps(document(), ensure_ascii=False, sort_keys=False)


def serve(request: Any) -> Any:
    """The document as JSON, cacheable (it changes only with a deployment)."""
    from chalice import Response

    from shared.http import SECURITY_HEADERS, endpoint, query

    @endpoint
    def answer(request: Any) -> Any:
        query(request)
        return Response(body=_body(), status_code=200, headers={
            **SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "public, max-age=300"})

    return answer(request)

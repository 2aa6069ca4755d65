"""Staff API for routing: the versioned routing/SLA configuration, the staff directory and
availability, department queues, and claiming, assigning and transferring cases.

Who may do what (the full role matrix comes with the workflow's policy module):
* configuration: every staff member reads it; admins change it;
* directory: admins create and edit handlers; everybody reads a department's roster;
* availability: a handler sets their own; a lead for their departments' handlers; managers, admins;
* claim: a handler of the case's department; assign: that department's lead, managers, admins;
* transfer: the case's assignee, the department's lead, managers, admins.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.staff.api import LIMIT_DEFAULT, LIMIT_MAX, authorized_case, complaint_number, staff
from functions.staff.views import staff_summary
from shared.config_store import KINDS as CONFIG_KINDS
from shared.http import ApiError, endpoint, json_response, parse_json_body, validation_details
from shared.models import VERSION_MAX
from shared.policy import require
from shared.staff_directory import DEPARTMENT_ID, HANDLER_ID, HandlerProfileIn

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConfigChange(_Body):
    version: int = Field(ge=0, le=VERSION_MAX, description="the version read (0: the bundled default)")
    config: dict[str, Any]
    comment: Annotated[str, StringConstraints(max_length=500)] | None = None


class Availability(_Body):
    on_duty: bool


class Claim(_Body):
    version: int | None = Field(None, ge=1, le=VERSION_MAX)


class Assignment(_Body):
    handler_id: Annotated[str, StringConstraints(pattern=HANDLER_ID)]
    reason: Reason
    version: int = Field(ge=1, le=VERSION_MAX)
    override_cap: bool = False


class Transfer(_Body):
    department: Annotated[str, StringConstraints(pattern=DEPARTMENT_ID)] | None = None
    handler_id: Annotated[str, StringConstraints(pattern=HANDLER_ID)] | None = None
    reason: Reason
    version: int = Field(ge=1, le=VERSION_MAX)


def _body(request: Any) -> dict[str, Any]:
    from shared.config import settings

    return parse_json_body(request, settings().max_request_bytes)


def _kind(kind: str) -> str:
    if kind not in CONFIG_KINDS:
        raise ApiError(404, "not_found", f"no configuration called {kind!r} (there are: {', '.join(CONFIG_KINDS)})")
    return kind


def _params(request: Any, allowed: set[str]) -> dict[str, str]:
    from shared.http import query  # 400 for a query parameter not in ``allowed``

    return query(request, allowed)


# -- configuration -----------------------------------------------------------------------------------------
@endpoint
def get_config(request: Any, kind: str):
    require(staff(request), "config.read")
    from shared.config_store import config_store

    params = _params(request, {"version"})
    store = config_store()
    if params.get("version"):
        if not params["version"].isdigit():
            raise ApiError(400, "invalid_query", "version must be a whole number",
                           [{"field": "version", "problem": "must be a whole number"}])
        found = store.version(_kind(kind), int(params["version"]))
        if found is None:
            raise ApiError(404, "not_found", f"no version {params['version']} of the {kind} configuration")
        return json_response(found.as_dict())
    return json_response(store.current(_kind(kind), fresh=True).as_dict())


@endpoint
def config_history(request: Any, kind: str):
    require(staff(request), "config.read")
    from shared.config_store import config_store

    _params(request, set())
    return json_response({"kind": _kind(kind), "versions": config_store().history(kind)})


@endpoint
def put_config(request: Any, kind: str):
    principal = staff(request)
    require(principal, "config.write")
    from pydantic import ValidationError

    from shared.config_store import StaleConfig, config_store

    change = ConfigChange.model_validate(_body(request))
    try:
        saved = config_store().save(_kind(kind), change.config, expected_version=change.version,
                                    actor=f"staff:{principal.subject}", comment=change.comment)
    except ValidationError as exc:
        details = [{**d, "field": "config." + d["field"] if d["field"] else "config"} for d in validation_details(exc)]
        raise ApiError(422, "validation_failed", f"the {kind} configuration is invalid", details) from None
    except StaleConfig as exc:
        raise ApiError(409, "stale_version", f"the {kind} configuration changed since version {change.version} "
                                             f"(now {exc.current}); read it again") from None
    from shared.observability import logger

    logger().info("configuration changed", extra={"kind": kind, "version": saved.version})
    return json_response(saved.as_dict())


# -- staff directory and availability ----------------------------------------------------------------------
def _profile_view(p: Any) -> dict[str, Any]:
    return p.model_dump(mode="json")


@endpoint
def list_handlers(request: Any):
    principal = staff(request)
    require(principal, "staff.read")
    from shared.staff_directory import staff_directory

    params = _params(request, {"department"})
    department = params.get("department") or (principal.departments[0] if principal.departments else None)
    if not department:
        raise ApiError(400, "invalid_query", "name a department",
                       [{"field": "department", "problem": "is required"}])
    roster = staff_directory().roster(department)
    return json_response({"department": department, "handlers": [_profile_view(p) for p in roster]})


@endpoint
def get_handler(request: Any, handler_id: str):
    require(staff(request), "staff.read")
    from shared.staff_directory import staff_directory

    _params(request, set())
    profile = staff_directory().profile(handler_id)
    if profile is None:
        raise ApiError(404, "not_found", "no handler with this id")
    return json_response(_profile_view(profile))


@endpoint
def put_handler(request: Any, handler_id: str):
    principal = staff(request)
    require(principal, "staff.write")
    import re

    from shared.staff_directory import StaleProfile, staff_directory

    if not re.fullmatch(HANDLER_ID, handler_id):
        raise ApiError(400, "invalid_handler_id", "a handler id is their sign-in subject (letters, digits, ._@:+-)")
    data = HandlerProfileIn.model_validate(_body(request))
    _known_departments(data.departments)
    try:
        profile = staff_directory().put_profile(handler_id, data)
    except StaleProfile:
        raise ApiError(409, "stale_version", "the handler changed meanwhile (or exists already: send its version); "
                                             "read it again") from None
    return json_response(_profile_view(profile))


def _known_departments(departments: list[str]) -> None:
    from shared.config_store import config_store

    routing = config_store().current("routing").config
    unknown = [d for d in departments if routing.department(d) is None]
    if unknown:
        raise ApiError(422, "validation_failed", "some fields are missing or invalid",
                       [{"field": "departments", "problem": f"unknown department: {', '.join(unknown)}"}])


@endpoint
def set_availability(request: Any, handler_id: str):
    principal = staff(request)
    from shared.staff_directory import staff_directory

    directory = staff_directory()
    profile = directory.profile(handler_id)
    if profile is None:
        raise ApiError(404, "not_found", "no handler with this id")
    require(principal, "availability.set", departments=profile.departments, own_subject=handler_id)
    body = Availability.model_validate(_body(request))
    updated = directory.set_on_duty(handler_id, body.on_duty)
    assigned: list[str] = []
    if body.on_duty and updated is not None:
        from shared.assignment import assigner

        service = assigner()
        for department in updated.departments:  # the queue waits for someone like them
            assigned += service.offer_queue(department)
    return json_response({**_profile_view(updated or profile), "assigned": assigned})


# -- queues -----------------------------------------------------------------------------------------------
@endpoint
def work_queue(request: Any):
    """``?department=<id>``: its waiting cases; ``?assignee=<id>|me``: a handler's cases; most urgent first."""
    principal = staff(request)
    from shared.repository import InvalidCursor
    from shared.sla import clock_view
    from shared.store import complaint_repository

    params = _params(request, {"department", "assignee", "limit", "cursor"})
    if bool(params.get("department")) == bool(params.get("assignee")):
        raise ApiError(400, "invalid_query", "give either department or assignee",
                       [{"field": "department", "problem": "give either department or assignee"}])
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        raise ApiError(400, "invalid_query", "limit is out of range",
                       [{"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"}])
    assignee = principal.subject if params.get("assignee") == "me" else params.get("assignee")
    if params.get("department"):
        require(principal, "queue.read", departments=[params["department"]])
    elif assignee != principal.subject:
        from shared.staff_directory import staff_directory

        owner = staff_directory().profile(assignee)
        require(principal, "queue.read", departments=owner.departments if owner else [])
    key = f"QUEUE#{params['department']}" if params.get("department") else f"HANDLER#{assignee}"
    try:
        page = complaint_repository().queue(key, limit=int(limit), cursor=params.get("cursor") or None)
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    from shared.clock import now

    at = now()
    return json_response({
        "queue": params.get("department") or assignee,
        "complaints": [{**staff_summary(c), "clocks": [clock_view(k, at) for k in c.clocks]} for c in page.complaints],
        "next_cursor": page.cursor})


# -- claiming, assigning, transferring --------------------------------------------------------------------
def _act(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from shared.assignment import AssignmentRefused, CaseNotFound
    from shared.lifecycle import InvalidTransition
    from shared.repository import StaleVersion

    try:
        return fn(*args, **kwargs)
    except CaseNotFound:
        raise ApiError(404, "not_found", "no complaint with this number") from None
    except StaleVersion:
        raise ApiError(409, "stale_version", "the complaint changed meanwhile; read it again") from None
    except AssignmentRefused as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None


def _case_answer(case: Any) -> Any:
    from shared.clock import now
    from shared.sla import clock_view

    at = now()
    return json_response({**staff_summary(case), "clocks": [clock_view(k, at) for k in case.clocks],
                          "routing": case.routing})


@endpoint
def claim(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.assignment import assigner

    number = complaint_number(complaint_id)
    service = assigner()
    authorized_case(principal, number, "case.claim")
    body = Claim.model_validate(_body(request) if (request.raw_body or b"").strip() else {})
    case = _act(service.claim, number, principal.subject, expected_version=body.version)
    return _case_answer(case)


@endpoint
def assign(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.assignment import assigner

    number = complaint_number(complaint_id)
    service = assigner()
    authorized_case(principal, number, "case.assign")
    body = Assignment.model_validate(_body(request))
    case = _act(service.assign, number, body.handler_id, actor=f"staff:{principal.subject}", reason=body.reason,
                expected_version=body.version, override_cap=body.override_cap)
    return _case_answer(case)


@endpoint
def transfer(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.assignment import assigner

    number = complaint_number(complaint_id)
    service = assigner()
    case = authorized_case(principal, number, "case.transfer")
    if principal.role == "agent" and case.assignee != principal.subject:
        raise ApiError(403, "forbidden", "an agent can transfer only the cases assigned to them")
    body = Transfer.model_validate(_body(request))
    if not body.department and not body.handler_id:
        raise ApiError(422, "validation_failed", "some fields are missing or invalid",
                       [{"field": "department", "problem": "name a department or a handler_id"}])
    moved = _act(service.transfer, number, actor=f"staff:{principal.subject}", reason=body.reason,
                 expected_version=body.version, department=body.department, handler_id=body.handler_id)
    return _case_answer(moved)

"""Investigation tasks seen from the department doing them (shared/task_board.py, shared/workflow.py):

* ``GET /staff/tasks?department=X[&limit=&cursor=]`` - the open tasks of a department, earliest due
  first, each with a summary of its case (and the case's version, to close the task with). Agents and
  leads without ``department``: their own departments; managers, admins, auditors: every department.
* ``POST /staff/complaints/{id}/tasks/{task_id}`` - body ``{"state": "done" | "cancelled", "outcome",
  "version"}``: the task's department (policy ``task.work`` for the task's department, whoever owns
  the case) closes it; 404 for an unknown task, 409 ``task_closed`` / ``stale_version``.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.staff.api import _limit as page_limit, complaint_number, staff
from functions.staff.views import task_view
from functions.staff.workflow import commit, context, refusals, stale
from shared.http import ApiError, endpoint, json_response, parse_json_body
from shared.models import VERSION_MAX
from shared.workflow import REASON_MAX

class CloseTaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: Literal["done", "cancelled"]
    outcome: Annotated[str, StringConstraints(min_length=1, max_length=REASON_MAX)]
    version: int = Field(ge=1, le=VERSION_MAX, description="the case's version as read (the task list gives it)")


@endpoint
def list_tasks(request: Any):
    principal = staff(request)
    from shared.config_store import config_store
    from shared.policy import POLICY, require
    from shared.store import complaint_repository
    from shared.task_board import InvalidCursor, task_board

    params = dict(request.query_params or {})
    if params.get("department"):
        departments = [params["department"]]
        require(principal, "task.read", departments=departments)
    else:
        require(principal, "task.read")
        rule = POLICY["task.read"]
        if principal.role in rule.own - rule.anywhere:
            departments = list(principal.departments)
        else:
            departments = [d.department_id for d in config_store().current("routing").config.departments]
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params
                if k not in ("department", "limit", "cursor")]
    limit = page_limit(params.get("limit"), problems)
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    try:
        page = task_board().open_tasks(departments, limit=limit, cursor=params.get("cursor") or None)
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    cases = complaint_repository().get_many(t.complaint_id for t in page.tasks)
    return json_response({"tasks": [
        {**task_view(t.task), "complaint": _summary(cases.get(t.complaint_id), t.complaint_id)} for t in page.tasks],
        "next_cursor": page.cursor})


@endpoint
def close_task(request: Any, complaint_id: str, task_id: str):
    principal = staff(request)
    from shared.config import settings
    from shared.policy import require
    from shared.store import complaint_repository
    from shared.workflow import close_task as close

    number = complaint_number(complaint_id)
    case = complaint_repository().get_many([number]).get(number)
    if case is None:
        raise ApiError(404, "not_found", "no complaint with this number")
    task = next((t for t in case.tasks if t.task_id == task_id), None)
    if task is None:
        raise ApiError(404, "task_not_found", "the case has no task with this id")
    require(principal, "task.work", departments=[task.department])
    body = CloseTaskIn.model_validate(parse_json_body(request, settings().max_request_bytes))
    if body.version != case.version:
        raise stale(body.version, case.version)
    with refusals():
        change = close(case, task_id, body.state, body.outcome, context(principal))
        commit([change])
    closed = next(t for t in change.case.tasks if t.task_id == task_id)
    return json_response({"complaint_id": number, "version": change.case.version, "task": task_view(closed),
                          "open_tasks": len(change.case.open_tasks())})


def _summary(case: Any, complaint_id: str) -> dict[str, Any]:
    """What the task's department needs of the case (it may not read the case itself)."""
    if case is None:
        return {"complaint_id": complaint_id}
    return {"complaint_id": case.complaint_id, "title": case.title, "category": case.category,
            "priority": case.priority, "department": case.department, "status": case.status.value,
            "assignee": case.assignee, "version": case.version}

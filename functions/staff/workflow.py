"""The handler's workflow over HTTP (shared/workflow.py, shared/resolution.py, shared/ledger.py):

* ``POST /staff/complaints/{id}/actions`` - body ``{"action": ..., "version": n, ...}``: one command of
  :data:`shared.workflow.Command`. The policy is chosen from the action name before the rest of the
  body is read (``approve`` / ``reject_plan``: ``plan.decide``, managers; every other: ``case.work``);
  then 422 for an invalid body, 409 ``stale_version`` when the case changed since ``version``, 409 (or
  404/422) with a specific code when the action is refused. Answers the case as staff see it.
* ``GET /staff/approvals`` - plans waiting for a manager, the longest waiting first: each the case's
  summary with its ``plan``, the approval ``reasons``, ``proposed_by`` and ``proposed_at``.
* ``GET /staff/compensation?month=YYYY-MM[&department=]`` - the compensation ledger and its totals.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

from functions.staff.api import authorized_case, complaint_number, staff
from functions.staff.views import plan_view, staff_detail, staff_summary
from shared import audit
from shared.http import ApiError, endpoint, json_response, parse_json_body
from shared.repository import iso

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@endpoint
def act(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.config import settings
    from shared.workflow import ACTIONS, PLAN_DECISIONS, apply, merge, parse_command, split

    number = complaint_number(complaint_id)
    body, problem = _body(request, settings().max_request_bytes)
    policy = "plan.decide" if body.get("action") in PLAN_DECISIONS else "case.work"
    case = authorized_case(principal, number, policy)
    if problem is not None:
        raise problem
    if body.get("action") not in ACTIONS:
        raise ApiError(422, "validation_failed", "unknown or missing action", [
            {"field": "action", "problem": "must be one of " + ", ".join(ACTIONS)}])
    command = parse_command(body)
    audit.note(workflow_action=command.action)  # the request's audit record says which
    if case.version != command.version:
        raise stale(command.version, case.version)
    with refusals():
        ctx = context(principal)
        if command.action == "merge":
            changes = merge(case, authorized_case(principal, command.into, "case.work"), ctx)
        elif command.action == "split":
            changes = split(case, authorized_case(principal, command.case, "case.work"), ctx)
        else:
            changes = [apply(case, command, ctx)]
        commit(changes)
    from shared.observability import logger
    from shared.store import complaint_repository

    logger().info("workflow action", extra={"complaint_id": number, "action": command.action,
                                            "version": changes[0].case.version})

    return json_response(staff_detail(*complaint_repository().get(number, with_contact=False)))


@endpoint
def list_approvals(request: Any):
    principal = staff(request)
    from shared.policy import require
    from shared.store import complaint_repository

    require(principal, "approval.list")
    _query(request, set())
    cases = complaint_repository().plans_awaiting_approval()
    return json_response({"approvals": [
        {**staff_summary(c), "plan": plan_view(c.plan), "reasons": c.plan.approval.reasons,
         "proposed_by": c.plan.proposed_by, "proposed_at": iso(c.plan.proposed_at)} for c in cases]})


@endpoint
def compensation_ledger(request: Any):
    principal = staff(request)
    from shared.clock import now
    from shared.ledger import ledger, totals
    from shared.policy import require

    department = (request.query_params or {}).get("department") or None
    require(principal, "ledger.read", departments=[department] if department else None)
    params = _query(request, {"month", "department"})
    month = params.get("month") or iso(now())[:7]
    if not MONTH.match(month):
        raise ApiError(400, "invalid_query", "month must be YYYY-MM", [{"field": "month", "problem": "must be YYYY-MM"}])
    lines = ledger().month(month, department=department)
    return json_response({"month": month, "department": department, "entries": [line.view() for line in lines],
                          "totals": totals(lines)})


# -- shared by the workflow's handlers ---------------------------------------------------------------------
def context(principal: Any) -> Any:
    """The workflow's context for ``principal`` acting now."""
    from shared.clock import now
    from shared.config_store import config_store
    from shared.staff_directory import staff_directory
    from shared.workflow import Context

    directory = staff_directory()

    def departments_of(handler_id: str) -> list[str] | None:
        profile = directory.profile(handler_id)
        return profile.departments if profile else None

    return Context(actor_id=principal.subject, at=now(), configs=config_store(), handler_departments=departments_of)


def commit(changes: list[Any]) -> None:
    """Write the changes (one transaction) and publish their events (the outbox retries a miss)."""
    from shared.case_events import announce_now
    from shared.ledger import ledger
    from shared.staff_directory import staff_directory
    from shared.store import complaint_repository
    from shared.task_board import task_board
    from shared.workflow import save

    events = save(changes, repository=complaint_repository(), directory=staff_directory(), board=task_board(),
                  ledger=ledger())
    announce_now(events)


@contextmanager
def refusals() -> Iterator[None]:
    """Domain refusals as the API's answers."""
    from shared.lifecycle import InvalidTransition
    from shared.repository import StaleVersion
    from shared.workflow import ActionRefused

    try:
        yield
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    except StaleVersion:
        raise ApiError(409, "stale_version", "the complaint changed meanwhile; read it again") from None


def stale(read: int, current: int) -> ApiError:
    return ApiError(409, "stale_version", f"the complaint changed since version {read} (now {current}); read it again")



def _body(request: Any, max_bytes: int) -> tuple[dict[str, Any], ApiError | None]:
    """The JSON body, or its error kept for after the authorization (an action needs the name first)."""
    try:
        return parse_json_body(request, max_bytes), None
    except ApiError as exc:
        return {}, exc


def _query(request: Any, allowed: set[str]) -> dict[str, str]:
    from functions.staff.routing import _params  # 400 for a query parameter not in ``allowed``

    return _params(request, allowed)

"""``POST /staff/complaints/{id}/actions``: a handler's work on a case (shared/workflow.py).

Body ``{"action": "accept" | "note" | "reply" | "request_information", "text": ..., "version": n}``;
the write is conditional on ``version`` (409 ``stale_version`` when the case changed meanwhile).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.staff.api import authorized_case, complaint_number, staff
from functions.staff.views import staff_detail
from shared.http import ApiError, endpoint, json_response, parse_json_body
from shared.workflow import ACTIONS


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Annotated[str, StringConstraints(pattern="^(" + "|".join(ACTIONS) + ")$")]
    text: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    version: int = Field(ge=1)


@endpoint
def act(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.clock import now
    from shared.config import settings
    from shared.config_store import config_store
    from shared.lifecycle import InvalidTransition
    from shared.repository import StaleVersion
    from shared.store import complaint_repository
    from shared.workflow import ActionRefused, apply

    number = complaint_number(complaint_id)
    case = authorized_case(principal, number, "case.work")
    repo = complaint_repository()
    body = ActionIn.model_validate(parse_json_body(request, settings().max_request_bytes))
    if case.version != body.version:
        raise ApiError(409, "stale_version", f"the complaint changed since version {body.version} "
                                             f"(now {case.version}); read it again")
    try:
        outcome = apply(case, body.action, actor_id=principal.subject, text=body.text, at=now(),
                        configs=config_store())
        repo.save(outcome.case, outcome.entries, expected_version=body.version)
    except ActionRefused as exc:
        raise ApiError(422 if exc.code == "text_required" else 409, exc.code, str(exc)) from None
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    except StaleVersion:
        raise ApiError(409, "stale_version", "the complaint changed meanwhile; read it again") from None
    return json_response(staff_detail(*repo.get(number, with_contact=False)))

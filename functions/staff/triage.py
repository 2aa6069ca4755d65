"""Manual triage: cases the router was not confident about, and a handler's correction of any
router decision (category, optionally priority), recorded as training data.

``GET /staff/triage`` lists the triage queue oldest first (the ``TRIAGE`` partition, no Scan).
``POST /staff/complaints/{id}/classification`` with ``{"category", "priority"?, "reason"?, "version"}``
writes the correction if the case is still at ``version`` (else 409): the case's category and
priority, ``needs_triage`` cleared, an internal timeline entry, the triage item removed and a
correction item for ``complaints model export-corrections`` - in one transaction. Confirming the
suggested category is a correction too (a confirmed label is training data as well).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from functions.staff.api import LIMIT_DEFAULT, LIMIT_MAX, complaint_number, staff
from functions.staff.views import staff_summary
from shared.http import ApiError, endpoint, json_response, parse_json_body
from shared.policy import require
from shared.lifecycle import Status
from shared.models import VERSION_MAX, TimelineEntry, TimelineKind, Visibility

DEFAULT_LABELS = ("product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
                  "refund_after_sales", "privacy_security", "other")
PRIORITIES = ("P1", "P2", "P3", "P4")


class CorrectionIn(BaseModel):
    """The body of ``POST /staff/complaints/{id}/classification``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    priority: Annotated[str, StringConstraints(pattern=r"^P[1-4]$")] | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    version: int = Field(ge=1, le=VERSION_MAX, strict=True)


@endpoint
def list_triage(request: Any):
    require(staff(request), "triage.read")
    from shared.routing_store import InvalidTriageCursor, routing_store

    params = dict(request.query_params or {})
    unknown = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in ("limit", "cursor")]
    limit = params.get("limit") or str(LIMIT_DEFAULT)
    if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
        unknown.append({"field": "limit", "problem": f"must be a whole number from 1 to {LIMIT_MAX}"})
    if unknown:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", unknown)
    try:
        items, cursor = routing_store().triage(limit=int(limit), cursor=params.get("cursor") or None)
    except InvalidTriageCursor as exc:
        raise ApiError(400, "invalid_query", str(exc), [{"field": "cursor", "problem": str(exc)}]) from None
    return json_response({"cases": items, "next_cursor": cursor})


@endpoint
def correct_classification(request: Any, complaint_id: str):
    principal = staff(request)
    from shared.config import settings
    from shared.repository import StaleVersion
    from shared.routing_store import routing_store
    from shared.store import complaint_repository

    number = complaint_number(complaint_id)
    repo, store = complaint_repository(), routing_store()
    found = repo.get(number)
    if found is None:
        raise ApiError(404, "not_found", "no complaint with this number")
    case, _ = found
    # a case in triage has no department yet: every agent and lead may classify it
    require(principal, "case.classify", departments=[case.department] if case.department else None)
    body = CorrectionIn.model_validate(parse_json_body(request, settings().max_request_bytes))
    if case.status == Status.RECEIVED or not case.classification:
        raise ApiError(409, "not_classified", "the router has not classified this complaint yet")
    if case.version != body.version:
        raise ApiError(409, "stale_version", f"the complaint changed since version {body.version} "
                       f"(now {case.version}); read it again")
    decision = dict(case.classification)
    labels = decision.get("labels") or list(DEFAULT_LABELS)
    if body.category not in labels:
        raise ApiError(422, "validation_failed", "some fields are missing or invalid",
                       [{"field": "category", "problem": "must be one of " + ", ".join(labels)}])

    from shared.clock import now as domain_now

    now = domain_now()
    actor = f"staff:{principal.subject}"
    before = {"category": case.category, "priority": case.priority}
    after = {"category": body.category, "priority": body.priority or case.priority}
    decision["corrected"] = {**after, "from": before, "by": actor, "at": now.isoformat().replace("+00:00", "Z"),
                             "reason": body.reason}
    to_route = not case.department and not case.repeat_of  # triage done: routing takes it from here
    corrected = case.model_copy(update={"category": after["category"], "priority": after["priority"],
                                        "needs_triage": False, "classification": decision,
                                        "version": case.version + 1, "updated_at": now})
    if to_route:  # if the event below is lost, the sweep routes it after this long
        corrected = corrected.model_copy(update={"next_check_at": now + timedelta(
            minutes=settings().unassigned_alert_minutes), "redrives": 0})
    entry = TimelineEntry(at=now, kind=TimelineKind.CLASSIFICATION_CORRECTED, visibility=Visibility.INTERNAL,
                          actor=actor, text=body.reason,
                          details={"from": before, "to": after, "model_version": decision.get("model_version"),
                                   "confidence": decision.get("confidence"), "was_in_triage": case.needs_triage})
    ops = [store.correction_put_op(number, now, {
        "original_category": decision.get("category"), "corrected_category": after["category"],
        "original_priority": (decision.get("priority") or {}).get("level"), "corrected_priority": after["priority"],
        "confidence": decision.get("confidence"), "model_version": decision.get("model_version"),
        "rules_version": (decision.get("priority") or {}).get("rules_version"), "was_in_triage": case.needs_triage,
        "actor": actor, "reason": body.reason, "text_ref": f"CASE#{number}",
    })]
    if case.needs_triage:
        ops.append(store.triage_delete_op(case))
    try:
        repo.save(corrected, [entry], expected_version=body.version, also=ops)
    except StaleVersion:
        raise ApiError(409, "stale_version", "the complaint changed meanwhile; read it again") from None
    if to_route:
        _announce(corrected, decision)
    return json_response({**staff_summary(corrected), "classification": decision})


def _announce(case: Any, decision: dict[str, Any]) -> None:
    """ComplaintClassified again, so the assignment step routes the corrected case."""
    from shared.events import ComplaintClassified
    from shared.observability import logger
    from shared.store import event_publisher

    try:
        event_publisher().publish(ComplaintClassified(
            event_id=f"{case.complaint_id}:classified:v{case.version}", complaint_id=case.complaint_id,
            category=case.category, confidence=float(decision.get("confidence") or 0), priority=case.priority,
            needs_triage=False, model_version=str(decision.get("model_version") or "corrected")))
    except Exception as exc:  # noqa: BLE001 - the sweep routes it when its next check comes
        logger().warning("could not announce the corrected case; the sweep will route it",
                         extra={"complaint_id": case.complaint_id, "error": type(exc).__name__})
